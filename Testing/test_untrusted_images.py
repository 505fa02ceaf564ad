"""Image files from strangers (issue 23): headers naming other files, disagreeing NIfTI forms, compression
bombs, implausible spacings, model JSON sizes and orientation, and readers that crash or hang."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import bad_input_cases as cases
import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk
from model_factory import ct_volume
from PancreasMultiTaskLib.cli.main import main
from PancreasMultiTaskLib.engine import isolation
from PancreasMultiTaskLib.engine.io import InputError, read_case
from PancreasMultiTaskLib.engine.limits import resampled_shape
from PancreasMultiTaskLib.engine.model_folder import MAX_JSON_BYTES, ModelFolderError, open_model_folder
from PancreasMultiTaskLib.engine.predictor import PredictionOptions, Predictor

HEADER = "ObjectType = Image\nNDims = 3\nDimSize = 4 4 2\nElementType = MET_UCHAR\nElementSpacing = 1 1 1\n"
NRRD = "NRRD0004\ntype: uchar\ndimension: 3\nsizes: 4 4 2\nencoding: raw\n"


def refused(path: Path, phrase: str) -> str:
    with pytest.raises(InputError) as error:
        read_case(path)
    message = str(error.value)
    assert phrase in message and path.name in message and "\n" not in message, message
    return message


# -- 1. a header may name a data file only inside its own folder ----------------------------------
@pytest.mark.parametrize(
    ("make", "phrase"),
    [
        (cases.metaimage_naming_etc_passwd, "an absolute path"),
        (cases.metaimage_pattern_form, "file list or pattern"),
        (cases.metaimage_list_form, "file list or pattern"),
        (cases.metaimage_link_leading_out, "a link leading out of the folder (to /etc/passwd)"),
        (cases.nrrd_naming_etc_passwd, "an absolute path"),
        (cases.nrrd_climbing_out, "climbing out with '..'"),
        (cases.nrrd_long_header, "header longer than"),
    ],
)
def test_a_header_naming_a_file_outside_its_folder_is_refused(make, phrase, tmp_path):
    folder = tmp_path / make.__name__
    folder.mkdir()
    refused(make(folder), phrase)


@pytest.mark.parametrize(
    ("name", "text", "phrase"),
    [
        ("colon.mha", HEADER + "ElementDataFile: /etc/passwd\n", "an absolute path"),  # MetaIO splits at ':' too
        ("crlf.mha", (HEADER + "ElementDataFile = /etc/passwd\n").replace("\n", "\r\n"), "an absolute path"),
        ("tab.mhd", HEADER + "ElementDataFile\t=\t/etc/passwd\n", "an absolute path"),
        ("missing.mhd", HEADER + "ElementDataFile = nowhere.raw\n", "missing"),
        ("empty.mhd", HEADER + "ElementDataFile =\n", "names no data file"),
        ("junk.mha", "ObjectType = Image\njunk\nElementDataFile = /etc/passwd\n", "not a MetaImage header"),
        ("crlf.nrrd", (NRRD + "data file: /etc/passwd\n\n").replace("\n", "\r\n"), "an absolute path"),
        ("cr.nrrd", (NRRD + "data file: /etc/passwd\n\n").replace("\n", "\r"), "an absolute path"),
        ("upper.nrrd", NRRD + "Data File: /etc/passwd\n\n", "an absolute path"),
        ("noblank.nrrd", NRRD + "data file: /etc/passwd\n", "an absolute path"),
        ("windows.nrrd", NRRD + "data file: C:\\Windows\\win.ini\n\n", "an absolute path"),
        ("pattern.nrrd", NRRD + "data file: /etc/pass%s 1 2 1\n\n", "file list or pattern"),
        ("list.nrrd", NRRD + "data file: LIST\n/etc/passwd\n\n", "file list or pattern"),
    ],
)
def test_every_spelling_ITK_reads_is_checked(name, text, phrase, tmp_path):
    path = tmp_path / name
    path.write_bytes(text.encode())
    refused(path, phrase)


def test_the_pattern_form_kills_a_plain_simpleitk_process(tmp_path):
    """Why the pattern form is refused before ITK: MetaIO dies on it (SIGSEGV with SimpleITK 2.5)."""
    path = cases.metaimage_pattern_form(tmp_path)
    script = f"import SimpleITK; SimpleITK.ReadImage({str(path)!r})"
    assert subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120).returncode != 0


def test_data_files_inside_the_folder_are_read_and_checked(tmp_path):
    image = sitk.Cast(ct_volume((6, 20, 24), seed=3)[0], sitk.sitkInt16)
    sitk.WriteImage(image, str(tmp_path / "detached.mhd"))  # detached.mhd + detached.raw
    array = sitk.GetArrayFromImage(image)
    assert np.array_equal(sitk.GetArrayFromImage(read_case(tmp_path / "detached.mhd")[0]), array)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "volume.raw").write_bytes(array.tobytes())
    spacing = "spacings: 0.8 0.8 2\n"
    header = f"NRRD0004\ntype: short\ndimension: 3\nsizes: 24 20 6\n{spacing}endian: little\nencoding: raw\n"
    (tmp_path / "detached.nrrd").write_text(header + "data file: data/volume.raw\n\n")
    assert np.array_equal(sitk.GetArrayFromImage(read_case(tmp_path / "detached.nrrd")[0]), array)
    (tmp_path / "data" / "volume.raw").write_bytes(array.tobytes()[:-10])
    refused(tmp_path / "detached.nrrd", "truncated")


def test_only_known_formats_are_read_and_by_the_reader_their_name_says(tmp_path):
    nhdr = tmp_path / "volume.nhdr"  # ITK's NRRD reader would read /etc/passwd through it
    nhdr.write_text(NRRD + "data file: /etc/passwd\n\n")
    refused(nhdr, "not an image file")
    dicom = tmp_path / "dicom-in-disguise.nii.gz"  # left to itself ITK hands DICOM bytes to GDCM
    sitk.WriteImage(sitk.Cast(ct_volume((1, 20, 24))[0][:, :, 0], sitk.sitkInt16), str(tmp_path / "slice.dcm"))
    shutil.copy(tmp_path / "slice.dcm", dicom)
    refused(dicom, "not recognized as a NIFTI file")
    fifo = tmp_path / "pipe.nii.gz"  # opening it would block the reader for ever
    os.mkfifo(fifo)
    refused(fifo, "not a regular file")


# -- a reader that crashes, hangs or garbles fails its case only -----------------------------------
def _child(script: str):
    return lambda path, series: [sys.executable, "-c", script]


def _scan(tmp_path: Path) -> Path:
    """A file for the stand-in reader (the parent refuses a missing input before any child starts)."""
    path = tmp_path / "scan.nii.gz"
    path.write_bytes(b"read by the stand-in child only")
    return path


@pytest.mark.parametrize(
    ("script", "phrase"),
    [
        ("import ctypes; ctypes.string_at(0)", "the image reader crashed on it (SIGSEGV)"),
        ("import os, signal; os.kill(os.getpid(), signal.SIGKILL)", "SIGKILL, perhaps out of memory"),
        ("import sys; sys.exit(3)", "stopped without an answer (exit code 3)"),
        ("print('not json')", "stopped without an answer"),
        ('print(\'{"image": {"shape": [4096, 4096, 4096], "dtype": "int16"}, "source": {}}\')', "without an answer"),
        ('print(\'{"image": {"shape": [2, 2, 2], "dtype": "object"}, "source": {}}\')', "without an answer"),
        ('print(\'{"image": {"shape": [2, 2, 2], "dtype": "uint8"}, "source": {}}\')', "without an answer"),
    ],
)
def test_a_failing_reader_is_an_input_error_naming_the_input(script, phrase, monkeypatch, tmp_path):
    monkeypatch.setattr(isolation, "_child_command", _child(script))
    refused(_scan(tmp_path), phrase)


def test_a_hanging_reader_is_stopped(monkeypatch, tmp_path):
    monkeypatch.setattr(isolation, "_child_command", _child("import time; time.sleep(60)"))
    monkeypatch.setattr(isolation, "READ_TIMEOUT_S", 1)
    started = time.monotonic()
    refused(_scan(tmp_path), "reading took longer than 1 s")
    assert time.monotonic() - started < 30


def test_a_reader_crash_does_not_take_the_batch_down(multitask_model, monkeypatch, tmp_path, capsys):
    good, crash = tmp_path / "good.nii.gz", tmp_path / "crash.nii.gz"
    for path in (good, crash):
        sitk.WriteImage(ct_volume(seed=1)[0], str(path))
    real = isolation._child_command

    def command(path, series):
        crashing = Path(path).name == crash.name
        return _child("import ctypes; ctypes.string_at(0)")(path, series) if crashing else real(path, series)

    monkeypatch.setattr(isolation, "_child_command", command)
    out = tmp_path / "out"
    argv = ["predict", "-i", str(crash), str(good), "-o", str(out), "-m", str(multitask_model)]
    code = main([*argv, "--device", "cpu", "--no-tta", "--folds", "0", "--progress", "none"])
    err = capsys.readouterr().err
    assert code == 1 and "crash.nii.gz: the image reader crashed on it (SIGSEGV)" in err
    assert len(list(out.rglob("result.json"))) == 1


def test_the_file_that_crashed_itk_fails_one_case_of_a_batch(multitask_model, tmp_path):
    """The whole CLI in its own process: today's crash input next to a good one gives exit 1, not 139."""
    cases.metaimage_pattern_form(tmp_path)
    sitk.WriteImage(ct_volume(seed=1)[0], str(tmp_path / "good.nii.gz"))
    out = tmp_path / "out"
    argv = ["predict", "-i", str(tmp_path / "pattern.mha"), str(tmp_path / "good.nii.gz"), "-o", str(out)]
    argv += ["-m", str(multitask_model), "--device", "cpu", "--no-tta", "--folds", "0", "--progress", "none"]
    done = subprocess.run([sys.executable, "-m", "PancreasMultiTaskLib.cli", *argv], capture_output=True, timeout=300)
    assert done.returncode == 1, done.stderr.decode()[-2000:]
    assert b"pattern.mha: its header names its data by a file list or pattern" in done.stderr
    assert len(list(out.rglob("result.json"))) == 1


