"""The competence record (``competence.json``) and the checks a case is held against."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PancreasMultiTaskLib.engine import competence as c
from PancreasMultiTaskLib.engine.subtype import calibrate, is_uncertain

REPORT = Path(__file__).resolve().parents[1] / "Resources" / "DemoModel" / "report"

RECORD = {
    "schema": 1,
    "synthetic": True,
    "in_plane_spacing_mm": [0.6, 1.0],
    "slice_spacing_mm": [1.5, 3.0],
    "in_plane_size_voxels": [96, 160],
    "foreground_hu": {"percentile_00_5": -12.0, "percentile_99_5": 145.0, "median": 93.0},
    "gland_volume_ml": [17.0, 46.0],
    "lesion_volume_ml": [1.0, 7.0],
    "lesion_components_max": 1,
    "normal_fraction": 0.2,
    "min_lesion_ml": 0.1,
    "validation": {"accuracy": 0.9},
    "calibration": {"temperature": 0.5, "uncertain_below": 0.7, "target_error_rate": 0.05, "cases": 40},
    "bfloat16_check": {"passed": True},
}


def write(tmp_path: Path, data) -> Path:
    path = tmp_path / c.COMPETENCE_FILE
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


def test_a_valid_record_round_trips(tmp_path):
    record = c.read_record(write(tmp_path, RECORD))
    assert record.synthetic and record.bfloat16_check_passed and record.calibration.temperature == 0.5
    assert record.gland_volume_ml == (17.0, 46.0) and record.in_plane_size_voxels == (96, 160)
    assert c.parse_record(json.loads(json.dumps(record.to_json())), tmp_path / "again") == record.__class__(
        **{**record.__dict__, "source": str(tmp_path / "again")}
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"schema": 2}, "schema 2 is not supported"),
        ({"synthetic": "yes"}, "synthetic must be true or false"),
        ({"gland_volume_ml": [50, 10]}, "gland_volume_ml low 50.0 is above high 10.0"),
        ({"gland_volume_ml": [1, 2, 3]}, r"gland_volume_ml must be \[low, high\]"),
        ({"in_plane_spacing_mm": [0.6, 1e9]}, "in_plane_spacing_mm = 1000000000.0 is outside"),
        ({"calibration": {"temperature": 0, "uncertain_below": 0.5}}, "calibration.temperature = 0"),
        ({"calibration": {"temperature": 1, "uncertain_below": "x"}}, "calibration.uncertain_below must be a finite"),
        ({"bfloat16_check": {"passed": "true"}}, "'bfloat16_check.passed' must be true or false"),
        ({"validation": {str(i): 1 for i in range(100)}}, "validation must be an object of at most 64"),
        ({"normal_fraction": 2}, "normal_fraction = 2"),
        ({"min_lesion_ml": True}, "min_lesion_ml must be a finite number"),
    ],
)
def test_a_bad_record_names_the_file_and_the_field(tmp_path, change, message):
    with pytest.raises(c.CompetenceError, match=message) as error:
        c.read_record(write(tmp_path, {**RECORD, **change}))
    assert str(tmp_path / c.COMPETENCE_FILE) in str(error.value)


def test_oversized_or_non_json_records_are_refused_before_parsing(tmp_path):
    with pytest.raises(c.CompetenceError, match="larger than"):
        c.read_record(write(tmp_path, " " * (c.MAX_BYTES + 1)))
    with pytest.raises(c.CompetenceError, match="not valid JSON"):
        c.read_record(write(tmp_path, '{"schema": 1, "min_lesion_ml": NaN}'))
    with pytest.raises(c.CompetenceError, match="expected a JSON object"):
        c.read_record(write(tmp_path, "[1, 2]"))


def test_a_plain_nnunet_model_gets_what_its_plans_give_and_says_what_is_missing(tmp_path):
    plans = {
        "original_median_spacing_after_transp": [2.5, 0.8, 0.7],
        "foreground_intensity_properties_per_channel": {"0": {"percentile_00_5": -50, "percentile_99_5": 200}},
    }
    record = c.derived_record(plans, "2d", tmp_path / "plans.json")
    assert record.in_plane_spacing_mm == (0.7, 0.8) and record.slice_spacing_mm == (2.5, 2.5)
    assert record.foreground_hu == {"percentile_00_5": -50.0, "percentile_99_5": 200.0}
    assert "calibration" in record.missing and "derived" in record.source
    assessment = c.assess([], record, lesion_ml=1.0, has_classifier=True)
    assert assessment.status == c.WARNED and "no competence record" in assessment.reasons[-1]


def ct(shape=(20, 64, 64), seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    volume = rng.normal(40, 20, shape)
    volume[:, :8] = -1000  # air
    return volume


def test_a_label_map_is_not_a_ct():
    record = c.parse_record(RECORD, Path("r"))
    labels = np.zeros((20, 64, 64))
    labels[5:10, 20:30, 20:30] = 1
    labels[6:8, 22:25, 22:25] = 2
    findings = c.check_input(labels, (0.8, 0.8, 2.0), record)
    assert [f.severity for f in findings] == [c.WITHHELD]
    assert "label map (3 distinct integer values)" in findings[0].reason
    assert c.check_input(np.round(ct()), (0.8, 0.8, 2.0), record) == []  # an integer CT has many values


def test_values_no_scanner_produces_are_not_hounsfield_units():
    record = c.parse_record(RECORD, Path("r"))
    findings = c.check_input(ct() * 1000, (0.8, 0.8, 2.0), record)
    assert any("not Hounsfield units" in f.reason and f.severity == c.WITHHELD for f in findings)


@pytest.mark.parametrize(
    ("spacing", "severity"),
    [
        ((0.8, 0.8, 2.0), None),
        ((1.3, 1.3, 2.0), c.WARNED),
        ((3.0, 3.0, 3.0), c.WITHHELD),
        ((0.8, 0.8, 7.0), c.WITHHELD),
    ],
)
def test_spacing_outside_the_trained_range_warns_and_far_outside_withholds(spacing, severity):
    findings = c.check_input(ct(), spacing, c.parse_record(RECORD, Path("r")))
    assert [f.severity for f in findings] == ([severity] if severity else [])
    if severity:
        assert "spacing" in findings[0].reason and "outside what the model was trained on" in findings[0].reason


def test_output_checks():
    record = c.parse_record(RECORD, Path("r"))
    assert c.check_output(30, 3, 1, 90, record) == []
    whole_abdomen = c.check_output(1022, 0, 0, 30, record)
    assert whole_abdomen[0].severity == c.WITHHELD and "pancreas volume 1.02e+03 mL" in whole_abdomen[0].reason
    two = c.check_output(30, 3, 2, 90, record)
    assert [f.severity for f in two] == [c.WARNED] and "2 separate lesions" in two[0].reason
    dark = c.check_output(30, 3, 1, -300, record)
    assert dark[0].severity == c.WITHHELD and "unlike the training foreground (-12 to 145 HU)" in dark[0].reason
    big_lesion = c.check_output(30, 40, 1, 90, record)
    assert [f.severity for f in big_lesion] == [c.WARNED]


def test_specks_no_larger_than_the_no_lesion_size_are_not_separate_lesions():
    """Training labels have one lesion a case; a predicted speck at or below ``min_lesion_ml`` (a case of only
    such specks is "no lesion found") is not counted as a second lesion, a real second one is."""
    spacing = (1.0, 1.0, 2.0)  # 2 uL a voxel
    lesion = np.zeros((20, 64, 64), bool)
    lesion[5:10, 20:30, 20:30] = True  # 1 mL
    lesion[15, 50, 50] = True  # 0.002 mL
    assert c.lesion_components(lesion, spacing) == 2
    assert c.lesion_components(lesion, spacing, min_ml=0.1) == 1
    lesion[14:16, 45:55, 45:55] = True  # 0.4 mL, joining the speck
    assert c.lesion_components(lesion, spacing, min_ml=0.1) == 2
    assert c.lesion_components(np.zeros_like(lesion), spacing) == 0

    record = c.parse_record(RECORD, Path("r"))  # lesion_components_max 1, min_lesion_ml 0.1
    image = ct()
    labels = np.zeros(image.shape, np.uint8)
    labels[4:12, 16:40, 16:40] = 1
    labels[5:10, 20:30, 20:30] = 2
    labels[11, 38, 38] = 2  # a one-voxel speck beside the lesion's gland
    image[labels > 0] = 90
    case = c.assess_case(record, image, spacing, labels, gland_ml=30.0, lesion_ml=1.0, has_classifier=True)
    assert case.status == c.ANSWERED, case.reasons
    labels[10:12, 32:40, 32:40] = 2  # 0.26 mL apart from the first
    case = c.assess_case(record, image, spacing, labels, gland_ml=30.0, lesion_ml=1.26, has_classifier=True)
    assert case.status == c.WARNED and "2 separate lesions" in case.reasons[0]


def test_only_lesions_the_no_lesion_rule_keeps_are_separate_lesions():
    """With the lesion-probability rule, a component counts only where its own 90th percentile of lesion
    probability passes the record's threshold, as the case's lesion must; a case whose outcome is "no lesion
    found" gets no warning about separate lesions at all (the bundled folds' 0.1 mL floor made specks warn)."""
    record = c.parse_record({**RECORD, "min_lesion_p90": 0.9}, Path("r"))  # at most 1 lesion, floor 0.1 mL
    spacing = (1.0, 1.0, 2.0)  # 2 uL a voxel
    image = ct()
    labels = np.zeros(image.shape, np.uint8)
    labels[2:14, 8:56, 8:56] = 1
    image[labels > 0] = 90
    corners = [(4, 10, 10), (4, 10, 40), (4, 40, 10), (4, 40, 40)]
    for z, y, x in corners:
        labels[z : z + 4, y : y + 8, x : x + 8] = 2  # four lesions of 0.51 mL, apart
    lesion_ml = 4 * 4 * 8 * 8 * 0.002
    unsure = np.full(image.shape, 0.5, np.float32)
    sure = unsure.copy()
    z, y, x = corners[0]
    sure[z : z + 4, y : y + 8, x : x + 8] = 0.99  # the network is sure of one of them
    lesion = labels == 2
    assert c.lesion_components(lesion, spacing, 0.1) == 4
    assert c.lesion_components(lesion, spacing, 0.1, sure, 0.9) == 1
    assert c.lesion_components(lesion, spacing, 0.1, sure, None) == 4  # the volume rule alone

    def case(lesion_map):
        return c.assess_case(record, image, spacing, labels, 30.0, lesion_ml, True, lesion_map=lesion_map)

    found = case(sure)  # the case's p90 over all four is 0.99 (a quarter of its voxels): found
    assert found.lesion_found and found.status == c.ANSWERED, found.reasons
    assert found.lesion_p90 == pytest.approx(0.99)
    z, y, x = corners[1]
    sure[z : z + 4, y : y + 8, x : x + 8] = 0.99
    two = case(sure)
    assert two.status == c.WARNED and any(r.startswith("2 separate lesions") for r in two.reasons), two.reasons
    none = case(unsure)  # every component above the floor, none the network is sure of: "no lesion found"
    assert not none.lesion_found and none.status == c.ANSWERED, none.reasons
    assert not any("separate lesions" in r for r in none.reasons)
    # Two small lesions it is sure of beside a large one it is not: the case's lesion as a whole is not found
    # (the sure voxels are under a tenth of it), so neither is counted as a separate lesion.
    labels[labels == 2] = 1
    labels[4:8, 10:26, 10:34] = 2  # 3.07 mL
    small = [(4, 40, 10), (4, 40, 40)]
    for z, y, x in small:
        labels[z : z + 4, y : y + 4, x : x + 4] = 2  # 0.128 mL each
    mixed = np.full(image.shape, 0.5, np.float32)
    for z, y, x in small:
        mixed[z : z + 4, y : y + 4, x : x + 4] = 0.99
    assert c.lesion_components(labels == 2, spacing, 0.1, mixed, 0.9) == 2
    lesion_ml = float(np.count_nonzero(labels == 2)) * 0.002
    mostly_unsure = c.assess_case(record, image, spacing, labels, 30.0, lesion_ml, True, lesion_map=mixed)
    assert not mostly_unsure.lesion_found and mostly_unsure.status == c.ANSWERED, mostly_unsure.reasons


