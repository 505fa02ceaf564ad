"""The subtype path against a reference computed here, tile by tile, from the README's promises.

For each fold and each mirroring, the PyTorch network of the model folder runs on the tiles that
nnU-Net's preprocessing and sliding-window steps give. In this test: class logits are averaged over
the mirrorings, a tile's softmax is averaged over the tiles of its slice, the folds' slices are
averaged, each fold is pooled with weights proportional to the lesion probability mass of each
slice (from the fold-averaged, Gaussian-weighted segmentation logits), and the case probabilities
are the mean over folds. ``result.json`` of the real CLI must agree. The released code's ensemble
(the folds' tile class logits summed before the softmax, the mean over the slice's tiles) is computed
here from the same tile logits; the engine's ``tiles-logit-sum`` must agree.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from model_factory import ct_volume, nnunet_preprocessed
from PancreasMultiTaskLib.cli.main import main
from PancreasMultiTaskLib.engine.classify import TILES_LOGIT_SUM
from PancreasMultiTaskLib.engine.model_folder import open_model_folder
from PancreasMultiTaskLib.engine.options import PredictionOptions
from PancreasMultiTaskLib.engine.predictor import Predictor
from PancreasMultiTaskLib.engine.result import CaseResult


def _reference(model_path, image: sitk.Image) -> dict[str, np.ndarray]:
    """Per-fold per-slice probabilities and tile class logits, per-slice lesion and pancreas mass, from single
    tiles."""
    from acvl_utils.cropping_and_padding.padding import pad_nd_image
    from nnunetv2.inference.sliding_window_prediction import compute_gaussian, compute_steps_for_sliding_window

    model = open_model_folder(model_path)
    patch = tuple(model.configuration_manager.patch_size)
    data = nnunet_preprocessed(model, image)
    # No slice may be cropped away, so that the preprocessed slice z is the input's slice k = z.
    assert data.shape[1] == image.GetDepth()
    padded, revert = pad_nd_image(torch.from_numpy(data), patch, "constant", {"value": 0}, True, None)
    steps = compute_steps_for_sliding_window(tuple(padded.shape[2:]), patch, 0.5)
    origins = list(itertools.product(*steps))
    gaussian = compute_gaussian(patch, 1 / 8, 10, dtype=torch.float32, device=torch.device("cpu"))
    flips = [(), (2,), (3,), (2, 3)]  # mirror axes (0, 1) of a (batch, channel, y, x) tile
    assert model.mirror_axes == (0, 1)

    n_slices = padded.shape[1]
    fold_slices, fold_tile_logits = [], []
    seg_sum = torch.zeros((3, *padded.shape[1:]))
    with torch.inference_mode():
        for fold in model.folds:
            network = model.load_network(fold)
            seg_acc = torch.zeros((3, *padded.shape[1:]))
            coverage = torch.zeros(padded.shape[1:])
            slice_probs = np.zeros((n_slices, 3))
            tile_logits = np.zeros((n_slices, len(origins), 3))
            for z in range(n_slices):
                regions = [(slice(y, y + patch[0]), slice(x, x + patch[1])) for y, x in origins]
                tiles = torch.stack([padded[:, z][(slice(None), *region)] for region in regions])
                # Every mirrored copy of every tile of the slice in one batch (eval mode: samples are independent).
                seg, cls = network(torch.cat([torch.flip(tiles, axes) if axes else tiles for axes in flips]))
                seg = seg.unflatten(0, (len(flips), len(tiles)))
                seg = torch.stack([torch.flip(seg[i], axes) if axes else seg[i] for i, axes in enumerate(flips)])
                class_logits = cls.unflatten(0, (len(flips), len(tiles))).mean(0)  # mean over mirrorings
                for region, tile_seg in zip(regions, seg.mean(0), strict=True):
                    seg_acc[(slice(None), z, *region)] += tile_seg * gaussian
                    coverage[(z, *region)] += gaussian
                tile_logits[z] = class_logits.numpy()
                tile_probs = torch.softmax(class_logits, 1).numpy()  # one softmax per tile
                assert len(tile_probs) == len(origins)
                slice_probs[z] = tile_probs.mean(0)  # mean over the slice's tiles
            seg_sum += seg_acc / coverage
            fold_slices.append(slice_probs)
            fold_tile_logits.append(tile_logits)
    logits = (seg_sum / len(model.folds))[(slice(None), slice(None), *revert[-2:])]
    probabilities = torch.softmax(logits, 0).double()
    return {
        "fold_slices": np.stack(fold_slices),
        "fold_tile_logits": np.stack(fold_tile_logits),
        "lesion_mass": probabilities[2].sum((1, 2)).numpy(),
        "pancreas_mass": (1 - probabilities[0]).sum((1, 2)).numpy(),
        "tiles_per_slice": len(origins),
        "folds": model.folds,
    }


@pytest.fixture(scope="module")
def lps_case(tmp_path_factory) -> tuple[sitk.Image, object]:
    folder = tmp_path_factory.mktemp("subtype-reference")
    image, _ = ct_volume((4, 100, 130), seed=41)  # identity direction: stored as LPS, as the model
    path = folder / "case_0000.nii.gz"
    sitk.WriteImage(image, str(path))
    return image, path


@pytest.fixture(scope="module")
def reference(multitask_model, lps_case) -> dict[str, np.ndarray]:
    return _reference(multitask_model, lps_case[0])


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_subtype_path_matches_a_tile_by_tile_reference(multitask_model, lps_case, reference, tmp_path, capsys):
    image, path = lps_case
    out = tmp_path / "out"
    argv = ["predict", "-i", str(path), "-o", str(out), "-m", str(multitask_model)]
    # the reference is the sliding window's tile mean: the ``tiles`` classification (the default is ``guided``)
    argv += ["--device", "cpu", "--backend", "torch", "--precision", "float32", "--progress", "none"]
    argv += ["--classification", "tiles"]
    assert main(argv) == 0, capsys.readouterr().err
    result = CaseResult.read_json(out / "case" / "result.json").subtype
    ref = reference
    assert ref["tiles_per_slice"] > 1 and len(ref["folds"]) == 2  # so the means have something to average

    # Per slice, indexed by the input's own slice index k (LPS input, LPS model, no ROI: k = z).
    assert [s.index for s in result.slices] == list(range(image.GetDepth()))
    slices = np.array([s.probabilities for s in result.slices])
    expected_slices = ref["fold_slices"].mean(0)
    np.testing.assert_allclose(slices, expected_slices, atol=2e-5)
    # The folds must differ here, or the fold mean would pass with any single fold.
    assert np.abs(ref["fold_slices"][0] - ref["fold_slices"][1]).max() > 1e-3

    # Weights: proportional to the lesion probability mass the segmentation sees in each slice.
    assert result.pooling_used == "lesion-weighted"
    lesion_mass = np.array([s.lesion_mass for s in result.slices])
    np.testing.assert_allclose(lesion_mass, ref["lesion_mass"], rtol=1e-3, atol=1e-2)
    np.testing.assert_allclose([s.pancreas_mass for s in result.slices], ref["pancreas_mass"], rtol=1e-3, atol=1e-2)
    weights = ref["lesion_mass"] / ref["lesion_mass"].sum()
    np.testing.assert_allclose([s.weight for s in result.slices], weights, atol=1e-5)
    assert np.ptp(weights) > 0.01  # not uniform, so the weighting is tested

    # Pooled per fold, then the mean over folds.
    per_fold = np.array([weights @ p for p in ref["fold_slices"]])
    names = result.names
    assert list(result.fold_probabilities) == list(ref["folds"])
    got_folds = np.array([[result.fold_probabilities[f][n] for n in names] for f in ref["folds"]])
    np.testing.assert_allclose(got_folds, per_fold, atol=2e-5)
    case = per_fold.mean(0)
    np.testing.assert_allclose([result.probabilities[n] for n in names], case, atol=2e-5)
    assert result.predicted == names[int(np.argmax(case))]
    assert result.probability == pytest.approx(case.max(), abs=2e-5)
    assert result.uncertainty.fold_spread == pytest.approx(per_fold.std(0).max(), abs=2e-5)
    entropy = -(case * np.log(case)).sum() / np.log(len(case))
    assert result.uncertainty.normalized_entropy == pytest.approx(entropy, abs=2e-5)


def test_fold_logit_sum_matches_the_released_codes_ensemble_of_the_reference_tiles(
    multitask_model, lps_case, reference
):
    """Two folds: per slice, the mean over its tiles of softmax(fold 0's tile logits + fold 1's), as the released
    code; not the folds' probability mean, which the engine's ``tiles`` keeps."""
    options = PredictionOptions(device="cpu", backend="torch", precision="float32", classification="tiles", roi="full")
    prediction = Predictor(multitask_model, options).predict(lps_case[0])
    logits = reference["fold_tile_logits"]  # folds x slices x tiles x subtypes
    assert logits.shape[0] == 2 and logits.shape[2] > 1 and np.abs(logits[0] - logits[1]).max() > 1e-2
    expected = _softmax(logits.sum(0)).mean(1)
    got = prediction.slice_probabilities[TILES_LOGIT_SUM]
    assert got.shape == (1, *expected.shape)
    np.testing.assert_allclose(got[0], expected, atol=2e-5)
    np.testing.assert_allclose(prediction.slice_probabilities["tiles"], reference["fold_slices"], atol=2e-5)
    assert np.abs(expected - reference["fold_slices"].mean(0)).max() > 1e-3  # a different ensemble, measurably


def test_with_one_fold_the_logit_sum_is_the_tile_mean(multitask_model, lps_case):
    options = PredictionOptions(device="cpu", backend="torch", precision="float32", folds=("0",), roi="full")
    probabilities = Predictor(multitask_model, options).predict(lps_case[0]).slice_probabilities
    assert probabilities["tiles"].shape == probabilities[TILES_LOGIT_SUM].shape == (1, 4, 3)
    np.testing.assert_allclose(probabilities[TILES_LOGIT_SUM], probabilities["tiles"], atol=1e-6)
