"""nnU-Net's postprocessing, chosen on a trained model's cross-validation and stored in its folder.

As ``nnUNetv2_find_best_configuration`` does for a model: the folds' validation predictions are merged
(into ``crossval_results_folds_<folds>/`` of the model folder, as ``accumulate_cv_results`` merges them) and
``determine_postprocessing`` keeps each "largest connected part" step that raises the mean Dice there. Its
``postprocessing.json`` is copied beside ``plans.json``, where the engine reads it (``postprocessing.py`` of the
engine; the pickle nnU-Net also writes is never read). Run it before ``calibrate``, whose validation cases then
see the segmentation the engine will give.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PancreasMultiTaskLib.engine.io import atomic_path
from PancreasMultiTaskLib.engine.postprocessing import POSTPROCESSING_FILE, label_values, read_postprocessing

from .calibration import CalibrationError, training_raw


def crossval_folder(model_folder: Path, folds: Sequence[str]) -> Path:
    """nnU-Net's name for the merged cross-validation of ``folds``."""
    return model_folder / f"crossval_results_folds_{'_'.join(folds)}"


def _merge_folds(model_folder: Path, folds: Sequence[str]) -> Path:
    """The folds' validation segmentations in one folder with the model's plans and dataset, as nnU-Net's
    ``accumulate_cv_results`` merges them; copied here because that function scores them against
    ``$nnUNet_raw`` rather than the dataset given (``determine_postprocessing`` scores them itself)."""
    dataset = json.loads((model_folder / "dataset.json").read_text(encoding="utf-8"))
    merged = crossval_folder(model_folder, folds)
    if merged.exists():
        shutil.rmtree(merged)
    merged.mkdir()
    for name in ("dataset.json", "plans.json"):
        shutil.copyfile(model_folder / name, merged / name)
    for fold in folds:
        for path in sorted((model_folder / f"fold_{fold}" / "validation").glob(f"*{dataset['file_ending']}")):
            if (merged / path.name).exists():
                raise CalibrationError(f"{path}: case {path.name} is in the validation of more than one fold")
            shutil.copyfile(path, merged / path.name)
    return merged


def determine_model_postprocessing(
    model_folder: str | Path, raw: str | Path | None = None, folds: Sequence[str] | None = None, processes: int = 1
) -> dict[str, Any]:
    """Choose the postprocessing on the folds' validation cases into ``<model>/postprocessing.json``.

    ``folds``: default every fold with a ``validation/`` folder; ``raw``: the nnU-Net raw dataset the model was
    trained on (its ``labelsTr`` are the truth; default ``$nnUNet_raw/<dataset name in plans.json>``). Returns
    nnU-Net's summary: the steps and the Dice before and after them.
    """
    from nnunetv2.postprocessing.remove_connected_components import determine_postprocessing

    model_folder = Path(model_folder)
    names = (p.parent.name[len("fold_") :] for p in model_folder.glob("fold_*/validation"))
    present = sorted((n for n in names if n.isdigit()), key=int)  # fold "all" validated on its training cases
    folds = [str(f) for f in folds] if folds else present
    missing = sorted(set(folds) - set(present))
    if not folds or missing:
        raise CalibrationError(
            f"{model_folder}: no fold_N/validation/ for fold(s) {missing or 'any'}; train them first"
        )
    truth = training_raw(model_folder, raw) / "labelsTr"
    if not truth.is_dir():
        raise CalibrationError(f"{truth}: missing; the postprocessing is chosen against the training labels")
    merged = _merge_folds(model_folder, folds)
    determine_postprocessing(
        str(merged),
        str(truth),
        str(model_folder / "plans.json"),
        str(model_folder / "dataset.json"),
        processes,
        keep_postprocessed_files=False,
    )
    chosen = merged / POSTPROCESSING_FILE
    dataset = json.loads((model_folder / "dataset.json").read_text(encoding="utf-8"))
    read_postprocessing(chosen, label_values(dataset["labels"]))  # what the engine will accept
    with atomic_path(model_folder / POSTPROCESSING_FILE) as tmp:
        shutil.copyfile(chosen, tmp)
    summary = json.loads(chosen.read_text(encoding="utf-8"))
    summary["folds"] = folds
    return summary
