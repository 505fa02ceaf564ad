"""Synthetic pancreas CT with three lesion subtypes: three generators.

``abdomen`` (the CLI's default): whole 512 x 512 abdominal CT fields with organs, normal cases and
overlapping subtype cues; see :mod:`pancreas_mt_training.phantoms_abdomen`, which reuses this
module's lesion patterns.

``field`` (the Python API's default, used by the demo model): subtypes differ by **morphology only**.

* A whole axial field of view, 96-160 px in-plane (each axis drawn separately), spacing 0.6-1.0 mm
  in-plane and 1.5-3 mm between slices, 30-40 mm of slices; fat, bowel loops and vessels, a
  lobulated, curved pancreas anywhere in the field at any in-plane angle, and one lesion anywhere
  along the gland.
* The lesion's voxel values are an affine map of a subtype pattern onto a mean and standard
  deviation drawn from the same distribution for every subtype (mean 20-60 HU, std 15-30 HU, set
  after the partial-volume blur), and its volume is drawn from one distribution (sphere-equivalent
  radius 6-12 mm) and met to the voxel, whatever the outline. So first-order intensity and volume
  carry no subtype information (:mod:`pancreas_mt_training.baseline` checks this); only the pattern does:

  * ``0`` **hypodense-solid**: lobulated, irregular outline; mottled texture (blobs of 1-2 mm);
  * ``1`` **rim-enhancing**: mildly irregular outline; a bright ring 2-3 mm thick around a dark core;
  * ``2`` **cystic-septated**: smooth round outline; homogeneous content, a faint 1 mm wall and 1-3 thin
    (1 mm) bright septa.

* A global HU offset of +-20 and Gaussian noise of 6-16 HU after a slight blur.

``centred`` (the earlier generator, kept for tests that need a fixed shape): a 45 x 45 x 32 mm crop
at 0.7 x 0.7 x 2 mm around a lesion within a few mm of its centre, with subtypes that also differ in
HU (hypodense 35-55 HU, rim 140-180 HU around a 10-30 HU core, fluid -5-10 HU).

Both write int16 HU images and labels 0 background, 1 pancreas (the gland outside the lesion),
2 lesion; a case is fully determined by ``(seed, index)``. ``orientation="random"`` stores a case in
one of the 48 axis permutations and flips (:data:`ORIENTATIONS`) instead of LPS, for held-out sets.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import SimpleITK as sitk
from PancreasMultiTaskLib.engine.io import atomic_path, write_image
from scipy import ndimage

from .parallel import map_in_processes

if TYPE_CHECKING:
    from .phantoms_abdomen import AbdomenParams

SUBTYPE_NAMES = ("hypodense-solid", "rim-enhancing", "cystic-septated")
#: Voxel spacing (x, y, z) in mm: anisotropic like the paper's thin in-plane, thicker axial spacing.
SPACING = (0.7, 0.7, 2.0)
#: Default array shape (z, y, x).
SHAPE = (16, 64, 64)


@dataclass(frozen=True)
class Phantom:
    """One synthetic case: CT image (HU), label map, subtype index (-1: no lesion) and drawn parameters."""

    case_id: str
    image: sitk.Image
    label: sitk.Image
    subtype: int
    metadata: dict = field(default_factory=dict)


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, ...], sigma_vox: tuple[float, ...]) -> np.ndarray:
    """Zero-mean, unit-variance smooth random field."""
    noise = ndimage.gaussian_filter(rng.standard_normal(shape), sigma_vox)
    return (noise - noise.mean()) / (noise.std() + 1e-9)


def _blob(
    coords: tuple[np.ndarray, np.ndarray, np.ndarray],
    center: np.ndarray,
    radii: np.ndarray,
    angle: float,
    wobble: np.ndarray,
    irregularity: float = 0.15,
) -> np.ndarray:
    """Normalized radius of a rotated, noise-deformed ellipsoid (< 1 inside)."""
    z, y, x = (c - c0 for c, c0 in zip(coords, center, strict=True))
    ca, sa = np.cos(angle), np.sin(angle)
    u, v = ca * x + sa * y, -sa * x + ca * y
    return np.sqrt((u / radii[2]) ** 2 + (v / radii[1]) ** 2 + (z / radii[0]) ** 2) * (1 + irregularity * wobble)


def make_phantom(
    seed: int, index: int, subtype: int, shape: tuple[int, int, int] = SHAPE, case_id: str | None = None
) -> Phantom:
    """Generate one phantom of the given subtype; the same ``(seed, index)`` always gives the same case."""
    if subtype not in range(len(SUBTYPE_NAMES)):
        raise ValueError(f"subtype must be 0..{len(SUBTYPE_NAMES) - 1}, got {subtype}")
    rng = np.random.default_rng([seed, index, subtype])
    sz, sy, sx = SPACING[2], SPACING[1], SPACING[0]
    coords = np.meshgrid(
        np.arange(shape[0]) * sz, np.arange(shape[1]) * sy, np.arange(shape[2]) * sx, indexing="ij", sparse=True
    )
    extent = np.array([shape[0] * sz, shape[1] * sy, shape[2] * sx])
    smooth = (1.0, 4.0, 4.0)

    # Background: fat with soft-tissue (bowel) blobs and bright vessels.
    image = -95 + 10 * _smooth_noise(rng, shape, smooth)
    for _ in range(rng.integers(2, 5)):
        center = rng.uniform(0.1, 0.9, 3) * extent
        radii = rng.uniform([4, 4, 4], [10, 9, 9])
        inside = _blob(coords, center, radii, rng.uniform(0, np.pi), _smooth_noise(rng, shape, smooth)) < 1
        image[inside] = rng.uniform(20, 50)
    for _ in range(rng.integers(1, 3)):
        y0, x0 = rng.uniform(0.1, 0.9, 2) * extent[1:]
        slope_y, slope_x, radius = rng.uniform(-0.4, 0.4), rng.uniform(-0.4, 0.4), rng.uniform(2, 4)
        z = coords[0] - extent[0] / 2
        vessel = (coords[1] - y0 - slope_y * z) ** 2 + (coords[2] - x0 - slope_x * z) ** 2 < radius**2
        image[vessel] = rng.uniform(150, 200)

    # Lesion centre: near the middle of the crop, as in ROI crops made around a lesion.
    center = extent / 2 + rng.uniform(-1, 1, 3) * np.array([2.0, 4.0, 4.0])

    # Pancreas: a lobulated, gently curved band across the field of view, through the lesion.
    y_mid = center[1]
    bend, phase = rng.uniform(3, 8), rng.uniform(0, 2 * np.pi)
    thickness = rng.uniform(7, 11)
    z_center, z_half = center[0] + rng.uniform(-2, 2), rng.uniform(0.3, 0.45) * extent[0]
    centerline = y_mid + bend * (
        np.sin(coords[2] / extent[2] * np.pi + phase) - np.sin(center[2] / extent[2] * np.pi + phase)
    )
    lobulation = _smooth_noise(rng, shape, (1.0, 2.5, 2.5))
    pancreas_r = np.sqrt(((coords[1] - centerline) / thickness) ** 2 + ((coords[0] - z_center) / z_half) ** 2)
    pancreas = (pancreas_r + 0.12 * lobulation) < 1
    image[pancreas] = rng.uniform(90, 115) + 8 * lobulation[pancreas]

    # Lesion: inside the gland (it may bulge out of it), radius 5-11 mm in-plane.
    r_inplane = rng.uniform(5, 11)
    radii = np.array([max(2.5, r_inplane * rng.uniform(0.6, 1.0)), r_inplane * rng.uniform(0.75, 1.0), r_inplane])
    irregularity = (0.35, 0.15, 0.05)[subtype]
    wobble = _smooth_noise(rng, shape, (1.0, 3.0, 3.0))
    d = _blob(coords, center, radii, rng.uniform(0, np.pi), wobble, irregularity)
    lesion = d < 1
    texture = _smooth_noise(rng, shape, (0.7, 1.5, 1.5))
    if subtype == 0:
        image[lesion] = rng.uniform(35, 55) + 14 * texture[lesion]
    elif subtype == 1:
        rim = lesion & (d > 1 - rng.uniform(1.5, 2.5) / r_inplane)
        image[lesion] = rng.uniform(10, 30) + 5 * texture[lesion]
        image[rim] = rng.uniform(140, 180) + 10 * texture[rim]
    else:
        image[lesion] = rng.uniform(-5, 10) + 2 * texture[lesion]
        image[lesion & (d > 1 - 1.0 / r_inplane)] = rng.uniform(80, 100)
        for _ in range(rng.integers(1, 4)):
            normal = rng.standard_normal(3) * np.array([0.3, 1, 1])
            normal /= np.linalg.norm(normal)
            offset = rng.uniform(-0.5, 0.5) * r_inplane
            dist = sum(n * (c - c0) for n, c, c0 in zip(normal, coords, center, strict=True)) - offset
            image[lesion & (np.abs(dist) < 0.5)] = rng.uniform(80, 120)

    label = np.zeros(shape, dtype=np.uint8)
    label[pancreas] = 1
    label[lesion] = 2
    image = ndimage.gaussian_filter(image, (0.3, 0.6, 0.6)) + rng.uniform(10, 18) * rng.standard_normal(shape)
    return _to_phantom(image, label, SPACING, rng, case_id or f"phantom_s{seed}_{index:03d}", subtype)


#: Generators by name: ``abdomen`` (whole abdominal CT fields, :mod:`.phantoms_abdomen`), ``field``
#: (morphology only, whole field of view) and ``centred`` (the earlier one).
GENERATORS = ("abdomen", "field", "centred")
#: In-plane field of view of ``field`` phantoms, in voxels (each axis drawn separately).
FIELD_SIZE = (96, 160)
#: Ranges of the lesion's HU mean and std, its sphere-equivalent radius (mm), the global HU offset and
#: the noise std (HU): the same for every subtype.
STATS_RANGES = ((20.0, 60.0), (15.0, 30.0), (6.0, 12.0), (-20.0, 20.0), (6.0, 16.0))
#: Every axis-aligned orientation code (axis permutations and flips), for ``orientation="random"``.
ORIENTATIONS = tuple(
    a + b + c
    for a in "LRAPSI"
    for b in "LRAPSI"
    for c in "LRAPSI"
    if len({a, b, c}) == 3
    and len({x for x in a + b + c} & {"L", "R"}) == 1
    and len({x for x in a + b + c} & {"A", "P"}) == 1
    and len({x for x in a + b + c} & {"S", "I"}) == 1
)


def _normalize_on(values: np.ndarray, mean: float, std: float) -> np.ndarray:
    """Affine map of ``values`` onto the given mean and standard deviation."""
    return mean + std * (values - values.mean()) / (values.std() + 1e-9)


def lesion_pattern(
    rng: np.random.Generator,
    pattern: int,
    coords: Sequence[np.ndarray],
    center: np.ndarray,
    d: np.ndarray,
    lesion: np.ndarray,
    r_eq: float,
    spacing_zyx: np.ndarray,
) -> np.ndarray:
    """A subtype's morphology pattern (about 0-1, mapped to HU later) inside ``lesion``.

    ``d`` is the lesion's normalized radius (1 on the outline), ``coords`` the voxel coordinates in
    mm (z, y, x; may be sparse), ``center`` the lesion centre in mm, ``r_eq`` its radius in mm.
    ``0`` mottled blobs of 1-2 mm; ``1`` a ring 2-3 mm thick; ``2`` a faint 1 mm wall and 1-3 septa.
    """
    shape = lesion.shape
    result = np.zeros(shape)
    if pattern == 0:
        mottle = _smooth_noise(
            rng, shape, tuple(float(v) for v in np.array([1.0, 1.0, 1.0]) * rng.uniform(1, 2) / spacing_zyx)
        )
        result[lesion] = mottle[lesion]
    elif pattern == 1:
        result[lesion & (d > 1 - rng.uniform(2.0, 3.0) / r_eq)] = 1.0
    else:
        result[lesion & (d > 1 - 1.0 / r_eq)] = 0.35
        for _ in range(rng.integers(1, 4)):
            normal = rng.standard_normal(3) * np.array([0.3, 1, 1])
            normal /= np.linalg.norm(normal)
            shift = rng.uniform(-0.5, 0.5) * r_eq
            dist = sum(n * (c - c0) for n, c, c0 in zip(normal, coords, center, strict=True)) - shift
            result[lesion & (np.abs(dist) < 0.5)] = 1.0
    return result


def make_field_phantom(
    seed: int,
    index: int,
    subtype: int,
    case_id: str | None = None,
    field_size: tuple[int, int] = FIELD_SIZE,
    quantiles: Sequence[float] | None = None,
) -> Phantom:
    """One ``field`` phantom (see the module docstring); the same ``(seed, index)`` always gives the same case.

    ``quantiles`` (5 numbers in [0, 1)) fix the lesion's HU mean, HU std and volume, the global offset
    and the noise level within their ranges; :func:`generate_phantoms` stratifies them per subtype so
    that a set's subtypes have matched statistics, not only matched distributions.
    """
    if subtype not in range(len(SUBTYPE_NAMES)):
        raise ValueError(f"subtype must be 0..{len(SUBTYPE_NAMES) - 1}, got {subtype}")
    rng = np.random.default_rng([seed, index, subtype, 2])
    q = np.asarray(quantiles if quantiles is not None else rng.uniform(0, 1, len(STATS_RANGES)), dtype=np.float64)
    if q.shape != (len(STATS_RANGES),) or np.any((q < 0) | (q > 1)):
        raise ValueError(f"quantiles must be {len(STATS_RANGES)} numbers in [0, 1], got {quantiles}")
    hu_mean, hu_std, r_eq, offset, noise = (lo + qi * (hi - lo) for qi, (lo, hi) in zip(q, STATS_RANGES, strict=True))
    s_xy, s_z = rng.uniform(0.6, 1.0), rng.uniform(1.5, 3.0)
    shape = (
        max(8, round(rng.uniform(30, 40) / s_z)),
        int(rng.integers(field_size[0], field_size[1] + 1)),
        int(rng.integers(field_size[0], field_size[1] + 1)),
    )
    spacing_zyx = np.array([s_z, s_xy, s_xy])
    coords = np.meshgrid(
        *(np.arange(n) * s for n, s in zip(shape, spacing_zyx, strict=True)), indexing="ij", sparse=True
    )
    extent = np.array(shape) * spacing_zyx
    smooth = tuple(float(v) for v in np.array([2.0, 3.0, 3.0]) / spacing_zyx)

    # Background: fat with soft-tissue (bowel) loops and bright vessels, in proportion to the area.
    image = -95 + 10 * _smooth_noise(rng, shape, smooth)
    area = extent[1] * extent[2]
    for _ in range(int(rng.integers(2, 4 + area // 2500))):
        center = rng.uniform(0.05, 0.95, 3) * extent
        radii = rng.uniform([4, 5, 5], [12, 14, 14])
        inside = _blob(coords, center, radii, rng.uniform(0, np.pi), _smooth_noise(rng, shape, smooth)) < 1
        image[inside] = rng.uniform(20, 50)
    for _ in range(int(rng.integers(1, 3 + area // 6000))):
        y0, x0 = rng.uniform(0.05, 0.95, 2) * extent[1:]
        slope_y, slope_x, radius = rng.uniform(-0.4, 0.4), rng.uniform(-0.4, 0.4), rng.uniform(2, 5)
        z = coords[0] - extent[0] / 2
        vessel = (coords[1] - y0 - slope_y * z) ** 2 + (coords[2] - x0 - slope_x * z) ** 2 < radius**2
        image[vessel] = rng.uniform(150, 200)

    # Pancreas: a lobulated, curved band of 45-80 mm at any angle, anywhere in the field.
    length = min(rng.uniform(45, 80), 0.8 * extent[1:].min())
    margin = np.array([length / 2, length / 2]) * 0.6 + 12
    c_yx = np.array([rng.uniform(m, max(m, e - m)) for m, e in zip(margin, extent[1:], strict=True)])
    angle = rng.uniform(0, np.pi)
    along = np.cos(angle) * (coords[2] - c_yx[1]) + np.sin(angle) * (coords[1] - c_yx[0])
    across = -np.sin(angle) * (coords[2] - c_yx[1]) + np.cos(angle) * (coords[1] - c_yx[0])
    bend, phase = rng.uniform(3, 10), rng.uniform(0, 2 * np.pi)
    thickness, z_center, z_half = rng.uniform(8, 12), extent[0] / 2 + rng.uniform(-3, 3), rng.uniform(9, 14)

    def centerline(u: np.ndarray) -> np.ndarray:
        return bend * np.sin(u / length * np.pi + phase)

    lobulation = _smooth_noise(rng, shape, tuple(float(v) for v in np.array([2.0, 2.0, 2.0]) / spacing_zyx))
    beyond = np.maximum(np.abs(along) - length / 2, 0)
    pancreas_r = np.sqrt(
        ((across - centerline(along)) / thickness) ** 2
        + ((coords[0] - z_center) / z_half) ** 2
        + (beyond / thickness) ** 2
    )
    pancreas = (pancreas_r + 0.12 * lobulation) < 1
    image[pancreas] = rng.uniform(90, 115) + 8 * lobulation[pancreas]

    # Lesion: anywhere along the gland; volume from one distribution for all subtypes.
    u0 = rng.uniform(-0.5, 0.5) * max(length - 2 * r_eq, 0)
    v0 = centerline(np.array(u0)) + rng.uniform(-0.3, 0.3) * thickness
    center = np.array(
        [
            z_center + rng.uniform(-2, 2),
            c_yx[0] + np.sin(angle) * u0 + np.cos(angle) * v0,
            c_yx[1] + np.cos(angle) * u0 - np.sin(angle) * v0,
        ]
    )
    radii = np.array([max(1.5 * s_z, r_eq * rng.uniform(0.7, 1.0)), r_eq * rng.uniform(0.8, 1.0), r_eq])
    irregularity = (0.3, 0.1, 0.02)[subtype]
    wobble = _smooth_noise(rng, shape, tuple(float(v) for v in np.array([2.5, 2.5, 2.5]) / spacing_zyx))
    d = _blob(coords, center, radii, rng.uniform(0, np.pi), wobble, irregularity)
    target_voxels = max(8, round(4 / 3 * np.pi * r_eq**3 / np.prod(spacing_zyx)))
    threshold = np.partition(d.ravel(), target_voxels)[target_voxels]
    lesion = d < threshold
    d = d / threshold  # 1 on the outline
    image[lesion] = 100 * lesion_pattern(rng, subtype, coords, center, d, lesion, r_eq, spacing_zyx)[lesion]
    image = ndimage.gaussian_filter(image, tuple(float(v) for v in 0.45 / spacing_zyx))
    # Same first-order statistics for every subtype: the lesion's values after the blur are mapped
    # onto a mean and standard deviation drawn from one distribution.
    image[lesion] = _normalize_on(image[lesion], hu_mean, hu_std)
    image = image + offset + noise * rng.standard_normal(shape)

    label = np.zeros(shape, dtype=np.uint8)
    label[pancreas] = 1
    label[lesion] = 2
    phantom = _to_phantom(image, label, (s_xy, s_xy, s_z), rng, case_id or f"phantom_s{seed}_{index:03d}", subtype)
    return replace(phantom, metadata={"hu_offset": float(offset), "noise_hu": float(noise)})


def _to_phantom(
    image: np.ndarray,
    label: np.ndarray,
    spacing: tuple[float, float, float],
    rng: np.random.Generator,
    case_id: str,
    subtype: int,
) -> Phantom:
    """SimpleITK images (int16 HU, uint8 labels) in LPS with a random origin."""
    image_itk = sitk.GetImageFromArray(np.clip(np.round(image), -1024, 3071).astype(np.int16))
    label_itk = sitk.GetImageFromArray(label)
    origin = tuple(float(v) for v in rng.uniform(-200, 200, 3))
    for img in (image_itk, label_itk):
        img.SetSpacing(tuple(float(s) for s in spacing))
        img.SetOrigin(origin)
        img.SetDirection((1, 0, 0, 0, 1, 0, 0, 0, 1))
    return Phantom(case_id, image_itk, label_itk, subtype)


def reoriented(phantom: Phantom, code: str) -> Phantom:
    """The same phantom stored in another axis-aligned orientation (voxels moved, never resampled)."""
    return replace(phantom, image=sitk.DICOMOrient(phantom.image, code), label=sitk.DICOMOrient(phantom.label, code))


def _latin_hypercube(rng: np.random.Generator, n: int, dims: int) -> np.ndarray:
    """``n`` points in [0, 1)^dims, one in each of ``n`` equal strata of every dimension."""
    return np.stack([(rng.permutation(n) + rng.uniform(0, 1, n)) / n for _ in range(dims)], axis=1)


def phantom_subtypes(seed: int, count: int) -> list[int]:
    """Balanced, shuffled subtype indices for ``count`` phantoms of one seed."""
    subtypes = np.arange(count) % len(SUBTYPE_NAMES)
    np.random.default_rng([seed, 2**31 - 1]).shuffle(subtypes)
    return [int(s) for s in subtypes]


def phantom_makers(
    seed: int,
    count: int,
    shape: tuple[int, int, int] = SHAPE,
    generator: str = "field",
    orientation: str = "LPS",
    field_size: tuple[int, int] = FIELD_SIZE,
    abdomen: AbdomenParams | None = None,
) -> list[Callable[[], Phantom]]:
    """One maker per phantom of a set (a picklable ``functools.partial``): the set's shared draws (subtypes, Latin
    hypercube, orientations) are made here, so each case can be made alone, in any process, and comes out the same.

    ``shape`` applies to the ``centred`` generator; ``field_size`` to ``field``; ``abdomen`` (ranges,
    default :class:`~.phantoms_abdomen.AbdomenParams`) to ``abdomen``. ``orientation`` is ``LPS`` or
    ``random`` (one of :data:`ORIENTATIONS` per case, drawn from the seed). The arguments are checked here.
    """
    if generator not in GENERATORS:
        raise ValueError(f"generator must be one of {GENERATORS}, got {generator!r}")
    if orientation not in ("LPS", "random"):
        raise ValueError(f"orientation must be 'LPS' or 'random', got {orientation!r}")
    rng = np.random.default_rng([seed, 2**31 - 2])
    codes = rng.choice(ORIENTATIONS, count)
    if generator == "abdomen":
        from .phantoms_abdomen import make_abdomen_phantom

        makers = [partial(make_abdomen_phantom, seed, i, abdomen) for i in range(count)]
    else:
        makers = _slab_makers(rng, seed, count, shape, generator, field_size)
    if orientation == "random":
        return [partial(_reoriented_case, make, str(code)) for make, code in zip(makers, codes, strict=True)]
    return makers


def generate_phantoms(seed: int, count: int, *args: Any, **kwargs: Any) -> Iterator[Phantom]:
    """``count`` phantoms with balanced subtypes, reproducible by ``seed``, made one at a time (a whole field is
    tens of MB: a set is written as it is made, never held; ``list()`` it to keep it). The further arguments are
    :func:`phantom_makers`', checked when called, not when the first phantom is asked for."""
    makers = phantom_makers(seed, count, *args, **kwargs)
    return (make() for make in makers)


