"""The paper's metric set (Metrics Reloaded), from scikit-learn and MONAI rather than hand-written formulas.

Classification: accuracy, macro F-beta, macro average precision, multi-class Brier score,
per-class sensitivity and specificity, confusion matrix. Segmentation, for the pancreas (labels 1
and 2: the whole gland, lesion included, as in the paper's region-based labels) and the lesion
(label 2): Dice, IoU, normalized surface Dice (NSD) at a tolerance in mm, and the 95th percentile
Hausdorff distance (HD95) in mm. A metric that is undefined for a case (e.g. HD95 with an empty
mask) is NaN and left out of means.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from monai.metrics import compute_dice, compute_hausdorff_distance, compute_iou, compute_surface_dice
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    confusion_matrix,
    fbeta_score,
    recall_score,
)

STRUCTURES: dict[str, tuple[int, ...]] = {"pancreas": (1, 2), "lesion": (2,)}
NSD_TOLERANCE_MM = 2.0


def classification_metrics(
    truth: Sequence[int], probabilities: np.ndarray, names: Sequence[str], beta: float = 1.0
) -> dict:
    """Case-level subtype metrics from true indices and (cases x subtypes) probabilities."""
    y = np.asarray(truth, dtype=int)
    p = np.asarray(probabilities, dtype=float)
    k = len(names)
    if p.ndim != 2 or p.shape != (len(y), k):
        raise ValueError(f"probabilities must be (cases, {k}), got {p.shape} for {len(y)} cases")
    labels = list(range(k))
    predicted = p.argmax(1)
    onehot = np.eye(k)[y]
    present = onehot.sum(0) > 0
    sensitivity = recall_score(y, predicted, labels=labels, average=None, zero_division=np.nan)
    specificity = [float(recall_score(y != c, predicted != c, pos_label=True, zero_division=np.nan)) for c in labels]
    return {
        "cases": len(y),
        "accuracy": float(accuracy_score(y, predicted)),
        "f_beta": float(fbeta_score(y, predicted, beta=beta, labels=labels, average="macro", zero_division=0)),
        "beta": beta,
        "average_precision": float(average_precision_score(onehot[:, present], p[:, present], average="macro")),
        "brier": float(brier_score_loss(y, p, labels=labels, scale_by_half=False)),
        "sensitivity": {n: float(s) for n, s in zip(names, sensitivity, strict=True)},
        "specificity": {n: s for n, s in zip(names, specificity, strict=True)},
        "confusion_matrix": confusion_matrix(y, predicted, labels=labels).tolist(),
        "names": list(names),
    }


def _onehot(mask: np.ndarray) -> torch.Tensor:
    """(1, 2, *spatial) background/foreground one-hot, the layout MONAI's metrics take."""
    m = torch.from_numpy(np.ascontiguousarray(mask, dtype=bool))
    return torch.stack([~m, m])[None].float()


def segmentation_metrics(
    prediction: np.ndarray,
    truth: np.ndarray,
    spacing: Sequence[float],
    structures: Mapping[str, Sequence[int]] = STRUCTURES,
    tolerance_mm: float = NSD_TOLERANCE_MM,
) -> dict[str, dict[str, float]]:
    """Dice, IoU, NSD and HD95 per structure for label maps of equal shape; ``spacing`` in array axis order."""
    if prediction.shape != truth.shape:
        raise ValueError(f"prediction shape {prediction.shape} != truth shape {truth.shape}")
    spacing = [float(s) for s in spacing]
    out = {}
    for name, labels in structures.items():
        pred, ref = _onehot(np.isin(prediction, labels)), _onehot(np.isin(truth, labels))
        both_empty = not pred[0, 1].any() and not ref[0, 1].any()
        either_empty = not pred[0, 1].any() or not ref[0, 1].any()
        dice = float(compute_dice(pred, ref, include_background=False, ignore_empty=False)[0, 0])
        iou = float(compute_iou(pred, ref, include_background=False, ignore_empty=False)[0, 0])
        if either_empty:
            nsd = 1.0 if both_empty else 0.0
            hd95 = math.nan
        else:
            with warnings.catch_warnings():  # MONAI 1.5+ deprecation notice from its own internals
                warnings.simplefilter("ignore", FutureWarning)
                nsd = float(compute_surface_dice(pred, ref, [tolerance_mm], spacing=spacing)[0, 0])
                hd95 = float(compute_hausdorff_distance(pred, ref, percentile=95, spacing=spacing)[0, 0])
        out[name] = {"dice": dice, "iou": iou, "nsd": nsd, "hd95_mm": hd95}
    return out


def mean_segmentation(per_case: Sequence[Mapping[str, Mapping[str, float]]]) -> dict[str, dict[str, float]]:
    """Mean (NaN ignored) of each structure's metrics over cases."""
    if not per_case:
        return {}
    out: dict[str, dict[str, float]] = {}
    for structure, metrics in per_case[0].items():
        out[structure] = {}
        for metric in metrics:
            values = np.array([c[structure][metric] for c in per_case], dtype=float)
            out[structure][metric] = float(np.nanmean(values)) if np.isfinite(values).any() else math.nan
    return out
