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
    a diameter.
    """
    in_plane = [s for i, s in enumerate(spacing_zyx) if i != axial_axis]
    best = 0.0
    for index in np.flatnonzero(np.moveaxis(mask, axial_axis, 0).reshape(mask.shape[axial_axis], -1).any(1)):
        plane = np.take(mask, index, axis=axial_axis)
        components, count = ndimage.label(plane)
        for label in range(1, count + 1):
            points = np.argwhere(components == label) * np.asarray(in_plane)
            best = max(best, _max_feret_mm(points))
    return best