def _reoriented_case(make: Callable[[], Phantom], code: str) -> Phantom:
    return reoriented(make(), code)


def _slab_makers(
    rng: np.random.Generator,
    seed: int,
    count: int,
    shape: tuple[int, int, int],
    generator: str,
    field_size: tuple[int, int],
) -> list[Callable[[], Phantom]]:
    """The ``field`` and ``centred`` phantoms' makers, their statistics drawn per subtype by a Latin hypercube up
    front."""
    subtypes = phantom_subtypes(seed, count)
    quantiles = np.zeros((count, len(STATS_RANGES)))
    for s in set(subtypes):
        members = [i for i, t in enumerate(subtypes) if t == s]
        quantiles[members] = _latin_hypercube(rng, len(members), len(STATS_RANGES))
    if generator == "field":
        return [
            partial(make_field_phantom, seed, i, s, field_size=field_size, quantiles=quantiles[i])
            for i, s in enumerate(subtypes)
        ]
    return [partial(make_phantom, seed, i, s, shape) for i, s in enumerate(subtypes)]


def write_phantoms(
    output: str | Path,
    seed: int,
    count: int,
    shape: tuple[int, int, int] = SHAPE,
    layout: str = "generic",
    generator: str = "field",
    orientation: str = "LPS",
    field_size: tuple[int, int] = FIELD_SIZE,
    abdomen: AbdomenParams | None = None,
    jobs: int = 1,
) -> Path:
    """Write phantoms as a generic folder (``images/``, ``labels/``, ``subtypes.csv``) or the paper's layout.

    The paper's layout is ``train/subtype{k}/<case>_0000.nii.gz`` beside ``<case>.nii.gz``; it has no
    place for normal cases. ``abdomen`` phantoms also get ``phantoms.json`` (each case's drawn
    parameters, the lesion pattern shown among them, and the achievable subtype accuracy); normal
    cases have subtype ``-1`` in ``subtypes.csv``. ``jobs``: cases made and written in that many processes, the
    same files as in one.
    """
    if layout not in ("generic", "paper"):
        raise ValueError(f"layout must be 'generic' or 'paper', got {layout!r}")
    if generator == "abdomen":
        from .phantoms_abdomen import AbdomenParams, side_file

        abdomen = abdomen or AbdomenParams()
        if layout == "paper" and abdomen.normal_fraction > 0:
            raise ValueError("the paper layout has subtype folders only: use normal fraction 0 or the generic layout")
    output = Path(output)
    makers = phantom_makers(seed, count, shape, generator, orientation, field_size, abdomen)
    drawn = map_in_processes(partial(_write_case, output=output, layout=layout), makers, jobs)
    rows = [(case_id, subtype) for case_id, subtype, _ in drawn]
    if layout == "generic":
        with atomic_path(output / "subtypes.csv") as tmp, tmp.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["case_id", "subtype"])
            writer.writerows(rows)
    if generator == "abdomen":
        with atomic_path(output / "phantoms.json") as tmp:
            tmp.write_text(json.dumps(side_file(drawn, abdomen), indent=1) + "\n", encoding="utf-8")
    return output


def _write_case(make: Callable[[], Phantom], output: Path, layout: str) -> tuple[str, int, dict]:
    """Make one phantom and write its image and label; its id, subtype and drawn parameters."""
    phantom = make()
    if layout == "generic":
        image_dir, label_dir = output / "images", output / "labels"
    else:
        image_dir = label_dir = output / "train" / f"subtype{phantom.subtype}"
    write_image(phantom.image, image_dir / f"{phantom.case_id}_0000.nii.gz")
    write_image(phantom.label, label_dir / f"{phantom.case_id}.nii.gz")
    return phantom.case_id, phantom.subtype, phantom.metadata