def test_a_lesion_the_rule_does_not_find_has_no_volume_to_warn_about():
    """A normal gland's speck below the no-lesion floor, or a large lesion the network is unsure of, is "no lesion
    found", answered without a warning that its volume is outside the training lesions' (the held-out normal
    gland ``abdomen_s2_045`` under mirroring: 0.001 mL warned against 0.0158-36.1 mL); a lesion found is judged."""
    record = c.parse_record({**RECORD, "min_lesion_p90": 0.9}, Path("r"))  # lesions of 1-7 mL, floor 0.1 mL
    spacing = (1.0, 1.0, 2.0)  # 2 uL a voxel
    image = ct()
    labels = np.zeros(image.shape, np.uint8)
    labels[2:14, 8:56, 8:56] = 1
    image[labels > 0] = 90
    labels[6, 30, 30:32] = 2  # a speck of 0.004 mL
    sure = np.where(labels == 2, 0.99, 0.01).astype(np.float32)

    def case(lesion_map):
        lesion_ml = float(np.count_nonzero(labels == 2)) * 0.002
        return c.assess_case(record, image, spacing, labels, 30.0, lesion_ml, True, lesion_map=lesion_map)

    speck = case(sure)
    assert not speck.lesion_found and speck.status == c.ANSWERED, speck.reasons
    assert not any(r.startswith("lesion volume") for r in speck.reasons)
    labels[3:13, 10:54, 10:54] = 2  # 38.7 mL, over five times the largest training lesion
    unsure = case(np.where(labels == 2, 0.6, 0.01).astype(np.float32))
    assert not unsure.lesion_found and unsure.status == c.ANSWERED, unsure.reasons
    found = case(np.where(labels == 2, 0.99, 0.01).astype(np.float32))
    assert found.lesion_found and found.status == c.WARNED
    assert any(r.startswith("lesion volume 38.7 mL is outside") for r in found.reasons), found.reasons


