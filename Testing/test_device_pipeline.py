"""The device-resident prediction path (tiling, mirroring, accumulation, export) and the stages' timings.

The path is written in torch ops that run on any device, so these tests run it on the CPU; the test
marked for CUDA compares a GPU run against the CPU where a GPU is present.
"""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from model_factory import ct_volume
from PancreasMultiTaskLib.engine.predictor import STAGES, PredictionOptions, Predictor
from PancreasMultiTaskLib.engine.stages import export_labels
from PancreasMultiTaskLib.engine.window import StageClock


def _fold_logits(model_path, batch_size, shape, seed):
    """One fold's logits and per-slice class probabilities through the production window stage at a batch size."""
    options = PredictionOptions(device="cpu", folds=("0",), batch_size=batch_size, backend="torch")
    predictor = Predictor(model_path, options)
    image, _ = ct_volume(shape, seed=seed)
    cm = predictor.model.configuration_manager
    data, _, _ = cm.preprocessor_class(verbose=False).run_case_npy(
        sitk.GetArrayFromImage(image)[None].astype(np.float32),
        None,
        {"spacing": list(image.GetSpacing())[::-1]},
        predictor.model.plans_manager,
        cm,
        predictor.model.dataset_json,
    )
    fractions = []
    window = predictor.sliding_window(torch.from_numpy(data), fractions.append)
    assert fractions[-1] == 1.0 and fractions == sorted(fractions)
    assert window.slice_probabilities.shape == (1, data.shape[1], len(predictor.model.subtypes))
    return window.logits, window.slice_probabilities[0]


