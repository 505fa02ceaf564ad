"""The evaluation metrics against cases computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pancreas_mt_training.metrics import classification_metrics, mean_segmentation, segmentation_metrics

PROBS = np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.6, 0.3], [0.3, 0.3, 0.4]])
TRUTH = [0, 1, 2, 1]


def test_classification_by_hand():
    m = classification_metrics(TRUTH, PROBS, ["a", "b", "c"])
    # predicted: a, b, b, c -> 2 of 4 right
    assert m["accuracy"] == pytest.approx(0.5)
    # per-class F1: a 1, b (P 1/2, R 1/2) 0.5, c 0 -> macro 0.5
    assert m["f_beta"] == pytest.approx(0.5)
    # AP: a 1; b: ranks .7(+) .6(-) .3(+) -> (1 + 2/3) / 2; c: .4(-) .3(+) -> 1/2
    assert m["average_precision"] == pytest.approx((1 + 5 / 6 + 0.5) / 3)
    # Brier: mean over cases of the squared distance to the one-hot truth
    assert m["brier"] == pytest.approx((0.06 + 0.14 + 0.86 + 0.74) / 4)
    assert m["sensitivity"] == pytest.approx({"a": 1.0, "b": 0.5, "c": 0.0})
    # specificity: a 3/3; b: of a, c cases (1, 3) one called b -> 1/2; c: of 3 non-c, one called c -> 2/3
    assert m["specificity"] == pytest.approx({"a": 1.0, "b": 0.5, "c": 2 / 3})
    assert m["confusion_matrix"] == [[1, 0, 0], [0, 1, 1], [0, 1, 0]]


def test_classification_rejects_wrong_shape():
    with pytest.raises(ValueError, match=r"probabilities must be \(cases, 3\)"):
        classification_metrics([0, 1], PROBS, ["a", "b", "c"])


def _volumes():
    truth = np.zeros((3, 10, 10), int)
    truth[1, 2:6, 2:6] = 1
    truth[1, 3:5, 3:5] = 2
    prediction = truth.copy()
    prediction[1, 2:6, 6] = 1  # four extra pancreas voxels
    return prediction, truth


def test_overlap_by_hand():
    prediction, truth = _volumes()
    m = segmentation_metrics(prediction, truth, (2.0, 1.0, 1.0))
    # pancreas (labels 1+2): truth 16, prediction 20, overlap 16
    assert m["pancreas"]["dice"] == pytest.approx(32 / 36)
    assert m["pancreas"]["iou"] == pytest.approx(16 / 20)
    assert m["lesion"]["dice"] == pytest.approx(1.0)
    assert m["lesion"]["hd95_mm"] == pytest.approx(0.0)


def test_surface_distances_by_hand():
    truth = np.zeros((3, 9, 12), int)
    prediction = np.zeros_like(truth)
    truth[1, 4, 2] = 2
    prediction[1, 4, 5] = 2  # three voxels along x, 0.5 mm each -> 1.5 mm apart
    strict = segmentation_metrics(prediction, truth, (2.0, 1.0, 0.5), {"lesion": (2,)}, tolerance_mm=1.0)
    loose = segmentation_metrics(prediction, truth, (2.0, 1.0, 0.5), {"lesion": (2,)}, tolerance_mm=2.0)
    assert strict["lesion"]["hd95_mm"] == pytest.approx(1.5)
    assert strict["lesion"]["nsd"] == pytest.approx(0.0)
    assert loose["lesion"]["nsd"] == pytest.approx(1.0)
    assert strict["lesion"]["dice"] == pytest.approx(0.0)


def test_empty_structures():
    empty = np.zeros((2, 5, 5), int)
    some = empty.copy()
    some[0, 2, 2] = 2
    both = segmentation_metrics(empty, empty, (1, 1, 1))["lesion"]
    assert both["dice"] == 1.0 and both["nsd"] == 1.0 and math.isnan(both["hd95_mm"])
    missed = segmentation_metrics(empty, some, (1, 1, 1))["lesion"]
    assert missed["dice"] == 0.0 and missed["nsd"] == 0.0 and math.isnan(missed["hd95_mm"])
    mean = mean_segmentation([{"lesion": both}, {"lesion": {**both, "hd95_mm": 3.0, "dice": 0.0}}])
    assert mean["lesion"]["dice"] == pytest.approx(0.5) and mean["lesion"]["hd95_mm"] == pytest.approx(3.0)
