"""Gland crops for the main model's training: the box of the gland plus the margin, in the same physical place."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk
from pancreas_mt_training.crops import crop_folder, gland_crop, slice_axis
from pancreas_mt_training.labels import read_subtypes_csv
from pancreas_mt_training.phantoms import write_phantoms


def test_the_crop_holds_the_gland_plus_the_margin_in_the_same_place() -> None:
    label = sitk.Image([60, 50, 20], sitk.sitkUInt8)
    label.SetSpacing((0.5, 0.5, 2.0))
    label.SetOrigin((10.0, -20.0, 5.0))
    label[20:30, 15:25, 8:12] = 1
    label[24, 18, 9] = 2
    image = sitk.Cast(label, sitk.sitkInt16) * 100 - 50
    cropped_image, cropped_label = gland_crop(image, label, margin_mm=4.0)
    # 4 mm: 8 voxels in-plane (clipped at the volume's edge nowhere here), 2 slices in z.
    assert cropped_label.GetSize() == (10 + 16, 10 + 16, 4 + 4)
    assert cropped_label.GetOrigin() == label.TransformIndexToPhysicalPoint((12, 7, 6))
    assert sitk.GetArrayFromImage(cropped_label).sum() == sitk.GetArrayFromImage(label).sum()
    assert np.array_equal(sitk.GetArrayFromImage(cropped_image), sitk.GetArrayFromImage(image)[6:14, 7:33, 12:38])
    _, clipped = gland_crop(image, label, margin_mm=40.0)
    assert clipped.GetSize() == label.GetSize()  # a margin past the edge stops there
    with pytest.raises(ValueError, match="no gland"):
        gland_crop(image, label * 0, 4.0)


def test_a_slab_keeps_whole_slices_along_the_head_foot_axis_of_any_storage_order() -> None:
    """The sample case is cut to whole slices around the gland; a volume stored with its slices along the
    index x axis (as the held-out phantoms' random orientations may be) is cut along x."""
    label = sitk.Image([60, 50, 20], sitk.sitkUInt8)
    label.SetSpacing((0.5, 0.5, 2.0))
    label[20:30, 15:25, 8:12] = 1
    slab, _ = gland_crop(label, label, 4.0, axes=(slice_axis(label),))
    assert slice_axis(label) == 2 and slab.GetSize() == (60, 50, 4 + 4)
    stored = sitk.PermuteAxes(label, [2, 0, 1])  # index x now runs head-foot
    assert slice_axis(stored) == 0
    slab, _ = gland_crop(stored, stored, 4.0, axes=(slice_axis(stored),))
    assert slab.GetSize() == (8, 60, 50)
    assert sitk.GetArrayFromImage(slab).sum() == sitk.GetArrayFromImage(label).sum()


def test_a_phantom_folder_becomes_crops_with_the_same_subtypes(tmp_path) -> None:
    source = write_phantoms(tmp_path / "full", 3, 3, field_size=(96, 96))
    output = crop_folder(source, tmp_path / "crops", (5.0, 10.0), seed=1)
    assert read_subtypes_csv(output / "subtypes.csv") == read_subtypes_csv(source / "subtypes.csv")
    margins = json.loads((output / "crops.json").read_text())["margin_mm"]
    assert sorted(margins) == sorted(read_subtypes_csv(source / "subtypes.csv"))
    assert all(5.0 <= m <= 10.0 for m in margins.values())
    for case_id in margins:
        full = sitk.ReadImage(str(source / "labels" / f"{case_id}.nii.gz"))
        crop = sitk.ReadImage(str(output / "labels" / f"{case_id}.nii.gz"))
        assert all(c <= f for c, f in zip(crop.GetSize(), full.GetSize(), strict=True))
        counts = [np.bincount(sitk.GetArrayFromImage(x).ravel(), minlength=3)[1:].tolist() for x in (crop, full)]
        assert counts[0] == counts[1]  # every gland and lesion voxel kept
