"""Geometry: outputs share the input's geometry; stored orientation does not change the anatomy found."""

from __future__ import annotations

import math

import numpy as np
import pytest
import SimpleITK as sitk
from model_factory import ct_volume
from PancreasMultiTaskLib.engine.predictor import PredictionOptions, Predictor


@pytest.fixture(scope="module")
def engine(multitask_model):
    return Predictor(multitask_model, PredictionOptions(device="cpu", folds=("0",), use_mirroring=False))


@pytest.fixture(scope="module")
def reference(engine):
    image, _ = ct_volume((8, 56, 72), seed=11)
    return image, sitk.GetArrayFromImage(engine.predict(image).segmentation)


def assert_same_geometry(a: sitk.Image, b: sitk.Image) -> None:
    assert a.GetSize() == b.GetSize()
    np.testing.assert_allclose(a.GetOrigin(), b.GetOrigin(), atol=1e-6)
    np.testing.assert_allclose(a.GetSpacing(), b.GetSpacing(), atol=1e-9)
    np.testing.assert_allclose(a.GetDirection(), b.GetDirection(), atol=1e-9)


def test_reference_prediction_is_not_trivial(reference):
    _, seg = reference
    assert len(np.unique(seg)) >= 2


@pytest.mark.parametrize("flips", [(True, False, False), (False, True, True), (True, True, True)])
def test_flipped_storage_gives_the_same_physical_segmentation(engine, reference, flips):
    image, expected = reference
    flipped = sitk.Flip(image, flips)  # same physical voxels, stored in another direction
    seg = engine.predict(flipped).segmentation
    assert_same_geometry(seg, flipped)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(sitk.Flip(seg, flips)), expected)


@pytest.mark.parametrize("order", [(1, 0, 2), (2, 1, 0), (0, 2, 1)])
def test_permuted_storage_gives_the_same_physical_segmentation(engine, reference, order):
    image, expected = reference
    permuted = sitk.PermuteAxes(image, order)
    seg = engine.predict(permuted).segmentation
    assert_same_geometry(seg, permuted)
    inverse = [order.index(i) for i in range(3)]
    np.testing.assert_array_equal(sitk.GetArrayFromImage(sitk.PermuteAxes(seg, inverse)), expected)


def test_oblique_direction_keeps_its_geometry(engine, reference):
    image, expected = reference
    a = math.radians(12)
    rotation = (math.cos(a), -math.sin(a), 0.0, math.sin(a), math.cos(a), 0.0, 0.0, 0.0, 1.0)
    oblique = sitk.Image(image)
    oblique.SetDirection(rotation)
    seg = engine.predict(oblique).segmentation
    assert_same_geometry(seg, oblique)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(seg), expected)


def test_anisotropic_spacing_is_resampled_and_restored(engine):
    image, _ = ct_volume((6, 50, 80), spacing_xyz=(0.55, 1.1, 3.0), seed=5)
    prediction = engine.predict(image)
    assert_same_geometry(prediction.segmentation, image)
    spacing = image.GetSpacing()
    voxel_ml = spacing[0] * spacing[1] * spacing[2] / 1000
    seg = sitk.GetArrayFromImage(prediction.segmentation)
    assert prediction.result.measurements.lesion_volume_ml == pytest.approx((seg == 2).sum() * voxel_ml, abs=1e-3)


def test_roi_crops_and_places_the_result_back(engine):
    image, _ = ct_volume((8, 56, 72), seed=11)
    lo = image.TransformIndexToPhysicalPoint((10, 8, 1))
    hi = image.TransformIndexToPhysicalPoint((60, 50, 6))
    roi = (*lo, *hi)
    with_roi = Predictor(engine.model, PredictionOptions(device="cpu", folds=("0",), use_mirroring=False, roi=roi))
    prediction = with_roi.predict(image)
    assert_same_geometry(prediction.segmentation, image)
    seg = sitk.GetArrayFromImage(prediction.segmentation)
    outside = np.ones_like(seg, bool)
    outside[1:7, 8:51, 10:61] = False
    assert not seg[outside].any()
    crop = engine.predict(image[10:61, 8:51, 1:7]).segmentation
    np.testing.assert_array_equal(seg[1:7, 8:51, 10:61], sitk.GetArrayFromImage(crop))
    assert prediction.result.provenance.roi == list(roi)
