"""Resource bounds that need both the image and the model, checked before preprocessing allocates anything.

A file's declared size is bounded when it is read (``file_checks.MAX_VOXELS``), but nnU-Net's
preprocessing resamples the volume to the model's spacing first: a plausible 477 KB file claiming
30 mm voxels resamples to hundreds of millions of voxels (minutes of work), one claiming 1e4 mm to a
57 GiB allocation. The shape preprocessing will make is computed here, as nnU-Net computes it, and
a volume beyond ``MAX_RESAMPLED_VOXELS`` (or with an axis shrinking to nothing) is refused.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import SimpleITK as sitk

from .file_checks import MAX_VOXELS
from .io import InputError

#: Largest volume the network's grid may hold after resampling, in voxels: the bound on a file's declared
#: size (512 x 512 x 2048), about 2 GiB as float32 before the network's outputs.
MAX_RESAMPLED_VOXELS = MAX_VOXELS


def resampled_shape(image: sitk.Image, model) -> tuple[list[float], list[float], tuple[float, ...]]:
    """The spacing, target spacing and shape (nnU-Net's axis order) that preprocessing resamples ``image`` to.

    Cropping to the non-zero region comes before resampling in nnU-Net and only shrinks the volume,
    so the whole image gives an upper bound.
    """
    from nnunetv2.preprocessing.resampling.default_resampling import compute_new_shape

    order = model.plans_manager.transpose_forward
    shape = [image.GetSize()[::-1][i] for i in order]
    spacing = [image.GetSpacing()[::-1][i] for i in order]
    target = [float(s) for s in model.configuration_manager.spacing]
    if len(target) < len(shape):  # a 2D configuration keeps the slice spacing
        target = [spacing[0], *target]
    try:
        new_shape = tuple(int(n) for n in compute_new_shape(shape, spacing, target))
    except OverflowError:  # a spacing so large that a side is infinite
        new_shape = tuple(round(s / t * n, 1) for n, s, t in zip(shape, spacing, target, strict=True))
    return spacing, target, new_shape


def check_resampled_size(image: sitk.Image, model, name: object) -> None:
    """Refuse ``image`` if the model's resampling would make it larger than ``MAX_RESAMPLED_VOXELS`` or empty."""
    spacing, target, shape = resampled_shape(image, model)
    voxels = math.prod(shape)
    if voxels <= MAX_RESAMPLED_VOXELS and min(shape) >= 1:
        return
    what = (
        f"{voxels:,} voxels, more than the limit of {MAX_RESAMPLED_VOXELS:,} (512 x 512 x 2048)"
        if min(shape) >= 1
        else "no voxels along an axis"
    )
    raise InputError(
        f"{name}: resampled from its voxel spacing {_mm(spacing)} to the model's {_mm(target)} the volume would "
        f"be {_shape(shape)} = {what}; check the spacing in its header, or crop it (--roi)"
    )


def _mm(values: Sequence[float]) -> str:
    return "(" + ", ".join(f"{float(v):g}" for v in values) + ") mm"


def _shape(shape: Sequence[float]) -> str:
    return " x ".join(str(n) for n in shape)
