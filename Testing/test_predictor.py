"""Predictor behaviour beyond geometry: region-based labels, pooling choice, cancel, progress, GPU fallback."""

from __future__ import annotations

import logging
import shutil
import threading

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from model_factory import ct_volume, make_tiny_multitask_model
from PancreasMultiTaskLib.engine.model_folder import load_checkpoint, open_model_folder
from PancreasMultiTaskLib.engine.predictor import PredictionCancelled, PredictionOptions, Predictor


def _with_constant_outputs(folder, tmp_path, bias: tuple[float, float]):
    """A copy of a region-based model whose two outputs are constant logits (last layer: zero weights, a bias)."""
    copy = tmp_path / f"bias{bias[0]:+g}{bias[1]:+g}" / folder.name
    shutil.copytree(folder, copy)
    path = copy / "fold_0" / "checkpoint_final.pth"
    checkpoint = load_checkpoint(path)  # the engine's safe loader (nnU-Net checkpoints hold numpy scalars)
    weights = checkpoint["network_weights"]
    last = max((k for k in weights if k.startswith("decoder.seg_layers.")), key=lambda k: int(k.split(".")[2]))
    prefix = last.rsplit(".", 1)[0]
    weights[f"{prefix}.weight"].zero_()
    weights[f"{prefix}.bias"].copy_(torch.tensor(bias))
    torch.save(checkpoint, path)
    return copy


def test_region_based_model_as_in_the_paper(multitask_model, tmp_path):
    folder = make_tiny_multitask_model(tmp_path, dataset_id=902, folds=(0,), region_based=True)
    model = open_model_folder(folder)
    assert model.label_manager.has_regions and model.label_manager.num_segmentation_heads == 2
    image, _ = ct_volume(seed=4)
    options = PredictionOptions(device="cpu", use_mirroring=False, save_probabilities=True)
    prediction = Predictor(model, options).predict(image)
    seg = sitk.GetArrayFromImage(prediction.segmentation)
    assert prediction.result.labels == {"background": 0, "pancreas": 1, "lesion": 2}
    assert len(prediction.result.subtype.slices) == image.GetDepth()
    # nnU-Net's region decoding: lesion (label 2) exactly where the lesion region's sigmoid exceeds 0.5.
    lesion_probability = sitk.GetArrayFromImage(prediction.lesion_probability)
    assert 0 < (lesion_probability > 0.5).sum() < lesion_probability.size  # the random model has both
    np.testing.assert_array_equal(seg == 2, lesion_probability > 0.5)

    # Constant outputs (pancreas-or-lesion region, lesion region) give a known label everywhere.
    voxels_per_slice = image.GetWidth() * image.GetHeight()
    for bias, label, pooling in [
        ((20.0, -20.0), 1, "pancreas-weighted"),
        ((20.0, 20.0), 2, "lesion-weighted"),
        ((-20.0, 20.0), 2, "lesion-weighted"),
        ((-20.0, -20.0), 0, "uniform"),
    ]:
        constant = Predictor(_with_constant_outputs(folder, tmp_path, bias), options).predict(image)
        np.testing.assert_array_equal(sitk.GetArrayFromImage(constant.segmentation), label, err_msg=str(bias))
        subtype = constant.result.subtype
        assert subtype.pooling_used == pooling, bias
        # The probability mass of each slice comes from the right region's channel.
        expected_lesion = voxels_per_slice if bias[1] > 0 else 0.0
        expected_gland = voxels_per_slice if bias[0] > 0 else 0.0
        np.testing.assert_allclose([s.lesion_mass for s in subtype.slices], expected_lesion, atol=1e-3)
        np.testing.assert_allclose([s.pancreas_mass for s in subtype.slices], expected_gland, atol=1e-3)


