"""The engine against nnU-Net's own ``nnUNetPredictor`` on a model folder planned by nnU-Net."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from model_factory import ct_volume, nnunet_preprocessed
from PancreasMultiTaskLib.engine.model_folder import open_model_folder
from PancreasMultiTaskLib.engine.predictor import PredictionOptions, Predictor


def nnunet_predictor(model_path, folds, mirroring=True):
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

    predictor = nnUNetPredictor(device=torch.device("cpu"), use_mirroring=mirroring, allow_tqdm=False)
    predictor.initialize_from_trained_model_folder(str(model_path), folds)
    return predictor


@pytest.fixture(scope="module")
def nnunet_segmentation(plain_model):
    """A CT-like image and nnU-Net's own segmentation and probabilities of it (both folds, mirrored): one
    reference for every backend."""
    image, _ = ct_volume((10, 70, 90), seed=7)
    array = sitk.GetArrayFromImage(image)[None].astype(np.float32)
    reference = nnunet_predictor(plain_model, (0, 1))
    seg_ref, prob_ref = reference.predict_single_npy_array(
        array, {"spacing": list(image.GetSpacing())[::-1]}, None, None, True
    )
    return image, seg_ref, prob_ref


@pytest.mark.parametrize("backend", ["torch", "openvino", "onnxruntime"])
def test_segmentation_and_probabilities_match_nnunet(plain_model, nnunet_segmentation, backend):
    image, seg_ref, prob_ref = nnunet_segmentation
    options = PredictionOptions(device="cpu", save_probabilities=True, backend=backend, precision="float32")
    ours = Predictor(plain_model, options).predict(image)
    assert ours.result.provenance.device == f"cpu ({backend})"

    seg = sitk.GetArrayFromImage(ours.segmentation)
    assert seg.shape == seg_ref.shape
    assert len(np.unique(seg_ref)) == 3  # the random model predicts every label, so the check has teeth
    assert (seg == seg_ref).mean() >= 0.999
    # nnU-Net accumulates logits in float16; the engine in float32. The rare larger differences are
    # nnU-Net's rounding (see the float32 check below), so the 1e-3 bound is on 99.5% of voxels.
    difference = np.abs(sitk.GetArrayFromImage(ours.lesion_probability) - prob_ref[2])
    assert np.percentile(difference, 99.5) <= 1e-3
    assert difference.mean() <= 1e-4
    assert difference.max() <= 1e-2


@pytest.fixture(scope="module")
def tile_by_tile(plain_model):
    """Per image shape (computed once for every backend): nnU-Net's slicers, gaussian, padding and mirroring, a
    tile at a time in float32, on the image preprocessed as the engine's model plans it; (data, expected logits)."""
    from acvl_utils.cropping_and_padding.padding import pad_nd_image
    from nnunetv2.inference.sliding_window_prediction import compute_gaussian

    model = open_model_folder(plain_model)
    reference = nnunet_predictor(plain_model, (0,))
    cm = model.configuration_manager

    @functools.cache
    def compute(shape: tuple[int, int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        data = nnunet_preprocessed(model, ct_volume(shape, seed=3)[0])  # patch is 56x72
        data, revert = pad_nd_image(torch.from_numpy(data), cm.patch_size, "constant", {"value": 0}, True, None)
        gaussian = compute_gaussian(tuple(cm.patch_size), 1 / 8, 10, dtype=torch.float32, device=torch.device("cpu"))
        expected = torch.zeros((3, *data.shape[1:]))
        weight = torch.zeros(data.shape[1:])
        with torch.inference_mode():
            for s in reference._internal_get_sliding_window_slicers(data.shape[1:]):
                expected[s] += reference._internal_maybe_mirror_and_predict(data[s][None])[0] * gaussian
                weight[s[1:]] += gaussian
            expected = (expected / weight)[(slice(None), *revert[1:])]
        return data[(slice(None), *revert[1:])], expected

    return compute


@pytest.mark.parametrize("backend", ["torch", "openvino", "onnxruntime"])
@pytest.mark.parametrize("shape", [(5, 90, 120), (4, 40, 60)], ids=["several-tiles-per-slice", "padded"])
def test_batched_sliding_window_equals_nnunets_tile_by_tile_in_float32(plain_model, tile_by_tile, shape, backend):
    """The engine's batched window against nnU-Net's tile-by-tile reference (``tile_by_tile``)."""
    options = PredictionOptions(device="cpu", folds=("0",), batch_size=7, backend=backend, precision="float32")
    engine = Predictor(plain_model, options)
    data, expected = tile_by_tile(shape)
    ours = engine.sliding_window(data).logits  # the production window stage: one fold, so the fold mean is that fold
    assert ours.shape == expected.shape
    torch.testing.assert_close(ours, expected, atol=1e-4, rtol=1e-4)