def test_outcomes():
    record = c.parse_record(RECORD, Path("r"))
    answered = c.assess([], record, lesion_ml=2.0, has_classifier=True)
    assert (answered.status, answered.lesion_found, answered.notice) == (c.ANSWERED, True, c.SYNTHETIC_NOTICE)
    no_lesion = c.assess([], record, lesion_ml=0.05, has_classifier=True)
    assert not no_lesion.lesion_found and no_lesion.reasons[0].startswith("no lesion found")
    withheld = c.assess([c.Finding(c.WARNED, "w"), c.Finding(c.WITHHELD, "x")], record, 2.0, True)
    assert withheld.status == c.WITHHELD and withheld.reasons == ["x", "w"]


def test_the_lesion_probability_rule_finds_only_a_lesion_the_network_is_sure_of():
    """Where the record carries ``min_lesion_p90``, a lesion above the volume floor is found only when the 90th
    percentile of its lesion probability is above it; the reason says which rule ruled it out."""
    record = c.parse_record({**RECORD, "min_lesion_p90": 0.9}, Path("r"))
    assert record.min_lesion_p90 == 0.9 and c.parse_record(RECORD, Path("r")).min_lesion_p90 is None
    sure = c.assess([], record, lesion_ml=2.0, has_classifier=True, lesion_p90=0.95)
    assert sure.lesion_found and sure.status == c.ANSWERED and sure.lesion_p90 == 0.95
    unsure = c.assess([], record, lesion_ml=2.0, has_classifier=True, lesion_p90=0.9)
    assert not unsure.lesion_found
    assert "90th percentile of its lesion probability 0.9000 is not above 0.9000" in unsure.reasons[0]
    speck = c.assess([], record, lesion_ml=0.05, has_classifier=True, lesion_p90=0.99)
    assert not speck.lesion_found and "minimum 0.1 mL" in speck.reasons[0]
    # Without the field the volume alone decides, as before; a value outside 0..1 names the field.
    volume_only = c.parse_record(RECORD, Path("r"))
    assert c.assess([], volume_only, lesion_ml=2.0, has_classifier=True, lesion_p90=0.1).lesion_found
    with pytest.raises(c.CompetenceError, match=r"min_lesion_p90 = 1\.5 is outside 0\.\.1"):
        c.parse_record({**RECORD, "min_lesion_p90": 1.5}, Path("r"))


