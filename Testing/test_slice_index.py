"""Per-slice results are indexed by the input's own slice index k (and carry the physical position),
whatever orientation the input is stored in and whatever ROI it is cropped to."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from model_factory import ct_volume
from PancreasMultiTaskLib.engine.orientation import input_slice_indices
from PancreasMultiTaskLib.engine.predictor import PredictionOptions, Predictor


def _lps(n_slices: int = 10) -> sitk.Image:
    image, _ = ct_volume(shape_zyx=(n_slices, 56, 72), seed=4)
    return image


def test_indices_follow_the_inputs_storage():
    lps = _lps()
    n = lps.GetSize()[2]
    lpi = sitk.DICOMOrient(lps, "LPI")
    indices, positions = input_slice_indices(lps, lpi, 0, n)
    assert indices == [n - 1 - z for z in range(n)]
    for z, point in enumerate(positions):
        assert point[2] == pytest.approx(lps.TransformIndexToPhysicalPoint((0, 0, z))[2])
    # axial slices stored along the input's second index axis
    permuted = sitk.DICOMOrient(lps, "LSP")
    axis_of_slices = next(i for i, letter in enumerate("LSP") if letter in "SI")
    indices, _ = input_slice_indices(lps, permuted, 2, 4)
    expected = [
        permuted.TransformPhysicalPointToIndex(lps.TransformIndexToPhysicalPoint((0, 0, 2 + z)))[axis_of_slices]
        for z in range(4)
    ]
    assert indices == expected


@pytest.mark.parametrize("code", ["LPS", "LPI"])
def test_result_slices_with_roi_match_the_input(multitask_model, code):
    lps = _lps()
    image = sitk.DICOMOrient(lps, code)
    first, last = 3, 8  # LPS slice range the ROI covers
    lo = lps.TransformIndexToPhysicalPoint((0, 0, first))
    hi = lps.TransformIndexToPhysicalPoint((lps.GetSize()[0] - 1, lps.GetSize()[1] - 1, last))
    options = PredictionOptions(device="cpu", use_mirroring=False, roi=[*lo, *hi], backend="torch")
    result = Predictor(multitask_model, options).predict(image).result
    slices = result.subtype.slices
    indices = [s.index for s in slices]
    assert indices == sorted(indices)
    for s in slices:
        k = s.index
        centre = image.TransformPhysicalPointToContinuousIndex(s.position_mm)
        assert centre[2] == pytest.approx(k, abs=1e-3)  # the position lies in the input's slice k
    n = lps.GetSize()[2]
    lps_range = set(range(first, last + 1))
    expected = lps_range if code == "LPS" else {n - 1 - k for k in lps_range}
    assert set(indices) == expected
    # the same physical slice gets the same numbers whichever way the input is stored
    reference = {
        round(s.position_mm[2], 3): np.array(s.probabilities)
        for s in Predictor(
            multitask_model, PredictionOptions(device="cpu", use_mirroring=False, roi=[*lo, *hi], backend="torch")
        )
        .predict(lps)
        .result.subtype.slices
    }
    for s in slices:
        assert np.allclose(reference[round(s.position_mm[2], 3)], s.probabilities, atol=1e-4)
