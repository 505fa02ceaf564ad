"""``result.json`` provenance: the backend, the precision and the runtimes' versions in their own fields."""

from __future__ import annotations

import json
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
import torch
from PancreasMultiTaskLib.engine.demo import demo_model_folder, sample_case
from PancreasMultiTaskLib.engine.io import read_image
from PancreasMultiTaskLib.engine.precision import cpu_bf16_units
from PancreasMultiTaskLib.engine.predictor import PredictionOptions, Predictor
from PancreasMultiTaskLib.engine.result import CaseResult


def installed(distribution: str) -> str | None:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


def test_provenance_names_backend_and_runtime_versions(tmp_path: Path) -> None:
    model = demo_model_folder(tmp_path / "models")
    options = PredictionOptions(device="cpu", folds=("0",), use_mirroring=False, backend="torch")
    predictor = Predictor(model, options)
    result = predictor.predict(read_image(sample_case()), case_id="sample").result
    p = result.provenance
    assert p.backend == "torch" and p.device == "cpu (torch)"
    assert p.torch_version == torch.__version__ and p.nnunetv2_version == version("nnunetv2")
    assert p.openvino_version == installed("openvino") and p.onnxruntime_version == installed("onnxruntime")
    assert set(result.timings_s) >= {"preprocess", "predict", "export", "window", "classify", "measure"}
    # auto: bfloat16 where the CPU has the units and the model's record shows a passed bfloat16 check (the bundled
    # record's failed: float32 on every CPU; test_competence pins the record to its report's check).
    expected = "bfloat16" if cpu_bf16_units() and predictor.model.bfloat16_check_passed else "float32"
    assert p.precision == expected

    path = result.write_json(tmp_path / "result.json")
    data = json.loads(path.read_text())
    assert data["provenance"]["backend"] == "torch" and data["provenance"]["torch_version"] == torch.__version__
    assert data["provenance"]["precision"] == expected and data["schema_version"] == "1.6"
    assert CaseResult.read_json(path).provenance == p
    del data["provenance"]["precision"]  # a result.json of schema 1.1 still reads
    data["schema_version"] = "1.1"
    assert CaseResult.from_dict(data).provenance.precision is None
    for key in ("backend", "torch_version", "nnunetv2_version", "openvino_version", "onnxruntime_version"):
        del data["provenance"][key]  # a result.json written before these fields still reads
    assert CaseResult.from_dict(data).provenance.backend is None


@pytest.mark.skipif(installed("openvino") is None, reason="OpenVINO is not installed")
def test_provenance_of_the_openvino_backend(tmp_path: Path) -> None:
    model = demo_model_folder(tmp_path / "models")
    options = PredictionOptions(device="cpu", folds=("0",), use_mirroring=False, backend="openvino")
    p = Predictor(model, options).predict(read_image(sample_case()), case_id="sample").result.provenance
    assert p.backend == "openvino" and p.openvino_version == installed("openvino")
