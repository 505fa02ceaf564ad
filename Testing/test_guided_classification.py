"""Segmentation-guided classification: one patch-size tile a slice, centred on the predicted lesion,
on the gland when a slice has no lesion, on the slice centre when it has neither."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from model_factory import ct_volume
from PancreasMultiTaskLib.engine.classify import guided_tiles
from PancreasMultiTaskLib.engine.predictor import PredictionOptions, Predictor


@pytest.fixture(scope="module")
def predictor(multitask_model):
    return Predictor(multitask_model, PredictionOptions(device="cpu", use_mirroring=False, backend="torch"))


def test_tiles_are_centred_on_the_lesion_then_the_gland(predictor):
    py, px = predictor.patch_size
    slices, height, width = 3, py + 40, px + 60
    data = torch.arange(slices * height * width, dtype=torch.float32).reshape(1, slices, height, width)
    lesion, gland = torch.zeros(slices, height, width), torch.zeros(slices, height, width)
    lesion[0, 30:35, 70:75] = 0.9  # centre (32, 72)
    gland[0, :, :] = 0.8  # ignored where there is lesion
    gland[1, 10:15, 20:25] = 0.9  # centre (12, 22): the tile is clipped at the border
    tiles = guided_tiles(data, lesion, gland, predictor.patch_size)
    assert tiles.shape == (slices, 1, py, px)

    def window(z, y0, x0):
        return data[0, z, y0 : y0 + py, x0 : x0 + px]

    assert torch.equal(tiles[0, 0], window(0, round(32 - py / 2), round(72 - px / 2)))
    assert torch.equal(tiles[1, 0], window(1, 0, 0))
    centre_y, centre_x = (height - 1) / 2, (width - 1) / 2
    assert torch.equal(tiles[2, 0], window(2, round(centre_y - py / 2), round(centre_x - px / 2)))
    # ``exact`` (a view network's): centred on the gland's centroid at the border, zeros past the slice
    exact = guided_tiles(data, lesion, gland, predictor.patch_size, exact=True)
    y0, x0 = round(12 - py / 2), round(22 - px / 2)
    assert y0 < 0 and x0 < 0
    assert torch.equal(exact[1, 0, -y0:, -x0:], window(1, 0, 0)[: py + y0, : px + x0])
    assert not exact[1, 0, :-y0].any() and not exact[1, 0, :, :-x0].any()
    assert torch.equal(exact[0], tiles[0])  # a tile that fits the slice is the same either way


@pytest.mark.parametrize("folder", ["multitask_model", "view_model"])
def test_prediction_gives_both_modes_and_reports_the_one_used(folder, request):
    """Also for a head that reads the central view of each tile (``classifier_view``), on the default backend."""
    image, _ = ct_volume(seed=2)
    for mode in ("guided", "tiles"):
        backend = "torch" if folder == "multitask_model" else "auto"
        options = PredictionOptions(device="cpu", use_mirroring=False, backend=backend, classification=mode)
        prediction = Predictor(request.getfixturevalue(folder), options).predict(image)
        subtype = prediction.result.subtype
        assert subtype.classification == mode
        used = prediction.slice_probabilities[mode].mean(0)
        assert np.allclose([s.probabilities for s in subtype.slices], used, atol=1e-6)
        assert ("guided" in prediction.slice_probabilities) == (mode == "guided")
    with pytest.raises(ValueError, match="classification must be one of"):
        PredictionOptions(classification="centre")


def test_a_view_models_guided_tiles_are_centred_exactly(multitask_model, view_model):
    """A head that reads the tile's central view gets tiles centred on the lesion even at the slice's edge (the
    demo's gland crops are hardly larger than its patch: clipped tiles put the view 15-30 mm off the lesion)."""
    options = PredictionOptions(device="cpu", use_mirroring=False, backend="torch")
    assert Predictor(view_model, options).tile_classifier().exact
    assert not Predictor(multitask_model, options).tile_classifier().exact
