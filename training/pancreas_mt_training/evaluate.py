"""Evaluation: 5-fold cross-validation and the fold ensemble on a held-out set, with a report.

* :func:`cross_validation` reads each fold's ``validation/`` folder written by the trainer
  (segmentations and ``subtypes.json``) against nnU-Net's ``gt_segmentations``.
* :func:`evaluate_held_out` runs the engine (``PancreasMultiTaskLib.engine.predictor``) with all folds on
  held-out cases, exactly as a user would, and recomputes the case subtype four ways side by side:
  ``guided`` (one tile a slice centred on the predicted lesion, lesion-weighted pooling),
  ``lesion-weighted`` and ``uniform`` (the paper) pooling of the sliding window's tile means (the folds'
  probabilities averaged), and ``uniform-logit-sum`` (the paper's released code: the mean over all tiles of
  the softmax of the folds' summed class logits).
* :func:`padded_cases` puts held-out cases into a field twice as large (fat-like background, the
  original off-centre), to measure how much accuracy depends on the field of view.
* :func:`write_report` writes ``metrics.json``, ``report.md`` and PNG figures (confusion matrix,
  reliability diagram, per-fold loss curves).
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import SimpleITK as sitk
from PancreasMultiTaskLib.engine.classify import TILES_LOGIT_SUM
from PancreasMultiTaskLib.engine.io import atomic_path, read_image, write_image
from PancreasMultiTaskLib.engine.options import POOLING_METHODS
from PancreasMultiTaskLib.engine.subtype import pool_slices
from sklearn.calibration import calibration_curve
from sklearn.metrics import ConfusionMatrixDisplay

from .labels import NO_SUBTYPE, read_subtypes_csv, subtype_names
from .metrics import classification_metrics, mean_segmentation, segmentation_metrics
from .resume import code_digest, files_digest, folder_digest, machine, settings_digest, store, stored

POOLINGS = POOLING_METHODS
#: The released code's case probability: uniform pooling of the tiles' fold-logit sum.
RELEASED_CODE = "uniform-logit-sum"
#: Case-level methods compared on held-out data: guided tiles, the sliding window's tiles pooled two ways (folds'
#: probabilities averaged), and as the released code ensembles them.
METHODS = ("guided", *POOLINGS, RELEASED_CODE)


@dataclass(frozen=True)
class EvalCase:
    """A held-out case: image, truth label map and true subtype index."""

    case_id: str
    image: Path
    label: Path
    subtype: int


def held_out_cases(raw_dataset: str | Path) -> list[EvalCase]:
    """The ``imagesTs``/``labelsTs`` cases of a converted dataset, with subtypes from ``subtypes.csv``."""
    raw = Path(raw_dataset)
    labels = read_subtypes_csv(raw / "subtypes.csv")
    cases = []
    for image in sorted((raw / "imagesTs").glob("*_0000.nii.gz")):
        case_id = image.name[: -len("_0000.nii.gz")]
        label = raw / "labelsTs" / f"{case_id}.nii.gz"
        if not label.is_file() or case_id not in labels:
            raise ValueError(f"{image}: held-out case needs {label} and a row in {raw / 'subtypes.csv'}")
        cases.append(EvalCase(case_id, image, label, labels[case_id]))
    if not cases:
        raise ValueError(f"{raw / 'imagesTs'}: no held-out cases")
    return cases


def generic_cases(folder: str | Path, skip_normal: bool = False) -> list[EvalCase]:
    """Cases of a generic phantom folder (``images/``, ``labels/``, ``subtypes.csv``), as stored.

    ``skip_normal``: leave out the cases ``subtypes.csv`` marks as having no lesion (else their subtype is -1).
    """
    folder = Path(folder)
    labels = read_subtypes_csv(folder / "subtypes.csv", skip_normal=skip_normal)
    cases = [
        EvalCase(case_id, folder / "images" / f"{case_id}_0000.nii.gz", folder / "labels" / f"{case_id}.nii.gz", s)
        for case_id, s in sorted(labels.items())
    ]
    missing = [str(c.image) for c in cases if not (c.image.is_file() and c.label.is_file())]
    if missing:
        raise ValueError(f"{folder}: missing image or label for {missing[:3]}")
    return cases


def padded_cases(cases: Sequence[EvalCase], output: str | Path, factor: int = 2, seed: int = 0) -> list[EvalCase]:
    """Each case in an in-plane field ``factor`` times as large, stored in its own orientation.

    The padding is fat-like (-95 HU with 10 HU noise); the original sits at a random offset.
    """
    output = Path(output)
    result = []
    for n, case in enumerate(cases):
        image_path = output / "images" / case.image.name
        label_path = output / "labels" / case.label.name
        if not (image_path.is_file() and label_path.is_file()):
            image, label = sitk.ReadImage(str(case.image)), sitk.ReadImage(str(case.label))
            code = sitk.DICOMOrientImageFilter.GetOrientationFromDirectionCosines(image.GetDirection())
            image_lps, label_lps = sitk.DICOMOrient(image, "LPS"), sitk.DICOMOrient(label, "LPS")
            rng = np.random.default_rng([seed, n])
            size = np.array(image_lps.GetSize())
            big = size * np.array([factor, factor, 1])
            start = [int(rng.integers(0, b - s + 1)) for s, b in zip(size, big, strict=True)]
            canvas = np.round(-95 + 10 * rng.standard_normal(big[::-1])).astype(np.int16)
            canvas[tuple(slice(st, st + s) for st, s in zip(start[::-1], size[::-1], strict=True))] = (
                sitk.GetArrayFromImage(image_lps)
            )
            labels = np.zeros(big[::-1], np.uint8)
            labels[tuple(slice(st, st + s) for st, s in zip(start[::-1], size[::-1], strict=True))] = (
                sitk.GetArrayFromImage(label_lps)
            )
            origin = image_lps.TransformIndexToPhysicalPoint([-s for s in start])
            for array, path in ((canvas, image_path), (labels, label_path)):
                padded = sitk.GetImageFromArray(array)
                padded.SetSpacing(image_lps.GetSpacing())
                padded.SetOrigin(origin)
                padded.SetDirection(image_lps.GetDirection())
                write_image(sitk.DICOMOrient(padded, code), path)
        result.append(EvalCase(case.case_id, image_path, label_path, case.subtype))
    return result


def _seg_metrics(prediction: sitk.Image, truth: sitk.Image) -> dict:
    return segmentation_metrics(
        sitk.GetArrayFromImage(prediction), sitk.GetArrayFromImage(truth), truth.GetSpacing()[::-1]
    )


def evaluate_held_out(
    model_folder: str | Path,
    cases: Sequence[EvalCase],
    output: str | Path,
    folds: Sequence[str] | None = None,
    use_mirroring: bool = True,
    title: str = "held-out ensemble",
    classification_mirroring: bool | None = None,
    backend: str = "auto",
    num_threads: int | None = None,
) -> dict[str, Any]:
    """Run the engine (all folds, guided and tile classification) on each case; per-case rows and summaries.

    ``use_mirroring`` is the engine's test-time mirroring; ``classification_mirroring`` that of the
    guided tiles alone (``None``: the same). ``num_threads``: the engine's threads (default: one a
    core; give each of several evaluation processes its share, or OpenMP's waiting threads stall them).
    """
    from PancreasMultiTaskLib.engine.model_folder import open_model_folder
    from PancreasMultiTaskLib.engine.predictor import PredictionOptions, Predictor

    output = Path(output)
    folder = open_model_folder(model_folder, folds=folds)
    options = PredictionOptions(
        device="cpu",
        use_mirroring=use_mirroring,
        classification_mirroring=classification_mirroring,
        pooling="lesion-weighted",
        classification="guided",
        backend=backend,
        num_threads=num_threads,
    )
    predictor = Predictor(folder, options)
    names = list(folder.subtypes or [])
    # A rerun reuses a case's row made by the same model, options, case files and code (resume.py).
    run_key = settings_digest(
        folder_digest(Path(model_folder)),
        code_digest(),
        machine(),
        list(folder.folds),
        dataclasses.replace(options, num_threads=None),
    )
    rows = []
    for case in cases:
        row_file = output / "rows" / f"{case.case_id}.json"
        case_key = settings_digest(run_key, case.case_id, case.subtype, files_digest([case.image, case.label]))
        row = stored(row_file, case_key)
        if row is not None:
            rows.append(row)
            continue
        start = time.perf_counter()
        prediction = predictor.predict(read_image(case.image), case.case_id)
        seconds = time.perf_counter() - start
        write_image(prediction.segmentation, output / "predictions" / f"{case.case_id}.nii.gz")
        prediction.result.write_json(output / "predictions" / f"{case.case_id}.result.json")
        subtype = prediction.network_subtype  # scored also where the product withholds it
        assessment = prediction.result.assessment
        lesion = np.array([s.lesion_mass for s in subtype.slices])
        pancreas = np.array([s.pancreas_mass for s in subtype.slices])
        tiles = prediction.slice_probabilities["tiles"].mean(0)
        pooled = {m: pool_slices(tiles, lesion, pancreas, m) for m in POOLINGS}
        pooled["guided"] = pool_slices(prediction.slice_probabilities["guided"].mean(0), lesion, pancreas)
        logit_sum = prediction.slice_probabilities[TILES_LOGIT_SUM][0]
        pooled[RELEASED_CODE] = pool_slices(logit_sum, lesion, pancreas, "uniform")
        rows.append(
            {
                "case_id": case.case_id,
                "truth": case.subtype,
                "probabilities": {m: [float(v) for v in pooled[m].probabilities] for m in METHODS},
                "pooling_used": {m: p.method for m, p in pooled.items()},
                "fold_probabilities": subtype.fold_probabilities,
                "uncertain": subtype.uncertainty.uncertain,
                "answer": _answer(prediction.result.subtype, names),
                # What the product said: its status, whether it found a lesion, and whether it gave a subtype.
                "outcome": {
                    "status": assessment.status,
                    "lesion_found": assessment.lesion_found,
                    "subtype_given": prediction.result.subtype.predicted is not None,
                    "reasons": list(assessment.reasons),
                },
                "segmentation": _seg_metrics(prediction.segmentation, sitk.ReadImage(str(case.label))),
                "lesion_volume_ml": prediction.result.measurements.lesion_volume_ml,
                "lesion_p90": assessment.lesion_p90,
                "seconds": seconds,
            }
        )
        store(row_file, case_key, rows[-1])
    return summarize(
        rows,
        names,
        title,
        folder_name=str(model_folder),
        folds=list(folder.folds),
        segmentation_mirroring=use_mirroring,
        classification_mirroring=use_mirroring if classification_mirroring is None else classification_mirroring,
    )


def summarize(rows: list[dict], names: list[str], title: str, **extra: Any) -> dict[str, Any]:
    """Classification metrics per pooling (cases with a subtype) and mean segmentation metrics over ``rows``."""
    labelled = [r for r in rows if r["truth"] != NO_SUBTYPE]
    truth = [r["truth"] for r in labelled]
    classification = {
        m: {
            **classification_metrics(truth, np.array([r["probabilities"][m] for r in labelled]), names),
            "accuracy_ci95": accuracy_ci(truth, np.array([r["probabilities"][m] for r in labelled])),
        }
        for m in METHODS
        if labelled and all(m in r["probabilities"] for r in labelled)
    }
    return {
        "title": title,
        **extra,
        "subtype_names": names,
        "classification": classification,
        "segmentation": mean_segmentation([r["segmentation"] for r in rows]),
        "cases": rows,
    }


def wilson_interval(successes: int, total: int) -> list[float]:
    """Wilson 95% confidence interval of a proportion (``[nan, nan]`` for no trials)."""
    from scipy.stats import binomtest

    if total == 0:
        return [math.nan, math.nan]
    interval = binomtest(int(successes), int(total)).proportion_ci(0.95, method="wilson")
    return [float(interval.low), float(interval.high)]


def accuracy_ci(truth: Sequence[int], probabilities: np.ndarray) -> list[float]:
    """Wilson 95% confidence interval of the accuracy of the arg-max predictions."""
    return wilson_interval(int(np.sum(np.argmax(probabilities, 1) == np.asarray(truth))), len(truth))


def _answer(subtype: Any, names: Sequence[str]) -> dict[str, Any] | None:
    """The subtype the product gave (index, its calibrated probability, its uncertain flag); ``None`` if none."""
    if subtype is None or subtype.predicted is None:
        return None
    return {
        "predicted": names.index(subtype.predicted),
        "probability": float(subtype.probability),
        "uncertain": bool(subtype.uncertainty.uncertain),
    }


def confidence_summary(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The product's own confidence on the lesion cases where it gave a subtype (its ``answer``, calibrated as
    shipped): ECE, the AUROC of the confidence separating right from wrong, and the shares of right and of wrong
    answers flagged uncertain, each with a Wilson CI."""
    from .calibration import confidence_auroc, expected_calibration_error

    given = [r for r in rows if r["truth"] != NO_SUBTYPE and r.get("answer") is not None]
    confidence = np.array([r["answer"]["probability"] for r in given])
    correct = np.array([r["answer"]["predicted"] == r["truth"] for r in given], dtype=bool)
    flagged = np.array([r["answer"]["uncertain"] for r in given], dtype=bool)

    def share(selected: np.ndarray) -> dict[str, Any]:
        hits, of = int(flagged[selected].sum()), int(selected.sum())
        return {"count": hits, "of": of, "share": hits / of if of else math.nan, "ci95": wilson_interval(hits, of)}

    return {
        "cases": len(given),
        "ece": expected_calibration_error(confidence, correct) if given else None,
        "auroc": confidence_auroc(confidence, correct) if given else None,
        "flagged_of_right": share(correct),
        "flagged_of_wrong": share(~correct),
    }


