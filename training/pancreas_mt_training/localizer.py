"""``pancreas-mt-train localizer``: the coarse model that finds the gland for ``--roi auto``, carried by a model
folder as ``localizer/`` (``PancreasMultiTaskLib.engine.localizer`` runs it).

1. :func:`build_dataset`: a new nnU-Net raw dataset from the multi-task one (labels 0/1/2): each image resampled
   (SimpleITK, linear) to the grid of :func:`~PancreasMultiTaskLib.engine.localizer.localizer_spacing` (axes finer
   than ``spacing_mm``, 3 mm by default, coarsened to it: in-plane pixels and thin slices become 3 mm, slices
   thicker than 3 mm are kept), labels merged into one foreground (pancreas with its lesion), resampled linearly
   and cut at one half.
2. :func:`plan_localizer`: nnU-Net's fingerprint and ResEnc M planner, its 2D configuration reduced to a small
   network (:func:`~pancreas_mt_training.plans.reduce_configuration`) with a 128 x 128 patch (384 mm at 3 mm, a
   whole abdomen), and epochs and iterations in the configuration's ``localizer_training`` entry.
3. Training through nnU-Net's ``run_training`` with :class:`nnUNetTrainerLocalizer` (nnU-Net's trainer, those
   counts taken from the plans): a plain nnU-Net model folder, segmentation only.
4. :func:`attach_localizer`: the trained folder copied into ``<model>/localizer/`` (``dataset.json``,
   ``plans.json``, ``fold_N/checkpoint_final.pth`` with training state stripped); ``export`` zips it along.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import SimpleITK as sitk
import torch
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer
from PancreasMultiTaskLib.engine.io import atomic_path, read_image, write_image
from PancreasMultiTaskLib.engine.localizer import AIR_HU, localizer_spacing, resample_to
from PancreasMultiTaskLib.engine.model_folder import open_model_folder
from PancreasMultiTaskLib.engine.store_layout import LOCALIZER_FOLDER

from .convert import FILE_ENDING, dataset_folder
from .export import model_members
from .plans import CONFIGURATION, reduce_configuration, resenc_base_plans, write_plans
from .train_precision import training_autocast, training_log_line, training_precision

PLANS = "nnUNetPlans_Localizer"
TRAINER = "nnUNetTrainerLocalizer"
#: The configuration's entry holding the trainer's counts (what ``nnUNetv2_train`` would otherwise hard-code).
TRAINING_KEY = "localizer_training"
#: Defaults sized for whole-abdomen fields (512 x 512 at 0.6-0.9 mm, 1-5 mm slices) on a few CPU cores.
SPACING_MM = 3.0
FEATURES = (16, 32, 64, 128, 128)
BLOCKS = (1, 1, 2, 2, 2)
PATCH_SIZE = (128, 128)
BATCH_SIZE = 12
TRAINING = {"num_epochs": 40, "num_iterations_per_epoch": 25, "num_val_iterations_per_epoch": 5}


class nnUNetTrainerLocalizer(nnUNetTrainer):
    """nnU-Net's own trainer (segmentation only), with epochs and iterations from the plans' ``localizer_training``."""

    def __init__(
        self,
        plans: dict,
        configuration: str,
        fold: int,
        dataset_json: dict,
        device: torch.device = torch.device("cuda"),  # noqa: B008 (nnU-Net's signature)
    ):
        super().__init__(plans, configuration, fold, dataset_json, device)
        counts = self.configuration_manager.configuration.get(TRAINING_KEY, {})
        for key in TRAINING:
            if key in counts:
                setattr(self, key, int(counts[key]))
        self.training_precision = training_precision()
        self.print_to_log_file(training_log_line(self.device, self.training_precision))

    def train_step(self, batch: dict) -> dict:
        """nnU-Net's step, under bfloat16 autocast on a CPU where ``--precision bfloat16`` asked for it."""
        with training_autocast(self.device, self.training_precision):
            return super().train_step(batch)

    def validation_step(self, batch: dict) -> dict:
        with training_autocast(self.device, self.training_precision):
            return super().validation_step(batch)

    def perform_actual_validation(self, save_probabilities: bool = False) -> None:
        """nnU-Net's final validation, skipped for fold ``all``: its validation cases are its training cases, so
        it would predict every training field (most of an hour on two CPU cores) for a Dice that says nothing."""
        if self.fold == "all":
            self.print_to_log_file("Fold all: no final validation (its validation cases are its training cases).")
            return
        super().perform_actual_validation(save_probabilities)


