"""The orientation rule: a model without "orientation" runs on the array as stored, as nnU-Net does;
``--orientation`` (``PredictionOptions.orientation``) overrides; a runner never lets numbers pass for options."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from model_factory import ct_volume
from PancreasMultiTaskLib.cli.main import build_parser
from PancreasMultiTaskLib.engine.options import CLI, parse_values
from PancreasMultiTaskLib.engine.orientation import check_code
from PancreasMultiTaskLib.engine.predictor import PredictionOptions, Predictor
from PancreasMultiTaskLib.slicer.runner import PredictionProcess, child_environment, predict_command

RAS = (-1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 1.0)


def nnunet_labels(model, image: sitk.Image) -> np.ndarray:
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

    predictor = nnUNetPredictor(device=torch.device("cpu"), use_mirroring=False, allow_tqdm=False)
    predictor.initialize_from_trained_model_folder(str(model), (0,))
    array = sitk.GetArrayFromImage(image)[None].astype(np.float32)
    return predictor.predict_single_npy_array(array, {"spacing": list(image.GetSpacing())[::-1]}, None, None, False)


def test_plain_model_on_a_ras_input_runs_as_nnunet_does(plain_model):
    image, _ = ct_volume((8, 70, 90), seed=12, direction=RAS)
    reference = nnunet_labels(plain_model, image)
    assert len(np.unique(reference)) == 3
    options = PredictionOptions(device="cpu", folds=("0",), use_mirroring=False, backend="torch", precision="float32")
    ours = sitk.GetArrayFromImage(Predictor(plain_model, options).predict(image).segmentation)
    assert (ours == reference).mean() >= 0.999
    forced = PredictionOptions(
        device="cpu", folds=("0",), use_mirroring=False, backend="torch", precision="float32", orientation="LPS"
    )
    lps = sitk.GetArrayFromImage(Predictor(plain_model, forced).predict(image).segmentation)
    assert (lps == reference).mean() < 0.99  # the network is not symmetric: reorienting changes the answer
    flipped = sitk.Flip(image, (True, True, False))  # the same voxels stored LPS
    assert (lps == np.flip(nnunet_labels(plain_model, flipped), (1, 2))).mean() >= 0.999


@pytest.mark.parametrize(("code", "ok"), [("lps", True), ("RAS", True), ("PIL", True), ("LLS", False), ("LP", False)])
def test_orientation_codes(code, ok):
    if ok:
        assert check_code(code) == code.upper()
    else:
        with pytest.raises(ValueError, match="not a code"):
            check_code(code)


def test_roi_numbers_are_never_taken_for_options(tmp_path):
    roi = [-1.23e-05, -20.5, 3e-7, 10.0, 20.0, 60.5]
    command = predict_command([tmp_path / "ct.nrrd"], tmp_path / "out", {"roi": roi})
    args = build_parser().parse_args(command[command.index("predict") :])
    assert parse_values(args, CLI)["roi"] == roi


def test_the_child_ignores_python_files_in_the_working_directory(tmp_path):
    marker = tmp_path / "hijacked"
    (tmp_path / "argparse.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\nraise SystemExit(9)\n")
    command = predict_command([tmp_path / "missing.nii.gz"], tmp_path / "out", {"device": "cpu"})
    outcome = PredictionProcess(command, cwd=tmp_path).wait(timeout=300)
    assert not marker.exists()
    assert outcome.returncode == 1 and "missing.nii.gz: no such file or folder" in outcome.reason()
    plain = [c for c in command if c != "-P"]
    env = {k: v for k, v in child_environment().items() if k != "PYTHONSAFEPATH"}
    subprocess.run(plain, cwd=tmp_path, capture_output=True, env=env, check=False)
    assert marker.exists()  # without -P the file in the working directory runs: the test has teeth
