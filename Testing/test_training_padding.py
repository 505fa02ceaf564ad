"""Held-out cases padded into a field twice as large keep their voxels, orientation and spacing."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from pancreas_mt_training.evaluate import accuracy_ci, generic_cases, padded_cases
from pancreas_mt_training.phantoms import write_phantoms


def test_padded_cases(tmp_path):
    src = write_phantoms(tmp_path / "src", 31, 3, field_size=(48, 56), orientation="random")
    cases = generic_cases(src)
    padded = padded_cases(cases, tmp_path / "padded", factor=2, seed=1)
    for case, big in zip(cases, padded, strict=True):
        image, label = sitk.ReadImage(str(case.image)), sitk.ReadImage(str(case.label))
        big_image, big_label = sitk.ReadImage(str(big.image)), sitk.ReadImage(str(big.label))
        assert big.subtype == case.subtype and big.case_id == case.case_id
        assert big_image.GetDirection() == pytest.approx(image.GetDirection())
        assert big_image.GetSpacing() == pytest.approx(image.GetSpacing())
        lps, big_lps = sitk.DICOMOrient(image, "LPS"), sitk.DICOMOrient(big_image, "LPS")
        assert big_lps.GetSize() == (2 * lps.GetSize()[0], 2 * lps.GetSize()[1], lps.GetSize()[2])
        # every original voxel sits at the same physical place in the padded image
        labels = sitk.GetArrayFromImage(label)
        assert (sitk.GetArrayFromImage(big_label) == 2).sum() == (labels == 2).sum()
        resampled = sitk.Resample(big_image, image, sitk.Transform(), sitk.sitkNearestNeighbor)
        assert np.array_equal(sitk.GetArrayFromImage(resampled), sitk.GetArrayFromImage(image))


def test_accuracy_ci():
    low, high = accuracy_ci([0, 1, 2, 0], np.eye(3)[[0, 1, 2, 1]])
    assert low < 0.75 < high and low >= 0 and high <= 1