def test_pooling_choice_and_per_slice_record(multitask_model):
    image, _ = ct_volume(seed=6)
    results = {
        method: Predictor(
            multitask_model, PredictionOptions(device="cpu", folds=("0", "1"), use_mirroring=False, pooling=method)
        )
        .predict(image)
        .result.subtype
        for method in ("uniform", "lesion-weighted")
    }
    uniform, weighted = results["uniform"], results["lesion-weighted"]
    assert uniform.pooling_used == "uniform"
    # The random model sees lesion in this case, so the lesion-weighted pooling is used, not a fallback.
    assert weighted.pooling_used == "lesion-weighted"
    probabilities = np.array([s.probabilities for s in uniform.slices])
    np.testing.assert_allclose(list(uniform.probabilities.values()), probabilities.mean(0), atol=1e-6)
    weights = np.array([s.weight for s in weighted.slices])
    lesion_mass = np.array([s.lesion_mass for s in weighted.slices])
    assert lesion_mass.sum() >= 1.0 and np.ptp(weights) > 1e-4  # not the uniform weights
    np.testing.assert_allclose(weights, lesion_mass / lesion_mass.sum(), atol=1e-6)
    np.testing.assert_allclose([s.weight for s in uniform.slices], 1 / len(uniform.slices), atol=1e-9)
    np.testing.assert_allclose(list(weighted.probabilities.values()), weights @ probabilities, atol=1e-6)
    folds = np.array([list(p.values()) for p in weighted.fold_probabilities.values()])
    assert folds.shape == (2, 3)
    assert weighted.uncertainty.fold_spread == pytest.approx(folds.std(0).max())


def test_cancel_stops_between_batches_and_progress_is_monotonic(multitask_model):
    image, _ = ct_volume((12, 56, 72), seed=8)
    cancel = threading.Event()
    seen: list[tuple[str, float]] = []

    def progress(stage: str, fraction: float) -> None:
        seen.append((stage, fraction))
        if stage == "predict" and fraction >= 0.5:
            cancel.set()

    predictor = Predictor(multitask_model, PredictionOptions(device="cpu", use_mirroring=False, batch_size=2))
    with pytest.raises(PredictionCancelled):
        predictor.predict(image, progress=progress, cancel=cancel)
    fractions = [f for stage, f in seen if stage == "predict"]
    assert fractions == sorted(fractions) and 0.5 <= fractions[-1] < 1.0


def test_cuda_out_of_memory_finishes_the_case_on_the_cpu(multitask_model, monkeypatch, caplog):
    """This machine has no GPU: the GPU pass is stood in for by one that raises CUDA's out-of-memory error."""
    image, _ = ct_volume((4, 40, 48), seed=5)
    predictor = Predictor(multitask_model, PredictionOptions(device="cpu", folds=("0",), backend="torch"))
    expected = sitk.GetArrayFromImage(predictor.predict(image).segmentation)
    predictor.device = torch.device("cuda")
    real_predict, devices = predictor._predict, []

    def out_of_memory_on_the_gpu(*args):
        devices.append(predictor.device.type)
        if predictor.device.type == "cuda":
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_predict(*args)

    monkeypatch.setattr(predictor, "_predict", out_of_memory_on_the_gpu)
    with caplog.at_level(logging.WARNING):
        prediction = predictor.predict(image)
    assert devices == ["cuda", "cpu"]
    assert "CUDA ran out of memory; continuing on the CPU" in caplog.text
    assert prediction.result.provenance.device == "cpu (torch)"
    np.testing.assert_array_equal(sitk.GetArrayFromImage(prediction.segmentation), expected)


def test_out_of_memory_on_the_cpu_is_not_retried(multitask_model, monkeypatch):
    predictor = Predictor(multitask_model, PredictionOptions(device="cpu", folds=("0",), backend="torch"))
    calls = []

    def out_of_memory(*args):
        calls.append(1)
        raise torch.OutOfMemoryError("out of memory")

    monkeypatch.setattr(predictor, "_predict", out_of_memory)
    with pytest.raises(torch.OutOfMemoryError):
        predictor.predict(ct_volume((4, 40, 48), seed=5)[0])
    assert calls == [1]
