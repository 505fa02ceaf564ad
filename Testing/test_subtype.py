"""Pooling of per-slice subtype probabilities, its fallbacks, and the uncertainty measures."""

from __future__ import annotations

import numpy as np
import pytest
from PancreasMultiTaskLib.engine.subtype import (
    MAX_FOLD_SPREAD,
    fold_spread,
    is_uncertain,
    normalized_entropy,
    pool_slices,
    slice_weights,
)
from PancreasMultiTaskLib.engine.window import fold_logit_sum, tile_softmax_mean

# Three slices: the lesion is in slice 1 only; slice 0 and 2 are empty and vote for subtype 0.
SLICES = np.array([[0.8, 0.1, 0.1], [0.1, 0.7, 0.2], [0.8, 0.1, 0.1]])


def test_uniform_is_the_papers_mean_over_slices():
    pooled = pool_slices(SLICES, np.zeros(3), np.zeros(3), "uniform")
    np.testing.assert_allclose(pooled.probabilities, [1.7 / 3, 0.9 / 3, 0.4 / 3])
    assert pooled.method == "uniform"
    assert int(np.argmax(pooled.probabilities)) == 0


def test_lesion_weighted_lets_the_lesion_slices_decide():
    pooled = pool_slices(SLICES, np.array([0.0, 30.0, 0.0]), np.array([5.0, 50.0, 5.0]))
    np.testing.assert_allclose(pooled.probabilities, [0.1, 0.7, 0.2])
    np.testing.assert_allclose(pooled.weights, [0, 1, 0])
    assert pooled.method == "lesion-weighted"


def test_weights_are_proportional_to_lesion_mass():
    weights, used = slice_weights(np.array([1.0, 3.0, 0.0]), np.zeros(3))
    assert used == "lesion-weighted"
    np.testing.assert_allclose(weights, [0.25, 0.75, 0.0])
    pooled = pool_slices(SLICES, np.array([1.0, 3.0, 0.0]), np.zeros(3))
    np.testing.assert_allclose(pooled.probabilities, 0.25 * SLICES[0] + 0.75 * SLICES[1])


def test_falls_back_to_pancreas_then_uniform():
    pooled = pool_slices(SLICES, np.array([0.0, 0.2, 0.0]), np.array([0.0, 10.0, 30.0]))
    assert pooled.method == "pancreas-weighted"
    np.testing.assert_allclose(pooled.probabilities, 0.25 * SLICES[1] + 0.75 * SLICES[2])
    pooled = pool_slices(SLICES, np.zeros(3), np.array([0.1, 0.1, 0.1]))
    assert pooled.method == "uniform"
    np.testing.assert_allclose(pooled.weights, [1 / 3] * 3)


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="pooling"):
        slice_weights(np.ones(2), np.ones(2), "max")


def test_entropy_and_spread():
    assert normalized_entropy(np.array([1.0, 0.0, 0.0])) == pytest.approx(0.0, abs=1e-9)
    assert normalized_entropy(np.array([1 / 3] * 3)) == pytest.approx(1.0)
    p = np.array([0.5, 0.5, 0.0])
    assert normalized_entropy(p) == pytest.approx(np.log(2) / np.log(3), rel=1e-6)
    folds = np.array([[0.9, 0.1, 0.0], [0.5, 0.5, 0.0]])
    assert fold_spread(folds) == pytest.approx(0.2)  # population std of (0.9, 0.5)
    assert fold_spread(folds[:1]) is None  # one fold: not measured, never 0
    assert is_uncertain(MAX_FOLD_SPREAD + 0.01, 0.0)
    assert not is_uncertain(0.0, 0.1)


def test_measurements_on_a_hand_made_lesion():
    from PancreasMultiTaskLib.engine.measurements import max_axial_diameter_mm, volume_ml

    mask = np.zeros((3, 20, 20), bool)
    mask[1, 2:5, 3:11] = True  # 3 x 8 voxels: corner to corner (2 x 0.5 mm, 7 x 0.8 mm)
    mask[2, 15, 15] = mask[2, 18, 0] = True  # two separate specks: no diameter between them
    spacing = (2.0, 0.5, 0.8)
    assert volume_ml(mask, spacing) == pytest.approx(26 * 2.0 * 0.5 * 0.8 / 1000)
    assert max_axial_diameter_mm(mask, spacing) == pytest.approx(np.hypot(2 * 0.5, 7 * 0.8))
    # Along another axis as the axial one (a volume stored with S-I last).
    assert max_axial_diameter_mm(np.moveaxis(mask, 0, 2), (0.5, 0.8, 2.0), axial_axis=2) == pytest.approx(
        np.hypot(2 * 0.5, 7 * 0.8)
    )


def test_the_fold_logit_sum_can_pick_another_subtype_than_the_fold_probability_mean():
    """One slice of one tile, two folds: fold 0 says (0.75, 0.25, ~0), fold 1 (~0, 0.35, 0.65). Their mean
    picks subtype 0; the released code's logit sum (a product of the probabilities) picks subtype 1, the only
    one neither fold rules out."""
    probabilities = np.array([[0.75, 0.25, 1e-4], [1e-4, 0.35, 0.65]])
    tile_logits = np.log(probabilities)[:, None, None, :]  # folds x slices x tiles x subtypes
    mean = tile_softmax_mean(tile_logits).mean(0)
    summed = fold_logit_sum(tile_logits)
    np.testing.assert_allclose(mean[0], probabilities.mean(0) / probabilities.sum(1).mean(), rtol=1e-5)
    product = probabilities.prod(0)
    np.testing.assert_allclose(summed, (product / product.sum())[None, None], rtol=1e-4)
    assert int(np.argmax(mean[0])) == 0 and int(np.argmax(summed[0, 0])) == 1


def test_the_fold_logit_sum_averages_softmaxes_over_a_slices_tiles():
    """Each slice's tiles: softmax of the folds' summed logits, then the mean over the tiles (shape 1 x slices x K)."""
    tile_logits = np.random.default_rng(0).normal(size=(3, 2, 4, 3)) * 3
    e = np.exp(tile_logits.sum(0))
    expected = (e / e.sum(-1, keepdims=True)).mean(1)
    np.testing.assert_allclose(fold_logit_sum(tile_logits), expected[None], rtol=1e-5)
    e = np.exp(tile_logits)
    np.testing.assert_allclose(tile_softmax_mean(tile_logits), (e / e.sum(-1, keepdims=True)).mean(2), rtol=1e-5)
