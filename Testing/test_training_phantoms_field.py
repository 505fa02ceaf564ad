"""``field`` phantoms: whole fields of view, random geometry, subtypes matched in first-order statistics.

The subtypes must differ by morphology only: the lesion's HU mean and std and its volume are matched
across subtypes, and the HU baseline on them stays near chance.
"""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from pancreas_mt_training.baseline import class_statistics, lesion_features, score_baselines
from pancreas_mt_training.phantoms import (
    ORIENTATIONS,
    generate_phantoms,
    make_field_phantom,
    reoriented,
)

SMALL = (64, 80)


@pytest.fixture(scope="module")
def sets():
    train = list(generate_phantoms(21, 18, field_size=SMALL))
    test = list(generate_phantoms(22, 18, field_size=SMALL, orientation="random"))
    return train, test


def _features(phantoms):
    return np.stack([lesion_features(p.image, p.label) for p in phantoms]), [p.subtype for p in phantoms]


def test_geometry_spacing_and_labels(sets):
    train, _ = sets
    centres = []
    for p in train:
        size, spacing = p.image.GetSize(), p.image.GetSpacing()
        assert SMALL[0] <= size[0] <= SMALL[1] and SMALL[0] <= size[1] <= SMALL[1]
        assert 0.6 <= spacing[0] == spacing[1] <= 1.0 and 1.5 <= spacing[2] <= 3.0
        assert 28.5 <= size[2] * spacing[2] <= 41.5  # 30-40 mm, rounded to whole slices
        label = sitk.GetArrayFromImage(p.label)
        assert set(np.unique(label)) == {0, 1, 2}
        ys, xs = np.nonzero(label.max(0) == 2)
        centres.append((ys.mean() / label.shape[1], xs.mean() / label.shape[2]))
    # the lesion is not always at the centre of the field
    centres = np.array(centres)
    assert np.abs(centres - 0.5).max() > 0.15 and centres.std(0).min() > 0.05


def test_first_order_statistics_are_matched_across_subtypes(sets):
    train, test = sets
    x, y = _features(train + test)
    stats = class_statistics(x, y, 3)
    assert np.ptp(stats["hu_mean"]) < 5 and np.ptp(stats["hu_std"]) < 5
    assert np.ptp(stats["volume_ml"]) < 0.15 * np.mean(stats["volume_ml"])


def _hu_accuracy(train, test) -> float:
    return next(r["accuracy"] for r in score_baselines(*_features(train), *_features(test)) if r["baseline"] == "HU")


def test_hu_baseline_is_near_chance(sets):
    train, test = sets
    assert _hu_accuracy(train, test) < 0.6


def test_the_centred_phantoms_are_separable_by_the_same_baseline():
    """The check has teeth: the earlier generator's intensity-coded subtypes are told apart by it."""
    train = list(generate_phantoms(3, 9, (8, 40, 40), generator="centred"))
    test = list(generate_phantoms(4, 9, (8, 40, 40), generator="centred"))
    assert _hu_accuracy(train, test) > 0.8


def test_random_orientations_store_the_same_voxels(sets):
    _, test = sets
    plain = list(generate_phantoms(22, 4, field_size=SMALL))
    codes = {sitk.DICOMOrientImageFilter.GetOrientationFromDirectionCosines(p.image.GetDirection()) for p in test}
    assert len(codes) > 3 and codes <= set(ORIENTATIONS) and len(ORIENTATIONS) == 48
    for a, b in zip(plain, generate_phantoms(22, 4, field_size=SMALL, orientation="random"), strict=True):
        back = reoriented(b, "LPS")
        assert np.array_equal(sitk.GetArrayFromImage(a.image), sitk.GetArrayFromImage(back.image))
        assert np.allclose(a.image.GetOrigin(), back.image.GetOrigin())


def test_reproducible_and_checked():
    a = make_field_phantom(5, 1, 2, field_size=SMALL)
    b = make_field_phantom(5, 1, 2, field_size=SMALL)
    assert np.array_equal(sitk.GetArrayFromImage(a.image), sitk.GetArrayFromImage(b.image))
    with pytest.raises(ValueError, match="quantiles"):
        make_field_phantom(5, 1, 2, quantiles=[0.5, 2.0, 0.1, 0.1, 0.1])
    with pytest.raises(ValueError, match="generator"):
        generate_phantoms(1, 3, generator="other")
