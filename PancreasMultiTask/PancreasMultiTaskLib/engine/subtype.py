"""Pooling per-slice subtype probabilities into a case prediction, and its uncertainty.

The paper averages every slice's softmax with the same weight, empty slices included. The default
here weights each slice by the lesion probability mass the segmentation sees in it, falling back to
pancreas mass, then to uniform, and says which it used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .options import POOLING_METHODS

#: Below this many voxels' worth of probability a structure counts as absent for weighting.
MIN_MASS = 1.0
#: A case is flagged uncertain above either threshold.
MAX_FOLD_SPREAD = 0.15
MAX_NORMALIZED_ENTROPY = 0.6


@dataclass(frozen=True)
class Pooled:
    """Case probabilities from per-slice probabilities, with the weights and method actually used."""

    probabilities: np.ndarray
    weights: np.ndarray
    method: str


def slice_weights(
    lesion_mass: np.ndarray, pancreas_mass: np.ndarray, method: str = "lesion-weighted"
) -> tuple[np.ndarray, str]:
    """Normalized per-slice weights and the method used (``lesion-weighted``, ``pancreas-weighted``, ``uniform``)."""
    if method not in POOLING_METHODS:
        raise ValueError(f"pooling must be one of {POOLING_METHODS}, got {method!r}")
    lesion_mass = np.asarray(lesion_mass, dtype=np.float64)
    pancreas_mass = np.asarray(pancreas_mass, dtype=np.float64)
    if method == "lesion-weighted":
        for mass, used in ((lesion_mass, "lesion-weighted"), (pancreas_mass, "pancreas-weighted")):
            if mass.sum() >= MIN_MASS:
                return mass / mass.sum(), used
    n = len(lesion_mass)
    return np.full(n, 1.0 / n), "uniform"


def pool(slice_probabilities: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted mean of per-slice probabilities (slices x subtypes) into case probabilities."""
    p = np.asarray(slice_probabilities, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] != w.shape[0]:
        raise ValueError(
            f"expected (slices, subtypes) probabilities and one weight per slice, got {p.shape}, {w.shape}"
        )
    case = w @ p / w.sum()
    return case / case.sum()


def pool_slices(
    slice_probabilities: np.ndarray,
    lesion_mass: np.ndarray,
    pancreas_mass: np.ndarray,
    method: str = "lesion-weighted",
) -> Pooled:
    """Pool (slices x subtypes) probabilities with the weights that ``method`` gives."""
    weights, used = slice_weights(lesion_mass, pancreas_mass, method)
    return Pooled(pool(slice_probabilities, weights), weights, used)


def normalized_entropy(probabilities: np.ndarray) -> float:
    """Shannon entropy divided by its maximum, log(K): 0 for a sure answer, 1 for a uniform one."""
    p = np.clip(np.asarray(probabilities, dtype=np.float64), 1e-12, 1.0)
    return float(-(p * np.log(p)).sum() / np.log(len(p)))


def fold_spread(fold_probabilities: np.ndarray) -> float | None:
    """Largest standard deviation across folds of any subtype's case probability; ``None`` for one fold (not
    measured: never reported as 0)."""
    f = np.asarray(fold_probabilities, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        return None
    return float(f.std(axis=0).max())


def is_uncertain(
    spread: float | None, entropy: float, top_probability: float | None = None, uncertain_below: float | None = None
) -> bool:
    """Uncertain when the folds disagree, or: below the calibrated threshold where the model has one, else
    when the entropy is high."""
    if spread is not None and spread > MAX_FOLD_SPREAD:
        return True
    if uncertain_below is not None and top_probability is not None:
        return top_probability < uncertain_below
    return entropy > MAX_NORMALIZED_ENTROPY


def calibrate(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """Temperature scaling of probabilities (last axis): softmax(log p / T), as fitted on validation cases."""
    logp = np.log(np.clip(np.asarray(probabilities, dtype=np.float64), 1e-12, 1.0)) / temperature
    logp -= logp.max(axis=-1, keepdims=True)
    scaled = np.exp(logp)
    return scaled / scaled.sum(axis=-1, keepdims=True)
