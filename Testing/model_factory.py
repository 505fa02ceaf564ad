"""Small model folders with random weights, planned by nnU-Net's own code, for tests and benchmarks.

``make_dataset`` writes an nnU-Net raw dataset of CT-like volumes; ``plan_dataset`` runs nnU-Net's
fingerprint extraction and experiment planning on it; ``make_plain_model`` and
``make_tiny_multitask_model`` turn those plans into model folders (``dataset.json``, ``plans.json``,
``fold_N/checkpoint_final.pth``) as nnU-Net's trainer would save them.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import SimpleITK as sitk
import torch
from PancreasMultiTaskLib.engine.network import NETWORK_CLASS_NAME

SUBTYPES = {"0": "solid", "1": "rim-enhancing", "2": "cystic"}


def ct_volume(
    shape_zyx: tuple[int, int, int] = (8, 56, 72),
    spacing_xyz: tuple[float, float, float] = (0.8, 0.8, 2.0),
    seed: int = 0,
    direction: tuple[float, ...] | None = None,
    origin: tuple[float, float, float] = (-20.0, 15.0, 100.0),
) -> tuple[sitk.Image, sitk.Image]:
    """A CT-like volume (HU) with an ellipsoid 'pancreas' holding a darker 'lesion', and its labels."""
    rng = np.random.default_rng(seed)
    z, y, x = np.meshgrid(*[np.arange(n) for n in shape_zyx], indexing="ij")
    c = np.array(shape_zyx) / 2 + rng.uniform(-3, 3, 3) * np.array([0.2, 1, 1])
    r = np.array(shape_zyx) * np.array([0.45, 0.3, 0.35])
    organ = ((z - c[0]) / r[0]) ** 2 + ((y - c[1]) / r[1]) ** 2 + ((x - c[2]) / r[2]) ** 2 <= 1
    lc = c + np.array([0, r[1] * 0.3, -r[2] * 0.2])
    lesion = ((z - lc[0]) / (r[0] * 0.6)) ** 2 + ((y - lc[1]) / (r[1] * 0.45)) ** 2 + (
        (x - lc[2]) / (r[2] * 0.4)
    ) ** 2 <= 1
    lesion &= organ
    hu = np.full(shape_zyx, -80.0) + rng.normal(0, 15, shape_zyx)
    hu[organ] += 130
    hu[lesion] -= 90
    hu[:, :4, :] = -1000  # air at the border, so nnU-Net's cropping and normalization have work
    labels = np.zeros(shape_zyx, np.uint8)
    labels[organ] = 1
    labels[lesion] = 2
    image = sitk.GetImageFromArray(hu.astype(np.float32))
    image.SetSpacing(spacing_xyz)
    image.SetOrigin(origin)
    if direction is not None:
        image.SetDirection(direction)
    seg = sitk.GetImageFromArray(labels)
    seg.CopyInformation(image)
    return image, seg


def nnunet_preprocessed(model, image: sitk.Image) -> np.ndarray:
    """``image`` preprocessed by nnU-Net's own preprocessor as ``model`` (an opened model folder) plans it."""
    cm, pm = model.configuration_manager, model.plans_manager
    data, _, _ = cm.preprocessor_class(verbose=False).run_case_npy(
        sitk.GetArrayFromImage(image)[None].astype(np.float32),
        None,
        {"spacing": list(image.GetSpacing())[::-1]},
        pm,
        cm,
        model.dataset_json,
    )
    return data


def make_dataset(raw_root: Path, dataset_id: int = 901, cases: int = 4, name: str = "Tiny") -> Path:
    """An nnU-Net raw dataset of small CT-like cases with pancreas/lesion labels and subtypes."""
    folder = raw_root / f"Dataset{dataset_id:03d}_{name}"
    (folder / "imagesTr").mkdir(parents=True, exist_ok=True)
    (folder / "labelsTr").mkdir(exist_ok=True)
    for i in range(cases):
        image, seg = ct_volume(seed=i)
        sitk.WriteImage(image, str(folder / "imagesTr" / f"case{i:02d}_0000.nii.gz"))
        sitk.WriteImage(seg, str(folder / "labelsTr" / f"case{i:02d}.nii.gz"))
    dataset = {
        "channel_names": {"0": "CT"},
        "labels": {"background": 0, "pancreas": 1, "lesion": 2},
        "numTraining": cases,
        "file_ending": ".nii.gz",
        "subtypes": SUBTYPES,
    }
    (folder / "dataset.json").write_text(json.dumps(dataset, indent=2))
    return folder


#: Plans already made in this process, by (dataset id, planner, nnUNet_raw): ``make_dataset`` writes
#: the same cases for an id every time, so planning them again (about 16 s) would give the same plans.
_PLANS: dict[tuple[int, str, str], dict] = {}


