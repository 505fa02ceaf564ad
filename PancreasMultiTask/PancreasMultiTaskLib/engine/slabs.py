"""Slabs of slices: what follows the sliding window (export, slice maps) runs a few slices at a time.

A whole CT's per-class float volumes (nnU-Net's export resamples every class in float64, then takes
probabilities) would otherwise grow peak memory by about 15 MB a slice; slab by slab only labels, and
the maps that are kept, grow with the volume. Every step done per slab works voxel by voxel or slice by
slice, so the outputs do not depend on the slab size. The one exception is a 3D spline resampling
(nnU-Net resamples a volume that is not anisotropic as a whole): a slab is then read with
``SPLINE_HALO`` extra slices each side, beyond which the spline's prefilter weights (0.268^k) are below
float64 resolution, and only its middle is kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

#: Slices each side of a slab read (and dropped) where the export's resampling is a 3D spline.
SPLINE_HALO = 32


@dataclass(frozen=True)
class Slab:
    """Slices ``[start, stop)`` to keep, read as ``[read_start, read_stop)``; ``keep`` indexes the read part."""

    start: int
    stop: int
    read_start: int
    read_stop: int

    @property
    def keep(self) -> slice:
        return slice(self.start - self.read_start, self.stop - self.read_start)


def slabs(n_slices: int, size: int, halo: int = 0) -> Iterator[Slab]:
    """Consecutive slabs of at most ``size`` slices covering ``n_slices``, each read with ``halo`` slices around."""
    size = max(1, size)
    for start in range(0, n_slices, size):
        stop = min(start + size, n_slices)
        yield Slab(start, stop, max(0, start - halo), min(n_slices, stop + halo))


def slicewise(function: Callable[[torch.Tensor], torch.Tensor], volume: torch.Tensor) -> torch.Tensor:
    """``function`` of each slice ``volume[:, z]`` of a (classes, slices, y, x) tensor on its own, written into one
    tensor along axis ``1`` of its result, or axis ``0`` where it drops the class axis.

    A vectorised kernel rounds the tail of a run differently from its body, so a nonlinearity of a slab can differ
    from the same slices' within the whole volume in the last bit; slice by slice it cannot.
    """
    out, axis = None, 0
    for z in range(volume.shape[1]):
        result = torch.as_tensor(function(volume[:, z]))
        if out is None:
            axis = 1 if result.dim() == volume.dim() - 1 else 0
            out = result.new_empty((*result.shape[:axis], volume.shape[1], *result.shape[axis:]))
        out.select(axis, z).copy_(result)
    return out