@pytest.mark.parametrize("batch_size", [12, 40, 4000], ids=["3-tiles", "10-tiles-across-slices", "all-in-one"])
def test_large_batches_across_origins_and_slices_equal_one_tile_at_a_time(multitask_model, batch_size):
    """Grouping tiles by origin over slice runs, in any batch size, adds the same logits and class softmaxes."""
    shape = (6, 90, 120)  # several tile origins per slice (patch is smaller than the slice)
    one, class_one = _fold_logits(multitask_model, 4, shape, seed=5)
    many, class_many = _fold_logits(multitask_model, batch_size, shape, seed=5)
    assert one.abs().max() > 0.1  # real logits, not an empty accumulator
    torch.testing.assert_close(many, one, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(class_many, class_one, atol=1e-6)
    np.testing.assert_allclose(class_one.sum(1), 1.0, atol=1e-5)


def test_export_on_the_device_equals_nnunets_export(plain_model):
    """No resampling needed: nnU-Net's argmax on the device, uncropped and transposed as nnU-Net does."""
    from nnunetv2.inference.export_prediction import convert_predicted_logits_to_segmentation_with_correct_shape

    predictor = Predictor(plain_model, PredictionOptions(device="cpu", folds=("0",), backend="torch"))
    model, cm = predictor.model, predictor.model.configuration_manager
    image, _ = ct_volume((5, 60, 80), spacing_xyz=(*map(float, cm.spacing[::-1]), 2.0), seed=2)
    array = sitk.GetArrayFromImage(image)[None].astype(np.float32)
    array[:, :, :3] = 0  # a zero border: nnU-Net crops it off, and the export must put it back
    data, _, properties = cm.preprocessor_class(verbose=False).run_case_npy(
        array, None, {"spacing": list(image.GetSpacing())[::-1]}, model.plans_manager, cm, model.dataset_json
    )
    assert tuple(properties["shape_after_cropping_and_before_resampling"]) == data.shape[1:]  # the device branch
    assert properties["bbox_used_for_cropping"][1][0] == 3  # a crop to undo
    logits = torch.randn((3, *data.shape[1:]), generator=torch.Generator().manual_seed(0))
    ours, probabilities = export_labels(logits, properties, model, save_probabilities=False, slab_slices=16)
    expected = convert_predicted_logits_to_segmentation_with_correct_shape(
        logits.clone(), model.plans_manager, cm, model.label_manager, properties
    )
    assert probabilities is None
    assert ours.dtype == np.uint8 and ours.shape == array.shape[1:]
    np.testing.assert_array_equal(ours, expected)


@pytest.mark.parametrize(
    ("slice_mm", "in_plane", "save_probabilities"),
    [(2.0, 0.6, False), (2.0, 0.6, True), (0.7, 0.6, False), (0.7, 0.6, True), (2.0, None, True)],
    ids=["per-slice-resampling", "per-slice-with-probabilities", "3d-spline", "3d-spline-with-probabilities", "none"],
)
def test_export_in_slabs_equals_nnunets_export_of_the_whole_volume(plain_model, slice_mm, in_plane, save_probabilities):
    """Slabs of 3 slices give the whole volume's export bit for bit, and nnU-Net's own export: its labels, its lesion
    probability to float32 rounding (its softmax of the whole volume rounds a vector run's tail differently)."""
    from nnunetv2.inference.export_prediction import convert_predicted_logits_to_segmentation_with_correct_shape

    model = Predictor(plain_model, PredictionOptions(device="cpu", folds=("0",), backend="torch")).model
    cm = model.configuration_manager
    spacing = (in_plane or float(cm.spacing[1]), in_plane or float(cm.spacing[0]), slice_mm)
    image, _ = ct_volume((75, 22, 26), spacing_xyz=spacing, seed=3)
    array = sitk.GetArrayFromImage(image)[None].astype(np.float32)
    array[:, :, :2] = 0  # a crop for the export to undo
    data, _, properties = cm.preprocessor_class(verbose=False).run_case_npy(
        array, None, {"spacing": list(image.GetSpacing())[::-1]}, model.plans_manager, cm, model.dataset_json
    )
    resampled = tuple(properties["shape_after_cropping_and_before_resampling"]) != data.shape[1:]
    assert resampled == (in_plane is not None)
    logits = torch.randn((3, *data.shape[1:]), generator=torch.Generator().manual_seed(1)) * 4
    labels, lesion = export_labels(logits, properties, model, save_probabilities, slab_slices=3)
    whole_labels, whole_lesion = export_labels(logits, properties, model, save_probabilities, slab_slices=1000)
    np.testing.assert_array_equal(labels, whole_labels)
    expected = convert_predicted_logits_to_segmentation_with_correct_shape(
        logits.clone(), model.plans_manager, cm, model.label_manager, properties, save_probabilities
    )
    if save_probabilities:
        np.testing.assert_array_equal(lesion, whole_lesion)
        expected, probabilities = expected
        np.testing.assert_allclose(lesion, probabilities[2], rtol=1e-6, atol=1e-7)
    assert labels.shape == array.shape[1:] and len(np.unique(labels)) == 3
    np.testing.assert_array_equal(labels, expected)


def test_stage_times_are_reported_and_only_labels_come_back(multitask_model):
    image, _ = ct_volume((6, 70, 90), seed=4)
    prediction = Predictor(multitask_model, PredictionOptions(device="cpu", backend="torch")).predict(image)
    timings = prediction.timings
    for stage in (*STAGES, "upload", "tiles", "network", "accumulate", "preprocess", "predict", "export"):
        assert timings[stage] >= 0.0, stage
    assert timings["network"] <= timings["predict"] == timings["window"]
    assert timings["classify"] > 0.0  # a multi-task model: the guided tiles ran
    # The phases kept from schema 1.1 sum the stages they cover.
    assert timings["preprocess"] == pytest.approx(
        timings["check"] + timings["roi"] + timings["orient"] + timings["nnunet_preprocess"]
    )
    assert timings["export"] == pytest.approx(
        timings["classify"]
        + timings["familiarity"]
        + timings["segmentation"]
        + timings["postprocess"]
        + timings["measure"]
        + timings["assess"]
        + timings["result"]
    )
    assert timings["familiarity"] > 0.0  # a multi-task model: its guided tiles' features were taken
    assert set(prediction.result.timings_s) == {*STAGES, "preprocess", "predict", "export"}
    assert prediction.segmentation.GetPixelID() == sitk.sitkUInt8


def test_stage_clock_adds_up_repeated_stages():
    clock = StageClock(torch.device("cpu"))
    for _ in range(3):
        with clock("network"):
            torch.ones(10).sum()
    with clock("export"):
        pass
    totals = clock.totals()
    assert set(totals) == {"network", "export"} and all(v >= 0 for v in totals.values())


def test_fold_weights_stay_on_the_device(multitask_model):
    predictor = Predictor(multitask_model, PredictionOptions(device="cpu", backend="torch"))
    assert set(predictor.backend.weights) == set(predictor.model.folds)
    devices = {t.device for w in predictor.backend.weights.values() for t in w.values()}
    assert devices == {predictor.device}


def test_bfloat16_runs_the_network_in_bfloat16_on_the_cpu(multitask_model):
    """``--precision bfloat16`` through torch: the convolutions compute in bfloat16 (emulated where no units)."""
    image, _ = ct_volume((4, 60, 80), seed=6)
    results = {}
    for precision in ("float32", "bfloat16"):
        predictor = Predictor(multitask_model, PredictionOptions(device="cpu", backend="torch", precision=precision))
        assert predictor.precision == precision
        seen = set()
        conv = next(m for m in predictor.backend.network.modules() if isinstance(m, torch.nn.Conv2d))
        conv.register_forward_hook(lambda module, inputs, output, seen=seen: seen.add(output.dtype))
        results[precision] = predictor.predict(image)
        assert seen == {torch.float32 if precision == "float32" else torch.bfloat16}
    labels = {k: sitk.GetArrayFromImage(v.segmentation) for k, v in results.items()}
    assert (labels["float32"] == labels["bfloat16"]).mean() > 0.9  # the same case, rounded differently
    assert results["bfloat16"].result.subtype is not None


def test_openvino_gets_the_bfloat16_hint(multitask_model):
    pytest.importorskip("openvino")
    predictor = Predictor(multitask_model, PredictionOptions(device="cpu", backend="openvino", precision="bfloat16"))
    assert predictor.backend.precision_hint == "bf16"
    predictor = Predictor(multitask_model, PredictionOptions(device="cpu", backend="openvino", precision="float32"))
    assert predictor.backend.precision_hint == "f32"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (runs on GPU machines)")
def test_cuda_pipeline_matches_the_cpu(multitask_model):
    """The same code on CUDA (float16 autocast, channels-last) against the CPU in float32."""
    image, _ = ct_volume((6, 90, 120), seed=8)
    float32 = PredictionOptions(device="cpu", backend="torch", precision="float32")
    cpu = Predictor(multitask_model, float32).predict(image)
    gpu_predictor = Predictor(multitask_model, PredictionOptions(device="cuda"))
    assert gpu_predictor.precision == "float16" and torch.backends.cudnn.benchmark
    gpu = gpu_predictor.predict(image)
    same = sitk.GetArrayFromImage(cpu.segmentation) == sitk.GetArrayFromImage(gpu.segmentation)
    assert same.mean() >= 0.999
    assert cpu.result.subtype.predicted == gpu.result.subtype.predicted
