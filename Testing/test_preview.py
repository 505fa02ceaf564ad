"""``--preview``: a readable picture per case in the radiological convention, and a contact sheet for a batch."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from matplotlib.image import imread
from PancreasMultiTaskLib.cli.main import main
from PancreasMultiTaskLib.cli.preview import (
    INDEX_FILE,
    PREVIEW_FILE,
    PREVIEW_SIZE_PX,
    SHEET_FILE,
    case_figure,
    display_planes,
    save_figure,
)
from PancreasMultiTaskLib.engine.demo import demo_model_folder, sample_case
from PancreasMultiTaskLib.engine.result import CaseResult
from PancreasMultiTaskLib.slicer.scene import LESION_LABEL, PANCREAS_LABEL, SEGMENT_STYLES


def colour_pixels(png: Path, label: int, tolerance: int = 6) -> int:
    """How many pixels of a PNG have the segment's display colour."""
    rgb = (imread(png)[..., :3] * 255).round().astype(int)
    target = np.round(np.asarray(SEGMENT_STYLES[label].color) * 255).astype(int)
    return int((np.abs(rgb - target).max(axis=-1) <= tolerance).sum())


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo model on two copies of the sample case and one unreadable file, with --preview."""
    root = tmp_path_factory.mktemp("preview")
    cases = root / "cases"
    cases.mkdir()
    for name in ("alpha", "beta"):
        shutil.copy(sample_case(), cases / f"{name}_0000.nii.gz")
    (cases / "broken_0000.nii.gz").write_bytes(b"not an image")
    model = demo_model_folder(root / "models")
    out = root / "out"
    argv = ["predict", "-i", str(cases), "-o", str(out), "-m", str(model), "--folds", "0", "--no-tta"]
    code = main([*argv, "--device", "cpu", "--progress", "none", "--preview"])
    assert code == 1  # the broken case failed; the others ran
    return out


def test_case_preview_has_its_size_and_the_segment_colours(batch: Path) -> None:
    for case in ("alpha", "beta"):
        png = batch / case / PREVIEW_FILE
        picture = imread(png)
        assert picture.shape[:2] == (PREVIEW_SIZE_PX[1], PREVIEW_SIZE_PX[0])
        assert picture[..., :3].std() > 0.1  # not blank
        result = CaseResult.read_json(batch / case / "result.json")
        assert result.measurements.lesion_volume_ml > 0
        assert colour_pixels(png, LESION_LABEL) > 50
        assert colour_pixels(png, PANCREAS_LABEL) > 50
        assert not list((batch / case).glob(".*partial*"))  # written under a temporary name, then renamed


def test_batch_writes_a_contact_sheet_with_the_failed_case_marked(batch: Path) -> None:
    sheet = imread(batch / SHEET_FILE)
    assert sheet.shape[0] > 2.5 * sheet.shape[1] * PREVIEW_SIZE_PX[1] / PREVIEW_SIZE_PX[0]  # three rows
    assert colour_pixels(batch / SHEET_FILE, LESION_LABEL, tolerance=30) > 0
    index = (batch / INDEX_FILE).read_text(encoding="utf-8")
    assert "broken: FAILED" in index and "cannot read image" in index
    assert 'src="alpha/preview.png"' in index and 'src="beta/preview.png"' in index
    # every verdict stands beside its picture, with the synthetic model's notice
    assert index.count("synthetic demo model: not for clinical images") == 2
    assert not (batch / "broken" / PREVIEW_FILE).exists()


def test_no_lesion_colour_without_a_lesion(batch: Path, tmp_path: Path) -> None:
    result = CaseResult.read_json(batch / "alpha" / "result.json")
    image = sitk.ReadImage(str(sample_case()))
    truth = sitk.ReadImage(str(sample_case().with_name(sample_case().name.replace("_0000", "_truth"))))
    gland_only = sitk.ChangeLabel(truth, {LESION_LABEL: PANCREAS_LABEL})
    with_lesion = save_figure(case_figure(image, truth, result), tmp_path / "with.png")
    without = save_figure(case_figure(image, gland_only, result), tmp_path / "without.png")
    assert colour_pixels(with_lesion, LESION_LABEL) > 50
    assert colour_pixels(without, LESION_LABEL) == 0 and colour_pixels(without, PANCREAS_LABEL) > 50


def marked_volume() -> tuple[sitk.Image, sitk.Image]:
    """A CT-like LPS volume whose lesion sits at the patient's right, anterior and superior."""
    array = np.full((12, 30, 40), -100.0, np.float32)  # z, y, x
    labels = np.zeros(array.shape, np.uint8)
    labels[6:10, 3:8, 4:9] = LESION_LABEL  # small x: right; small y: anterior; large z: superior
    labels[8, 2:10, 2:12] = LESION_LABEL  # the largest lesion area is on slice k = 8
    labels[2:10, 12:20, 10:30] = PANCREAS_LABEL
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((0.8, 0.7, 2.5))
    image.SetOrigin((-20.0, 10.0, 300.0))
    segmentation = sitk.GetImageFromArray(labels)
    segmentation.CopyInformation(image)
    return image, segmentation


@pytest.mark.parametrize("stored", ["LPS", "RAS", "LAI", "PIR"])
def test_display_is_radiological_whatever_the_storage(stored: str) -> None:
    image, segmentation = marked_volume()
    planes = display_planes(sitk.DICOMOrient(image, stored), sitk.DICOMOrient(segmentation, stored))
    rows, cols = np.nonzero(planes.axial_labels == LESION_LABEL)
    height, width = planes.axial_labels.shape
    assert (height, width) == (30, 40)
    assert cols.max() < width / 2 and rows.max() < height / 2  # patient's right on the left, anterior up
    rows, cols = np.nonzero(planes.coronal_labels == LESION_LABEL)
    assert rows.max() < planes.coronal_labels.shape[0] / 2 and cols.max() < width / 2  # superior up
    assert planes.axial_aspect == pytest.approx(0.7 / 0.8) and planes.coronal_aspect == pytest.approx(2.5 / 0.8)
    reference = display_planes(image, segmentation)
    np.testing.assert_array_equal(planes.axial, reference.axial)
    np.testing.assert_array_equal(planes.coronal_labels, reference.coronal_labels)


def test_shown_slice_index_is_the_inputs_own() -> None:
    image, segmentation = marked_volume()
    assert display_planes(image, segmentation).slice_k == 8
    flipped = display_planes(sitk.DICOMOrient(image, "LPI"), sitk.DICOMOrient(segmentation, "LPI"))
    assert flipped.slice_k == 11 - 8  # the same slice, counted from the other end of the stored stack
    # stored with the S-I axis first, the slice axis is i (as in result.json's slices, not the array's k)
    for stored, expected in (("SPR", 8), ("IPR", 11 - 8)):  # i runs towards S, or towards I
        permuted = display_planes(sitk.DICOMOrient(image, stored), sitk.DICOMOrient(segmentation, stored))
        assert permuted.slice_k == expected, stored
