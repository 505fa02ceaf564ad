"""The paper's method measured beside ours: its preset trained once on the demo's gland crops, one fold of each
evaluated by the engine on the same held-out phantoms.

The paper trained on ROI crops about one patch in size with region-based labels (pancreas = 1 + 2, lesion =
2), its class loss (BCE plus one global Dice over the batch's logits, weight 3, every tile trained as its case's
subtype; no deep supervision), a head on the whole patch, nnU-Net's tile sampling, augmentation and CT
normalization, SGD at 1e-2 and batch 16, and pooled the sliding window's tile probabilities uniformly (its
released code sums the folds' logits). Here: the demo's crops converted region-based (dataset ``dataset_id +
3``, whose fold split is the demo's: the same case ids under nnU-Net's seeded split), the paper preset and
trainer, at the demo's network, patch, grid and budget of epochs and iterations (the paper's ResEnc M width and
100 epochs of 250 iterations are a GPU's work). Both folds run through the engine as the product runs them
(``roi auto`` with the demo's localizer, guided tiles mirrored, no postprocessing for either), and every
pooling of their tiles is reported: guided (ours), the tiles lesion-weighted, the tiles uniform (the paper's)
and the released code's logit sum.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

from PancreasMultiTaskLib.engine.io import atomic_path
from PancreasMultiTaskLib.engine.store_layout import LOCALIZER_FOLDER

from .convert import collect_generic, convert_cases, dataset_folder
from .demo import DemoConfig, evaluate_runs, model_folder, prepare, test_phantoms, train_folds
from .evaluate import RELEASED_CODE, generic_cases
from .localizer import attach_localizer
from .phantoms import SUBTYPE_NAMES
from .plans import MULTITASK_PLANS, plan_dataset

PAPER_TRAINER = "nnUNetTrainerMultiTaskPaper"
#: The paper's batch size (the demo's is 12).
PAPER_BATCH_SIZE = 16
#: Offset of the paper's region-based dataset id from the demo's (``+1``, ``+2``: the localizer's datasets).
DATASET_OFFSET = 3
#: What :func:`training_budget` copies from the demo's plans to the paper's.
BUDGET_KEYS = ("num_epochs", "num_iterations_per_epoch", "num_val_iterations_per_epoch")
#: The poolings of the report, in its column order: what each is.
COLUMNS = {
    "guided": "guided (ours)",
    "lesion-weighted": "tiles, lesion-weighted",
    "uniform": "tiles, uniform (the paper's)",
    RELEASED_CODE: "tiles, released code's logit sum",
}


def paper_dataset(config: DemoConfig, workdir: Path) -> Path:
    """The demo's training crops as a region-based raw dataset (made once); returns its folder."""
    from nnunetv2.paths import nnUNet_raw

    raw = dataset_folder(nnUNet_raw.require(), config.dataset_id + DATASET_OFFSET, f"{config.dataset_name}Regions")
    if not (raw / "dataset.json").is_file():
        crops = workdir / "phantoms_train_crops"
        cases, _ = collect_generic(crops / "images", crops / "labels", crops / "subtypes.csv")
        description = "PancreasMultiTask abdomen phantoms, gland crops, region-based (the paper's labels)"
        convert_cases(cases, raw, list(SUBTYPE_NAMES), regions=True, description=description)
    return raw


def training_budget(folder: Path) -> dict[str, int]:
    """A trained multi-task model's epochs and iterations (its plans' ``multitask_training``)."""
    path = folder / "plans.json"
    try:
        training = json.loads(path.read_text(encoding="utf-8"))["configurations"]["2d"]["multitask_training"]
        budget = {key: training[key] for key in BUDGET_KEYS}
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise ValueError(f"{path}: no readable configurations.2d.multitask_training {list(BUDGET_KEYS)}") from error
    bad = [key for key, value in budget.items() if type(value) is not int or value < 1]
    if bad:
        raise ValueError(f"{path}: multitask_training {bad} must be positive integers")
    return budget


def plan_paper(config: DemoConfig, budget: dict[str, int]) -> Path:
    """The paper preset's plans for the region-based crops, at the demo's network, patch and grid and ``budget``
    (:func:`training_budget` of the demo's model: the same epochs and iterations)."""
    return plan_dataset(
        config.dataset_id + DATASET_OFFSET,
        MULTITASK_PLANS,
        features=config.features,
        blocks=config.blocks,
        patch_size=config.patch_size,
        batch_size=PAPER_BATCH_SIZE,
        spacing_mm=config.spacing_mm,
        classifier_view=None,
        training={
            "preset": "paper",
            **budget,
            "augmentation": "nnunet",
            "save_every": config.save_every,
            "validation_mirroring": False,
        },
    )


def paper_model_folder(config: DemoConfig) -> Path:
    """The paper model's nnU-Net results folder."""
    from nnunetv2.paths import nnUNet_results

    name = f"Dataset{config.dataset_id + DATASET_OFFSET:03d}_{config.dataset_name}Regions"
    return Path(nnUNet_results.require()) / name / f"{PAPER_TRAINER}__{MULTITASK_PLANS}__2d"