def plan_dataset(dataset_id: int, planner: str = "ExperimentPlanner") -> dict:
    """Run nnU-Net's fingerprint extraction and planning once per dataset; return the plans dictionary."""
    from nnunetv2.experiment_planning.plan_and_preprocess_api import extract_fingerprints, plan_experiments

    key = (dataset_id, planner, os.environ["nnUNet_raw"])
    if key not in _PLANS:
        extract_fingerprints([dataset_id], num_processes=1, check_dataset_integrity=True, show_progress_bar=False)
        plans_name = plan_experiments([dataset_id], planner)
        preprocessed = next(Path(os.environ["nnUNet_preprocessed"]).glob(f"Dataset{dataset_id:03d}_*"))
        _PLANS[key] = json.loads((preprocessed / f"{plans_name}.json").read_text())
    return json.loads(json.dumps(_PLANS[key]))  # a copy: callers edit their plans


def _save_fold(folder: Path, fold: int, network: torch.nn.Module, plans: dict, dataset: dict, trainer: str) -> None:
    (folder / f"fold_{fold}").mkdir(parents=True, exist_ok=True)
    checkpoint = {
        "network_weights": network.state_dict(),
        "optimizer_state": None,
        "grad_scaler_state": None,
        "logging": {"train_losses": [np.float64(0.5)], "epoch_start_timestamps": [0.0]},
        "_best_ema": None,
        "current_epoch": 1,
        "init_args": {"plans": plans, "configuration": "2d", "fold": fold, "dataset_json": dataset},
        "trainer_name": trainer,
        "inference_allowed_mirroring_axes": (0, 1),
    }
    torch.save(checkpoint, folder / f"fold_{fold}" / "checkpoint_final.pth")


def _write_model(
    folder: Path, plans: dict, dataset: dict, folds: tuple[int, ...], trainer: str, init_scale: float
) -> Path:
    from nnunetv2.utilities.get_network_from_plans import get_network_from_plans

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "plans.json").write_text(json.dumps(plans, indent=2))
    (folder / "dataset.json").write_text(json.dumps(dataset, indent=2))
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    config = plans["configurations"]["2d"]["architecture"]
    heads = PlansManager(plans).get_label_manager(dataset).num_segmentation_heads
    for fold in folds:
        torch.manual_seed(100 + fold)
        network = get_network_from_plans(
            config["network_class_name"],
            config["arch_kwargs"],
            config["_kw_requires_import"],
            1,
            heads,
            allow_init=True,
            deep_supervision=False,
        )
        with torch.no_grad():  # lift random outputs above float noise so argmax ties are rare
            final = [m for m in network.modules() if isinstance(m, torch.nn.Conv2d)][-1]
            final.weight.mul_(init_scale)
        if hasattr(network, "classifier"):
            network.eval()
            for m in network.classifier.modules():
                if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                    m.running_var.fill_(1.0)
        _save_fold(folder, fold, network, plans, dataset, trainer)
    return folder


def make_plain_model(root: Path, dataset_id: int = 901, folds: tuple[int, ...] = (0, 1)) -> Path:
    """A plain nnU-Net v2 2D segmentation model (nnU-Net's default planner) with random weights."""
    raw = make_dataset(Path(os.environ["nnUNet_raw"]), dataset_id)
    plans = plan_dataset(dataset_id)
    dataset = json.loads((raw / "dataset.json").read_text())
    del dataset["subtypes"]
    folder = root / f"nnUNetTrainer__{plans['plans_name']}__2d"
    return _write_model(folder, plans, dataset, folds, "nnUNetTrainer", init_scale=1.0)


def multitask_plans(plans: dict, features: tuple[int, ...] | None = None) -> dict:
    """nnU-Net ResEnc plans turned into multi-task plans (network class + head arguments)."""
    plans = json.loads(json.dumps(plans))
    plans["plans_name"] = plans["plans_name"] + "_MultiTask"
    arch = plans["configurations"]["2d"]["architecture"]
    arch["network_class_name"] = NETWORK_CLASS_NAME
    kwargs = arch["arch_kwargs"]
    if features is not None:
        kwargs["features_per_stage"] = list(features[: kwargs["n_stages"]])
    kwargs["num_subtypes"] = len(SUBTYPES)
    kwargs["patch_size"] = plans["configurations"]["2d"]["patch_size"]
    return plans