def outcome_summary(rows: Sequence[dict[str, Any]], lesion_diameters_mm: dict[str, float] | None = None) -> dict:
    """What the product said over ``rows`` (of :func:`evaluate_held_out`): shares answered, with warnings and
    withheld; for normal glands, the share given a lesion or a subtype; for lesions, the share found (also of
    those at least 5 mm across, when ``lesion_diameters_mm`` gives each case's diameter). Each with a Wilson CI.
    """

    def share(selected: Sequence[dict], test: Any) -> dict[str, Any]:
        hits = sum(1 for r in selected if test(r["outcome"]))
        return {"count": hits, "of": len(selected), "share": hits / len(selected) if selected else math.nan,
                "ci95": wilson_interval(hits, len(selected))}  # fmt: skip

    normal = [r for r in rows if r["truth"] == NO_SUBTYPE]
    lesions = [r for r in rows if r["truth"] != NO_SUBTYPE]
    summary = {
        status: share(rows, lambda o, status=status: o["status"] == status)
        for status in ("answered", "answered-with-warnings", "withheld")
    }
    summary["normal_with_lesion_or_subtype"] = share(normal, lambda o: o["lesion_found"] or o["subtype_given"])
    summary["lesions_found"] = share(lesions, lambda o: o["lesion_found"])
    if lesion_diameters_mm is not None:
        large = [r for r in lesions if lesion_diameters_mm.get(r["case_id"], 0.0) >= 5.0]
        summary["lesions_5mm_found"] = share(large, lambda o: o["lesion_found"])
    summary["lesions_with_subtype"] = share(lesions, lambda o: o["subtype_given"])
    return summary


