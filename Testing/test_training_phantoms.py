"""Synthetic phantoms: reproducible, valid geometry and labels, subtypes of distinct appearance."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from pancreas_mt_training.phantoms import (
    SPACING,
    SUBTYPE_NAMES,
    make_phantom,
    phantom_subtypes,
    write_phantoms,
)


def _arrays(phantom):
    return sitk.GetArrayFromImage(phantom.image), sitk.GetArrayFromImage(phantom.label)


def test_same_seed_same_case_and_other_seed_differs():
    a_img, a_lab = _arrays(make_phantom(3, 1, 2))
    b_img, b_lab = _arrays(make_phantom(3, 1, 2))
    c_img, _ = _arrays(make_phantom(4, 1, 2))
    assert np.array_equal(a_img, b_img) and np.array_equal(a_lab, b_lab)
    assert not np.array_equal(a_img, c_img)


def test_geometry_labels_and_hu_range():
    phantom = make_phantom(0, 0, 1, shape=(12, 40, 44))
    image, label = _arrays(phantom)
    assert image.shape == label.shape == (12, 40, 44)
    assert image.dtype == np.int16
    assert phantom.image.GetSpacing() == pytest.approx(SPACING)
    assert phantom.image.GetDirection() == pytest.approx((1, 0, 0, 0, 1, 0, 0, 0, 1))
    assert phantom.image.GetOrigin() == pytest.approx(phantom.label.GetOrigin())
    assert set(np.unique(label)) == {0, 1, 2}
    assert image.min() > -300 and image.max() < 400


@pytest.mark.parametrize("seed", [0, 1])
def test_subtypes_have_their_documented_appearance(seed):
    for index in range(3):
        stats = {}
        for subtype in range(3):
            image, label = _arrays(make_phantom(seed, index, subtype))
            values = image[label == 2]
            assert values.size > 0 and (label == 1).sum() > 0
            stats[subtype] = np.percentile(values, [10, 50, 90])
        # hypodense solid: well below the ~100 HU parenchyma, never as bright as enhancing tissue
        assert 25 < stats[0][1] < 60 and stats[0][2] < 90
        # rim-enhancing: bright rim (above parenchyma) beside a dark necrotic core
        assert stats[1][2] > 120 and stats[1][0] < 60
        # cystic: fluid near water with thin brighter septa and wall
        assert stats[2][0] < 5 and stats[2][2] > 70


def test_subtypes_balanced_and_named():
    subtypes = phantom_subtypes(5, 9)
    assert sorted(subtypes) == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert len(SUBTYPE_NAMES) == 3
    with pytest.raises(ValueError, match="subtype must be"):
        make_phantom(0, 0, 3)


@pytest.mark.parametrize("layout", ["generic", "paper"])
def test_write_phantoms_layouts(tmp_path, layout):
    out = write_phantoms(tmp_path / layout, seed=2, count=3, shape=(6, 24, 24), layout=layout, generator="centred")
    images = sorted(out.rglob("*_0000.nii.gz"))
    assert len(images) == 3
    if layout == "generic":
        assert (out / "subtypes.csv").read_text().splitlines()[0] == "case_id,subtype"
        assert len(list((out / "labels").glob("*.nii.gz"))) == 3
    else:
        assert {p.parent.name for p in images} <= {"subtype0", "subtype1", "subtype2"}
        for image in images:
            assert (image.parent / image.name.replace("_0000", "")).is_file()