# -- 3. NIfTI qform and sform must agree ----------------------------------------------------------
def _forms(tmp_path: Path, qform: np.ndarray, sform: np.ndarray) -> Path:
    return cases._nifti_forms(tmp_path, "forms.nii.gz", qform, sform)


def test_sform_spacing_against_pixdim_is_refused_with_both_values(tmp_path):
    path = cases.nifti_sform_5mm_pixdim_07mm(tmp_path)
    message = refused(path, "its sform gives a voxel spacing of (5.0, 0.7, 2.0) mm but its pixdim (0.7, 0.7, 2.0) mm")
    assert "ambiguous" in message


def test_sform_turned_or_moved_against_qform_is_refused(tmp_path):
    refused(cases.nifti_qform_sform_turned(tmp_path), "its qform and sform disagree")
    moved = np.diag([0.8, 0.8, 2.0, 1.0])
    moved[:3, 3] = (5.0, 0.0, 0.0)
    message = refused(_forms(tmp_path, np.diag([0.8, 0.8, 2.0, 1.0]), moved), "disagree")
    assert "origin (0.0, 0.0, 0.0) mm" in message and "origin (5.0, 0.0, 0.0) mm" in message


def test_forms_that_agree_within_the_tolerance_are_read(tmp_path):
    affine = np.diag([0.8, 0.8, 2.0, 1.0])
    affine[:3, 3] = (-20.0, 15.0, 100.0)
    near = affine.copy()
    near[:3, 3] += 0.01
    near[0, 0] *= 1 + 1e-5
    image, _ = read_case(_forms(tmp_path, affine, near))
    assert image.GetSize() == (48, 40, 8)


