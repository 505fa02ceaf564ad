"""A lesion's outer shell: how deep each voxel lies below the outline, and the rim-minus-core contrast.

Shared by the radiomics baseline (:mod:`.baseline`, a feature) and the ``abdomen`` generator
(:mod:`.phantoms_abdomen`, which sets that contrast to a value drawn alike for every subtype).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

#: Thickness (mm) of the lesion's outer shell for the rim-minus-core contrast.
SHELL_MM = 2.0


def lesion_depth(mask: np.ndarray, spacing: Sequence[float]) -> np.ndarray:
    """Depth (mm) of each voxel of ``mask``: to the nearest voxel centre outside it (or past the array's edge)."""
    inner = tuple(slice(1, -1) for _ in range(mask.ndim))
    return ndimage.distance_transform_edt(np.pad(mask, 1), sampling=spacing)[inner]


def rim_minus_core(values: np.ndarray, depth: np.ndarray) -> float:
    """Mean of the lesion voxels within :data:`SHELL_MM` of the outline minus that of the rest (0 without both)."""
    rim = depth <= SHELL_MM
    if rim.all() or not rim.any():
        return 0.0
    return float(values[rim].mean() - values[~rim].mean())
