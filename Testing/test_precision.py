"""The precision rule, decided once: float32 as nnU-Net unless the model's own record shows a passed bfloat16 check.

The CPU's bfloat16 units are stood in (``precision.CPUINFO`` points at a written flags line), so no test
here depends on the machine having or lacking them; CUDA is stood in where only its device type matters.
"""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from model_factory import ct_volume
from PancreasMultiTaskLib.engine import precision as precision_module
from PancreasMultiTaskLib.engine.classify import TileClassifier
from PancreasMultiTaskLib.engine.competence import COMPETENCE_FILE
from PancreasMultiTaskLib.engine.competence import MAX_BYTES as MAX_COMPETENCE_BYTES
from PancreasMultiTaskLib.engine.io import InputError
from PancreasMultiTaskLib.engine.model_folder import ModelFolderError, open_model_folder
from PancreasMultiTaskLib.engine.precision import autocast_dtype, cpu_bf16_units, decide_precision, resolve_precision
from PancreasMultiTaskLib.engine.predictor import PredictionOptions, Predictor

BF16_CPU = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16\n"
PLAIN_CPU = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_vnni\n"


def with_record(model_path, tmp_path, record) -> object:
    """A copy of a model folder with ``record`` as its competence.json (``None``: no record)."""
    copy = tmp_path / "models" / model_path.name
    shutil.copytree(model_path, copy)
    if record is not None:
        (copy / COMPETENCE_FILE).write_text(json.dumps(record), encoding="utf-8")
    return copy


@pytest.fixture
def bf16_cpu(tmp_path, monkeypatch):
    """Stand in a CPU with bfloat16 units (``False``: without) for everything that reads the CPU's flags."""

    def stand_in(units: bool = True) -> None:
        path = tmp_path / "cpuinfo"
        path.write_text(BF16_CPU if units else PLAIN_CPU)
        monkeypatch.setattr(precision_module, "CPUINFO", path)

    stand_in()
    return stand_in


def test_the_rule_is_a_pure_function_of_request_device_backend_units_and_record():
    assert resolve_precision("auto", "cuda", "torch", bf16_units=False, bf16_check_passed=False) == "float16"
    assert resolve_precision("auto", "cpu", "torch", bf16_units=True, bf16_check_passed=True) == "bfloat16"
    assert resolve_precision("auto", "cpu", "openvino", bf16_units=True, bf16_check_passed=True) == "bfloat16"
    assert resolve_precision("auto", "cpu", "onnxruntime", bf16_units=True, bf16_check_passed=True) == "float32"
    assert resolve_precision("auto", "cpu", "torch", bf16_units=True, bf16_check_passed=False) == "float32"
    assert resolve_precision("auto", "cpu", "torch", bf16_units=False, bf16_check_passed=True) == "float32"
    assert resolve_precision("auto", "mps", "torch", bf16_units=True, bf16_check_passed=True) == "float32"
    assert resolve_precision("bfloat16", "cpu", "torch", bf16_units=False, bf16_check_passed=False) == "bfloat16"
    assert resolve_precision("float32", "cuda", "torch", bf16_units=True, bf16_check_passed=True) == "float32"
    with pytest.raises(InputError, match="float32 only"):
        resolve_precision("bfloat16", "cpu", "onnxruntime", bf16_units=True, bf16_check_passed=True)
    assert autocast_dtype("float32") is None
    assert autocast_dtype("float16") is torch.float16
    assert autocast_dtype("bfloat16") is torch.bfloat16
    with pytest.raises(ValueError, match="precision"):  # the one check of the option's value
        PredictionOptions(precision="fp8")


def test_bf16_units_are_read_from_the_cpu_flags(bf16_cpu):
    assert cpu_bf16_units("processor\t: 0\nflags\t\t: fpu sse2 avx512f amx_bf16 amx_tile\n")
    assert cpu_bf16_units(BF16_CPU)
    assert not cpu_bf16_units(PLAIN_CPU)
    assert not cpu_bf16_units("")
    assert cpu_bf16_units()  # the stood-in /proc/cpuinfo
    bf16_cpu(units=False)
    assert not cpu_bf16_units()


