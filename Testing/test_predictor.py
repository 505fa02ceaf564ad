"""Predictor behaviour beyond geometry: region-based labels, pooling choice, cancel, progress, GPU fallback."""

from __future__ import annotations

import logging
import threading

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from model_factory import ct_volume, make_tiny_multitask_model
from PancreasMultiTaskLib.model_folder import open_model_folder
from PancreasMultiTaskLib.predictor import PredictionCancelled, PredictionOptions, Predictor


def test_region_based_model_as_in_the_paper(multitask_model, tmp_path):
    folder = make_tiny_multitask_model(tmp_path, dataset_id=902, folds=(0,), region_based=True)
    model = open_model_folder(folder)
    assert model.label_manager.has_regions and model.label_manager.num_segmentation_heads == 2
    image, _ = ct_volume(seed=4)
    prediction = Predictor(model, PredictionOptions(device="cpu", use_mirroring=False)).predict(image)
    seg = sitk.GetArrayFromImage(prediction.segmentation)
    assert set(np.unique(seg)) <= {0, 1, 2}
    assert prediction.result.labels == {"background": 0, "pancreas": 1, "lesion": 2}
    assert len(prediction.result.subtype.slices) == image.GetDepth()


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
    assert lesion_mass.sum() >= 1.0 and np.ptp(weights) > 0.01
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
