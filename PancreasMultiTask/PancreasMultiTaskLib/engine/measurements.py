"""Volumes and the largest axial lesion diameter, from a label array and its spacing."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import numpy as np
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError
from scipy.spatial.distance import pdist


def volume_ml(mask: np.ndarray, spacing_zyx: Sequence[float]) -> float:
    """Volume of a boolean mask in millilitres."""
    return float(mask.sum() * np.prod(spacing_zyx) / 1000.0)


def _max_feret_mm(points_mm: np.ndarray) -> float:
    # scikit-image's feret_diameter_max ignores anisotropic pixels; the largest distance between
    # points lies on the convex hull, so measure there in millimetres.
    if len(points_mm) < 2:
        return 0.0
    with contextlib.suppress(QhullError):  # collinear points: all of them are on the "hull"
        points_mm = points_mm[ConvexHull(points_mm).vertices]
    return float(pdist(points_mm).max())


def max_axial_diameter_mm(mask: np.ndarray, spacing_zyx: Sequence[float], axial_axis: int = 0) -> float:
    """Largest in-plane (axial) diameter of any connected lesion, between voxel centres, in mm.

    Each connected component is measured on its own: the span between two separate lesions is not
    a diameter. Components are visited by decreasing bounding-box diagonal, which bounds their
    diameter, so the search stops early even on noisy masks.
    """
    in_plane = np.asarray([s for i, s in enumerate(spacing_zyx) if i != axial_axis], dtype=np.float64)
    best = 0.0
    planes = np.moveaxis(mask, axial_axis, 0)
    for index in np.flatnonzero(planes.reshape(planes.shape[0], -1).any(1)):
        components, _ = ndimage.label(planes[index])
        boxes = ndimage.find_objects(components)
        diagonals = [float(np.hypot(*((np.array([b.stop - b.start for b in box]) - 1) * in_plane))) for box in boxes]
        for label in np.argsort(diagonals)[::-1]:
            if diagonals[label] <= best:
                break
            box = boxes[label]
            points = np.argwhere(components[box] == label + 1) + [b.start for b in box]
            best = max(best, _max_feret_mm(points * in_plane))
    return best