def cross_validation(training_folder: str | Path, gt_folder: str | Path) -> dict[str, Any]:
    """Pool every fold's validation predictions (each case predicted by the fold that did not train on it)."""
    training_folder, gt_folder = Path(training_folder), Path(gt_folder)
    names = subtype_names(training_folder / "dataset.json")
    rows = []
    curves = {}
    for fold_dir in sorted(training_folder.glob("fold_*")):
        summary_path = fold_dir / "validation" / "subtypes.json"
        if not summary_path.is_file():
            continue
        fold = fold_dir.name[len("fold_") :]
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        for case_id, entry in summary["cases"].items():
            prediction = sitk.ReadImage(str(fold_dir / "validation" / f"{case_id}.nii.gz"))
            truth = sitk.ReadImage(str(gt_folder / f"{case_id}.nii.gz"))
            rows.append(
                {
                    "case_id": case_id,
                    "fold": fold,
                    "truth": entry["truth"],
                    "probabilities": {m: entry[m] for m in POOLINGS},
                    "pooling_used": {m: entry[f"{m}_used"] for m in POOLINGS},
                    "segmentation": _seg_metrics(prediction, truth),
                }
            )
        curves[fold] = fold_curves(fold_dir)
    if not rows:
        raise ValueError(f"{training_folder}: no fold_N/validation/subtypes.json; train the folds first")
    folds = sorted(curves)
    title = (
        "5-fold cross-validation"
        if len(folds) == 5
        else f"cross-validation, fold{'s' if len(folds) > 1 else ''} {', '.join(folds)} of nnU-Net's 5-fold split"
    )
    result = summarize(rows, names, title, folder_name=str(training_folder), folds=folds)
    result["curves"] = curves
    return result


