"""A whole CT on the CPU: slabs of slices change no output; the fast preset (one fold, no mirroring) is what it says."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
from model_factory import ct_volume
from PancreasMultiTaskLib.engine.options import PredictionOptions
from PancreasMultiTaskLib.engine.predictor import Predictor
from PancreasMultiTaskLib.engine.slabs import slabs


def _run(model, image, **options):
    predictor = Predictor(model, PredictionOptions(device="cpu", backend="torch", save_probabilities=True, **options))
    return predictor, predictor.predict(image, "case")


def _without_timings(result) -> dict:
    data = result.to_dict()
    data.pop("timings_s")
    return data


def test_slabs_cover_every_slice_once_and_read_their_halo():
    parts = list(slabs(10, 4, halo=3))
    assert [(p.start, p.stop) for p in parts] == [(0, 4), (4, 8), (8, 10)]
    assert [(p.read_start, p.read_stop) for p in parts] == [(0, 7), (1, 10), (5, 10)]
    assert [p.keep for p in parts] == [slice(0, 4), slice(3, 7), slice(3, 5)]


def test_a_small_slab_gives_the_same_labels_probabilities_and_result_as_one_slab(multitask_model):
    """Slabs of 2 slices against one slab of the whole volume, with resampling to the model's grid and back."""
    image, _ = ct_volume((9, 50, 64), spacing_xyz=(0.6, 0.65, 2.0), seed=7)
    _, small = _run(multitask_model, image, slab_slices=2)
    _, whole = _run(multitask_model, image, slab_slices=1000)
    labels = sitk.GetArrayFromImage(small.segmentation)
    assert labels.shape == image.GetSize()[::-1] and np.count_nonzero(labels) > 0
    np.testing.assert_array_equal(labels, sitk.GetArrayFromImage(whole.segmentation))
    np.testing.assert_array_equal(
        sitk.GetArrayFromImage(small.lesion_probability), sitk.GetArrayFromImage(whole.lesion_probability)
    )
    assert (
        small.slice_probabilities.keys() == whole.slice_probabilities.keys() == {"tiles", "tiles-logit-sum", "guided"}
    )
    for mode, probabilities in small.slice_probabilities.items():
        np.testing.assert_array_equal(probabilities, whole.slice_probabilities[mode])
    assert [s.lesion_mass for s in small.result.subtype.slices] == [s.lesion_mass for s in whole.result.subtype.slices]
    assert _without_timings(small.result) == _without_timings(whole.result)


def test_the_fast_preset_runs_the_first_fold_without_mirroring_and_says_so(multitask_model):
    image, _ = ct_volume((4, 40, 48), seed=8)
    predictor, fast = _run(multitask_model, image, fast=True, folds=["1", "0"])
    assert predictor.model.folds == ("1",) and predictor.window.mirrorings == [()]
    assert predictor.tile_classifier().mirrorings == [()]
    provenance = fast.result.provenance
    assert provenance.fast is True and provenance.tta is False and provenance.folds == ["1"]
    assert list(fast.result.subtype.fold_probabilities) == ["1"]
    reference, plain = _run(multitask_model, image, use_mirroring=False, classification_mirroring=False, folds=["1"])
    assert reference.window.mirrorings == [()] and plain.result.provenance.fast is False
    np.testing.assert_array_equal(sitk.GetArrayFromImage(fast.segmentation), sitk.GetArrayFromImage(plain.segmentation))
    assert fast.result.subtype.probabilities == plain.result.subtype.probabilities
    default, _ = _run(multitask_model, image)
    assert default.model.folds == ("0", "1") and len(default.window.mirrorings) == 4
