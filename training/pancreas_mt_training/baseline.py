"""The trivial baseline beside the CNN: nearest centroid on first-order lesion features (true mask).

If a rule on the lesion's HU mean and standard deviation, or on its volume, separates the subtypes,
the phantoms are too easy to show anything about a CNN. Features come from the image and its true
label map (label 2, the lesion); the centroids are fitted on training cases and scored on held-out ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from sklearn.neighbors import NearestCentroid
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

#: Feature sets of the baseline: name -> columns of :func:`lesion_features`.
FEATURE_SETS = {"intensity (HU mean + std)": (0, 1), "volume": (2,)}
LESION = 2


def lesion_features(image: sitk.Image, label: sitk.Image) -> np.ndarray:
    """Lesion HU mean, HU standard deviation and volume (mL) from the true label map."""
    values = sitk.GetArrayViewFromImage(image)[sitk.GetArrayViewFromImage(label) == LESION].astype(np.float64)
    if values.size == 0:
        raise ValueError("label map has no lesion voxels (label 2)")
    voxel_ml = float(np.prod(image.GetSpacing())) / 1000.0
    return np.array([values.mean(), values.std(), values.size * voxel_ml])


def features_of(cases: Sequence[tuple[str | Path, str | Path]]) -> np.ndarray:
    """One row of :func:`lesion_features` per ``(image, label)`` file pair."""
    return np.stack([lesion_features(sitk.ReadImage(str(i)), sitk.ReadImage(str(lab))) for i, lab in cases])


def nearest_centroid_accuracy(
    train_x: np.ndarray, train_y: Sequence[int], test_x: np.ndarray, test_y: Sequence[int]
) -> dict[str, float]:
    """Held-out accuracy of a standardized nearest-centroid rule for each feature set."""
    scores = {}
    for name, columns in FEATURE_SETS.items():
        model = make_pipeline(StandardScaler(), NearestCentroid())
        model.fit(train_x[:, columns], np.asarray(train_y))
        scores[name] = float(np.mean(model.predict(test_x[:, columns]) == np.asarray(test_y)))
    return scores


def class_statistics(x: np.ndarray, y: Sequence[int], n_classes: int) -> dict[str, list[float]]:
    """Per-subtype means of the lesion's HU mean, HU std and volume (mL), to show they are matched."""
    y = np.asarray(y)
    return {
        name: [float(x[y == k, column].mean()) for k in range(n_classes)]
        for column, name in enumerate(("hu_mean", "hu_std", "volume_ml"))
    }
