"""Baselines beside the CNN: logistic regression on features of the TRUE lesion mask.

* ``HU``: the lesion's HU mean, HU standard deviation and volume (mL). The ``field`` phantoms match
  these across subtypes, so this baseline should sit at chance there.
* ``radiomics``: HU skewness and excess kurtosis, rim-minus-core contrast (mean HU of the lesion's
  outer :data:`SHELL_MM` shell minus that of the rest) and a :data:`BINS`-bin histogram of the
  z-scored lesion HU: what a texture-and-shape rule without a CNN can see.

Each is ``Pipeline(StandardScaler, LogisticRegression)``, fitted on training cases and scored on
held-out ones (accuracy with its Wilson 95% interval, macro F1). Cases without a lesion (normal
glands) have no subtype and are skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import SimpleITK as sitk
from scipy import stats
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from .evaluate import EvalCase, accuracy_ci
from .metrics import classification_metrics
from .rim import SHELL_MM, lesion_depth, rim_minus_core

LESION = 2
#: Bins of the z-scored HU histogram, spanning -3..3 standard deviations (values beyond go to the end bins).
BINS = 12
#: Baseline name -> (its features in words, its columns of :func:`lesion_features`).
BASELINES = {
    "HU": ("HU mean, std, volume", slice(0, 3)),
    "radiomics": (
        f"HU skewness, kurtosis, rim-minus-core ({SHELL_MM:g} mm), {BINS}-bin z-scored histogram",
        slice(3, None),
    ),
}


def lesion_features(image: sitk.Image, label: sitk.Image) -> np.ndarray | None:
    """HU mean, std, volume (mL), skewness, kurtosis, rim-minus-core and histogram of the lesion; None without one."""
    if label.GetSize() != image.GetSize():
        raise ValueError(f"label map size {label.GetSize()} differs from the image's {image.GetSize()}")
    mask = sitk.GetArrayViewFromImage(label) == LESION
    if not mask.any():
        return None
    hu = sitk.GetArrayViewFromImage(image).astype(np.float64)
    values = hu[mask]
    mean, std = values.mean(), values.std()
    if std > 0:
        z = (values - mean) / std
        shape = [float(stats.skew(z)), float(stats.kurtosis(z))]
    else:  # a constant lesion: no histogram shape to measure
        z, shape = np.zeros_like(values), [0.0, 0.0]
    histogram = np.histogram(np.clip(z, -3, 3), BINS, (-3, 3))[0] / values.size
    spacing_zyx = image.GetSpacing()[::-1]
    contrast = rim_minus_core(values, lesion_depth(mask, spacing_zyx)[mask])
    volume_ml = values.size * float(np.prod(spacing_zyx)) / 1000.0
    return np.array([mean, std, volume_ml, *shape, contrast, *histogram])


def case_features(cases: Sequence[EvalCase]) -> tuple[np.ndarray, np.ndarray, int]:
    """Feature rows and subtypes of the cases with a lesion, and how many were skipped for having none."""
    rows, subtypes = [], []
    for case in cases:
        features = lesion_features(sitk.ReadImage(str(case.image)), sitk.ReadImage(str(case.label)))
        if features is not None:
            rows.append(features)
            subtypes.append(case.subtype)
    return np.array(rows).reshape(len(rows), -1), np.array(subtypes, dtype=int), len(cases) - len(rows)


def score_baselines(
    train_x: np.ndarray,
    train_y: Sequence[int],
    test_x: np.ndarray,
    test_y: Sequence[int],
    names: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Fit each of :data:`BASELINES` on the training rows and score it on the test rows: one dict per baseline."""
    train_y, test_y = np.asarray(train_y, dtype=int), np.asarray(test_y, dtype=int)
    if len(train_y) == 0 or len(test_y) == 0:
        raise ValueError("baselines need training and test cases with a lesion (label 2)")
    if len(set(train_y)) < 2:
        raise ValueError(f"baselines need two or more subtypes among the training cases, got {sorted(set(train_y))}")
    names = list(names or [str(k) for k in range(max(train_y.max(), test_y.max()) + 1)])
    results = []
    for name, (described, columns) in BASELINES.items():
        model = Pipeline([("scale", StandardScaler()), ("classify", LogisticRegression(max_iter=2000))])
        model.fit(train_x[:, columns], train_y)
        probabilities = np.zeros((len(test_y), len(names)))
        probabilities[:, model.classes_] = model.predict_proba(test_x[:, columns])
        results.append(
            {
                "baseline": name,
                "features": described,
                **classification_metrics(test_y, probabilities, names),
                "accuracy_ci95": accuracy_ci(test_y, probabilities),
                "n_train": len(train_y),
                "n_test": len(test_y),
            }
        )
    return results


def run_baselines(
    train: Sequence[EvalCase], test: Sequence[EvalCase], names: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """:func:`score_baselines` on the features of case files; cases without a lesion are skipped and counted."""
    train_x, train_y, train_skipped = case_features(train)
    test_x, test_y, test_skipped = case_features(test)
    skipped = {"train": train_skipped, "test": test_skipped}
    return [{**r, "skipped_without_lesion": skipped} for r in score_baselines(train_x, train_y, test_x, test_y, names)]


def class_statistics(x: np.ndarray, y: Sequence[int], n_classes: int) -> dict[str, list[float]]:
    """Per-subtype means of the lesion's HU mean, HU std and volume (mL), to show they are matched."""
    y = np.asarray(y)
    return {
        name: [float(x[y == k, column].mean()) for k in range(n_classes)]
        for column, name in enumerate(("hu_mean", "hu_std", "volume_ml"))
    }


def baseline_table(results: Sequence[dict[str, Any]]) -> list[str]:
    """Markdown table of :func:`run_baselines`: features, accuracy (95% CI), macro F1, n train / n test."""
    lines = [
        "| baseline | features | accuracy (95% CI) | macro F1 | n train / n test |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        low, high = r["accuracy_ci95"]
        lines.append(
            f"| {r['baseline']} | {r['features']} | {r['accuracy']:.1%} ({low:.1%}-{high:.1%}) | {r['f_beta']:.3f}"
            f" | {r['n_train']} / {r['n_test']} |"
        )
    return lines
