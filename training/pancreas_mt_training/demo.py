"""The bundled demo model: phantoms -> nnU-Net dataset -> reduced multi-task plans -> 5 folds on CPU.

The paper's ResEnc M 2D network has 72M parameters (about 290 MB a fold). The demo keeps the same
architecture (residual encoder U-Net + the paper's classifier head, built from the same plans
format) in a reduced configuration: 5 stages of 8-64 features, blocks 1,1,2,2,2, patch 48x48, so
that all five folds ship in a few MB and train on a laptop CPU. Each stage is skipped when its
output already exists, so an interrupted run resumes.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

from PancreasMultiTaskLib.io import atomic_path

from .convert import collect_generic, convert_cases, dataset_folder
from .phantoms import SUBTYPE_NAMES, write_phantoms
from .plans import MULTITASK_PLANS, plan_dataset

TRAINER = "nnUNetTrainerMultiTask"
MODEL_NAME = "PancreasPhantomsDemo"


@dataclass
class DemoConfig:
    """Everything that defines the demo model; the defaults are what ships in ``Resources/DemoModel``."""

    dataset_id: int = 501
    dataset_name: str = "PancreasPhantoms"
    train_seed: int = 1
    train_cases: int = 60
    test_seed: int = 2
    test_cases: int = 30
    shape: tuple[int, int, int] = (16, 48, 48)
    features: list[int] = field(default_factory=lambda: [8, 16, 32, 64, 64])
    blocks: list[int] = field(default_factory=lambda: [1, 1, 2, 2, 2])
    patch_size: list[int] = field(default_factory=lambda: [48, 48])
    batch_size: int = 8
    num_epochs: int = 120
    iterations: int = 50
    val_iterations: int = 10
    augmentation: str = "spatial"
    class_loss_weight: float = 3.0
    folds: tuple[int, ...] = (0, 1, 2, 3, 4)


def prepare(config: DemoConfig, workdir: Path) -> Path:
    """Phantoms (training and held-out), conversion and planning; returns the raw dataset folder."""
    from nnunetv2.paths import nnUNet_raw

    raw = dataset_folder(nnUNet_raw.require(), config.dataset_id, config.dataset_name)
    if not (raw / "dataset.json").is_file():
        train_src = write_phantoms(workdir / "phantoms_train", config.train_seed, config.train_cases, config.shape)
        test_src = write_phantoms(workdir / "phantoms_test", config.test_seed, config.test_cases, config.shape)
        cases, _ = collect_generic(train_src / "images", train_src / "labels", train_src / "subtypes.csv")
        test, _ = collect_generic(test_src / "images", test_src / "labels", test_src / "subtypes.csv")
        convert_cases(cases, raw, list(SUBTYPE_NAMES), test, description="PancreasMultiTask synthetic phantoms")
    plan_dataset(
        config.dataset_id,
        MULTITASK_PLANS,
        features=config.features,
        blocks=config.blocks,
        patch_size=config.patch_size,
        batch_size=config.batch_size,
        training={
            "num_epochs": config.num_epochs,
            "num_iterations_per_epoch": config.iterations,
            "num_val_iterations_per_epoch": config.val_iterations,
            "augmentation": config.augmentation,
            "class_loss_weight": config.class_loss_weight,
        },
    )
    return raw


def model_folder(config: DemoConfig) -> Path:
    from nnunetv2.paths import nnUNet_results

    name = f"Dataset{config.dataset_id:03d}_{config.dataset_name}"
    return Path(nnUNet_results.require()) / name / f"{TRAINER}__{MULTITASK_PLANS}__2d"


def train_folds(config: DemoConfig, device: str = "cpu") -> Path:
    """Train every fold that has no ``checkpoint_final.pth`` yet, through nnU-Net's ``run_training``."""
    import torch
    from nnunetv2.run.run_training import run_training

    from .trainer import external_trainer_folder

    os.environ.setdefault("nnUNet_extTrainer", str(external_trainer_folder()))
    folder = model_folder(config)
    for fold in config.folds:
        if (folder / f"fold_{fold}" / "checkpoint_final.pth").is_file():
            continue
        run_training(str(config.dataset_id), "2d", fold, TRAINER, MULTITASK_PLANS, device=torch.device(device))
    return folder


def build_demo_model(config: DemoConfig, workdir: Path, resources: Path, device: str = "cpu") -> Path:
    """Everything from phantoms to ``Resources/DemoModel/<name>.zip``, its report and the sample case.

    nnU-Net's folders default to ``<workdir>/nnUNet_{raw,preprocessed,results}`` when not set.
    """
    from PancreasMultiTaskLib.models import import_model_zip

    from .evaluate import cross_validation, evaluate_held_out, held_out_cases, write_report
    from .export import export_model

    workdir = workdir.resolve()
    for name in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
        os.environ.setdefault(name, str(workdir / name))
        Path(os.environ[name]).mkdir(parents=True, exist_ok=True)
    raw = prepare(config, workdir)
    folder = train_folds(config, device)
    demo_dir = resources / "DemoModel"
    zip_path = export_model(folder, demo_dir / f"{MODEL_NAME}.zip", MODEL_NAME, [str(f) for f in config.folds])
    installed = import_model_zip(zip_path, workdir / "installed", overwrite=True)
    cases = held_out_cases(raw)
    from nnunetv2.paths import nnUNet_preprocessed

    gt = Path(nnUNet_preprocessed.require()) / raw.name / "gt_segmentations"
    results = [cross_validation(folder, gt), evaluate_held_out(installed, cases, workdir / "held_out")]
    write_report(results, demo_dir / "report", f"Demo model {MODEL_NAME} on synthetic phantoms")
    with atomic_path(demo_dir / "demo_config.json") as tmp:
        tmp.write_text(json.dumps(asdict(config), indent=2) + "\n", encoding="utf-8")
    sample = cases[0]
    sample_dir = resources / "SampleData"
    sample_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(sample.image, sample_dir / sample.image.name)
    shutil.copyfile(sample.label, sample_dir / f"{sample.case_id}_truth.nii.gz")
    info = {
        "case_id": sample.case_id,
        "image": sample.image.name,
        "truth": f"{sample.case_id}_truth.nii.gz",
        "subtype": sample.subtype,
        "subtype_name": SUBTYPE_NAMES[sample.subtype],
        "source": f"synthetic phantom, held-out seed {config.test_seed} (not used in training)",
    }
    with atomic_path(sample_dir / "sample.json") as tmp:
        tmp.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return zip_path
