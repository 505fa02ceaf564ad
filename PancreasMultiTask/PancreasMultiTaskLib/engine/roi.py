"""Where in the input the engine predicts: the whole volume, a box (LPS or RAS mm), a mask's box, or the body.

Every mode ends as an index region of the input plus a record of how it was found, which ``result.json``
keeps (``provenance.roi`` in LPS mm, ``provenance.roi_how``). ``auto`` is a body crop (air, and what
does not touch the body such as the CT table, cut away), then, where the model folder carries a localizer
(``localizer.py``), the box it finds the gland in; without one, or when it finds no gland, the body crop is
the region and ``roi_how`` says which ran (a localizer that finds nothing also leaves a warning).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from .io import InputError

Region = tuple[slice, slice, slice]
#: A localizer: called on the body crop, it gives the gland's LPS box (``None``: no gland found) and how.
LocalizerCall = Callable[[sitk.Image], tuple[list[float] | None, str]]

#: Voxels above this are body (fat is about -100 HU, lung about -850, air -1000).
BODY_HU = -500.0
#: The body crop works on every ``BODY_STEP``-th voxel in-plane (a 512 x 512 slice becomes 128 x 128): it only
#: needs the body's extent, and the full grid would cost a 3D labelling of hundreds of millions of voxels.
BODY_STEP = 4
#: Margin added around the body, in mm, so the skin is never at the crop's edge.
BODY_MARGIN_MM = 10.0


@dataclass(frozen=True)
class RoiChoice:
    """A region of the input (``None``: all of it), how it was found, and a warning for the case's assessment."""

    region: Region | None
    box_lps: list[float] | None
    how: str
    warning: str | None = None


def volume_bounds(image: sitk.Image) -> tuple[np.ndarray, np.ndarray]:
    """The physical (LPS) bounding box of the volume's voxel centres: (low corner, high corner)."""
    size = np.array(image.GetSize()) - 1
    corners = [
        image.TransformIndexToPhysicalPoint(tuple(int(c) for c in corner))
        for corner in itertools.product(*zip([0, 0, 0], size, strict=True))
    ]
    return np.min(corners, axis=0), np.max(corners, axis=0)


def lps_to_ras(box: Sequence[float]) -> list[float]:
    """An axis-aligned box (x0 y0 z0 x1 y1 z1) from LPS to RAS mm, or back (the same flip of x and y)."""
    return [-box[0], -box[1], box[2], -box[3], -box[4], box[5]]


def _bounds_text(image: sitk.Image) -> str:
    low, high = volume_bounds(image)
    lps = [*low, *high]
    ras = lps_to_ras(lps)
    ras_low, ras_high = np.minimum(ras[:3], ras[3:]), np.maximum(ras[:3], ras[3:])
    fmt = lambda v: " ".join(f"{x:.1f}" for x in v)  # noqa: E731
    return f"the volume spans LPS {fmt(low)} to {fmt(high)} mm (RAS {fmt(ras_low)} to {fmt(ras_high)} mm)"


def box_region(image: sitk.Image, box_lps: Sequence[float], given_as: str = "LPS") -> Region:
    """Index slices (x, y, z) of the voxels inside a physical LPS box; a clear error, with the volume's bounds
    in LPS and RAS, if it misses the volume."""
    lo, hi = np.minimum(box_lps[:3], box_lps[3:]), np.maximum(box_lps[:3], box_lps[3:])
    corners = [
        image.TransformPhysicalPointToContinuousIndex(tuple(map(float, c)))
        for c in itertools.product(*zip(lo, hi, strict=True))
    ]
    first = np.maximum(np.floor(np.min(corners, axis=0) + 0.5), 0).astype(int)
    last = np.minimum(np.ceil(np.max(corners, axis=0) - 0.5), np.array(image.GetSize()) - 1).astype(int)
    shown = list(map(float, box_lps if given_as == "LPS" else lps_to_ras(box_lps)))
    if np.any(last < first):
        raise InputError(f"ROI {shown} ({given_as} mm) lies outside the volume: {_bounds_text(image)}")
    if last[2] == first[2]:
        raise InputError(f"ROI {shown} ({given_as} mm) covers a single slice; the engine needs a 3D region")
    return tuple(slice(int(a), int(b) + 1) for a, b in zip(first, last, strict=True))


def region_box_lps(image: sitk.Image, region: Region) -> list[float]:
    """The physical LPS box of a region's voxel centres (what ``result.json`` records)."""
    first = [s.start for s in region]
    last = [s.stop - 1 for s in region]
    corners = [
        image.TransformIndexToPhysicalPoint(tuple(int(v) for v in c))
        for c in itertools.product(*zip(first, last, strict=True))
    ]
    return [round(float(v), 3) for v in (*np.min(corners, axis=0), *np.max(corners, axis=0))]


