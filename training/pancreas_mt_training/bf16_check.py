"""The bfloat16 check a model must pass before ``--precision auto`` runs it in bfloat16 on a CPU.

Every fold's validation cases (the first ``cases_per_fold`` of each) run through the engine with that fold
alone, in float32 and in bfloat16 (PyTorch autocast; on a CPU without bfloat16 units the arithmetic is
emulated, slowly, but the rounding is the same, so quality is measured even where speed is not). The check
passes when the mean lesion and gland Dice against the truth each move by at most :data:`MAX_DICE_CHANGE` and
no case's subtype changes; :func:`record_bfloat16_check` writes the verdict into the model's
``competence.json``, which is what the engine's precision rule reads.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk
from PancreasMultiTaskLib.engine.competence import COMPETENCE_FILE, read_record

from .calibration import validation_predictions
from .competence import write_record
from .metrics import segmentation_metrics

#: The largest change of the mean lesion or gland Dice that bfloat16 may cause.
MAX_DICE_CHANGE = 0.005
PRECISIONS = ("float32", "bfloat16")


def _run(model_folder: Path, raw: Path, precision: str, cases_per_fold: int | None, engine: dict) -> dict[str, dict]:
    """Per case: Dice of lesion and gland against the truth, the predicted subtype and the labels."""
    from PancreasMultiTaskLib.engine.predictor import PredictionOptions

    options = PredictionOptions(backend="torch", precision=precision, **engine)
    file_ending = json.loads((model_folder / "dataset.json").read_text(encoding="utf-8")).get("file_ending", ".nii.gz")
    rows = {}
    for _, case_id, _, prediction in validation_predictions(model_folder, raw, options, cases_per_fold):
        labels = sitk.GetArrayFromImage(prediction.segmentation)
        truth = sitk.ReadImage(str(raw / "labelsTr" / f"{case_id}{file_ending}"))
        metrics = segmentation_metrics(labels, sitk.GetArrayFromImage(truth), truth.GetSpacing()[::-1])
        subtype = prediction.result.subtype
        rows[case_id] = {
            "lesion": metrics["lesion"]["dice"],
            "pancreas": metrics["pancreas"]["dice"],
            "subtype": None if subtype is None else subtype.predicted,
            "labels": labels,
        }
    return rows


def bfloat16_check(
    model_folder: str | Path, raw: str | Path, cases_per_fold: int | None = None, **engine: Any
) -> dict[str, Any]:
    """Run the check; returns the verdict (``passed``) and its figures. ``engine``: further engine options
    (device, mirroring, threads); the backend is PyTorch's, the one that runs both precisions everywhere."""
    model_folder, raw = Path(model_folder), Path(raw)
    if cases_per_fold is not None and cases_per_fold < 1:
        raise ValueError(f"cases per fold must be at least 1, got {cases_per_fold}")
    runs = {p: _run(model_folder, raw, p, cases_per_fold, engine) for p in PRECISIONS}
    f32, bf16 = runs["float32"], runs["bfloat16"]
    cases = sorted(f32)
    if not cases:
        raise ValueError(f"{model_folder}: its folds' validation/ folders list no case to check")
    dice = {
        structure: {p: float(np.mean([runs[p][c][structure] for c in cases])) for p in PRECISIONS}
        for structure in ("lesion", "pancreas")
    }
    changes = {s: abs(d["bfloat16"] - d["float32"]) for s, d in dice.items()}
    flipped = [c for c in cases if f32[c]["subtype"] != bf16[c]["subtype"]]
    agreement = float(np.mean([(f32[c]["labels"] == bf16[c]["labels"]).mean() for c in cases]))
    return {
        "passed": all(change <= MAX_DICE_CHANGE for change in changes.values()) and not flipped,
        "rule": f"mean lesion and gland Dice each move by at most {MAX_DICE_CHANGE}; no subtype changes",
        "cases": len(cases),
        "dice": dice,
        "dice_change": changes,
        "largest_case_dice_change": {
            s: float(max(abs(bf16[c][s] - f32[c][s]) for c in cases)) for s in ("lesion", "pancreas")
        },
        "subtype_changes": flipped,
        "label_agreement": agreement,
    }


def record_bfloat16_check(model_folder: str | Path, result: dict[str, Any]) -> Path:
    """Write the check's verdict into the model's ``competence.json`` (the other fields kept)."""
    model_folder = Path(model_folder)
    record = read_record(model_folder / COMPETENCE_FILE)
    return write_record(dataclasses.replace(record, bfloat16_check_passed=bool(result["passed"])), model_folder)
