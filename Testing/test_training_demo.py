"""The demo command's pure parts: the sample case it bundles and the report's opening table."""

from __future__ import annotations

from pathlib import Path

from pancreas_mt_training.demo import demo_headline, median_case
from pancreas_mt_training.evaluate import EvalCase


def _held(dice: dict[str, float], accuracy: dict[str, float], ci=(0.9, 1.0)) -> dict:
    return {
        "cases": [{"case_id": case, "segmentation": {"lesion": {"dice": d}}} for case, d in dice.items()],
        "folds": ["0"],
        "segmentation_mirroring": False,
        "classification_mirroring": True,
        "classification": {m: {"accuracy": a, "accuracy_ci95": list(ci)} for m, a in accuracy.items()},
        "segmentation": {"lesion": {"dice": 0.8}, "pancreas": {"dice": 0.95}},
    }


def test_the_sample_is_the_case_with_the_median_lesion_dice_not_the_best():
    dice = {"a": 0.9, "b": 0.35, "c": 0.7, "d": 0.8, "e": 0.6}
    cases = [EvalCase(case, Path(f"{case}.nii.gz"), Path(f"{case}_truth.nii.gz"), 0) for case in sorted(dice)]
    assert median_case(cases, _held(dice, {})).case_id == "c"
    del dice["e"]  # an even count: the lower of the two middle cases
    assert median_case(cases[:4], _held(dice, {})).case_id == "c"


def test_headline_gives_accuracy_with_its_interval_the_padding_drop_and_the_baseline():
    held = _held({"a": 0.8}, {"guided": 1.0, "uniform": 0.35}, ci=(0.94, 1.0))
    padded = _held({"a": 0.8}, {"guided": 0.95, "uniform": 0.333})
    baseline = [
        {
            "baseline": "HU",
            "features": "HU mean, std, volume",
            "accuracy": 0.317,
            "accuracy_ci95": [0.2, 0.45],
            "f_beta": 0.3,
            "n_train": 90,
            "n_test": 60,
        }
    ]
    text = "\n".join(demo_headline(held, padded, baseline))
    assert "| guided | 100.0% (94.0%-100.0%) | 95.0% | +5.0 |" in text
    assert "| uniform | 35.0% (94.0%-100.0%) | 33.3% | +1.7 |" in text
    assert "| HU | HU mean, std, volume | 31.7% (20.0%-45.0%) | 0.300 | 90 / 60 |" in text
    assert "folds 0" in text and "segmentation mirroring off" in text