def test_lesion_confidence_is_the_90th_percentile_inside_the_predicted_lesion():
    labels = np.zeros((2, 4, 5), dtype=np.uint8)
    probability = np.full(labels.shape, 0.99, dtype=np.float32)  # outside the lesion: not counted
    assert c.lesion_confidence(labels, probability) == 0.0
    labels[0, 0, :] = 2
    labels[1, 0, :] = 2
    probability[labels == 2] = np.linspace(0.0, 0.9, 10)
    labels[1, 1, :] = 1  # gland: not counted either
    assert c.lesion_confidence(labels, probability) == pytest.approx(np.quantile(np.linspace(0.0, 0.9, 10), 0.9))


def test_calibration_and_the_uncertain_flag():
    p = np.array([0.6, 0.3, 0.1])
    sharper = calibrate(p, 0.5)
    assert sharper[0] > 0.6 and sharper.sum() == pytest.approx(1) and np.argmax(sharper) == 0
    np.testing.assert_allclose(calibrate(p, 1.0), p)
    assert is_uncertain(None, 0.9, top_probability=0.8, uncertain_below=0.7) is False  # the calibrated rule decides
    assert is_uncertain(None, 0.1, top_probability=0.6, uncertain_below=0.7) is True
    assert is_uncertain(0.3, 0.1) is True and is_uncertain(None, 0.7) is True and is_uncertain(None, 0.5) is False


