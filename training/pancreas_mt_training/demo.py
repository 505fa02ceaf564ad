"""The bundled demo model: phantoms -> nnU-Net dataset -> reduced multi-task plans -> folds on CPU.

The paper's ResEnc M 2D network has 72M parameters (about 290 MB a fold). The demo keeps the same
architecture (residual encoder U-Net + the paper's classifier head, built from the same plans
format) in a reduced configuration: 5 stages of 8-64 features, blocks 1,1,2,2,2, patch 64x64, so
that the folds ship in a few MB and train on a laptop CPU. Training uses the ``field`` phantoms
(subtypes differ by morphology only, whole fields of view); it trains 1 of nnU-Net's 5
cross-validation folds (on 80% of the training cases) to fit a CPU budget of about half an hour on
two shared cores; more folds (``folds``) give the fold-spread uncertainty and a better ensemble. The held-out set
(another seed) is stored in random orientations and evaluated as generated and padded into a field
twice as large, beside the HU and radiomics baselines on the true lesion masks (:mod:`.baseline`).
Each stage is skipped when its output already exists, so an interrupted run resumes.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import SimpleITK as sitk
from PancreasMultiTaskLib.engine.io import atomic_path

from .baseline import baseline_table, run_baselines
from .calibration import calibrate_model
from .convert import collect_generic, convert_cases, dataset_folder
from .evaluate import (
    EvalCase,
    cross_validation,
    evaluate_held_out,
    generic_cases,
    padded_cases,
    write_report,
)
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
    train_cases: int = 90
    test_seed: int = 2
    test_cases: int = 60
    generator: str = "field"
    test_orientation: str = "random"
    shape: tuple[int, int, int] = (16, 48, 48)
    features: list[int] = field(default_factory=lambda: [8, 16, 32, 64, 64])
    blocks: list[int] = field(default_factory=lambda: [1, 1, 2, 2, 2])
    patch_size: list[int] = field(default_factory=lambda: [64, 64])
    batch_size: int = 16
    num_epochs: int = 120
    iterations: int = 100
    val_iterations: int = 10
    augmentation: str = "spatial"
    class_loss_weight: float = 5.0
    class_min_pixels: int = 64
    oversample_foreground: float = 0.75
    lesion_oversampling: float = 0.8
    tile_jitter: float = 0.15
    folds: tuple[int, ...] = (0,)
    #: Test-time mirroring of the segmentation in the held-out evaluation; off to fit a CPU budget
    #: (it quadruples the sliding window). The guided classification tiles are always mirrored.
    eval_segmentation_mirroring: bool = False
    #: The bfloat16 check of ``Testing/benchmarks/bf16_quality.py`` on this model (6 held-out phantoms: Dice
    #: moved by at most 0.0021, no subtype changed) passed; recorded in competence.json.
    bfloat16_passed: bool = True


def prepare(config: DemoConfig, workdir: Path) -> Path:
    """Phantoms (training and held-out), conversion and planning; returns the raw dataset folder."""
    from nnunetv2.paths import nnUNet_raw

    raw = dataset_folder(nnUNet_raw.require(), config.dataset_id, config.dataset_name)
    if not (raw / "dataset.json").is_file():
        train_src = write_phantoms(
            workdir / "phantoms_train", config.train_seed, config.train_cases, config.shape, generator=config.generator
        )
        test_src = test_phantoms(config, workdir)
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
            "class_min_pixels": config.class_min_pixels,
            "oversample_foreground": config.oversample_foreground,
            "lesion_oversampling": config.lesion_oversampling,
            "tile_jitter": config.tile_jitter,
            "validation_mirroring": False,
        },
    )
    return raw


def test_phantoms(config: DemoConfig, workdir: Path) -> Path:
    """The held-out phantoms as generated (in ``config.test_orientation``): what the evaluation reads."""
    folder = workdir / "phantoms_test"
    if not (folder / "subtypes.csv").is_file():
        write_phantoms(
            folder,
            config.test_seed,
            config.test_cases,
            config.shape,
            generator=config.generator,
            orientation=config.test_orientation,
        )
    return folder


def evaluate_demo(
    config: DemoConfig, workdir: Path, installed: Path, folder: Path, raw: Path, report: Path
) -> tuple[list[EvalCase], dict]:
    """Cross-validation, held-out as generated and padded x2, and the baseline -> ``report``.

    Returns the held-out cases and their evaluation (as generated).
    """
    from nnunetv2.paths import nnUNet_preprocessed

    gt = Path(nnUNet_preprocessed.require()) / raw.name / "gt_segmentations"
    cases = generic_cases(test_phantoms(config, workdir))
    train = generic_cases(workdir / "phantoms_train")
    baseline = run_baselines(train, cases, SUBTYPE_NAMES)
    padded = padded_cases(cases, workdir / "padded", factor=2, seed=config.test_seed)
    mirroring = {
        "use_mirroring": config.eval_segmentation_mirroring,
        "classification_mirroring": True,
        "backend": "torch",
        "num_threads": max(1, (os.cpu_count() or 2) // 2),
    }
    # The two sets run in two processes, each on half the cores.
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        held_job = pool.submit(
            evaluate_held_out, installed, cases, workdir / "held_out", title="held-out, as generated", **mirroring
        )
        padded_job = pool.submit(
            evaluate_held_out,
            installed,
            padded,
            workdir / "held_out_padded",
            title="held-out, padded into a field twice as large",
            **mirroring,
        )
        held, padded = held_job.result(), padded_job.result()
    results = [cross_validation(folder, gt), held, padded]
    headline = demo_headline(held, padded, baseline)
    write_report(
        results,
        report,
        f"Demo model {MODEL_NAME} on synthetic phantoms",
        headline,
        {"baseline": baseline, "config": asdict(config)},
    )
    return cases, held


def median_case(cases: list[EvalCase], held: dict) -> EvalCase:
    """The held-out case whose lesion Dice is the median (the lower middle one): a typical sample, not the best."""
    dice = {row["case_id"]: row["segmentation"]["lesion"]["dice"] for row in held["cases"]}
    ranked = sorted(cases, key=lambda case: (dice[case.case_id], case.case_id))
    return ranked[(len(ranked) - 1) // 2]


def demo_headline(held: dict, padded: dict, baseline: list[dict]) -> list[str]:
    """The report's opening table: accuracy with 95% CI per method, padding drop, Dice, the baselines."""
    lines = [
        f"Held-out: {len(held['cases'])} full-field phantoms of a seed not used in training, stored in random"
        f" orientations, run through the engine with folds {', '.join(held['folds'])} (segmentation mirroring"
        f" {'on' if held['segmentation_mirroring'] else 'off'}, guided classification tiles mirrored"
        f" {'yes' if held['classification_mirroring'] else 'no'}). Padded: the same cases in a field twice as"
        " large in-plane (each in-plane axis doubled, fat-like background, original off-centre).",
        "",
        "| classification | accuracy (95% CI) | padded x2 | drop (points) |",
        "|---|---|---|---|",
    ]
    for method, metrics in held["classification"].items():
        other = padded["classification"][method]
        low, high = metrics["accuracy_ci95"]
        drop = 100 * (metrics["accuracy"] - other["accuracy"])
        lines.append(
            f"| {method} | {metrics['accuracy']:.1%} ({low:.1%}-{high:.1%}) | {other['accuracy']:.1%} | {drop:+.1f} |"
        )
    seg, seg_padded = held["segmentation"], padded["segmentation"]
    lines += [
        "",
        f"Lesion Dice (label 2) {seg['lesion']['dice']:.3f} (padded {seg_padded['lesion']['dice']:.3f});"
        f" pancreas Dice (whole gland, labels 1 + 2) {seg['pancreas']['dice']:.3f}"
        f" (padded {seg_padded['pancreas']['dice']:.3f}).",
        "",
        "Baselines on the true lesion mask (standardized features, logistic regression; fitted on the training"
        " phantoms, scored on the held-out ones; chance 33%):",
        "",
        *baseline_table(baseline),
        "",
    ]
    return lines


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


