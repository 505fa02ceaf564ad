"""Is a case like the model's training images? Its early encoder features against the training tiles'.

The gland's size and intensity checks (``competence.py``) do not see a real CT given to a phantom-trained
model: what it calls the gland can be a plausible 78 mL of soft tissue at a plausible median HU. What
differs is the image's texture, which the first encoder stages describe. Per guided tile (one a slice with
predicted gland, centred as the classifier's are), each channel's mean and standard deviation over the
outputs of :data:`FEATURE_STAGES` form the tile's features; a case's distance is the median over its tiles
of the squared Mahalanobis distance to the training tiles, per feature (Lee et al. 2018, "A simple unified
framework for detecting out-of-distribution samples and adversarial attacks"). ``competence.json`` holds,
per fold, the training tiles' mean and precision matrix (fitted in training with Ledoit-Wolf shrinkage) and
the limit chosen on validation cases that the fold did not train on.

This module holds the reference and the distance; ``feature_probe.py`` runs the stages on a case. Written
here because no maintained library computes it on an nnU-Net encoder; the precision matrix is
scikit-learn's (``training/pancreas_mt_training/familiarity.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

#: The encoder stages whose outputs describe a tile (0: the first, at full resolution).
FEATURE_STAGES = (0, 1)
#: A reference of more features than this is refused (ResEnc M's two first stages give 192).
MAX_FEATURES = 1024
#: References in one record (one a fold).
MAX_REFERENCES = 32
_FOLD = re.compile(r"^(\d{1,3}|all)$")


@dataclass(frozen=True)
class FeatureReference:
    """One fold's training tiles: feature mean, precision matrix, and the largest distance taken as familiar."""

    fold: str
    mean: np.ndarray
    precision: np.ndarray
    #: A case farther than this is unlike the training images.
    limit: float
    #: Validation cases the limit was chosen on.
    cases: int

    def to_json(self) -> dict[str, Any]:
        """The reference as ``competence.json`` holds it (7 significant digits: float32's precision)."""
        return {
            "fold": self.fold,
            "stages": list(FEATURE_STAGES),
            "mean": [float(f"{v:.7g}") for v in self.mean],
            "precision": [[float(f"{v:.7g}") for v in row] for row in self.precision],
            "limit": self.limit,
            "cases": self.cases,
        }


@dataclass(frozen=True)
class Familiarity:
    """A case's distance and the limit it was held to; ``note`` says why it was not measured."""

    distance: float | None = None
    limit: float | None = None
    fold: str | None = None
    note: str | None = None
    #: The tiles' features (tiles x features), for fitting a reference in training.
    features: np.ndarray | None = None


def _finite(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}"[:200])
    return float(value)


def _vector(value: Any, name: str, length: int | None = None) -> np.ndarray:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_FEATURES:
        raise ValueError(f"{name} must be a list of 1 to {MAX_FEATURES} numbers")
    if length is not None and len(value) != length:
        raise ValueError(f"{name} has {len(value)} numbers, expected {length}")
    return np.array([_finite(v, name) for v in value], dtype=np.float64)


def parse_reference(data: Any, name: str) -> FeatureReference:
    """One validated reference; ``ValueError`` names the field (the caller adds the file)."""
    if not isinstance(data, dict):
        raise ValueError(f"{name} must be an object")
    fold = data.get("fold")
    if not isinstance(fold, str) or not _FOLD.match(fold):
        raise ValueError(f'{name}.fold must be a fold name such as "0" or "all", got {fold!r}'[:200])
    if data.get("stages") != list(FEATURE_STAGES):
        raise ValueError(f"{name}.stages is {data.get('stages')!r}; this engine compares stages {list(FEATURE_STAGES)}")
    mean = _vector(data.get("mean"), f"{name}.mean")
    rows = data.get("precision")
    if not isinstance(rows, list) or len(rows) != len(mean):
        raise ValueError(f"{name}.precision must be {len(mean)} rows of {len(mean)} numbers")
    precision = np.stack([_vector(row, f"{name}.precision", len(mean)) for row in rows])
    eigenvalues = np.linalg.eigvalsh((precision + precision.T) / 2)
    if not np.allclose(precision, precision.T, rtol=1e-4, atol=1e-6 * np.abs(precision).max()) or (
        eigenvalues.min() < -1e-6 * max(eigenvalues.max(), 1e-12)
    ):
        raise ValueError(f"{name}.precision is not a symmetric positive semi-definite matrix")
    limit = _finite(data.get("limit"), f"{name}.limit")
    cases = data.get("cases")
    if limit <= 0:
        raise ValueError(f"{name}.limit must be positive, got {limit}")
    if isinstance(cases, bool) or not isinstance(cases, int) or cases < 1:
        raise ValueError(f"{name}.cases must be a positive integer, got {cases!r}"[:200])
    return FeatureReference(fold, mean, precision, limit, cases)


def parse_references(value: Any) -> tuple[FeatureReference, ...]:
    """The record's ``feature_references``: a list of at most :data:`MAX_REFERENCES`, one a fold."""
    if not isinstance(value, list) or len(value) > MAX_REFERENCES:
        raise ValueError(f"feature_references must be a list of at most {MAX_REFERENCES} objects")
    references = tuple(parse_reference(item, f"feature_references[{i}]") for i, item in enumerate(value))
    folds = [r.fold for r in references]
    if len(set(folds)) != len(folds):
        raise ValueError("feature_references names a fold twice")
    return references


def distance(reference: FeatureReference, features: np.ndarray) -> float:
    """The median over tiles of the squared Mahalanobis distance per feature."""
    centred = features - reference.mean
    squared = np.einsum("ij,jk,ik->i", centred, reference.precision, centred) / len(reference.mean)
    return float(np.median(squared))