@pytest.mark.parametrize(
    ("record", "requested", "device", "cpuinfo", "expected"),
    [
        ({"bfloat16_check": {"passed": True}}, "auto", "cpu", BF16_CPU, "bfloat16"),
        ({"bfloat16_check": {"passed": True}}, "auto", "cpu", PLAIN_CPU, "float32"),
        (None, "auto", "cpu", BF16_CPU, "float32"),
        ({"bfloat16_check": {"passed": False}}, "auto", "cpu", BF16_CPU, "float32"),
        ({"validation": {"dice": 0.8}}, "auto", "cpu", BF16_CPU, "float32"),  # a record without the check
        ({"bfloat16_check": {"passed": True}}, "float32", "cpu", BF16_CPU, "float32"),
        (None, "bfloat16", "cpu", PLAIN_CPU, "bfloat16"),
        (None, "auto", "cuda", PLAIN_CPU, "float16"),
        ({"bfloat16_check": {"passed": True}}, "auto", "cuda", BF16_CPU, "float16"),
    ],
    ids=[
        "passed-record-bf16-cpu",
        "passed-record-no-units",
        "no-record",
        "failed-check",
        "record-without-check",
        "explicit-float32",
        "explicit-bfloat16",
        "cuda-auto",
        "cuda-auto-passed-record",
    ],
)
def test_precision_choice_from_the_models_record_and_the_cpus_units(
    multitask_model, tmp_path, record, requested, device, cpuinfo, expected
):
    model = open_model_folder(with_record(multitask_model, tmp_path, record), folds=("0",))
    assert decide_precision(requested, device, "torch", model, cpuinfo) == expected


def test_the_predictor_takes_bfloat16_only_for_a_model_with_a_passed_check(multitask_model, tmp_path, bf16_cpu):
    passed = with_record(multitask_model, tmp_path / "passed", {"bfloat16_check": {"passed": True, "dice_change": 0}})
    plain = with_record(multitask_model, tmp_path / "plain", None)
    options = PredictionOptions(device="cpu", backend="torch", folds=("0",))
    assert Predictor(passed, options).precision == "bfloat16"
    assert Predictor(plain, options).precision == "float32"
    assert Predictor(passed, dataclasses.replace(options, precision="float32")).precision == "float32"
    bf16_cpu(units=False)
    assert Predictor(passed, options).precision == "float32"


def test_bfloat16_with_a_float32_only_backend(multitask_model, tmp_path, bf16_cpu):
    pytest.importorskip("onnxruntime")
    passed = with_record(multitask_model, tmp_path, {"bfloat16_check": {"passed": True}})
    with pytest.raises(InputError, match="float32 only"):
        Predictor(passed, PredictionOptions(device="cpu", backend="onnxruntime", precision="bfloat16"))
    # auto, a passed check, bfloat16 units: a float32-only runtime quietly runs float32.
    assert Predictor(passed, PredictionOptions(device="cpu", backend="onnxruntime", folds=("0",))).precision == (
        "float32"
    )


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("{not json", "not valid JSON"),
        ('{"bfloat16_check": {"passed": NaN}}', "not valid JSON"),
        ('{"bfloat16_check": {"passed": true}, "bfloat16_check": {"passed": false}}', "appears twice"),
        ("[1, 2]", "expected a JSON object"),
        ('{"bfloat16_check": true}', "'bfloat16_check' must be an object"),
        ('{"bfloat16_check": {"passed": 1}}', "'bfloat16_check.passed' must be true or false"),
        ('{"bfloat16_check": {"passed": "true"}}', "'bfloat16_check.passed' must be true or false"),
        ('{"bfloat16_check": {}}', "'bfloat16_check.passed' must be true or false"),
        ("[" * 100_000 + "]" * 100_000, "not valid JSON"),
        (" " * MAX_COMPETENCE_BYTES + "{}", "larger than"),
        ("\udcff", "not valid JSON"),
    ],
    ids=[
        "not-json",
        "nan",
        "duplicate-key",
        "not-object",
        "check-not-object",
        "passed-int",
        "passed-str",
        "passed-missing",
        "deep",
        "too-large",
        "not-utf8",
    ],
)
def test_an_untrusted_competence_record_is_refused_with_the_files_name(multitask_model, tmp_path, text, match):
    folder = with_record(multitask_model, tmp_path, None)
    (folder / COMPETENCE_FILE).write_bytes(text.encode("utf-8", "surrogateescape"))
    with pytest.raises(ModelFolderError, match=f"{COMPETENCE_FILE}: .*{match}"):
        open_model_folder(folder, folds=("0",))