def write_competence(config: DemoConfig, raw: Path, folder: Path) -> Path:
    """The demo model's ``competence.json``, from its training phantoms and nnU-Net's fingerprint of them."""
    from nnunetv2.paths import nnUNet_preprocessed

    from .competence import FINGERPRINT_FILE, build_record, write_record

    fingerprint = Path(nnUNet_preprocessed.require()) / raw.name / FINGERPRINT_FILE
    record = build_record(
        raw,
        json.loads(fingerprint.read_text(encoding="utf-8")),
        json.loads((folder / "plans.json").read_text(encoding="utf-8")),
        synthetic=True,
        bfloat16_passed=config.bfloat16_passed,
    )
    return write_record(record, folder)


def build_demo_model(config: DemoConfig, workdir: Path, resources: Path, device: str = "cpu") -> Path:
    """Everything from phantoms to ``Resources/DemoModel/<name>.zip``, its report and the sample case.

    nnU-Net's folders default to ``<workdir>/nnUNet_{raw,preprocessed,results}`` when not set.
    """
    from PancreasMultiTaskLib.engine.models import import_model_zip

    from .export import export_model

    workdir = workdir.resolve()
    for name in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
        os.environ.setdefault(name, str(workdir / name))
        Path(os.environ[name]).mkdir(parents=True, exist_ok=True)
    raw = prepare(config, workdir)
    folder = train_folds(config, device)
    write_competence(config, raw, folder)
    calibrate_model(
        folder,
        raw,
        report=resources / "DemoModel" / "report" / "calibration",
        use_mirroring=config.eval_segmentation_mirroring,
        classification_mirroring=True,
        backend="torch",
    )
    demo_dir = resources / "DemoModel"
    zip_path = export_model(folder, demo_dir / f"{MODEL_NAME}.zip", MODEL_NAME, [str(f) for f in config.folds])
    installed = import_model_zip(zip_path, workdir / "installed", overwrite=True)
    cases, held = evaluate_demo(config, workdir, installed, folder, raw, demo_dir / "report")
    with atomic_path(demo_dir / "demo_config.json") as tmp:
        tmp.write_text(json.dumps(asdict(config), indent=2) + "\n", encoding="utf-8")
    sample = median_case(cases, held)
    sample_dice = next(r["segmentation"]["lesion"]["dice"] for r in held["cases"] if r["case_id"] == sample.case_id)
    sample_dir = resources / "SampleData"
    sample_dir.mkdir(parents=True, exist_ok=True)
    for old in sample_dir.glob("*.nii.gz"):
        old.unlink()
    shutil.copyfile(sample.image, sample_dir / sample.image.name)
    shutil.copyfile(sample.label, sample_dir / f"{sample.case_id}_truth.nii.gz")
    info = {
        "case_id": sample.case_id,
        "image": sample.image.name,
        "truth": f"{sample.case_id}_truth.nii.gz",
        "subtype": sample.subtype,
        "subtype_name": SUBTYPE_NAMES[sample.subtype],
        "source": f"synthetic phantom, held-out seed {config.test_seed} (not used in training); the held-out case"
        " with the median lesion Dice",
        "lesion_dice": sample_dice,
        "orientation": sitk.DICOMOrientImageFilter.GetOrientationFromDirectionCosines(
            sitk.ReadImage(str(sample.image)).GetDirection()
        ),
    }
    with atomic_path(sample_dir / "sample.json") as tmp:
        tmp.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return zip_path
