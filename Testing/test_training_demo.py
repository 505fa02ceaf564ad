"""The demo command's pure parts: the sample case it bundles and the report's opening."""

from __future__ import annotations

from pathlib import Path

from pancreas_mt_training.demo import demo_headline, median_case
from pancreas_mt_training.evaluate import EvalCase, outcome_summary


def _row(case: str, truth: int, dice: float, status: str = "answered", found: bool = True, given: bool = True):
    outcome = {"status": status, "lesion_found": found, "subtype_given": given, "reasons": []}
    return {"case_id": case, "truth": truth, "segmentation": {"lesion": {"dice": dice}}, "outcome": outcome}


def _held(rows: list[dict], accuracy: float = 0.9, ci=(0.8, 0.95), ceiling=0.92) -> dict:
    return {
        "cases": rows,
        "folds": ["0", "1", "2"],
        "segmentation_mirroring": False,
        "classification_mirroring": True,
        "classification": {"guided": {"accuracy": accuracy, "accuracy_ci95": list(ci), "f_beta": 0.88}},
        "segmentation": {"lesion": {"dice": 0.71}, "pancreas": {"dice": 0.86}},
        "outcomes": outcome_summary(rows, {r["case_id"]: 10.0 for r in rows if r["truth"] >= 0}),
        "ceiling": ceiling,
    }


def test_the_sample_is_the_lesion_case_with_the_median_lesion_dice_not_the_best_nor_a_normal_gland():
    dice = {"a": 0.9, "b": 0.35, "c": 0.7, "d": 0.8, "e": 0.6, "n": 0.0}
    cases = [
        EvalCase(case, Path(f"{case}.nii.gz"), Path(f"{case}_truth.nii.gz"), -1 if case == "n" else 0)
        for case in sorted(dice)
    ]
    rows = [_row(c.case_id, c.subtype, dice[c.case_id]) for c in cases]
    assert median_case(cases, _held(rows)).case_id == "c"
    assert median_case(cases[:4], _held(rows)).case_id == "c"  # an even count: the lower of the middle two


def test_outcomes_count_normal_glands_given_a_lesion_and_lesions_found():
    rows = [
        _row("n1", -1, 0.0, found=False, given=False),
        _row("n2", -1, 0.0, status="answered-with-warnings", found=True, given=False),
        _row("l1", 0, 0.8),
        _row("l2", 1, 0.0, status="withheld", found=False, given=False),
    ]
    outcomes = outcome_summary(rows, {"l1": 12.0, "l2": 4.0})
    assert (
        outcomes["normal_with_lesion_or_subtype"]["count"] == 1 and outcomes["normal_with_lesion_or_subtype"]["of"] == 2
    )
    assert outcomes["lesions_found"]["count"] == 1 and outcomes["lesions_5mm_found"]["of"] == 1
    assert outcomes["lesions_5mm_found"]["share"] == 1.0  # the 4 mm lesion missed is not in the >= 5 mm share
    assert [outcomes[s]["count"] for s in ("answered", "answered-with-warnings", "withheld")] == [2, 1, 1]
    low, high = outcomes["withheld"]["ci95"]
    assert low < 0.25 < high


def test_the_headline_gives_accuracy_with_its_interval_the_ceiling_the_stress_table_and_the_baselines():
    rows = [_row("n1", -1, 0.0, found=False, given=False), _row("l1", 0, 0.8)]
    held = _held(rows, accuracy=0.9, ci=(0.8, 0.95), ceiling=0.917)
    small = _held([_row("s1", 2, 0.3, status="withheld", found=False, given=False)], 0.5, (0.1, 0.9), 0.9)
    baseline = [
        {
            "baseline": "radiomics",
            "features": "skewness, kurtosis",
            "accuracy": 0.6,
            "accuracy_ci95": [0.5, 0.7],
            "f_beta": 0.55,
            "n_train": 72,
            "n_test": 48,
        }
    ]
    text = "\n".join(demo_headline(held, {"small": small}, baseline))
    assert "90.0% (80.0%-95.0%)" in text and "ceiling (91.7% on these cases)" in text
    assert "Normal glands given a lesion or a subtype: 0.0% (" in text and "0/1)" in text
    assert "| small | 1 | 50.0% (10.0%-90.0%) | 90.0% | 0.710 | 0.860 | 0.0% | 100.0% |" in text
    assert "| radiomics | skewness, kurtosis | 60.0% (50.0%-70.0%) | 0.550 | 72 / 48 |" in text
    assert "folds 0, 1, 2" in text and "segmentation mirroring off" in text
