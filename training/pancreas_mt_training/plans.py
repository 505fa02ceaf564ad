"""Multi-task plans: nnU-Net's ResEnc M 2D plans turned into plans that name the multi-task network.

The plans step runs nnU-Net's own fingerprint extraction and ``nnUNetPlannerResEncM``, then writes a
new plans file (default identifier ``nnUNetResEncUNetMPlans_MultiTask``) whose ``2d`` configuration
names :data:`PancreasMultiTaskLib.engine.network.NETWORK_CLASS_NAME` with the classifier head's arguments in
``arch_kwargs``. A model folder trained with these plans rebuilds its own network from them.

Training options of :mod:`pancreas_mt_training.trainer` (loss preset, epochs, ...) go into the
configuration's ``multitask_training`` entry, so ``nnUNetv2_train`` needs no extra arguments and the
model folder records how it was trained.
"""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PancreasMultiTaskLib.engine.io import atomic_path
from PancreasMultiTaskLib.engine.network import ABLATIONS, NETWORK_CLASS_NAME

from .labels import SUBTYPES_CSV, subtype_names

BASE_PLANS = "nnUNetResEncUNetMPlans"
MULTITASK_PLANS = "nnUNetResEncUNetMPlans_MultiTask"
CONFIGURATION = "2d"


class PlansError(ValueError):
    """Plans that cannot be made multi-task; the message names the file and field."""


def _dataset_name(dataset_id: int) -> str:
    from nnunetv2.utilities.dataset_name_id_conversion import convert_id_to_dataset_name

    return convert_id_to_dataset_name(dataset_id)


def reduce_configuration(
    configuration: dict[str, Any],
    features: Sequence[int],
    blocks: Sequence[int],
    patch_size: Sequence[int] | None = None,
) -> dict[str, Any]:
    """A smaller ResEnc U-Net of the same architecture: one stage per entry of ``features``.

    Stage 0 keeps full resolution, every later stage halves it (stride 2), kernels are 3x3 and the
    decoder has one convolution per stage, as in nnU-Net's ResEnc presets.
    """
    if len(features) != len(blocks) or len(features) < 2:
        raise PlansError(f"features {list(features)} and blocks {list(blocks)} need the same length, at least 2")
    config = copy.deepcopy(configuration)
    n = len(features)
    arch = config["architecture"]["arch_kwargs"]
    arch.update(
        n_stages=n,
        features_per_stage=[int(f) for f in features],
        kernel_sizes=[[3, 3]] * n,
        strides=[[1, 1]] + [[2, 2]] * (n - 1),
        n_blocks_per_stage=[int(b) for b in blocks],
        n_conv_per_stage_decoder=[1] * (n - 1),
    )
    if patch_size is not None:
        config["patch_size"] = [int(p) for p in patch_size]
    return config


def multitask_configuration(
    configuration: dict[str, Any],
    num_subtypes: int,
    ablation: str = "proposed",
    training: dict[str, Any] | None = None,
    batch_size: int | None = None,
    classifier_view: Sequence[int] | None = None,
) -> dict[str, Any]:
    """Copy of a ResEnc 2D configuration that builds the multi-task network (head per ``ablation``; with
    ``classifier_view`` the head reads a view of that size rather than the whole patch)."""
    if ablation not in ABLATIONS:
        raise PlansError(f"unknown ablation {ablation!r}; choose one of {sorted(ABLATIONS)}")
    config = copy.deepcopy(configuration)
    architecture = config.get("architecture", {})
    if "arch_kwargs" not in architecture:
        raise PlansError("configuration has no architecture.arch_kwargs (nnU-Net 2.4+ plans format expected)")
    head = {
        "num_subtypes": int(num_subtypes),
        "patch_size": [int(p) for p in config["patch_size"]],
        "classifier_dense_layers": 4,
        "classifier_batchnorm": True,
        "classifier_dropout": True,
        "classifier_cfe": True,
    }
    if classifier_view is not None:
        view, patch = [int(v) for v in classifier_view], head["patch_size"]
        if len(view) != len(patch) or not all(0 < v <= p for v, p in zip(view, patch, strict=True)):
            raise PlansError(f"classifier_view {view} must be 2 sizes within the patch {patch}")
        head["classifier_view"] = view
    head.update(ABLATIONS[ablation])
    architecture["network_class_name"] = NETWORK_CLASS_NAME
    architecture["arch_kwargs"].update(head)
    if batch_size is not None:
        config["batch_size"] = int(batch_size)
    config["multitask_training"] = check_training_options({"ablation": ablation, **(training or {})})
    return config


