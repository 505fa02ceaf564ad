"""ROI modes: full, auto (body crop), an LPS box, an RAS box, a mask from another tool; errors give the bounds."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from PancreasMultiTaskLib.cli.main import main
from PancreasMultiTaskLib.engine.demo import sample_case
from PancreasMultiTaskLib.engine.io import InputError
from PancreasMultiTaskLib.engine.result import CaseResult
from PancreasMultiTaskLib.engine.roi import body_region, box_region, choose_roi, lps_to_ras, volume_bounds

FAST = ["--device", "cpu", "--no-tta", "--progress", "none", "--precision", "float32", "--backend", "torch"]


PAD = (40, 40, 4)  # voxels of air around the sample: in-plane (LPS x, y) and a few slices


def padded(image: sitk.Image, value: float) -> sitk.Image:
    """An image in LPS with ``PAD`` voxels of ``value`` on every side."""
    return sitk.ConstantPad(sitk.DICOMOrient(image, "LPS"), PAD, PAD, value)


def padded_sample() -> sitk.Image:
    """The bundled sample inside a margin of air, as a body inside a CT's field of view."""
    return padded(sitk.ReadImage(str(sample_case())), -1000.0)


def run(tmp_path, image: sitk.Image, name: str, *extra: str) -> tuple[CaseResult, np.ndarray]:
    path = tmp_path / f"{name}_0000.nii.gz"
    sitk.WriteImage(image, str(path))
    out = tmp_path / f"out_{name}"
    assert main(["predict", "-i", str(path), "-o", str(out), *FAST, *extra]) == 0
    result = CaseResult.read_json(out / name / "result.json")
    return result, sitk.GetArrayFromImage(sitk.ReadImage(str(out / name / "segmentation.nii.gz")))


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2 * float(np.logical_and(a, b).sum()) / max(1, int(a.sum() + b.sum()))


def test_body_crop_keeps_the_body_and_cuts_the_air():
    from scipy import ndimage

    image = padded_sample()
    region = body_region(image)
    sizes = np.array([s.stop - s.start for s in region])
    assert np.all(sizes[:2] < np.array(image.GetSize())[:2])  # the air around the body is cut
    # the body on the full grid (the largest connected tissue above -500 HU), its gland and every slice are kept
    labels, _ = ndimage.label(sitk.GetArrayFromImage(image) > -500)
    body = np.argwhere(labels == np.argmax(np.bincount(labels.ravel())[1:]) + 1)[:, ::-1]  # (x, y, z)
    truth = padded(sitk.ReadImage(str(next(sample_case().parent.glob("*_truth.nii.gz")))), 0)
    gland = np.argwhere(sitk.GetArrayFromImage(truth) > 0)[:, ::-1]
    for inside in (body, gland):
        low, high = inside.min(0), inside.max(0)
        assert all(s.start <= lo and s.stop > hi for s, lo, hi in zip(region, low, high, strict=True))
    slices = sitk.DICOMOrient(sitk.ReadImage(str(sample_case())), "LPS").GetSize()[2]
    assert region[2].start <= PAD[2] and region[2].stop >= PAD[2] + slices
    assert body_region(sitk.Image([8, 8, 8], sitk.sitkFloat32) - 1000) is None


#: The slices of the sample (in LPS) that the full-field comparison runs on: the middle of the gland and its lesion.
SLAB = slice(8, 24)


def slab(image: sitk.Image, value: float) -> sitk.Image:
    """:data:`SLAB` of an image in LPS, then :func:`padded` (a body in air above and below it too)."""
    return padded(sitk.DICOMOrient(image, "LPS")[:, :, SLAB], value)


@pytest.mark.slow
def test_auto_finds_the_gland_of_a_body_in_air_with_the_full_runs_dice(tmp_path):
    image = slab(sitk.ReadImage(str(sample_case())), -1000.0)
    truth = sitk.GetArrayFromImage(slab(sitk.ReadImage(str(next(sample_case().parent.glob("*_truth.nii.gz")))), 0))
    assert (truth == 2).any()
    # One fold and half the slices: the ROI, not the ensemble, is under test, and the whole padded field costs the
    # most of the suite's runs.
    full, full_labels = run(tmp_path, image, "full", "--roi", "full", "--folds", "0")
    auto, auto_labels = run(tmp_path, image, "auto", "--folds", "0")  # the default ROI
    assert full.provenance.roi is None and full.provenance.roi_how.startswith("full")
    assert auto.provenance.roi_how.startswith("auto: body crop")  # then the localizer, where the model has one
    low, high = np.array(auto.provenance.roi[:3]), np.array(auto.provenance.roi[3:])
    gland = np.argwhere(truth > 0)[::50]  # (z, y, x) indices of the true gland
    points = np.array([image.TransformIndexToPhysicalPoint([int(v) for v in p[::-1]]) for p in gland])
    assert np.all(points >= low - 1e-3) and np.all(points <= high + 1e-3)  # the box contains the gland
    assert dice(auto_labels > 0, truth > 0) >= dice(full_labels > 0, truth > 0) - 0.02  # the bound


def test_an_ras_box_is_the_lps_box_flipped(tmp_path):
    image = sitk.ReadImage(str(sample_case()))
    low, high = volume_bounds(image)
    centre = (low + high) / 2
    box = [*(centre - 15), *(centre + 15)]
    by_lps = choose_roi(image, box)
    by_ras = choose_roi(image, None, roi_ras=lps_to_ras(box))
    assert by_lps.region == by_ras.region and by_lps.box_lps == by_ras.box_lps
    assert by_ras.how.startswith("box given in RAS mm")


def test_a_mask_from_another_tool_gives_its_box_plus_the_margin(tmp_path):
    image = sitk.ReadImage(str(sample_case()))
    truth = sitk.ReadImage(str(next(sample_case().parent.glob("*_truth.nii.gz"))))
    mask_path = tmp_path / "pancreas_mask.nii.gz"
    sitk.WriteImage(sitk.Cast(truth > 0, sitk.sitkUInt8) * 7, str(mask_path))  # label 7, as another tool might
    choice = choose_roi(image, None, roi_mask=mask_path, roi_label=7, roi_margin=5.0)
    assert "pancreas_mask.nii.gz (label 7) + 5 mm" in choice.how
    labels = sitk.GetArrayViewFromImage(truth)
    inside = np.zeros(labels.shape, bool)
    inside[tuple(choice.region[::-1])] = True
    assert labels[~inside].max() == 0 and inside.sum() < inside.size  # the whole gland, not the whole field
    with pytest.raises(InputError, match="has no voxel of label 3"):
        choose_roi(image, None, roi_mask=mask_path, roi_label=3)


def test_roi_outside_the_volume_prints_its_bounds_in_lps_and_ras():
    image = sitk.ReadImage(str(sample_case()))
    with pytest.raises(InputError, match=r"lies outside the volume: the volume spans LPS .* mm \(RAS .* mm\)"):
        box_region(image, [5000, 5000, 5000, 5100, 5100, 5100])
    with pytest.raises(InputError, match=r"\(RAS mm\) lies outside"):
        choose_roi(image, None, roi_ras=[5000, 5000, 5000, 5100, 5100, 5100])
    with pytest.raises(InputError, match="--roi box and --roi-ras were both given"):
        choose_roi(image, [0, 0, 0, 1, 1, 1], roi_ras=[0, 0, 0, 1, 1, 1])