def train_paper_fold(config: DemoConfig, fold: int, device: str = "cpu") -> Path:
    """The paper model's ``fold`` (resumed from its last checkpoint; skipped when final); its folder."""
    import torch
    from nnunetv2.paths import nnUNet_preprocessed
    from nnunetv2.run.run_training import run_training

    from .trainer import external_trainer_folder

    os.environ.setdefault("nnUNet_extTrainer", str(external_trainer_folder()))
    folder = paper_model_folder(config)
    if not (folder / f"fold_{fold}" / "checkpoint_final.pth").is_file():
        demo_split = Path(nnUNet_preprocessed.require()) / model_folder(config).parent.name / "splits_final.json"
        target = Path(nnUNet_preprocessed.require()) / folder.parent.name / "splits_final.json"
        if demo_split.is_file() and not target.is_file():
            shutil.copyfile(demo_split, target)
        run_training(
            str(config.dataset_id + DATASET_OFFSET),
            "2d",
            fold,
            PAPER_TRAINER,
            MULTITASK_PLANS,
            continue_training=True,
            device=torch.device(device),
        )
    return folder


def evaluation_copy(trained: Path, fold: int, localizer: Path, target: Path) -> Path:
    """``fold`` of a trained model folder as a model of its own in ``target``, with ``localizer`` attached."""
    if target.exists():
        shutil.rmtree(target)
    (target / f"fold_{fold}").mkdir(parents=True)
    for name in ("dataset.json", "plans.json"):
        shutil.copyfile(trained / name, target / name)
    shutil.copyfile(trained / f"fold_{fold}" / "checkpoint_final.pth", target / f"fold_{fold}" / "checkpoint_final.pth")
    attach_localizer(localizer, target)
    return target


def method_rows(results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row a model: its accuracy (and Wilson interval) under each pooling of :data:`COLUMNS`, and its Dice."""
    rows = []
    for model, result in results.items():
        classification = result["classification"]
        rows.append(
            {
                "model": model,
                "lesion_cases": sum(1 for case in result["cases"] if case["truth"] >= 0),
                "accuracy": {m: classification[m]["accuracy"] for m in COLUMNS if m in classification},
                "accuracy_ci95": {m: classification[m]["accuracy_ci95"] for m in COLUMNS if m in classification},
                "macro_f1": {m: classification[m]["f_beta"] for m in COLUMNS if m in classification},
                "lesion_dice": result["segmentation"]["lesion"]["dice"],
                "pancreas_dice": result["segmentation"]["pancreas"]["dice"],
            }
        )
    return rows


def method_table(rows: list[dict[str, Any]]) -> list[str]:
    """The Markdown table of :func:`method_rows`: subtype accuracy (95% CI) by pooling, then the Dice."""
    lines = [
        "| model | " + " | ".join(COLUMNS.values()) + " | lesion Dice | whole-gland Dice |",
        "|---" * (len(COLUMNS) + 3) + "|",
    ]
    for row in rows:
        cells = []
        for method in COLUMNS:
            if method not in row["accuracy"]:
                cells.append("n/a")
                continue
            low, high = row["accuracy_ci95"][method]
            cells.append(f"{row['accuracy'][method]:.1%} ({low:.1%}-{high:.1%})")
        lines.append(
            f"| {row['model']} | " + " | ".join(cells) + f" | {row['lesion_dice']:.3f} | {row['pancreas_dice']:.3f} |"
        )
    return lines


def measure_paper_method(config: DemoConfig, workdir: Path, fold: int = 0, device: str = "cpu") -> Path:
    """Train (where not done) the demo's and the paper's ``fold``, evaluate both on the held-out set; the report.

    The demo's localizer must be trained (``demo-model`` trains it after the folds). Writes
    ``<workdir>/paper_method/paper_method.{md,json}`` and returns the Markdown file.
    """
    workdir = workdir.resolve()
    for name in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
        os.environ.setdefault(name, str(workdir / name))
        Path(os.environ[name]).mkdir(parents=True, exist_ok=True)
    localizer = model_folder(config) / LOCALIZER_FOLDER
    if not (localizer / "plans.json").is_file():
        raise FileNotFoundError(f"{localizer}: no localizer; run demo-model with this --workdir first")
    prepare(config, workdir)
    ours = train_folds(replace(config, folds=(fold,)), device)
    budget = training_budget(ours)
    paper_dataset(config, workdir)
    plan_paper(config, budget)
    paper = train_paper_fold(config, fold, device)
    output = workdir / "paper_method"
    models = {
        "ours (demo preset)": evaluation_copy(ours, fold, localizer, output / "models" / "ours"),
        "the paper's preset": evaluation_copy(paper, fold, localizer, output / "models" / "paper"),
    }
    cases = generic_cases(test_phantoms(config, workdir))
    runs = {name: (folder, cases, output / folder.name) for name, folder in models.items()}
    results = evaluate_runs(config, runs, folds=[str(fold)])
    rows = method_rows(results)
    with atomic_path(output / "paper_method.json") as tmp:
        payload = {"fold": fold, "budget": budget, "held_out_cases": len(cases), "rows": rows}
        tmp.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    lesion_cases = rows[0]["lesion_cases"]
    lines = [
        "# The paper's method beside ours",
        "",
        f"Fold {fold} of each, trained on the same gland crops of the demo's training phantoms (the paper's preset:"
        " region-based labels, its class loss on every tile, a head on the whole patch, nnU-Net's sampling and"
        f" augmentation, SGD 1e-2, batch {PAPER_BATCH_SIZE}; ours: `DemoConfig`), at the same network, patch,"
        f" grid and {budget['num_epochs']} epochs of {budget['num_iterations_per_epoch']} iterations. Evaluated by"
        f" the engine (ROI auto, the demo's localizer) on the {len(cases)} held-out whole fields ({lesion_cases}"
        " with a lesion; subtype accuracy on those, Wilson 95% CI; Dice on all).",
        "",
        *method_table(rows),
        "",
    ]
    with atomic_path(output / "paper_method.md") as tmp:
        tmp.write_text("\n".join(lines), encoding="utf-8")
    return output / "paper_method.md"
