"""``pancreas-mt-train bf16-check``: the training package runs the bfloat16 check and records its verdict, which
``--precision auto`` then reads."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk
from model_factory import model_with_competence, validation_fold
from pancreas_mt_training import bf16_check
from pancreas_mt_training.cli import main as train_main
from pancreas_mt_training.metrics import segmentation_metrics
from PancreasMultiTaskLib.engine.competence import COMPETENCE_FILE, CompetenceRecord, read_record
from PancreasMultiTaskLib.engine.model_folder import open_model_folder
from PancreasMultiTaskLib.engine.precision import decide_precision
from PancreasMultiTaskLib.engine.predictor import PredictionOptions, Predictor

BF16_CPU = "flags\t: fpu sse2 avx512f avx512_bf16\n"


@pytest.fixture
def model(multitask_model, tmp_path):
    """The tiny multi-task model (folds 0 and 1) with a competence record and both folds' validation cases."""
    model, raw = model_with_competence(multitask_model, tmp_path)
    validation_fold(model, raw, 0, [("case00", 0), ("case01", 1)])
    validation_fold(model, raw, 1, [("case02", 2), ("case04", None)])
    return model, raw


def _check(model, raw, tmp_path, capsys, *extra):
    report = tmp_path / "bf16.json"
    argv = ["bf16-check", str(model), "--raw", str(raw), "--no-tta", "--threads", "1", "--report", str(report)]
    assert train_main([*argv, *extra]) == 0, capsys.readouterr().err
    return json.loads(report.read_text()), capsys.readouterr().out


def test_the_check_measures_both_precisions_and_the_engine_follows_its_record(model, tmp_path, capsys, monkeypatch):
    model, raw = model
    monkeypatch.setattr(bf16_check, "MAX_DICE_CHANGE", 1.0)  # a random network: judge the wiring, not its rounding
    result, out = _check(model, raw, tmp_path, capsys, "--cases-per-fold", "1")
    assert result["cases"] == 2  # the first case of each fold
    # Its float32 figures are the engine's own on those cases, fold by fold.
    for fold, case in (("0", "case00"), ("1", "case02")):
        folder = open_model_folder(model, folds=[fold])
        folder.competence = CompetenceRecord(source="test")
        options = PredictionOptions(device="cpu", backend="torch", use_mirroring=False, roi="full")
        image = sitk.ReadImage(str(raw / "imagesTr" / f"{case}_0000.nii.gz"))
        labels = sitk.GetArrayFromImage(Predictor(folder, options).predict(image).segmentation)
        truth = sitk.ReadImage(str(raw / "labelsTr" / f"{case}.nii.gz"))
        metrics = segmentation_metrics(labels, sitk.GetArrayFromImage(truth), truth.GetSpacing()[::-1])
        result.setdefault("expected", []).append(metrics["pancreas"]["dice"])
    assert result["dice"]["pancreas"]["float32"] == pytest.approx(np.mean(result["expected"]))
    assert 0 < result["label_agreement"] <= 1
    passed = not result["subtype_changes"]
    assert result["passed"] is passed and ("PASSED" if passed else "FAILED") in out
    record = read_record(model / COMPETENCE_FILE)
    assert record.bfloat16_check_passed is passed and record.synthetic  # the other fields kept
    expected = "bfloat16" if passed else "float32"
    assert decide_precision("auto", "cpu", "torch", open_model_folder(model), cpuinfo=BF16_CPU) == expected


def test_a_failed_check_keeps_auto_in_float32(model, tmp_path, capsys, monkeypatch):
    model, raw = model
    monkeypatch.setattr(bf16_check, "MAX_DICE_CHANGE", -1.0)  # no change can pass
    result, out = _check(model, raw, tmp_path, capsys)
    assert result["cases"] == 4 and not result["passed"] and "FAILED" in out
    assert not read_record(model / COMPETENCE_FILE).bfloat16_check_passed
    assert decide_precision("auto", "cpu", "torch", open_model_folder(model), cpuinfo=BF16_CPU) == "float32"


def test_a_model_without_competence_record_is_refused(tmp_path, capsys):
    assert train_main(["bf16-check", str(tmp_path)]) == 1
    assert "pancreas-mt-train competence" in capsys.readouterr().err


def test_zero_cases_per_fold_is_refused_in_one_line(model, capsys):
    model, raw = model
    assert train_main(["bf16-check", str(model), "--raw", str(raw), "--cases-per-fold", "0"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == "pancreas-mt-train bf16-check: error: cases per fold must be at least 1, got 0"
    assert not read_record(model / COMPETENCE_FILE).bfloat16_check_passed  # record untouched