# -- 4. resources bounded before anything is allocated --------------------------------------------
def test_a_gzip_bomb_stops_after_one_chunk(tmp_path):
    started = time.monotonic()
    refused(cases.nifti_gzip_bomb(tmp_path), "its compressed data hold more than the 30,720 bytes its header declares")
    assert time.monotonic() - started < 20
    header = nib.Nifti1Header()
    header.set_data_shape((48, 40, 8))
    header.set_data_dtype(np.int16)
    header["vox_offset"] = 352
    one_member = tmp_path / "one-member.nii.gz"  # one gzip member, 64 MiB of zeros after the declared data
    one_member.write_bytes(gzip.compress(header.binaryblock + bytes(4) + bytes(30720) + bytes(64 << 20), 6))
    refused(one_member, "more than")


def test_complex_voxels_are_refused_in_our_words(tmp_path, multitask_model):
    refused(cases.complex_nifti(tmp_path), "voxels of type complex64")
    image = sitk.Cast(ct_volume((6, 20, 24))[0], sitk.sitkComplexFloat32)
    engine = Predictor(multitask_model, PredictionOptions(device="cpu", folds=("0",), use_mirroring=False))
    with pytest.raises(InputError, match="complex voxel values"):
        engine.predict(image, case_id="complex")


@pytest.fixture(scope="module")
def engine(multitask_model):
    # The whole volume, so the resampled sizes below are those of the files' own grids.
    return Predictor(multitask_model, PredictionOptions(device="cpu", folds=("0",), use_mirroring=False, roi="full"))