def fold_curves(fold_dir: Path) -> dict[str, list[float]]:
    """Per-epoch losses and subtype accuracy from a fold's checkpoint logs."""
    from .export import load_training_checkpoint

    for name in ("checkpoint_final.pth", "checkpoint_latest.pth"):
        if (fold_dir / name).is_file():
            logging = load_training_checkpoint(fold_dir / name).get("logging", {})
            keys = ("train_losses", "val_losses", "train_class_losses", "val_class_losses", "val_class_accuracy")
            return {k: [float(v) for v in logging.get(k, [])] for k in keys}
    return {}


def _fmt(value: float, digits: int = 3) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def write_report(
    results: Sequence[dict[str, Any]],
    output: str | Path,
    title: str = "Evaluation",
    headline: Sequence[str] = (),
    extra: dict[str, Any] | None = None,
) -> Path:
    """``metrics.json``, ``report.md`` and figures for one or more result sets (e.g. CV and held-out).

    ``headline`` lines open the report; ``extra`` (e.g. the baseline) is stored in ``metrics.json``.
    """
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    with atomic_path(output / "metrics.json") as tmp:
        payload: Any = {"results": list(results), **extra} if extra else list(results)
        tmp.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    lines = [f"# {title}", "", *headline]
    for index, result in enumerate(results):
        slug = f"{index}_" + "".join(c if c.isalnum() else "_" for c in result["title"].lower())
        names = result["subtype_names"]
        lines += [f"## {result['title']}", "", f"{len(result['cases'])} cases.", ""]
        lines += ["### Subtype classification", ""]
        lines += [
            "| metric | " + " | ".join(result["classification"]) + " |",
            "|---|" + "---|" * len(result["classification"]),
        ]
        metrics = result["classification"]
        for key, label in (
            ("accuracy", "accuracy"),
            ("f_beta", "macro F1"),
            ("average_precision", "macro average precision"),
            ("brier", "multi-class Brier"),
        ):
            lines.append(f"| {label} | " + " | ".join(_fmt(m[key]) for m in metrics.values()) + " |")
        lines.append(
            "| accuracy 95% CI (Wilson) | "
            + " | ".join(f"{_fmt(m['accuracy_ci95'][0])}-{_fmt(m['accuracy_ci95'][1])}" for m in metrics.values())
            + " |"
        )
        for name in names:
            lines.append(
                f"| sensitivity / specificity {name} | "
                + " | ".join(
                    f"{_fmt(m['sensitivity'][name])} / {_fmt(m['specificity'][name])}" for m in metrics.values()
                )
                + " |"
            )
        lines += [
            "",
            "Case-level subtype from per-slice probabilities: guided (one tile a slice centred on the predicted"
            " lesion, lesion-weighted pooling), or the sliding window's tile means (the folds' softmax averaged)"
            " pooled lesion-weighted or uniformly (the paper), or (uniform-logit-sum, the paper's released code)"
            " the mean over all tiles of the softmax of the folds' summed class logits. n/a: undefined for this"
            " set (e.g. no case of that subtype).",
        ]
        lines += [
            "",
            "### Segmentation (mean over cases)",
            "",
            "pancreas = the whole gland (labels 1 + 2, lesion included); lesion = label 2.",
            "",
            "| structure | Dice | IoU | NSD (2 mm) | HD95 (mm) |",
        ]
        lines += ["|---|---|---|---|---|"]
        for structure, m in result["segmentation"].items():
            lines.append(
                f"| {structure} | {_fmt(m['dice'])} | {_fmt(m['iou'])} | {_fmt(m['nsd'])} | {_fmt(m['hd95_mm'], 2)} |"
            )
        figures = _figures(result, output, slug)
        lines += [""] + [f"![{caption}]({name})" for name, caption in figures] + [""]
        if result.get("curves") and not _logged_curves(result):
            lines += [
                "No loss curves: the folds' checkpoints hold no training log (weights reused from an exported"
                " model, whose export keeps the weights only).",
                "",
            ]
        lines += [
            "### Per case",
            "",
            "| case | truth | "
            + " | ".join(f"predicted ({m}) | p" for m in metrics)
            + " | lesion Dice | pancreas Dice |",
        ]
        lines += ["|---|---|" + "---|---|" * len(metrics) + "---|---|"]
        for row in result["cases"]:
            predicted = " | ".join(
                f"{names[int(np.argmax(row['probabilities'][m]))]} | {max(row['probabilities'][m]):.2f}"
                for m in metrics
            )
            lines.append(
                f"| {row['case_id']} | {_truth_name(names, row['truth'])} | {predicted} | "
                f"{_fmt(row['segmentation']['lesion']['dice'])} | {_fmt(row['segmentation']['pancreas']['dice'])} |"
            )
        lines.append("")
    with atomic_path(output / "report.md") as tmp:
        tmp.write_text("\n".join(lines), encoding="utf-8")
    return output / "report.md"