def test_a_competence_record_must_be_a_file_inside_the_folder(multitask_model, tmp_path):
    folder = with_record(multitask_model, tmp_path, None)
    (folder / COMPETENCE_FILE).mkdir()
    with pytest.raises(ModelFolderError, match=f"{COMPETENCE_FILE}: not a regular file"):
        open_model_folder(folder, folds=("0",))
    (folder / COMPETENCE_FILE).rmdir()
    outside = tmp_path / "elsewhere.json"
    outside.write_text('{"bfloat16_check": {"passed": true}}')
    (folder / COMPETENCE_FILE).symlink_to(outside)
    with pytest.raises(ModelFolderError, match="outside the model folder"):
        open_model_folder(folder, folds=("0",))


def test_guided_tiles_run_in_the_precision_of_the_sliding_window(multitask_model, monkeypatch):
    """Every network batch, guided tiles included, runs under the autocast of the run's precision, and only it.

    CUDA is stood in where the precision path reads it (the network's device type); ``torch.autocast``
    is spied on (the spy records, the arithmetic stays float32 on this CPU).
    """
    active: list[tuple[str, torch.dtype | None]] = []
    seen: list[tuple[bool, tuple | None]] = []  # per network batch: from the guided tiles?, autocast in force
    guided = [False]

    class SpyAutocast:
        def __init__(self, device_type: str, dtype: torch.dtype | None = None, **kwargs) -> None:
            self.key = (device_type, dtype)

        def __enter__(self) -> None:
            active.append(self.key)

        def __exit__(self, *exc) -> None:
            active.pop()

    classify_tiles = TileClassifier.__call__

    def spied_classifier(self, tiles):
        guided[0] = True
        try:
            return classify_tiles(self, tiles)
        finally:
            guided[0] = False

    monkeypatch.setattr(torch, "autocast", SpyAutocast)
    monkeypatch.setattr(TileClassifier, "__call__", spied_classifier)
    image, _ = ct_volume((4, 60, 80), seed=6)
    options = PredictionOptions(device="cpu", backend="torch", precision="float32", use_mirroring=False)
    for precision, expected in (("float32", None), ("float16", ("cuda", torch.float16))):
        predictor = Predictor(multitask_model, options)
        # What a CUDA run hands the precision path: its device type, and the precision decided for it.
        predictor.network = dataclasses.replace(predictor.network, device_type="cuda", precision=precision)
        predictor.backend.network.register_forward_pre_hook(
            lambda module, args: seen.append((guided[0], active[-1] if active else None))
        )
        seen.clear()
        prediction = predictor.predict(image)
        assert prediction.result.subtype.classification == "guided"
        assert {from_guided for from_guided, _ in seen} == {False, True}  # window and guided batches both ran
        assert {autocast for _, autocast in seen} == {expected}, precision


def test_precision_is_recorded_in_the_result(multitask_model, tmp_path, bf16_cpu):
    image, _ = ct_volume((4, 60, 80), seed=3)
    passed = with_record(multitask_model, tmp_path, {"bfloat16_check": {"passed": True}})
    options = PredictionOptions(device="cpu", backend="torch", folds=("0",), use_mirroring=False)
    assert Predictor(passed, options).predict(image).result.provenance.precision == "bfloat16"
    bf16_cpu(units=False)
    assert Predictor(passed, options).predict(image).result.provenance.precision == "float32"


def test_a_plain_nnunet_model_under_default_options_agrees_with_nnunet_on_a_bf16_cpu(plain_model, bf16_cpu):
    """The default (``auto``) on a CPU with bfloat16 units: a model without a passed check runs float32, as nnU-Net."""
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

    image, _ = ct_volume((6, 70, 90), seed=14)
    prediction = Predictor(plain_model, PredictionOptions(device="cpu")).predict(image)
    assert prediction.result.provenance.precision == "float32"
    reference = nnUNetPredictor(device=torch.device("cpu"), use_mirroring=True, allow_tqdm=False)
    reference.initialize_from_trained_model_folder(str(plain_model), (0, 1))
    array = sitk.GetArrayFromImage(image)[None].astype(np.float32)
    expected = reference.predict_single_npy_array(array, {"spacing": list(image.GetSpacing())[::-1]}, None, None, False)
    assert len(np.unique(expected)) == 3  # the random model predicts every label, so the check has teeth
    assert (sitk.GetArrayFromImage(prediction.segmentation) == expected).mean() >= 0.999