def build_dataset(source: str | Path, raw_root: str | Path, dataset_id: int, name: str, spacing_mm: float) -> Path:
    """Write the localizer's raw dataset from a multi-task raw dataset folder (see the module docstring)."""
    source = Path(source)
    dataset = json.loads((source / "dataset.json").read_text(encoding="utf-8"))
    ending = dataset.get("file_ending", FILE_ENDING)
    target = dataset_folder(raw_root, dataset_id, name)
    labels = sorted((source / "labelsTr").glob(f"*{ending}"))
    if not labels:
        raise ValueError(f"{source / 'labelsTr'}: no {ending} labels; give a converted nnU-Net raw dataset")
    for label_path in labels:
        case = label_path.name[: -len(ending)]
        image = read_image(source / "imagesTr" / f"{case}_0000{ending}")
        spacing = localizer_spacing(image.GetSpacing(), spacing_mm)
        foreground = sitk.Cast(read_image(label_path) > 0, sitk.sitkFloat32)
        write_image(resample_to(image, spacing, sitk.sitkLinear, AIR_HU), target / "imagesTr" / f"{case}_0000{ending}")
        write_image(
            sitk.Cast(resample_to(foreground, spacing, sitk.sitkLinear, 0.0) >= 0.5, sitk.sitkUInt8),
            target / "labelsTr" / f"{case}{ending}",
        )
    description = {
        "name": target.name,
        "description": f"PancreasMultiTask localizer: {source.name} at {spacing_mm:g} mm, pancreas and lesion as one",
        "channel_names": {"0": "CT"},
        "labels": {"background": 0, "pancreas": 1},
        "numTraining": len(labels),
        "file_ending": ending,
        **({"orientation": dataset["orientation"]} if dataset.get("orientation") else {}),
    }
    with atomic_path(target / "dataset.json") as tmp:
        tmp.write_text(json.dumps(description, indent=2) + "\n", encoding="utf-8")
    return target


def localizer_plans(
    base: dict[str, Any],
    features: Sequence[int] = FEATURES,
    blocks: Sequence[int] = BLOCKS,
    patch_size: Sequence[int] = PATCH_SIZE,
    batch_size: int = BATCH_SIZE,
    training: dict[str, int] | None = None,
) -> dict[str, Any]:
    """Plans with one small ``2d`` configuration (ResEnc, ``features`` per stage) and the trainer's counts."""
    plans = copy.deepcopy(base)
    config = reduce_configuration(base["configurations"][CONFIGURATION], features, blocks, patch_size)
    config.update(batch_size=int(batch_size), data_identifier=f"{PLANS}_{CONFIGURATION}")
    config[TRAINING_KEY] = {**TRAINING, **(training or {})}
    plans.update(plans_name=PLANS, configurations={CONFIGURATION: config})
    return plans


def plan_localizer(dataset_id: int, num_processes: int = 1, **options: Any) -> Path:
    """Fingerprint, plan (anew: the dataset was just rebuilt) and preprocess the localizer dataset; the plans file."""
    from nnunetv2.paths import nnUNet_preprocessed
    from nnunetv2.utilities.dataset_name_id_conversion import convert_id_to_dataset_name

    plans = localizer_plans(resenc_base_plans(dataset_id, num_processes, fresh=True), **options)
    preprocessed = Path(nnUNet_preprocessed.require()) / convert_id_to_dataset_name(dataset_id)
    shutil.rmtree(preprocessed / plans["configurations"][CONFIGURATION]["data_identifier"], ignore_errors=True)
    return write_plans(dataset_id, plans, True, num_processes)


def train_localizer(
    source: str | Path,
    dataset_id: int,
    name: str,
    spacing_mm: float = SPACING_MM,
    *,
    training: dict[str, int] | None = None,
    plan_options: dict[str, Any] | None = None,
    batch_size: int = BATCH_SIZE,
    num_processes: int = 1,
    fold: str = "all",
    device: str = "cpu",
) -> Path:
    """Dataset, plans and training of a localizer from the multi-task raw dataset ``source``; the trained
    (plain nnU-Net) model folder."""
    from nnunetv2.paths import nnUNet_raw, nnUNet_results
    from nnunetv2.run.run_training import run_training

    from .trainer import external_trainer_folder

    target = build_dataset(source, nnUNet_raw.require(), dataset_id, name, spacing_mm)
    options = {key: value for key, value in (plan_options or {}).items() if value is not None}
    plan_localizer(dataset_id, num_processes, **options, batch_size=batch_size, training=training)
    os.environ.setdefault("nnUNet_extTrainer", str(external_trainer_folder()))
    fold_id = fold if fold == "all" else int(fold)
    run_training(str(dataset_id), "2d", fold_id, TRAINER, PLANS, device=torch.device(device))
    return Path(nnUNet_results.require()) / target.name / f"{TRAINER}__{PLANS}__2d"


def attach_localizer(trained: str | Path, model_folder: str | Path) -> Path:
    """Copy a trained localizer into ``<model_folder>/localizer/`` (replacing one there), checked as the engine
    opens it; returns that folder."""
    trained, model_folder = Path(trained), Path(model_folder)
    members, _ = model_members(trained, LOCALIZER_FOLDER)
    staging = Path(tempfile.mkdtemp(prefix=".localizer-", dir=model_folder))
    target = model_folder / LOCALIZER_FOLDER
    try:
        for member, data in members.items():
            path = staging.joinpath(*member.split("/"))
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(path) as tmp:
                tmp.write_bytes(data)
        open_model_folder(staging / LOCALIZER_FOLDER)
        if target.exists():
            target.rename(staging / ".replaced")
        (staging / LOCALIZER_FOLDER).rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
