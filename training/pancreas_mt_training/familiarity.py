"""Fit a model's feature references (``engine/familiarity.py``): what its training images look like to its encoder.

Per fold: the mean and the Ledoit-Wolf precision matrix of the tile features of up to ``TRAINING_CASES`` of
the fold's training cases (every case of ``imagesTr`` that is not in its ``validation/``), and the limit from
its validation cases, which it did not train on: ``LIMIT_FACTOR`` times the ``LIMIT_QUANTILE``-th percentile
of their distances. The factor leaves room for a new case of the same kind while a real CT given to a
phantom-trained model lies far beyond it: with the twelfth demo run's model (``training/README.md``), 59 of
60 held-out phantoms within about 1.5 times the validation percentile (the sixtieth, whose segmentation had failed,
2.5 times), the public CT at 0.8 mm 4.3 times. Every case runs through the engine with its fold alone, as
the calibration's do.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PancreasMultiTaskLib.engine.competence import CompetenceRecord
from PancreasMultiTaskLib.engine.familiarity import FeatureReference, distance
from sklearn.covariance import LedoitWolf

if TYPE_CHECKING:
    from PancreasMultiTaskLib.engine.model_folder import ModelFolder

#: Training cases per fold whose tiles the mean and covariance are fitted on.
TRAINING_CASES = 40
#: The limit: this factor times the percentile below of the validation cases' distances.
LIMIT_FACTOR = 2.0
LIMIT_QUANTILE = 95.0
#: Fewer validation cases (or training tiles per feature) than these cannot fit a reference: refused.
MIN_VALIDATION_CASES = 5
MIN_TILES_PER_FEATURE = 2


class FamiliarityError(ValueError):
    """A reference cannot be fitted; the message says why."""


def fit_reference(
    fold: str, training: Sequence[np.ndarray], validation: Sequence[np.ndarray]
) -> tuple[FeatureReference, list[float]]:
    """One fold's reference from its training cases' tile features and its validation cases' (each tiles x D);
    also the validation cases' distances."""
    tiles = np.concatenate(list(training)) if training else np.zeros((0, 0))
    if len(tiles) < MIN_TILES_PER_FEATURE * max(tiles.shape[1], 1):
        raise FamiliarityError(
            f"fold {fold}: {len(tiles)} training tiles for {tiles.shape[1]} features; "
            f"at least {MIN_TILES_PER_FEATURE} a feature are needed"
        )
    if len(validation) < MIN_VALIDATION_CASES:
        raise FamiliarityError(
            f"fold {fold}: {len(validation)} validation cases with a gland; at least {MIN_VALIDATION_CASES} are needed"
        )
    covariance = LedoitWolf().fit(tiles)
    provisional = FeatureReference(fold, covariance.location_, covariance.precision_, 1.0, len(validation))
    distances = [distance(provisional, features) for features in validation]
    limit = LIMIT_FACTOR * float(np.percentile(distances, LIMIT_QUANTILE))
    return dataclasses.replace(provisional, limit=limit), distances


def training_cases(model_folder: Path, fold: str, raw: Path, file_ending: str) -> list[str]:
    """The fold's training cases: those of ``imagesTr`` not among its validation cases, in name order."""
    validation = {
        p.name[: -len(file_ending)] for p in (model_folder / f"fold_{fold}" / "validation").glob(f"*{file_ending}")
    }
    suffix = f"_0000{file_ending}"
    cases = sorted(p.name[: -len(suffix)] for p in (raw / "imagesTr").glob(f"*{suffix}"))
    return [c for c in cases if c not in validation]


def checks_off(folder: ModelFolder, source: str) -> ModelFolder:
    """``folder`` with an empty competence record: no limits and no calibration, so every case is
    classified with the network's own probabilities; the bfloat16 check's verdict is kept, so ``auto`` runs the
    cases in the precision the product will run the model in on this CPU."""
    record = CompetenceRecord(source=source, bfloat16_check_passed=folder.competence.bfloat16_check_passed)
    return dataclasses.replace(folder, competence=record)


def case_features(model_folder: Path, fold: str, raw: Path, cases: Iterable[str], options: Any) -> list[np.ndarray]:
    """The tile features of cases of ``imagesTr`` through the engine with ``fold`` alone, checks off (cases without
    a predicted gland have none and are left out)."""
    from PancreasMultiTaskLib.engine.io import read_image
    from PancreasMultiTaskLib.engine.model_folder import open_model_folder
    from PancreasMultiTaskLib.engine.predictor import Predictor

    file_ending = json.loads((model_folder / "dataset.json").read_text(encoding="utf-8")).get("file_ending", ".nii.gz")
    folder = open_model_folder(model_folder, folds=[fold], checkpoint_name=options.checkpoint_name)
    folder = checks_off(folder, "familiarity: checks off")
    predictor = Predictor(folder, options)
    out = []
    for case_id in cases:
        familiarity = predictor.predict(
            read_image(raw / "imagesTr" / f"{case_id}_0000{file_ending}"), case_id
        ).familiarity
        if familiarity is not None and familiarity.features is not None:
            out.append(familiarity.features)
    return out


def fit_references(
    model_folder: Path,
    raw: Path,
    validation: dict[str, list[np.ndarray]],
    options: Any,
    cases_per_fold: int = TRAINING_CASES,
) -> tuple[tuple[FeatureReference, ...], dict[str, Any]]:
    """Every fold's reference (``validation``: fold -> its validation cases' features) and a summary for the report;
    a fold with too few cases is left without one, and the summary says why."""
    file_ending = json.loads((model_folder / "dataset.json").read_text(encoding="utf-8")).get("file_ending", ".nii.gz")
    references, summary = [], {}
    for fold, features in sorted(validation.items()):
        if len(features) < MIN_VALIDATION_CASES:
            summary[fold] = {"reason": f"{len(features)} validation cases with a gland; {MIN_VALIDATION_CASES} needed"}
            continue
        cases = training_cases(model_folder, fold, raw, file_ending)[:cases_per_fold]
        training = case_features(model_folder, fold, raw, cases, options)
        try:
            reference, distances = fit_reference(fold, training, features)
        except FamiliarityError as error:
            summary[fold] = {"reason": str(error)}
            continue
        references.append(reference)
        summary[fold] = {
            "training_cases": len(training),
            "training_tiles": int(sum(len(t) for t in training)),
            "features": len(reference.mean),
            "validation_cases": len(distances),
            "validation_distances": distances,
            "limit": reference.limit,
        }
    return tuple(references), summary