def test_the_bundled_demo_model_carries_its_record(tmp_path):
    from PancreasMultiTaskLib.engine.demo import demo_model_folder

    folder = demo_model_folder(tmp_path / "models")
    record = c.read_record(folder / c.COMPETENCE_FILE)
    assert record.synthetic and 0.1 < record.normal_fraction < 0.3  # the abdomen demo trains normal glands
    assert record.in_plane_spacing_mm[0] >= 0.6 and record.in_plane_spacing_mm[1] <= 0.9
    assert 10 < record.gland_volume_ml[0] < record.gland_volume_ml[1] < 200
    # everything the pipeline fits on validation: no lesion, calibration, familiarity for every fold it ships; the
    # bfloat16 verdict is the one its report's check gave (the product keeps float32 for a model that failed it)
    assert record.min_lesion_ml > 0 and record.calibration.temperature > 0
    check = json.loads((REPORT / "bfloat16_check.json").read_text())
    assert record.bfloat16_check_passed is check["passed"]
    folds = sorted(p.name.removeprefix("fold_") for p in folder.glob("fold_*"))
    assert sorted(r.fold for r in record.feature_references) == folds == ["0", "1", "2"]


def test_without_its_own_record_a_model_only_warns_except_for_what_is_not_a_ct(tmp_path):
    derived = c.derived_record({"original_median_spacing_after_transp": [2.0, 0.8, 0.8]}, "2d", tmp_path / "plans.json")
    far = c.assess(c.check_input(ct(), (3.0, 3.0, 3.0), derived), derived, lesion_ml=1.0, has_classifier=True)
    assert far.status == c.WARNED and far.reasons[0].startswith("in-plane spacing 3 mm")
    labels = np.zeros((20, 64, 64))
    labels[5:10, 20:30, 20:30] = 1
    label_map = c.assess(c.check_input(labels, (0.8, 0.8, 2.0), derived), derived, lesion_ml=1.0, has_classifier=True)
    assert label_map.status == c.WITHHELD and "label map" in label_map.reasons[0]


def test_withholding_reasons_come_before_no_lesion_and_warnings():
    record = c.parse_record(RECORD, Path("r"))
    findings = [c.Finding(c.WARNED, "a warning"), c.Finding(c.WITHHELD, "why withheld")]
    assessment = c.assess(findings, record, lesion_ml=0.0, has_classifier=True)
    assert assessment.reasons[0] == "why withheld" and assessment.reasons[1].startswith("no lesion found")
    assert assessment.reasons[2] == "a warning"