def make_tiny_multitask_model(
    root: Path,
    dataset_id: int = 902,
    folds: tuple[int, ...] = (0, 1),
    plans: dict | None = None,
    region_based: bool = False,
) -> Path:
    """A small multi-task model folder (ResEnc plans from nnU-Net's ResEnc M planner, small features).

    ``region_based`` gives the paper's label definition: pancreas = [1, 2], lesion = 2, two sigmoid outputs.
    """
    raw = make_dataset(Path(os.environ["nnUNet_raw"]), dataset_id)
    if plans is None:
        plans = multitask_plans(plan_dataset(dataset_id, "nnUNetPlannerResEncM"), features=(8, 16, 32, 64, 64, 64, 64))
    dataset = json.loads((raw / "dataset.json").read_text())
    dataset["orientation"] = "LPS"
    if region_based:
        dataset["labels"] = {"background": 0, "pancreas": [1, 2], "lesion": 2}
        dataset["regions_class_order"] = [1, 2]
        root = root / "regions"
    folder = root / f"nnUNetTrainerMultiTask__{plans['plans_name']}__2d"
    if folder.exists():
        shutil.rmtree(folder)
    return _write_model(folder, plans, dataset, folds, "nnUNetTrainerMultiTask", init_scale=1.0)


def classifier_view_model(model: Path, root: Path, view: tuple[int, int]) -> Path:
    """A copy of a multi-task model folder whose head reads a ``view`` of each tile (fresh random weights)."""
    plans = json.loads((model / "plans.json").read_text())
    plans["configurations"]["2d"]["architecture"]["arch_kwargs"]["classifier_view"] = list(view)
    dataset = json.loads((model / "dataset.json").read_text())
    folds = tuple(int(f.name.removeprefix("fold_")) for f in sorted(model.glob("fold_*")))
    return _write_model(root / model.name, plans, dataset, folds, "nnUNetTrainerMultiTask", init_scale=1.0)


def centred_phantoms(folder: Path, seed: int, count: int, shape: tuple[int, int, int]) -> Path:
    """``count`` centred phantoms of ``shape`` (z, y, x) written by the real ``pancreas-mt-train phantoms``."""
    from pancreas_mt_training.cli import main

    argv = ["phantoms", "-o", str(folder), "--generator", "centred", "--seed", str(seed), "-n", str(count)]
    assert main([*argv, "--shape", *(str(n) for n in shape)]) == 0
    return folder


def validation_fold(model: Path, raw: Path, fold: int, cases: list[tuple[str, int | None]]) -> None:
    """A fold's ``validation/`` as the trainer writes it: nnU-Net's segmentations and ``subtypes.json``."""
    validation = model / f"fold_{fold}" / "validation"
    validation.mkdir(parents=True)
    entries = {}
    for case_id, subtype in cases:
        shutil.copyfile(raw / "labelsTr" / f"{case_id}.nii.gz", validation / f"{case_id}.nii.gz")
        if subtype is None:
            continue
        probs = [0.4, 0.3, 0.3]
        entries[case_id] = {"truth": subtype, "uniform": probs, "uniform_used": "uniform"}
        entries[case_id].update({"lesion-weighted": probs, "lesion-weighted_used": "lesion-weighted", "predicted": 0})
    summary = {"subtype_names": ["solid", "rim-enhancing", "cystic"], "fold": fold, "cases": entries}
    summary["accuracy"] = {"uniform": 0.5, "lesion-weighted": 0.5}
    (validation / "subtypes.json").write_text(json.dumps(summary, indent=2) + "\n")


def tiny_raw_dataset(root: Path, model: Path) -> Path:
    """Dataset902_Tiny beside ``model``: five CT-like cases, four with a lesion and a smaller normal one (its
    label map has no lesion)."""
    raw = root / "Dataset902_Tiny"
    (raw / "imagesTr").mkdir(parents=True)
    (raw / "labelsTr").mkdir()
    for i in range(5):
        normal = i == 4
        image, labels = ct_volume(shape_zyx=(8, 24, 24) if normal else (8, 56, 72), seed=10 + i)
        if normal:
            labels = sitk.Clamp(labels, upperBound=1)
        sitk.WriteImage(image, str(raw / "imagesTr" / f"case{i:02d}_0000.nii.gz"))
        sitk.WriteImage(labels, str(raw / "labelsTr" / f"case{i:02d}.nii.gz"))
    shutil.copyfile(model / "dataset.json", raw / "dataset.json")
    return raw


def model_with_competence(multitask_model: Path, root: Path) -> tuple[Path, Path]:
    """A copy of the tiny multi-task model under ``root`` with Dataset902_Tiny beside it and the
    ``competence.json`` that ``pancreas-mt-train competence`` writes for it; returns (model, raw dataset)."""
    from pancreas_mt_training.cli import main

    model = root / multitask_model.name
    shutil.copytree(multitask_model, model)
    raw = tiny_raw_dataset(root, model)
    fingerprint = os.path.join(os.environ["nnUNet_preprocessed"], "Dataset902_Tiny", "dataset_fingerprint.json")
    argv = ["competence", "--raw", str(raw), "--model", str(model), "--fingerprint", fingerprint, "--synthetic"]
    assert main(argv) == 0
    return model, raw