def check_training_options(training: dict[str, Any]) -> dict[str, Any]:
    """``training`` as given, once :class:`~.losses.TrainingOptions` accepts it (else its one-line ``ValueError``),
    so that a bad option stops the planning, not the training hours later."""
    from .losses import TrainingOptions

    TrainingOptions.from_dict(training)
    return training


def coarsen_spacing(config: dict[str, Any], spacing_mm: float) -> dict[str, Any]:
    """A copy of a 2D configuration whose in-plane spacing is at least ``spacing_mm`` (finer axes coarsened,
    the median image size scaled alike) and whose preprocessed data have their own folder (``data_identifier``
    names the spacing), so data preprocessed at another spacing are never reused."""
    if not spacing_mm > 0:
        raise PlansError(f"spacing_mm must be positive, not {spacing_mm}")
    config = copy.deepcopy(config)
    old = [float(s) for s in config["spacing"]]
    new = [max(s, float(spacing_mm)) for s in old]
    config["spacing"] = new
    if new != old:
        config["data_identifier"] = f"{config['data_identifier']}_{spacing_mm:g}mm"
    config["median_image_size_in_voxels"] = [
        max(1, round(n * o / s)) for n, o, s in zip(config["median_image_size_in_voxels"], old, new, strict=True)
    ]
    return config


def make_multitask_plans(
    base_plans: dict[str, Any],
    num_subtypes: int,
    plans_name: str = MULTITASK_PLANS,
    *,
    ablation: str = "proposed",
    features: Sequence[int] | None = None,
    blocks: Sequence[int] | None = None,
    patch_size: Sequence[int] | None = None,
    batch_size: int | None = None,
    training: dict[str, Any] | None = None,
    window_margin_hu: float = 0.0,
    spacing_mm: float | None = None,
    classifier_view: Sequence[int] | None = None,
) -> dict[str, Any]:
    """Plans holding one ``2d`` configuration for the multi-task network, derived from ``base_plans``.

    ``spacing_mm`` coarsens the in-plane target spacing to at least that many mm (nnU-Net's preprocessing and
    the engine resample to it): the same context for fewer pixels, which is what a CPU budget buys, at the price
    of the smallest lesions.

    ``window_margin_hu`` widens nnU-Net's CT window (the foreground's 0.5-99.5 percentiles, where
    ``CTNormalization`` clips) by that many HU each side, so that a scan offset by up to the margin (another
    contrast phase, another scanner's calibration) is not clipped away before the network sees it.
    """
    if CONFIGURATION not in base_plans.get("configurations", {}):
        raise PlansError(f"plans {base_plans.get('plans_name')!r} have no '{CONFIGURATION}' configuration")
    config = base_plans["configurations"][CONFIGURATION]
    if features is not None or blocks is not None:
        arch = config["architecture"]["arch_kwargs"]
        config = reduce_configuration(
            config, features or arch["features_per_stage"], blocks or arch["n_blocks_per_stage"], patch_size
        )
    elif patch_size is not None:
        config = copy.deepcopy(config)
        config["patch_size"] = [int(p) for p in patch_size]
    if spacing_mm is not None:
        config = coarsen_spacing(config, spacing_mm)
    plans = copy.deepcopy(base_plans)
    plans["plans_name"] = plans_name
    if window_margin_hu:
        for properties in plans["foreground_intensity_properties_per_channel"].values():
            properties["percentile_00_5"] = float(properties["percentile_00_5"]) - window_margin_hu
            properties["percentile_99_5"] = float(properties["percentile_99_5"]) + window_margin_hu
    plans["configurations"] = {
        CONFIGURATION: multitask_configuration(config, num_subtypes, ablation, training, batch_size, classifier_view)
    }
    return plans


