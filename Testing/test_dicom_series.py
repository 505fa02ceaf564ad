"""DICOM folders: the series rule (CT first, then most slices), --series, the UID in result.json, gaps refused,
every entry accounted for."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import SimpleITK as sitk
from dicom_factory import add_unreadable_entry, write_series
from model_factory import ct_volume
from PancreasMultiTaskLib.cli.main import main
from PancreasMultiTaskLib.engine.dicom import DicomError, Series, check_slice_count
from PancreasMultiTaskLib.engine.io import InputError, is_dicom_folder, read_case

MAIN, LOCALIZER, NOISE = (
    "1.2.826.0.1.3680043.2.1125.100",
    "1.2.826.0.1.3680043.2.1125.200",
    "1.2.826.0.1.3680043.2.1125.300",
)


@pytest.fixture
def volume():
    image, _ = ct_volume((10, 40, 48), seed=4)
    return image


def test_localizer_and_main_series_gives_the_main_series(volume, tmp_path):
    folder = write_series(volume, tmp_path / "study", MAIN)
    write_series(volume, folder, LOCALIZER, slices=[4])  # one slice: a localizer
    image, source = read_case(folder)
    assert image.GetSize() == volume.GetSize()
    assert source.series_instance_uid == MAIN
    assert "chosen of 2 series" in source.note and MAIN in source.note


def test_ct_is_chosen_over_a_longer_series_of_another_modality(volume, tmp_path):
    folder = write_series(volume, tmp_path / "study", MAIN, slices=range(1, 10))
    noise = sitk.GetImageFromArray(np.random.default_rng(0).normal(0, 100, (10, 40, 48)).astype(np.float32))
    noise.CopyInformation(volume)
    write_series(noise, folder, NOISE, modality="OT")  # 10 slices against the CT's 9
    image, source = read_case(folder)
    assert source.series_instance_uid == MAIN and image.GetDepth() == 9
    picked, source = read_case(folder, series=NOISE)
    assert source.series_instance_uid == NOISE and picked.GetDepth() == 10
    with pytest.raises(InputError, match=r"no DICOM series 9\.9\.9; the folder holds"):
        read_case(folder, series="9.9.9")


def test_missing_slice_is_refused_naming_the_gap(volume, tmp_path):
    folder = write_series(volume, tmp_path / "gap", MAIN, slices=[0, 1, 2, 3, 5, 6, 7, 8, 9])
    with pytest.raises(InputError) as refused:
        read_case(folder)
    message = str(refused.value)
    assert str(folder) in message and "gap of 4.00 mm between slices 3 and 4" in message
    assert "where the others are 2.00 mm" in message and "missing slice" in message


def test_uneven_spacing_is_refused(volume, tmp_path):
    z = [100.0 + 2.0 * k for k in range(10)]
    z[7:] = [v + 0.5 for v in z[7:]]
    folder = write_series(volume, tmp_path / "uneven", MAIN, positions_z=z)
    with pytest.raises(InputError, match=r"gap of 2\.50 mm between slices 6 and 7 \(at 112\.00 and 114\.50 mm"):
        read_case(folder)


def test_cli_prints_the_series_and_records_its_uid(volume, multitask_model, tmp_path, capsys):
    folder = write_series(volume, tmp_path / "study", MAIN)
    write_series(volume, folder, LOCALIZER, slices=[4])
    out = tmp_path / "out"
    argv = ["predict", "-i", str(folder), "-o", str(out), "-m", str(multitask_model)]
    code = main([*argv, "--device", "cpu", "--no-tta", "--folds", "0", "--progress", "none"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert f"DICOM series {MAIN} (CT, 10 slices) chosen of 2 series" in err
    result = json.loads((out / "study" / "result.json").read_text())
    assert result["source"] == {"file": str(folder), "series_instance_uid": MAIN}
    segmentation = sitk.ReadImage(str(out / "study" / "segmentation.nii.gz"))
    assert segmentation.GetSize() == volume.GetSize()


def test_folder_of_nifti_files_shows_no_itk_warning(volume, multitask_model, tmp_path, capfd):
    folder = tmp_path / "niftis"
    folder.mkdir()
    sitk.WriteImage(volume, str(folder / "a_0000.nii.gz"))
    (folder / "notes.txt").write_text("not an image")
    code = main(["predict", "-i", str(folder), "-o", str(tmp_path / "out"), "-m", str(multitask_model),
                 "--device", "cpu", "--no-tta", "--folds", "0", "--progress", "none"])  # fmt: skip
    err = capfd.readouterr().err
    assert code == 0 and "WARNING" not in err and "No Series" not in err and "itk" not in err.lower()


@pytest.mark.parametrize(("kind", "what"), [("link", "a link to a missing file"), ("fifo", "a FIFO (named pipe)")])
def test_an_entry_gdcm_cannot_read_is_refused_by_name(kind, what, tmp_path):
    """GDCM drops every file listed after such an entry: 16 slices became 13 with no gap to see."""
    volume, _ = ct_volume((16, 40, 48), seed=4)
    folder = write_series(volume, tmp_path / "series", MAIN)
    for n in range(3):
        add_unreadable_entry(folder, f"zz{n}.dcm", kind)
    assert is_dicom_folder(folder)  # judged without opening the FIFO
    with pytest.raises(InputError, match=rf"series: zz0\.dcm is {re.escape(what)}; GDCM would silently drop"):
        read_case(folder)


def test_every_entry_is_accounted_for(volume, tmp_path):
    folder = write_series(volume, tmp_path / "series", MAIN)
    (folder / "notes").mkdir()  # a subfolder is not read, and costs no slice
    (folder / "README.txt").write_text("not DICOM")
    (folder / "DICOMDIR").write_bytes(bytes(128) + b"DICM")
    image, _ = read_case(folder)
    assert image.GetSize() == volume.GetSize()
    (folder / "damaged.dcm").write_bytes(next(folder.glob("*_000.dcm")).read_bytes()[:300])
    with pytest.raises(InputError, match=r"damaged\.dcm is a DICOM file GDCM placed in no series"):
        read_case(folder)


def test_a_slice_count_short_of_the_files_is_refused(tmp_path):
    series = Series(MAIN, "CT", [str(tmp_path / f"{n}.dcm") for n in range(16)])
    check_slice_count(tmp_path, series, 16, 16)
    with pytest.raises(DicomError, match="read 13 slices from 16 files holding 16; refusing, as slices were lost"):
        check_slice_count(tmp_path, series, 13, 16)