@pytest.mark.parametrize(
    ("spacing", "phrase"),
    [
        (1e-4, "no voxels along an axis"),
        (1e308, "more than the limit"),  # a side overflows to infinity
        (1e4, "more than the limit"),
        (30.0, "22 x 5325 x 5550 = 650,182,500 voxels, more than the limit of 536,870,912"),
    ],
)
def test_a_spacing_that_would_resample_too_large_or_to_nothing_is_refused_at_once(engine, spacing, phrase):
    image = ct_volume((22, 142, 148), spacing_xyz=(spacing,) * 3, seed=9)[0]
    started = time.monotonic()
    with pytest.raises(InputError, match="resampled from its voxel spacing") as error:
        engine.predict(image, case_id="spaced")
    assert phrase in str(error.value) and time.monotonic() - started < 10


def test_the_bound_is_an_upper_bound_of_what_nnunet_makes(engine):
    image = ct_volume((6, 50, 80), spacing_xyz=(0.55, 1.1, 3.0), seed=5)[0]
    model = engine.model
    _, _, shape = resampled_shape(image, model)
    cm = model.configuration_manager
    array = sitk.GetArrayFromImage(image)[None].astype(np.float32)
    data, _, _ = cm.preprocessor_class(verbose=False).run_case_npy(
        array, None, {"spacing": list(image.GetSpacing())[::-1]}, model.plans_manager, cm, model.dataset_json
    )
    assert tuple(data.shape[1:]) == shape  # nothing to crop in this volume: the bound is exact


def _copy_model(multitask_model: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(multitask_model, tmp_path / multitask_model.name))


@pytest.mark.parametrize("name", ["plans.json", "dataset.json"])
def test_model_json_over_the_bound_is_refused_before_parsing(name, multitask_model, tmp_path):
    model = _copy_model(multitask_model, tmp_path)
    (model / name).write_text("[" * (MAX_JSON_BYTES + 1))  # parsed, it would fail in its own way
    with pytest.raises(ModelFolderError, match=rf"{name}: 4,194,305 bytes, more than the 4,194,304"):
        open_model_folder(model)


@pytest.mark.parametrize("value", ["XYZ", "LPSR", ["L", "P", "S"], 3])
def test_a_bad_orientation_in_dataset_json_is_refused_in_our_words(value, multitask_model, tmp_path):
    model = _copy_model(multitask_model, tmp_path)
    dataset = json.loads((model / "dataset.json").read_text())
    dataset["orientation"] = value
    (model / "dataset.json").write_text(json.dumps(dataset))
    with pytest.raises(ModelFolderError, match=r"dataset.json: field 'orientation': orientation .* is not a code"):
        open_model_folder(model)
