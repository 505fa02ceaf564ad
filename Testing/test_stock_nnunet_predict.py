"""Stock nnU-Net runs our multi-task model folders: ``nnUNetv2_predict`` and
``nnUNetv2_predict_from_modelfolder`` through nnU-Net's own console entry points, with
``nnUNet_extTrainer`` naming our trainer folder, give the segmentation: the model-folder entry point with
nnU-Net's test-time mirroring, the dataset entry point without (the mirroring is nnU-Net's predictor's in both,
so each state is run once)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

pytestmark = pytest.mark.slow


def _run(args: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.fixture(scope="module")
def case(tmp_path_factory) -> Path:
    from model_factory import ct_volume

    folder = tmp_path_factory.mktemp("stock_in")
    image, _ = ct_volume(seed=3)
    sitk.WriteImage(image, str(folder / "case_0000.nii.gz"))
    return folder


def _env(results: Path | None = None) -> dict[str, str]:
    from pancreas_mt_training.trainer import external_trainer_folder

    env = dict(os.environ, nnUNet_extTrainer=str(external_trainer_folder()), OMP_NUM_THREADS="1")
    env["nnUNet_def_n_proc"] = "1"
    if results is not None:
        env["nnUNet_results"] = str(results)
    return env


def _check_against_engine(output: Path, model: Path, case: Path, use_mirroring: bool) -> None:
    from PancreasMultiTaskLib.engine.predictor import PredictionOptions, Predictor

    stock = sitk.ReadImage(str(output / "case.nii.gz"))
    image = sitk.ReadImage(str(case / "case_0000.nii.gz"))
    assert stock.GetSize() == image.GetSize()
    options = PredictionOptions(device="cpu", folds=["0"], use_mirroring=use_mirroring, backend="torch")
    ours = Predictor(model, options).predict(image).segmentation
    a, b = sitk.GetArrayFromImage(stock), sitk.GetArrayFromImage(ours)
    assert set(np.unique(a)) <= {0, 1, 2}
    # the same network and weights: the engine's labels agree with stock nnU-Net's (ties aside)
    assert np.mean(a == b) > 0.99


def test_nnunetv2_predict_from_modelfolder_with_tta(multitask_model, case, tmp_path):
    """With nnU-Net's test-time mirroring (``test_nnunetv2_predict`` runs without it)."""
    out = tmp_path / "out"
    args = [str(Path(sys.executable).parent / "nnUNetv2_predict_from_modelfolder")]
    args += ["-i", str(case), "-o", str(out), "-m", str(multitask_model), "-f", "0", "-device", "cpu"]
    args += ["-npp", "1", "-nps", "1", "--disable_progress_bar"]
    _run(args, _env())
    _check_against_engine(out, multitask_model, case, True)


def test_nnunetv2_predict(multitask_model, case, tmp_path):
    dataset = json.loads((multitask_model / "dataset.json").read_text())
    plans = json.loads((multitask_model / "plans.json").read_text())
    results = tmp_path / "results"
    name = plans["dataset_name"]
    (results / name).mkdir(parents=True)
    (results / name / multitask_model.name).symlink_to(multitask_model)
    trainer, plans_name, configuration = multitask_model.name.split("__")
    assert dataset["subtypes"]
    out = tmp_path / "out"
    args = [str(Path(sys.executable).parent / "nnUNetv2_predict"), "-i", str(case), "-o", str(out)]
    args += ["-d", name, "-c", configuration, "-tr", trainer, "-p", plans_name, "-f", "0", "-device", "cpu"]
    args += ["-npp", "1", "-nps", "1", "--disable_progress_bar", "--disable_tta"]
    _run(args, _env(results))
    _check_against_engine(out, multitask_model, case, False)
