"""Bad inputs: each gives a clear one-line error naming the file or field, and writes no output."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from model_factory import ct_volume
from PancreasMultiTaskLib.cli.main import main
from PancreasMultiTaskLib.engine.model_folder import ModelFolderError, load_checkpoint, open_model_folder


def run(capsys, *argv: str) -> tuple[int, str]:
    code = main(["predict", "--progress", "none", "--device", "cpu", "--no-tta", *argv])
    err = capsys.readouterr().err.strip()
    return code, err


def outputs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


@pytest.fixture
def good_image(tmp_path) -> Path:
    image, _ = ct_volume(seed=1)
    path = tmp_path / "good_0000.nii.gz"
    sitk.WriteImage(image, str(path))
    return path


def _write(tmp_path: Path, name: str, image: sitk.Image) -> Path:
    path = tmp_path / name
    sitk.WriteImage(image, str(path))
    return path


def bad_2d(tmp_path):
    return _write(tmp_path, "flat.nii.gz", sitk.GetImageFromArray(np.random.rand(40, 40).astype(np.float32))), "3D"


def bad_4d(tmp_path):
    volume, _ = ct_volume(seed=3)
    return _write(tmp_path, "time.nii.gz", sitk.JoinSeries([volume, volume])), "3D"


def bad_nan(tmp_path):
    image, _ = ct_volume(seed=2)
    array = sitk.GetArrayFromImage(image)
    array[2, 10, 10] = np.nan
    nan = sitk.GetImageFromArray(array)
    nan.CopyInformation(image)
    return _write(tmp_path, "nan.mha", nan), "NaN"  # ITK's NIfTI reader drops NaN; MetaImage keeps it


def bad_empty(tmp_path):
    return _write(tmp_path, "empty.nii.gz", sitk.Image([30, 30, 5], sitk.sitkInt16)), "same value"


def bad_channels(tmp_path):
    array = np.random.rand(5, 30, 30, 2).astype(np.float32)
    return _write(tmp_path, "rgb.nrrd", sitk.GetImageFromArray(array, isVector=True)), "one channel"


def bad_unreadable(tmp_path):
    path = tmp_path / "noise.nii.gz"
    path.write_bytes(b"not an image at all")
    return path, "cannot read"


@pytest.mark.parametrize("make", [bad_2d, bad_4d, bad_nan, bad_empty, bad_channels, bad_unreadable])
def test_bad_images(make, multitask_model, tmp_path, capsys):
    path, reason = make(tmp_path)
    out = tmp_path / "out"
    code, err = run(capsys, "-i", str(path), "-o", str(out), "-m", str(multitask_model))
    assert code != 0
    assert reason in err and path.name in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert outputs(out) == []


def copy_model(src: Path, tmp_path: Path, name: str | None = None) -> Path:
    target = tmp_path / (name or src.name)
    shutil.copytree(src, target)
    return target


def test_missing_fold(multitask_model, good_image, tmp_path, capsys):
    out = tmp_path / "out"
    code, err = run(capsys, "-i", str(good_image), "-o", str(out), "-m", str(multitask_model), "--folds", "3")
    assert code != 0 and "fold 3 missing" in err and "available: 0, 1" in err
    assert outputs(out) == []


def test_missing_plans(multitask_model, good_image, tmp_path, capsys):
    model = copy_model(multitask_model, tmp_path)
    (model / "plans.json").unlink()
    code, err = run(capsys, "-i", str(good_image), "-o", str(tmp_path / "out"), "-m", str(model))
    assert code != 0 and "plans.json" in err and "missing" in err


def test_3d_model_folder(plain_model, tmp_path):
    model = copy_model(plain_model, tmp_path, plain_model.name.replace("__2d", "__3d_fullres"))
    with pytest.raises(ModelFolderError, match="3D"):
        open_model_folder(model)


def test_wrong_channel_count_of_model(multitask_model, tmp_path):
    model = copy_model(multitask_model, tmp_path)
    dataset = json.loads((model / "dataset.json").read_text())
    dataset["channel_names"] = {"0": "CT", "1": "PET"}
    (model / "dataset.json").write_text(json.dumps(dataset))
    with pytest.raises(ModelFolderError, match="2 input channels"):
        open_model_folder(model)


def test_plans_and_dataset_disagree(multitask_model, tmp_path):
    model = copy_model(multitask_model, tmp_path)
    dataset = json.loads((model / "dataset.json").read_text())
    dataset["subtypes"] = {"0": "a", "1": "b"}
    (model / "dataset.json").write_text(json.dumps(dataset))
    with pytest.raises(ModelFolderError, match="num_subtypes"):
        open_model_folder(model)


def test_weights_that_do_not_fit(multitask_model, plain_model, tmp_path):
    model = copy_model(multitask_model, tmp_path)
    shutil.copy(plain_model / "fold_0" / "checkpoint_final.pth", model / "fold_0" / "checkpoint_final.pth")
    with pytest.raises(ModelFolderError, match="weights do not fit"):
        open_model_folder(model)


def test_corrupt_checkpoint(multitask_model, good_image, tmp_path, capsys):
    model = copy_model(multitask_model, tmp_path)
    checkpoint = model / "fold_0" / "checkpoint_final.pth"
    checkpoint.write_bytes(checkpoint.read_bytes()[:2000])
    code, err = run(capsys, "-i", str(good_image), "-o", str(tmp_path / "out"), "-m", str(model))
    assert code != 0 and "corrupt" in err and "checkpoint_final.pth" in err


class Payload:
    """Runs a command when unpickled, as a hostile checkpoint would."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (str(self.marker),)


def test_malicious_pickle_payload_is_refused_and_never_runs(multitask_model, tmp_path):
    model = copy_model(multitask_model, tmp_path)
    marker = tmp_path / "payload-ran"
    path = model / "fold_1" / "checkpoint_final.pth"
    checkpoint = torch.load(path, weights_only=False)
    checkpoint["logging"] = {"train_losses": [Payload(marker)]}
    torch.save(checkpoint, path)
    with pytest.raises(ModelFolderError, match="refused"):
        load_checkpoint(path)
    with pytest.raises(ModelFolderError, match="refused"):
        open_model_folder(model, folds=["1"])
    assert not marker.exists()
    # The payload is real: an unsafe load (what nnU-Net 2.8.1's own predictor does) runs it.
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_unwritable_output_folder(multitask_model, good_image, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("in the way")
    code, err = run(capsys, "-i", str(good_image), "-o", str(blocker / "out"), "-m", str(multitask_model))
    assert code != 0 and "not writable" in err


def test_roi_outside_the_volume(multitask_model, good_image, tmp_path, capsys):
    out = tmp_path / "out"
    roi = ["500", "500", "500", "600", "600", "600"]
    code, err = run(capsys, "-i", str(good_image), "-o", str(out), "-m", str(multitask_model), "--roi", *roi)
    assert code != 0 and "outside the volume" in err
    assert outputs(out) == []
