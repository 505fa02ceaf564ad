"""Calibration and the "no lesion" size of a trained model, fitted on its cross-validation cases.

Every fold's validation cases (those nnU-Net wrote to ``fold_N/validation/``) are run through the engine
with that fold alone, the fold that did not train on them, in the engine's default classification and
pooling (or those asked for), with the model's checks off and no recorded calibration applied. Truth:
the subtype from the trainer's ``fold_N/validation/subtypes.json``; a case whose label map
(``labelsTr``) has no lesion voxel is normal, whatever ``subtypes.csv`` says of it (empty, ``normal``).
The rules, in the order they are fitted:

* the no-lesion rule: ``min_lesion_ml``, the smallest volume such that at most ``MAX_NORMAL_KEPT`` of the
  normal cases have a predicted lesion larger than it (the engine's rule: a lesion no larger than
  ``min_lesion_ml`` is "no lesion found"); or, where it finds more of the lesions of ``REPORTED_DIAMETER_MM`` or
  more at that share of normal cases, a volume floor of ``LESION_FLOORS_ML`` with ``min_lesion_p90``, the
  threshold on the 90th percentile of the lesion probability inside the predicted lesion
  (``competence.lesion_confidence``). Without normal cases it is not fitted: the record keeps what it had.
* temperature ``T``: minimizes the negative log-likelihood of softmax(log p / T) over the lesion cases the
  engine answers (a lesion found by that rule); ``log p`` stands for the logits, which the
  case probabilities (weighted means of slice softmaxes) do not have: the same up to a constant per case.
* ``uncertain_below``: the lowest calibrated top probability t such that the error rate among cases at
  or above t is at most the target; 0 when every case is right; 1 (everything flagged) when none meets it.
* ``feature_references``: per fold, what its training images look like to its encoder, and how far its
  validation cases lie (``familiarity.py``).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk
from PancreasMultiTaskLib.engine.competence import (
    COMPETENCE_FILE,
    Calibration,
    CompetenceRecord,
    lesion_confidence,
    read_record,
)
from PancreasMultiTaskLib.engine.labels import LESION_LABEL
from PancreasMultiTaskLib.engine.options import default
from PancreasMultiTaskLib.engine.subtype import MAX_NORMALIZED_ENTROPY, calibrate, normalized_entropy
from scipy.optimize import minimize_scalar
from sklearn.metrics import roc_auc_score

from .competence import write_record
from .familiarity import checks_off, fit_references

#: Fewer answered lesion cases than this cannot fit a temperature and a threshold: refused.
MIN_CASES = 10
#: The share of normal validation cases allowed to keep a predicted lesion.
MAX_NORMAL_KEPT = 0.05
#: Lesions at least this equivalent-sphere diameter (mm) are reported apart: the ones that must be found.
REPORTED_DIAMETER_MM = 5.0
#: Volume floors (mL) tried under the lesion-probability rule, from 2 mL (a 16 mm sphere) down to none. A few fixed
#: values rather than every normal case's volume, so that the floor is not fitted to a handful of false lesions.
LESION_FLOORS_ML = (2.0, 1.0, 0.5, 0.25, 0.1, 0.0)
#: Bounds of the temperature search (``competence.json`` accepts 0.01-100).
TEMPERATURE_BOUNDS = (0.05, 20.0)
#: Equal-width confidence bins of the expected calibration error.
ECE_BINS = 15
#: Error-rate targets whose thresholds the report lists beside the chosen one: the flag's trade-off.
OPERATING_TARGETS = (0.05, 0.10, 0.15, 0.20, 0.25, 0.30)


class CalibrationError(ValueError):
    """Calibration cannot be fitted; the message says why (and how many cases there were)."""


@dataclass(frozen=True)
class ValidationCase:
    """One validation case as predicted by the fold that did not train on it."""

    case_id: str
    fold: str
    #: True subtype index; ``None`` for a normal case (no lesion in its label map).
    subtype: int | None
    truth_lesion_ml: float
    predicted_lesion_ml: float
    #: Uncalibrated case probabilities; ``None`` when the engine found no lesion to classify.
    probabilities: np.ndarray | None
    #: The engine's tile features of the case (``engine/familiarity.py``); ``None`` without a predicted gland.
    features: np.ndarray | None = None
    #: The network's arithmetic for the case (``provenance.precision``: bfloat16 under ``auto`` where it passed).
    precision: str = "float32"
    #: ``competence.lesion_confidence`` of the predicted lesion (0 without one); ``None`` where not measured.
    predicted_lesion_p90: float | None = None


# ------------------------------------------------------------------------------------------------
def negative_log_likelihood(probabilities: np.ndarray, truth: Sequence[int], temperature: float) -> float:
    """Mean NLL of the true subtypes under the temperature-scaled probabilities."""
    scaled = calibrate(probabilities, temperature)
    picked = scaled[np.arange(len(truth)), np.asarray(truth, dtype=int)]
    return float(-np.mean(np.log(np.clip(picked, 1e-12, 1.0))))


def fit_temperature(probabilities: np.ndarray, truth: Sequence[int]) -> float:
    """The temperature minimizing the NLL on ``TEMPERATURE_BOUNDS`` (bounded Brent search)."""
    result = minimize_scalar(
        lambda t: negative_log_likelihood(probabilities, truth, t), bounds=TEMPERATURE_BOUNDS, method="bounded"
    )
    return float(result.x)


def uncertainty_threshold(confidence: np.ndarray, correct: np.ndarray, target_error_rate: float) -> float:
    """The lowest threshold t (0 or a case's confidence) whose cases at or above it err at most the target.

    0 when that holds for all cases (nothing flagged); 1 when no threshold meets it (everything flagged).
    """
    confidence, correct = np.asarray(confidence, dtype=float), np.asarray(correct, dtype=bool)
    if len(confidence) == 0:
        raise CalibrationError("no cases to choose the uncertainty threshold on")
    for threshold in (0.0, *np.unique(confidence)):
        kept = confidence >= threshold
        if kept.any() and 1.0 - correct[kept].mean() <= target_error_rate:
            return float(threshold)
    return 1.0


def operating_points(
    confidence: np.ndarray, correct: np.ndarray, targets: Sequence[float] = OPERATING_TARGETS
) -> list[dict[str, float | None]]:
    """Per target error rate: the threshold :func:`uncertainty_threshold` chooses and the shares of the right and
    of the wrong answers it flags (``None`` where there are none of that kind)."""
    confidence, correct = np.asarray(confidence, dtype=float), np.asarray(correct, dtype=bool)
    points = []
    for target in targets:
        threshold = uncertainty_threshold(confidence, correct, target)
        flagged = confidence < threshold
        points.append(
            {
                "target_error_rate": float(target),
                "uncertain_below": threshold,
                "flagged_share_of_right": _share(flagged[correct]),
                "flagged_share_of_wrong": _share(flagged[~correct]),
            }
        )
    return points


def min_lesion_threshold(
    normal_lesion_ml: Sequence[float], max_kept: float = MAX_NORMAL_KEPT, total: int | None = None
) -> float:
    """The smallest value such that at most ``max_kept`` of ``total`` normal cases (default: as many as values
    given; more where the others are already ruled out) have a larger one."""
    volumes = np.sort(np.asarray(normal_lesion_ml, dtype=float))[::-1]
    if len(volumes) == 0 and total is None:
        raise CalibrationError("no normal cases to choose the minimum lesion volume on")
    allowed = math.floor(max_kept * (len(volumes) if total is None else total) + 1e-9)
    return float(volumes[allowed]) if allowed < len(volumes) else 0.0


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS) -> float:
    """Sum over equal-width confidence bins of (share of cases) x |accuracy - mean confidence|."""
    confidence, correct = np.asarray(confidence, dtype=float), np.asarray(correct, dtype=float)
    index = np.minimum((confidence * bins).astype(int), bins - 1)
    ece = 0.0
    for b in np.unique(index):
        members = index == b
        ece += members.mean() * abs(correct[members].mean() - confidence[members].mean())
    return float(ece)


def confidence_auroc(confidence: np.ndarray, correct: np.ndarray) -> float | None:
    """How well the confidence separates right from wrong answers; ``None`` when all are right or all wrong."""
    correct = np.asarray(correct, dtype=bool)
    if correct.all() or not correct.any():
        return None
    return float(roc_auc_score(correct, confidence))


def diameter_mm(volume_ml: float) -> float:
    """Diameter of the sphere of this volume."""
    return float((6.0 * volume_ml * 1000.0 / math.pi) ** (1.0 / 3.0))


# ------------------------------------------------------------------------------------------------
def _share(values: np.ndarray) -> float | None:
    return float(np.mean(values)) if len(values) else None


def _found(cases: Sequence[ValidationCase], min_ml: float, min_p90: float | None) -> np.ndarray:
    """Whether the engine's no-lesion rule (``competence._lesion_outcome``) finds each case's lesion."""
    volume = np.array([c.predicted_lesion_ml for c in cases], dtype=float) > min_ml
    if min_p90 is None:
        return volume
    return volume & (np.array([c.predicted_lesion_p90 or 0.0 for c in cases], dtype=float) > min_p90)


def _candidate_rules(normal: Sequence[ValidationCase]) -> list[tuple[float, float | None]]:
    """(volume floor, p90 threshold) pairs that keep at most ``MAX_NORMAL_KEPT`` of the normal cases: the volume
    alone first, then each floor with the lowest p90 threshold that keeps no more."""
    rules: list[tuple[float, float | None]] = [(min_lesion_threshold([c.predicted_lesion_ml for c in normal]), None)]
    if all(c.predicted_lesion_p90 is not None for c in normal):
        for floor in LESION_FLOORS_ML:
            above = [c.predicted_lesion_p90 for c in normal if c.predicted_lesion_ml > floor]
            rules.append((floor, min_lesion_threshold(above, total=len(normal))))
    return rules


def lesion_rule(cases: Sequence[ValidationCase]) -> dict[str, Any]:
    """The no-lesion rule of the module docstring from the normal cases, and the share of lesion cases still
    found by it (and by each rule tried)."""
    normal = [c for c in cases if c.subtype is None]
    lesion = [c for c in cases if c.subtype is not None]
    if not normal:
        return {"min_lesion_ml": None, "normal_cases": 0, "reason": "no normal (lesion-free) validation cases"}
    large = np.array([diameter_mm(c.truth_lesion_ml) >= REPORTED_DIAMETER_MM for c in lesion], dtype=bool)
    tried = []
    for min_ml, min_p90 in _candidate_rules(normal):
        found = _found(lesion, min_ml, min_p90)
        tried.append(
            {
                "min_lesion_ml": min_ml,
                "min_lesion_p90": min_p90,
                "normal_kept_share": float(np.mean(_found(normal, min_ml, min_p90))),
                "lesion_found_share": _share(found),
                "large_lesion_found_share": _share(found[large]),
            }
        )
    # The most lesions of 5 mm or more found (then of all lesions); on a tie the earlier rule: the volume alone,
    # then the higher floor.
    best = max(tried, key=lambda r: (r["large_lesion_found_share"] or 0.0, r["lesion_found_share"] or 0.0))
    return {
        **best,
        "rule": "volume" if best["min_lesion_p90"] is None else "volume and lesion probability",
        "normal_cases": len(normal),
        "lesion_cases": len(lesion),
        "large_lesion_cases": int(large.sum()),
        "rules_tried": tried,
    }


def _confidence_metrics(probabilities: np.ndarray, truth: np.ndarray, flagged: np.ndarray, kind: str) -> dict[str, Any]:
    confidence = probabilities.max(1)
    correct = probabilities.argmax(1) == truth
    return {
        "kind": kind,
        "accuracy": float(correct.mean()),
        "nll": negative_log_likelihood(probabilities, truth, 1.0),
        "ece": expected_calibration_error(confidence, correct),
        "auroc_right_vs_wrong": confidence_auroc(confidence, correct),
        "flagged_share_of_right": _share(flagged[correct]),
        "flagged_share_of_wrong": _share(flagged[~correct]),
        "confidence": confidence.tolist(),
        "correct": correct.tolist(),
    }


def fit(cases: Sequence[ValidationCase], target_error_rate: float) -> dict[str, Any]:
    """Every rule of the module docstring on these cases; the fitted values and their before/after figures."""
    lesion = lesion_rule(cases)
    minimum = lesion["min_lesion_ml"] or 0.0
    answered = [c for c in cases if c.subtype is not None and c.probabilities is not None]
    found = _found(answered, minimum, lesion.get("min_lesion_p90"))
    answered = [c for c, kept in zip(answered, found, strict=True) if kept]
    if len(answered) < MIN_CASES:
        raise CalibrationError(
            f"{len(answered)} validation cases with a subtype and a lesion found (above {minimum:g} mL); "
            f"calibration needs at least {MIN_CASES}"
        )
    raw = np.stack([c.probabilities for c in answered])
    truth = np.array([c.subtype for c in answered])
    temperature = fit_temperature(raw, truth)
    scaled = calibrate(raw, temperature)
    threshold = uncertainty_threshold(scaled.max(1), scaled.argmax(1) == truth, target_error_rate)
    entropy_flag = np.array([normalized_entropy(p) > MAX_NORMALIZED_ENTROPY for p in raw])
    return {
        "cases": len(answered),
        "case_ids": [c.case_id for c in answered],
        "target_error_rate": target_error_rate,
        "temperature": temperature,
        # At a bound, the validation cases do not pin T (every case right drives it to the lower bound).
        "temperature_at_bound": bool(np.isclose(temperature, TEMPERATURE_BOUNDS, rtol=1e-3).any()),
        "uncertain_below": threshold,
        "before": _confidence_metrics(raw, truth, entropy_flag, "uncalibrated, entropy flag"),
        "after": _confidence_metrics(scaled, truth, scaled.max(1) < threshold, "calibrated, threshold flag"),
        "no_lesion": lesion,
    }


def updated_record(record: CompetenceRecord, fitted: dict[str, Any]) -> CompetenceRecord:
    """The record with the fitted calibration and (where fitted) the no-lesion rule; every other field kept."""
    calibration = Calibration(
        temperature=fitted["temperature"],
        uncertain_below=fitted["uncertain_below"],
        target_error_rate=fitted["target_error_rate"],
        cases=fitted["cases"],
    )
    validation = dict(record.validation)
    for stage in ("before", "after"):
        for key in ("ece", "auroc_right_vs_wrong"):
            if fitted[stage][key] is not None:
                validation[f"calibration_{key}_{stage}"] = fitted[stage][key]
    rule = fitted["no_lesion"]
    if rule["min_lesion_ml"] is not None:
        record = dataclasses.replace(record, min_lesion_ml=rule["min_lesion_ml"], min_lesion_p90=rule["min_lesion_p90"])
    return dataclasses.replace(record, calibration=calibration, validation=validation)


# ------------------------------------------------------------------------------------------------
def validation_folders(model_folder: Path) -> dict[str, Path]:
    """Each fold's ``validation/`` folder (fold name -> folder), for the folds that have one."""
    folders = {
        fold_dir.name[len("fold_") :]: fold_dir / "validation"
        for fold_dir in sorted(model_folder.glob("fold_*"))
        if (fold_dir / "validation" / "subtypes.json").is_file()
    }
    if not folders:
        raise CalibrationError(f"{model_folder}: no fold_N/validation/subtypes.json; train the folds first")
    return folders


def _lesion_ml(path: Path) -> float:
    image = sitk.ReadImage(str(path))
    voxels = np.count_nonzero(sitk.GetArrayViewFromImage(image) == LESION_LABEL)
    return float(voxels * np.prod(image.GetSpacing()) / 1000.0)


def truth_of_fold(validation: Path, raw: Path, file_ending: str) -> dict[str, tuple[int | None, float]]:
    """The fold's validation cases: true subtype (``None``: normal) and true lesion volume (mL)."""
    summary = json.loads((validation / "subtypes.json").read_text(encoding="utf-8"))["cases"]
    truth = {}
    for segmentation in sorted(validation.glob(f"*{file_ending}")):
        case_id = segmentation.name[: -len(file_ending)]
        lesion_ml = _lesion_ml(raw / "labelsTr" / f"{case_id}{file_ending}")
        subtype = (summary.get(case_id) or {}).get("truth")
        if lesion_ml > 0 and (isinstance(subtype, bool) or not isinstance(subtype, int) or subtype < 0):
            raise CalibrationError(f"{validation / 'subtypes.json'}: no subtype for lesion case {case_id}")
        truth[case_id] = (subtype if lesion_ml > 0 else None, lesion_ml)
    return truth


def training_raw(model_folder: Path, raw: str | Path | None = None) -> Path:
    """The nnU-Net raw dataset a model was trained on: ``raw`` if given, else ``$nnUNet_raw/<its plans' dataset>``."""
    if raw is not None:
        return Path(raw)
    from nnunetv2.paths import nnUNet_raw

    plans = json.loads((model_folder / "plans.json").read_text(encoding="utf-8"))
    return Path(nnUNet_raw.require()) / plans["dataset_name"]


def validation_predictions(
    model_folder: Path, raw: Path, options: Any, cases_per_fold: int | None = None
) -> Iterator[tuple[str, str, tuple[int | None, float], Any]]:
    """(fold, case id, truth, :class:`~PancreasMultiTaskLib.engine.predictor.Prediction`) of every fold's
    validation cases (the first ``cases_per_fold`` of each), each through the engine with its fold alone,
    checks off and uncalibrated, whole (``roi full``, as nnU-Net validates: they are the training data's own
    fields, the demo's gland crops). ``options``: the engine's ``PredictionOptions``."""
    from PancreasMultiTaskLib.engine.io import read_image
    from PancreasMultiTaskLib.engine.model_folder import open_model_folder
    from PancreasMultiTaskLib.engine.predictor import Predictor

    options = dataclasses.replace(options, roi="full")
    file_ending = json.loads((model_folder / "dataset.json").read_text(encoding="utf-8")).get("file_ending", ".nii.gz")
    for fold, validation in validation_folders(model_folder).items():
        truth = list(truth_of_fold(validation, raw, file_ending).items())[:cases_per_fold]
        folder = open_model_folder(model_folder, folds=[fold], checkpoint_name=options.checkpoint_name)
        folder = checks_off(folder, "calibration: checks off")
        predictor = Predictor(folder, options)
        for case_id, case_truth in truth:
            image = read_image(raw / "imagesTr" / f"{case_id}_0000{file_ending}")
            yield fold, case_id, case_truth, predictor.predict(image, case_id)


def predict_validation(
    model_folder: Path, raw: Path, classification: str, pooling: str, **engine: Any
) -> list[ValidationCase]:
    """Every fold's validation cases as :func:`validation_predictions` gives them, for the calibration."""
    from PancreasMultiTaskLib.engine.predictor import PredictionOptions

    options = PredictionOptions(classification=classification, pooling=pooling, save_probabilities=True, **engine)
    cases = []
    for fold, case_id, (subtype, truth_ml), prediction in validation_predictions(model_folder, raw, options):
        result = prediction.result
        found = result.subtype is not None and result.subtype.predicted is not None
        probabilities = np.array([result.subtype.probabilities[n] for n in result.subtype.names]) if found else None
        familiarity = prediction.familiarity
        features = None if familiarity is None else familiarity.features
        p90 = lesion_confidence(
            sitk.GetArrayViewFromImage(prediction.segmentation),
            sitk.GetArrayViewFromImage(prediction.lesion_probability),
        )
        cases.append(
            ValidationCase(
                case_id,
                fold,
                subtype,
                truth_ml,
                result.measurements.lesion_volume_ml,
                probabilities,
                features,
                result.provenance.precision,
                p90,
            )
        )
    return cases


def calibrate_model(
    model_folder: str | Path,
    raw: str | Path | None = None,
    target_error_rate: float = 0.05,
    classification: str | None = None,
    pooling: str | None = None,
    report: str | Path | None = None,
    **engine: Any,
) -> dict[str, Any]:
    """Fit the calibration, ``min_lesion_ml`` and the feature references on the model's cases into ``competence.json``.

    ``raw``: the nnU-Net raw dataset it was trained on (default ``$nnUNet_raw/<dataset name in plans.json>``);
    ``engine``: further engine options (device, mirroring, backend, threads). Returns the fitted values.
    """
    from PancreasMultiTaskLib.engine.predictor import PredictionOptions

    model_folder = Path(model_folder)
    if not 0 <= target_error_rate < 1:
        raise CalibrationError(f"the target error rate must be in 0..1, got {target_error_rate}")
    competence = model_folder / COMPETENCE_FILE
    if not competence.is_file():
        raise CalibrationError(f"{competence}: missing; write it first (pancreas-mt-train competence)")
    record = read_record(competence)
    raw = training_raw(model_folder, raw)
    classification = classification or default("classification")
    pooling = pooling or default("pooling")
    listed = sum(
        len(json.loads((v / "subtypes.json").read_text(encoding="utf-8"))["cases"])
        for v in validation_folders(model_folder).values()
    )
    if listed < MIN_CASES:  # refused before the engine runs
        raise CalibrationError(f"{listed} validation cases with a subtype; calibration needs at least {MIN_CASES}")
    cases = predict_validation(model_folder, Path(raw), classification, pooling, **engine)
    fitted = fit(cases, target_error_rate)
    fitted.update({"classification": classification, "pooling": pooling, "folds": sorted({c.fold for c in cases})})
    fitted["precision"] = ", ".join(sorted({c.precision for c in cases}))
    features: dict[str, list[np.ndarray]] = {}
    for case in cases:
        if case.features is not None:
            features.setdefault(case.fold, []).append(case.features)
    options = PredictionOptions(classification=classification, pooling=pooling, roi="full", **engine)
    references, fitted["familiarity"] = fit_references(model_folder, Path(raw), features, options)
    record = dataclasses.replace(updated_record(record, fitted), feature_references=references)
    fitted["competence"] = str(write_record(record, model_folder))
    if report is not None:
        from .calibration_report import write_calibration_report

        fitted["report"] = str(write_calibration_report(fitted, Path(report)))
    return fitted