def _truth_name(names: Sequence[str], truth: int) -> str:
    return "normal" if truth == NO_SUBTYPE else names[truth]


def _save(fig: plt.Figure, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def _logged_curves(result: dict[str, Any]) -> dict[str, dict[str, list[float]]]:
    """The folds whose checkpoints logged their training (exported weights, reused, carry no log)."""
    return {fold: c for fold, c in (result.get("curves") or {}).items() if any(c.values())}


def _figures(result: dict[str, Any], output: Path, slug: str) -> list[tuple[str, str]]:
    names = result["subtype_names"]
    figures = []
    method = next(iter(result["classification"]))
    metrics = result["classification"][method]
    fig, ax = plt.subplots(figsize=(5, 4.5))
    ConfusionMatrixDisplay(np.array(metrics["confusion_matrix"]), display_labels=names).plot(ax=ax, colorbar=False)
    ax.set_title(f"{result['title']}: confusion matrix ({method})")
    ax.tick_params(axis="x", labelrotation=20)
    fig.tight_layout()
    _save(fig, output / f"{slug}_confusion.png")
    figures.append((f"{slug}_confusion.png", "confusion matrix"))

    fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.plot([0, 1], [0, 1], "k:", label="perfectly calibrated")
    labelled = [r for r in result["cases"] if r["truth"] != NO_SUBTYPE]
    for method in result["classification"]:
        probs = np.array([r["probabilities"][method] for r in labelled])
        correct = probs.argmax(1) == np.array([r["truth"] for r in labelled])
        frac, mean = calibration_curve(correct, probs.max(1), n_bins=5, strategy="quantile")
        ax.plot(mean, frac, "o-", label=method)
    # The product's own answers, calibrated as shipped: the confidence whose ECE the report gives.
    answered = [r for r in labelled if r.get("answer")]
    if answered:
        confidence = np.array([r["answer"]["probability"] for r in answered])
        correct = np.array([r["answer"]["predicted"] == r["truth"] for r in answered])
        frac, mean = calibration_curve(correct, confidence, n_bins=5, strategy="quantile")
        ax.plot(mean, frac, "ks-", label="answers given (calibrated)")
    ax.set_xlabel("confidence (top-class probability)")
    ax.set_ylabel("accuracy")
    ax.set_title(f"{result['title']}: reliability")
    ax.legend()
    fig.tight_layout()
    _save(fig, output / f"{slug}_reliability.png")
    figures.append((f"{slug}_reliability.png", "reliability diagram"))

    curves = _logged_curves(result)
    if curves:
        fig, (ax_seg, ax_cls) = plt.subplots(1, 2, figsize=(11, 4))
        for fold, c in sorted(curves.items()):
            ax_seg.plot(c.get("train_losses", []), label=f"fold {fold} train")
            ax_seg.plot(c.get("val_losses", []), "--", label=f"fold {fold} val")
            ax_cls.plot(c.get("val_class_accuracy", []), label=f"fold {fold}")
        ax_seg.set(xlabel="epoch", ylabel="total loss", title="loss per fold")
        ax_cls.set(
            xlabel="epoch", ylabel="slice subtype accuracy (val)", title="subtype accuracy per fold", ylim=(0, 1)
        )
        ax_seg.legend(fontsize=7)
        ax_cls.legend(fontsize=7)
        fig.tight_layout()
        _save(fig, output / f"{slug}_loss_curves.png")
        figures.append((f"{slug}_loss_curves.png", "per-fold loss curves"))
    return figures
