"""``pancreas-mt-train calibrate``: temperature, uncertainty threshold and the no-lesion rule from validation cases."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from model_factory import model_with_competence, validation_fold
from pancreas_mt_training import calibration, familiarity
from pancreas_mt_training.bf16_check import record_bfloat16_check
from pancreas_mt_training.calibration import (
    CalibrationError,
    ValidationCase,
    diameter_mm,
    expected_calibration_error,
    fit,
    fit_temperature,
    lesion_rule,
    min_lesion_threshold,
    operating_points,
    uncertainty_threshold,
)
from pancreas_mt_training.calibration_report import markdown, no_lesion_lines
from pancreas_mt_training.cli import main as train_main
from PancreasMultiTaskLib.engine import precision as precision_module
from PancreasMultiTaskLib.engine.competence import COMPETENCE_FILE, CompetenceRecord, read_record
from PancreasMultiTaskLib.engine.subtype import calibrate


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def _synthetic(temperature: float, n: int = 3000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities of a model ``temperature`` times over-confident (< 1: under-confident), and true labels
    drawn from the well-calibrated probabilities."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1.5, (n, 3))
    truth = np.array([rng.choice(3, p=p) for p in _softmax(logits)])
    return _softmax(logits * temperature), truth


@pytest.mark.parametrize("temperature", [2.5, 0.5])
def test_the_fitted_temperature_recovers_the_known_one(temperature):
    probabilities, truth = _synthetic(temperature)
    assert fit_temperature(probabilities, truth) == pytest.approx(temperature, rel=0.12)


def test_all_right_drives_the_temperature_to_its_bound_and_says_so():
    rng = np.random.default_rng(3)
    probabilities = _softmax(rng.normal(0, 1, (20, 3)))
    fitted = fit([_case(int(p.argmax()), 1.0, 1.0, p) for p in probabilities], 0.05)
    assert fitted["temperature_at_bound"] and fitted["uncertain_below"] == 0.0
    fitted.update({"classification": "guided", "pooling": "lesion-weighted", "folds": ["0"]})
    text = markdown(fitted, "x.png")
    assert "lower search bound" in text and "AUROC n/a: all answers right" in text


def test_a_chance_level_classifier_drives_the_temperature_to_the_upper_bound_and_says_so():
    rng = np.random.default_rng(4)
    probabilities = _softmax(rng.normal(0, 2, (60, 3)))  # confident, and right one time in three
    fitted = fit([_case(int(rng.integers(3)), 1.0, 1.0, p) for p in probabilities], 0.05)
    assert fitted["temperature"] == pytest.approx(calibration.TEMPERATURE_BOUNDS[1], rel=1e-3)
    fitted.update({"classification": "guided", "pooling": "lesion-weighted", "folds": ["0"]})
    text = markdown(fitted, "x.png")
    assert "upper search bound" in text and "near chance" in text
    assert "AUROC n/a" not in text  # right and wrong answers both occur


def test_calibration_lowers_the_ece_of_an_overconfident_model():
    probabilities, truth = _synthetic(3.0)
    scaled = calibrate(probabilities, fit_temperature(probabilities, truth))
    before = expected_calibration_error(probabilities.max(1), probabilities.argmax(1) == truth)
    after = expected_calibration_error(scaled.max(1), scaled.argmax(1) == truth)
    assert after < before / 2 and after < 0.05


def test_the_threshold_meets_the_target_and_is_the_lowest_that_does():
    rng = np.random.default_rng(1)
    confidence = rng.uniform(0.34, 1.0, 2000)
    correct = rng.uniform(size=2000) < confidence  # a calibrated model
    threshold = uncertainty_threshold(confidence, correct, 0.05)
    kept = confidence >= threshold
    assert 1 - correct[kept].mean() <= 0.05
    lower = confidence[confidence < threshold].max()
    assert 1 - correct[confidence >= lower].mean() > 0.05


def test_threshold_edge_cases():
    confidence = np.array([0.4, 0.6, 0.9])
    assert uncertainty_threshold(confidence, np.array([True, True, True]), 0.05) == 0.0  # nothing flagged
    assert uncertainty_threshold(confidence, np.array([True, True, False]), 0.05) == 1.0  # everything flagged
    assert uncertainty_threshold(confidence, np.array([False, True, True]), 0.05) == 0.6


def test_each_target_gives_its_threshold_and_what_it_flags():
    confidence, correct = np.array([0.4, 0.6, 0.9, 0.95]), np.array([False, True, True, True])
    strict, lenient = operating_points(confidence, correct, (0.05, 0.3))
    assert strict == {
        "target_error_rate": 0.05,
        "uncertain_below": 0.6,
        "flagged_share_of_right": 0.0,
        "flagged_share_of_wrong": 1.0,
    }
    assert lenient["uncertain_below"] == 0.0 and lenient["flagged_share_of_wrong"] == 0.0  # 25% errors allowed
    assert operating_points(confidence[1:], correct[1:], (0.05,))[0]["flagged_share_of_wrong"] is None


def test_the_report_shows_the_flag_at_other_targets_with_the_fitted_one_in_bold():
    probabilities, truth = _synthetic(1.0, n=400)
    fitted = fit([_case(int(t), 1.0, 1.0, p) for t, p in zip(truth, probabilities, strict=True)], 0.12)
    fitted.update({"classification": "guided", "pooling": "lesion-weighted", "folds": ["0"]})
    rows = [line for line in markdown(fitted, "x.png").splitlines() if line.startswith("| ") and "target" not in line]
    rows = [line for line in rows if line.split("|")[1].strip().strip("*").replace(".", "").isdigit()]
    assert [line.split("|")[1].strip() for line in rows] == ["0.05", "0.1", "**0.12**", "0.15", "0.2", "0.25", "0.3"]
    bold = next(line for line in rows if "**" in line)
    assert f"| {fitted['uncertain_below']:.3f} |" in bold
    flagged_right = [float(line.split("|")[3].strip().rstrip("%")) for line in rows]
    assert flagged_right == sorted(flagged_right, reverse=True) and flagged_right[0] > flagged_right[-1]


def test_min_lesion_ml_keeps_at_most_five_percent_of_normal_cases():
    normal = np.arange(40) / 10.0  # 0.0 .. 3.9 mL of false lesion
    threshold = min_lesion_threshold(normal)
    assert threshold == pytest.approx(3.7)  # 2 of 40 (5%) are larger
    assert np.mean(normal > threshold) <= 0.05 and np.mean(normal > 3.6) > 0.05
    assert min_lesion_threshold([0.0] * 10) == 0.0
    assert min_lesion_threshold([0.0, 0.2, 0.3]) == 0.3  # 5% of 3 cases is none


def _case(subtype, truth_ml, predicted_ml, probabilities=(0.6, 0.3, 0.1)):
    return ValidationCase("c", "0", subtype, truth_ml, predicted_ml, np.array(probabilities))


def test_the_lesion_rule_reports_what_is_still_found():
    cases = [_case(None, 0.0, v) for v in (0.0, 0.0, 0.05, 0.1)] * 5  # 20 normal cases
    cases += [_case(0, 0.03, 0.04), _case(1, 0.5, 0.3), _case(2, 2.0, 1.5), _case(0, 0.01, 0.2)]
    rule = lesion_rule(cases)
    assert rule["normal_kept_share"] <= 0.05
    assert rule["min_lesion_ml"] == pytest.approx(0.1)
    assert rule["lesion_found_share"] == 0.75  # the 0.04 mL prediction is lost
    assert diameter_mm(0.03) < 5 < diameter_mm(0.5)
    assert rule["large_lesion_cases"] == 2 and rule["large_lesion_found_share"] == 1.0


def _p90_case(subtype, predicted_ml, p90):
    truth_ml = 0.0 if subtype is None else 1.0  # a 12 mm lesion
    return dataclasses.replace(_case(subtype, truth_ml, predicted_ml), predicted_lesion_p90=p90)


def test_the_lesion_probability_rule_is_chosen_where_it_finds_more_lesions():
    """Normal glands' false lesions as large as real ones but drawn unsure: the volume alone loses the smaller
    lesions, the 90th percentile of the lesion probability keeps them at the same share of normal glands."""
    rng = np.random.default_rng(0)
    normal = [_p90_case(None, v, p) for v, p in zip(np.linspace(0.5, 5, 20), rng.uniform(0.3, 0.7, 20), strict=True)]
    lesions = [_p90_case(i % 3, v, 0.95) for i, v in enumerate(np.linspace(0.3, 3.0, 10))]
    rule = lesion_rule(normal + lesions)
    # Each rule spends the allowance of 5% of all 20 normal glands (one), not 5% of those above its floor.
    assert [r["normal_kept_share"] for r in rule["rules_tried"]] == [0.05] * 7
    volume_alone = rule["rules_tried"][0]
    assert volume_alone["min_lesion_p90"] is None and volume_alone["large_lesion_found_share"] < 0.5
    assert rule["rule"] == "volume and lesion probability" and rule["large_lesion_found_share"] == 1.0
    # Every floor up to the smallest lesion (0.3 mL) finds all; of those the highest, 0.25 mL, is kept.
    assert rule["min_lesion_ml"] == 0.25 and rule["normal_kept_share"] <= 0.05
    assert rule["min_lesion_p90"] == pytest.approx(sorted(c.predicted_lesion_p90 for c in normal)[-2])
    fitted = {"temperature": 1.0, "uncertain_below": 0.5, "target_error_rate": 0.05, "cases": 10, "no_lesion": rule}
    fitted |= {stage: {"ece": None, "auroc_right_vs_wrong": None} for stage in ("before", "after")}
    record = calibration.updated_record(CompetenceRecord(source="t", min_lesion_ml=9.0), fitted)
    assert (record.min_lesion_ml, record.min_lesion_p90) == (0.25, rule["min_lesion_p90"])

    # A p90 that tells nothing apart (every lesion drawn as sure as every false one): the volume alone stays.
    flat = [dataclasses.replace(c, predicted_lesion_p90=0.9) for c in normal + lesions]
    assert lesion_rule(flat)["rule"] == "volume" and lesion_rule(flat)["min_lesion_p90"] is None
    report = no_lesion_lines(lesion_rule(flat))
    assert any("(chosen)" in line and "p90" not in line for line in report)


def test_without_normal_cases_min_lesion_ml_is_not_fitted_and_the_report_says_why():
    rng = np.random.default_rng(2)
    cases = [_case(int(rng.integers(3)), 1.0, 1.0, _softmax(rng.normal(0, 2, (1, 3)))[0]) for _ in range(30)]
    fitted = fit(cases, 0.05)
    assert fitted["no_lesion"]["min_lesion_ml"] is None
    fitted.update({"classification": "guided", "pooling": "lesion-weighted", "folds": ["0"]})
    assert "not fitted: no normal (lesion-free) validation cases" in markdown(fitted, "x.png")


def test_too_few_cases_are_refused_with_their_number():
    cases = [_case(0, 1.0, 1.0)] * (calibration.MIN_CASES - 1) + [_case(1, 1.0, 0.0, (0.5, 0.5, 0.0))]
    cases[-1] = dataclasses.replace(cases[-1], probabilities=None)  # no lesion predicted: not answered
    with pytest.raises(CalibrationError, match=f"^{calibration.MIN_CASES - 1} validation cases .* at least 10"):
        fit(cases, 0.05)


# ------------------------------------------------------------------------------------------------
def _predict(model, image, calibrated=True):
    from PancreasMultiTaskLib.engine.model_folder import open_model_folder
    from PancreasMultiTaskLib.engine.predictor import PredictionOptions, Predictor

    folder = open_model_folder(model, folds=["0"])
    # The calibration as the engine read it from competence.json; the range checks left out, since the random
    # network's "gland" (nearly the whole image) lies far outside the record's and would withhold the subtype.
    folder.competence = CompetenceRecord(
        source="test", calibration=folder.competence.calibration if calibrated else None
    )
    options = PredictionOptions(device="cpu", backend="torch", use_mirroring=False)
    return Predictor(folder, options).predict(image).result


def test_the_command_writes_a_calibration_the_engine_reads_and_applies(multitask_model, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(calibration, "MIN_CASES", 4)  # five tiny cases keep the test fast
    monkeypatch.setattr(familiarity, "MIN_VALIDATION_CASES", 4)
    monkeypatch.setattr(familiarity, "MIN_TILES_PER_FEATURE", 0)  # one training case: Ledoit-Wolf's shrinkage
    model, raw = model_with_competence(multitask_model, tmp_path)
    # A passed bfloat16 check on a CPU with the units (stood in): the cases run in bfloat16, as the product would.
    record_bfloat16_check(model, {"passed": True})
    (tmp_path / "cpuinfo").write_text("flags\t: fpu sse2 avx512f avx512_bf16\n")
    monkeypatch.setattr(precision_module, "CPUINFO", tmp_path / "cpuinfo")
    validation_fold(model, raw, 0, [("case00", 0), ("case01", 1), ("case02", 2), ("case03", 0)])
    validation_fold(model, raw, 1, [("case04", None)])
    argv = ["calibrate", str(model), "--raw", str(raw), "--report", str(tmp_path / "report")]
    argv += ["--device", "cpu", "--backend", "torch", "--no-tta", "--target-error-rate", "0.99"]
    assert train_main(argv) == 0, capsys.readouterr().err
    assert "Calibrated on 4 validation cases" in capsys.readouterr().out

    record = read_record(model / COMPETENCE_FILE)
    fitted = json.loads((tmp_path / "report" / "calibration.json").read_text())
    assert record.calibration.temperature == pytest.approx(fitted["temperature"])
    assert record.calibration.uncertain_below == 0.0 and record.calibration.cases == 4
    assert record.synthetic and record.gland_volume_ml is not None  # the other fields are kept
    lesion = fitted["no_lesion"]
    assert lesion["normal_cases"] == 1 and lesion["lesion_found_share"] == 1.0
    assert record.min_lesion_ml == pytest.approx(lesion["min_lesion_ml"]) and record.min_lesion_ml > 0
    assert (tmp_path / "report" / "calibration_reliability.png").stat().st_size > 1000
    assert "Rule: lesion > " in (tmp_path / "report" / "calibration.md").read_text()
    assert all(r["min_lesion_p90"] is not None for r in lesion["rules_tried"][1:])  # p90 measured by the engine
    assert record.bfloat16_check_passed  # kept, and the cases ran in bfloat16, which the report says
    assert fitted["precision"] == "bfloat16"
    assert "pooling, bfloat16)" in (tmp_path / "report" / "calibration.md").read_text()
    # Fold 0's feature reference: fitted on its one training case (case04), its limit on its four validation cases.
    (reference,) = record.feature_references
    summary = fitted["familiarity"]
    assert reference.fold == "0" and reference.cases == 4 and summary["0"]["training_cases"] == 1
    assert reference.limit == pytest.approx(
        familiarity.LIMIT_FACTOR * np.percentile(summary["0"]["validation_distances"], familiarity.LIMIT_QUANTILE)
    )
    assert "1 validation cases with a gland; 4 needed" in summary["1"]["reason"]
    assert "| 1 | not fitted: 1 validation cases" in (tmp_path / "report" / "calibration.md").read_text()

    image = sitk.ReadImage(str(raw / "imagesTr" / "case00_0000.nii.gz"))
    raw_result, calibrated = _predict(model, image, calibrated=False), _predict(model, image)
    names = raw_result.subtype.names
    before = np.array([raw_result.subtype.probabilities[n] for n in names])
    after = np.array([calibrated.subtype.probabilities[n] for n in names])
    assert after == pytest.approx(calibrate(before, record.calibration.temperature))
    assert np.abs(after - before).max() > 1e-3
    assert raw_result.subtype.uncertainty.uncertain  # nearly uniform: high entropy
    assert not calibrated.subtype.uncertainty.uncertain  # the calibrated threshold (0) flags nothing
    assert calibrated.subtype.uncertainty.uncertain_below == 0.0


def test_the_engine_applies_the_lesion_probability_rule_as_the_calibration_measures_it(multitask_model, tmp_path):
    """The engine's p90 (on its own grid, the probability map not kept) equals what the calibration measures on the
    images it writes; the rule decides the outcome, and the probability is written only when asked for."""
    from PancreasMultiTaskLib.engine.competence import lesion_confidence
    from PancreasMultiTaskLib.engine.model_folder import open_model_folder
    from PancreasMultiTaskLib.engine.predictor import PredictionOptions, Predictor

    model, raw = model_with_competence(multitask_model, tmp_path)
    image = sitk.ReadImage(str(raw / "imagesTr" / "case00_0000.nii.gz"))

    def predict(min_lesion_p90, save_probabilities=False):
        folder = open_model_folder(model, folds=["0"])
        folder.competence = CompetenceRecord(source="test", min_lesion_p90=min_lesion_p90)
        options = PredictionOptions(device="cpu", backend="torch", use_mirroring=False)
        options = dataclasses.replace(options, save_probabilities=save_probabilities)
        return Predictor(folder, options).predict(image)

    kept = predict(None, save_probabilities=True)
    measured = lesion_confidence(
        sitk.GetArrayViewFromImage(kept.segmentation), sitk.GetArrayViewFromImage(kept.lesion_probability)
    )
    assert measured > 0 and kept.result.assessment.lesion_p90 is None  # a lesion; the volume rule alone
    found = predict(measured - 1e-4)
    assert found.lesion_probability is None and found.result.assessment.lesion_found
    assert found.result.assessment.lesion_p90 == pytest.approx(measured, abs=1e-6)
    assert found.result.subtype.predicted is not None
    unsure = predict(min(1.0, measured + 1e-4))
    assert not unsure.result.assessment.lesion_found and unsure.result.subtype.predicted is None
    assert "90th percentile of its lesion probability" in unsure.result.assessment.reasons[0]


def test_a_model_without_competence_record_is_refused(tmp_path, capsys):
    (tmp_path / "fold_0").mkdir()
    assert train_main(["calibrate", str(tmp_path)]) == 1
    assert "pancreas-mt-train competence" in capsys.readouterr().err


def test_the_bundled_calibration_report_is_what_the_code_writes_from_its_fit():
    """The demo's ``calibration.md`` written again from its ``calibration.json`` is the bundled one."""
    bundled = Path(__file__).resolve().parents[1] / "Resources" / "DemoModel" / "report" / "calibration"
    fitted = json.loads((bundled / "calibration.json").read_text())
    assert markdown(fitted, "calibration_reliability.png") == (bundled / "calibration.md").read_text()
