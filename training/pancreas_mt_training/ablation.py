"""The paper's ablation table (Table III): head variants trained on one fold, by name.

Each variant gets its own plans (``nnUNetResEncUNetMPlans_MultiTask_<name>``) that differ only in the
classifier head's arguments (:data:`PancreasMultiTaskLib.engine.network.ABLATIONS`); all share the same
preprocessed data. The table reports the fold's case-level validation accuracy and multi-class Brier
score (lesion-weighted pooling) and the mean lesion and pancreas Dice.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PancreasMultiTaskLib.engine.io import atomic_path
from PancreasMultiTaskLib.engine.network import ABLATIONS

from .evaluate import cross_validation
from .plans import MULTITASK_PLANS, plan_dataset

TRAINER = "nnUNetTrainerMultiTask"
LABELS = {
    "proposed": "Proposed model",
    "no_bn": "No batchnorm",
    "no_dropout": "No dropout",
    "no_cfe": "No CFE",
    "dense3": "3 dense layers",
    "dense1": "1 dense layer",
}


def run_ablation(
    dataset_id: int,
    names: Sequence[str],
    output: str | Path,
    fold: int = 0,
    device: str = "cpu",
    **plan_options: Any,
) -> Path:
    """Plan, train (one fold) and evaluate each named variant; writes ``ablation.md`` and ``ablation.json``."""
    import torch
    from nnunetv2.paths import nnUNet_preprocessed, nnUNet_results
    from nnunetv2.run.run_training import run_training
    from nnunetv2.utilities.dataset_name_id_conversion import convert_id_to_dataset_name

    from .trainer import external_trainer_folder

    unknown = sorted(set(names) - set(ABLATIONS))
    if unknown:
        raise ValueError(f"unknown ablation(s) {unknown}; choose from {sorted(ABLATIONS)}")
    os.environ.setdefault("nnUNet_extTrainer", str(external_trainer_folder()))
    dataset = convert_id_to_dataset_name(dataset_id)
    gt = Path(nnUNet_preprocessed.require()) / dataset / "gt_segmentations"
    rows = []
    for name in names:
        plans_name = f"{MULTITASK_PLANS}_{name}"
        plan_dataset(dataset_id, plans_name, ablation=name, **plan_options)
        folder = Path(nnUNet_results.require()) / dataset / f"{TRAINER}__{plans_name}__2d"
        if not (folder / f"fold_{fold}" / "validation" / "subtypes.json").is_file():
            run_training(str(dataset_id), "2d", fold, TRAINER, plans_name, device=torch.device(device))
        result = cross_validation(folder, gt)
        metrics = result["classification"]["lesion-weighted"]
        rows.append(
            {
                "name": name,
                "label": LABELS.get(name, name),
                "accuracy": metrics["accuracy"],
                "brier": metrics["brier"],
                "lesion_dice": result["segmentation"]["lesion"]["dice"],
                "pancreas_dice": result["segmentation"]["pancreas"]["dice"],
                "cases": metrics["cases"],
            }
        )
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    with atomic_path(output / "ablation.json") as tmp:
        tmp.write_text(json.dumps({"fold": fold, "rows": rows}, indent=2) + "\n", encoding="utf-8")
    lines = [
        f"# Ablation (fold {fold}, case-level, lesion-weighted pooling)",
        "",
        "| variant | accuracy | Brier | lesion Dice | pancreas Dice |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['label']} | {r['accuracy']:.1%} | {r['brier']:.3f} | {r['lesion_dice']:.3f} | {r['pancreas_dice']:.3f} |"
        for r in rows
    ]
    with atomic_path(output / "ablation.md") as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return output / "ablation.md"