def mask_box_lps(mask: sitk.Image, label: int | None, margin_mm: float) -> list[float]:
    """The LPS box of a mask's voxels (``label``, or any non-zero) plus a margin; the mask's own geometry."""
    array = sitk.GetArrayViewFromImage(mask)
    selected = array == label if label is not None else array != 0
    if not selected.any():
        raise InputError(f"the ROI mask has no voxel {'of label ' + str(label) if label is not None else 'set'}")
    zs, ys, xs = (np.flatnonzero(selected.any(axis=a)) for a in ((1, 2), (0, 2), (0, 1)))
    first, last = (xs[0], ys[0], zs[0]), (xs[-1], ys[-1], zs[-1])
    corners = [
        mask.TransformIndexToPhysicalPoint(tuple(int(v) for v in c))
        for c in itertools.product(*zip(first, last, strict=True))
    ]
    low, high = np.min(corners, axis=0) - margin_mm, np.max(corners, axis=0) + margin_mm
    return [float(v) for v in (*low, *high)]


def body_region(image: sitk.Image) -> Region | None:
    """The body's index region: the largest connected set of voxels above ``BODY_HU`` (on a coarse grid), plus
    ``BODY_MARGIN_MM``; ``None`` when nothing is above it."""
    from scipy import ndimage

    array = sitk.GetArrayViewFromImage(image)[:, ::BODY_STEP, ::BODY_STEP]
    labels, count = ndimage.label(array > BODY_HU)
    if count == 0:
        return None
    largest = int(np.argmax(np.bincount(labels.ravel())[1:])) + 1
    body = labels == largest
    zs, ys, xs = (np.flatnonzero(body.any(axis=a)) for a in ((1, 2), (0, 2), (0, 1)))
    spacing = image.GetSpacing()
    margin = [int(np.ceil(BODY_MARGIN_MM / s)) for s in spacing]
    size = image.GetSize()
    first = [max(0, xs[0] * BODY_STEP - margin[0]), max(0, ys[0] * BODY_STEP - margin[1]), max(0, zs[0] - margin[2])]
    last = [
        min(size[0] - 1, xs[-1] * BODY_STEP + BODY_STEP - 1 + margin[0]),
        min(size[1] - 1, ys[-1] * BODY_STEP + BODY_STEP - 1 + margin[1]),
        min(size[2] - 1, zs[-1] + margin[2]),
    ]
    return tuple(slice(int(a), int(b) + 1) for a, b in zip(first, last, strict=True))


def choose_roi(
    image: sitk.Image,
    roi: str | Sequence[float] | None,
    roi_ras: Sequence[float] | None = None,
    roi_mask: str | Path | None = None,
    roi_label: int | None = None,
    roi_margin: float = 10.0,
    localizer: LocalizerCall | None = None,
) -> RoiChoice:
    """The region to predict in, from the ROI options (at most one of a box, an RAS box and a mask); ``auto``
    uses ``localizer``, the model folder's, where it has one."""
    given = [
        name
        for name, value in (
            ("--roi box", roi if not isinstance(roi, str) else None),
            ("--roi-ras", roi_ras),
            ("--roi-mask", roi_mask),
        )
        if value is not None
    ]
    if len(given) > 1:
        raise InputError(f"give one region: {' and '.join(given)} were both given")
    if roi_ras is not None:
        box = lps_to_ras(list(map(float, roi_ras)))
        region = box_region(image, box, given_as="RAS")
        return RoiChoice(region, region_box_lps(image, region), f"box given in RAS mm {list(map(float, roi_ras))}")
    if roi_mask is not None:
        from .io import read_image

        mask = read_image(roi_mask)
        box = mask_box_lps(mask, roi_label, roi_margin)
        region = box_region(image, box)
        what = f"label {roi_label}" if roi_label is not None else "non-zero voxels"
        return RoiChoice(
            region, region_box_lps(image, region), f"mask {Path(roi_mask).name} ({what}) + {roi_margin:g} mm"
        )
    if roi is None or roi == "full":
        return RoiChoice(None, None, "full: the whole volume")
    if roi == "auto":
        return auto_region(image, localizer)
    region = box_region(image, list(map(float, roi)))
    return RoiChoice(region, region_box_lps(image, region), f"box given in LPS mm {list(map(float, roi))}")


def auto_region(image: sitk.Image, localizer: LocalizerCall | None) -> RoiChoice:
    """``--roi auto``: the body crop, then the localizer's gland box inside it; the body crop alone without a
    localizer, or (with a warning) when it finds no gland."""
    body = body_region(image)
    if body is None or all(s.start == 0 and s.stop == n for s, n in zip(body, image.GetSize(), strict=True)):
        body, body_how = None, "body crop found nothing to cut away"
    else:
        body_how = f"body crop (voxels above {BODY_HU:g} HU, largest connected part, + {BODY_MARGIN_MM:g} mm)"
    warning = None
    if localizer is None:
        fallback = "no localizer model in the model folder, so the gland itself is not looked for"
    else:
        box, how = localizer(image[body] if body is not None else image)
        if box is not None:
            found = box_region(image, box)
            region = (
                found
                if body is None
                else tuple(slice(max(a.start, b.start), min(a.stop, b.stop)) for a, b in zip(found, body, strict=True))
            )
            return RoiChoice(region, region_box_lps(image, region), f"auto: {body_how}, then {how}")
        fallback = f"{how}, so the body crop is the region"
        warning = f"--roi auto: {how}; predicted in the body crop instead"
    if body is None:
        return RoiChoice(None, None, f"auto: {body_how} (whole volume); {fallback}", warning)
    return RoiChoice(body, region_box_lps(image, body), f"auto: {body_how}; {fallback}", warning)