def plan_dataset(
    dataset_id: int,
    plans_name: str = MULTITASK_PLANS,
    *,
    ablation: str = "proposed",
    features: Sequence[int] | None = None,
    blocks: Sequence[int] | None = None,
    patch_size: Sequence[int] | None = None,
    batch_size: int | None = 16,
    training: dict[str, Any] | None = None,
    window_margin_hu: float = 0.0,
    spacing_mm: float | None = None,
    classifier_view: Sequence[int] | None = None,
    preprocess: bool = True,
    num_processes: int = 1,
) -> Path:
    """Fingerprint, ResEnc M planning, multi-task plans and (optionally) 2D preprocessing; returns the plans file.

    ``subtypes.csv`` is copied beside the preprocessed data so training works without the raw folder.
    """
    from nnunetv2.paths import nnUNet_raw

    check_training_options({"ablation": ablation, **(training or {})})  # before nnU-Net's fingerprint
    name = _dataset_name(dataset_id)
    raw = Path(nnUNet_raw.require()) / name
    names = subtype_names(raw / "dataset.json")
    if not (raw / SUBTYPES_CSV).is_file():
        raise PlansError(f"{raw / SUBTYPES_CSV}: missing; convert the dataset with pancreas-mt-train convert")
    base = resenc_base_plans(dataset_id, num_processes)
    plans = make_multitask_plans(
        base,
        len(names),
        plans_name,
        ablation=ablation,
        features=features,
        blocks=blocks,
        patch_size=patch_size,
        batch_size=batch_size,
        training=training,
        window_margin_hu=window_margin_hu,
        spacing_mm=spacing_mm,
        classifier_view=classifier_view,
    )
    plans_file = write_plans(dataset_id, plans, preprocess, num_processes)
    shutil.copyfile(raw / SUBTYPES_CSV, plans_file.parent / SUBTYPES_CSV)
    return plans_file


def resenc_base_plans(dataset_id: int, num_processes: int = 1, fresh: bool = False) -> dict[str, Any]:
    """nnU-Net's fingerprint and ResEnc M plans of a raw dataset (made where missing, or anew with ``fresh``)."""
    from nnunetv2.experiment_planning.experiment_planners.residual_unets.residual_encoder_unet_planners import (
        nnUNetPlannerResEncM,
    )
    from nnunetv2.experiment_planning.plan_and_preprocess_api import (
        extract_fingerprint_dataset,
        plan_experiment_dataset,
    )
    from nnunetv2.paths import nnUNet_preprocessed

    preprocessed = Path(nnUNet_preprocessed.require()) / _dataset_name(dataset_id)
    if fresh or not (preprocessed / "dataset_fingerprint.json").is_file():
        extract_fingerprint_dataset(dataset_id, num_processes=num_processes, check_dataset_integrity=True, clean=True)
    base_file = preprocessed / f"{BASE_PLANS}.json"
    if fresh or not base_file.is_file():
        plan_experiment_dataset(dataset_id, nnUNetPlannerResEncM)
    return json.loads(base_file.read_text(encoding="utf-8"))


def write_plans(dataset_id: int, plans: dict[str, Any], preprocess: bool = True, num_processes: int = 1) -> Path:
    """Write ``plans`` beside nnU-Net's own and (optionally) preprocess its 2D configuration where not done yet."""
    from nnunetv2.experiment_planning.plan_and_preprocess_api import preprocess_dataset
    from nnunetv2.paths import nnUNet_preprocessed

    preprocessed = Path(nnUNet_preprocessed.require()) / _dataset_name(dataset_id)
    plans_file = preprocessed / f"{plans['plans_name']}.json"
    with atomic_path(plans_file) as tmp:
        tmp.write_text(json.dumps(plans, indent=2) + "\n", encoding="utf-8")
    data_identifier = plans["configurations"][CONFIGURATION]["data_identifier"]
    if preprocess and not (preprocessed / data_identifier).is_dir():
        preprocess_dataset(dataset_id, plans["plans_name"], (CONFIGURATION,), (num_processes,), show_progress_bar=False)
    return plans_file
