"""``abdomen`` phantoms: whole axial CT fields of the upper abdomen with a pancreas, normal or with one lesion.

Each case is a 512 x 512 field at 0.6-0.9 mm in-plane and 1-5 mm slices (:class:`AbdomenParams`;
``slices`` of them, default 32, so the z-extent is 32-160 mm). It holds air (-1000 HU) outside a body
outline lying on a CT table; subcutaneous fat; the abdominal wall, paraspinal and psoas muscles;
the spine (vertebral body, discs, canal, posterior elements) and lower ribs; liver, spleen, both
kidneys (with sinus fat), the stomach and bowel loops (wall; air, fluid or oral contrast content);
the duodenum around the pancreatic head; aorta, IVC, SMA (in a fat collar), SMV and the splenic vein
along the gland's back; and the pancreas (head, neck, body, tail; lobulated) with its duct.

* **Anatomy** varies between cases: body size (half-width 120-190 mm, fitted to the field of view),
  organ positions and sizes, gland size (full gland 40-110 mL, :data:`GLAND_VOLUME_ML`), gland course
  and the tail's rise (5-25 mm), bowel loops and their content.
* **Contrast phase**: one enhancement level per case, 0 (unenhanced) to 1 (portal venous); organ HU
  rise by up to 100 HU with it (pancreas 42 -> 112, liver 55 -> 115, spleen 45 -> 125, kidney 32 -> 132),
  vessels by up to 230 HU.
* **Imaging**: each slice is the mean of 1-3 thinner planes (slice-thickness partial volume), a
  0.5-pixel in-plane blur, then correlated Gaussian noise (4-10 HU, blurred by 0.6-1.0 pixel, rescaled)
  and a global HU offset (+-20 HU).
* **z-extent**: 32 slices keep a case at 8 M voxels, about 1-2 s to generate and small enough to train
  on 2 CPU cores. The window is centred near the lesion (or the gland for normal cases). Over 200
  drawn cases it covered the whole gland from 2 mm slices on, and at 1-1.5 mm slices a median 93%
  (5th percentile 42%). Each case's ``gland_fraction_covered`` is in ``phantoms.json``.
* **Normal cases**: a fraction (``normal_fraction``, default 0.2) has no lesion; their subtype is
  :data:`~pancreas_mt_training.labels.NO_SUBTYPE` (-1): they train the segmentation only.
* **Lesions**: one connected region a case, sphere-equivalent diameter 3-40 mm (uniform, met to the
  voxel on the fine grid but where joining the outline's outgrowths takes a few more), in
  the head, body or tail (uniform); a quarter of them are centred on the gland's surface (``edge``,
  half outside it). Upstream of 40% of head and body lesions the duct is dilated (2.5-4 mm radius).
  Location, size, edge and duct dilation are drawn independently of the subtype.
* **Subtype cues overlap** by a known generative model: the morphology pattern shown is the case's own
  subtype's with probability :data:`PATTERN_AGREEMENT` (0.92), else one of the other two uniformly.
  Whatever the subtype priors (within a factor 23 of each other), predicting the pattern is Bayes-optimal,
  so the best achievable accuracy is :data:`BAYES_CEILING` = 0.92, with calibrated probabilities
  0.92 / 0.04 / 0.04 when the pattern is recognisable; lesions too small to show a pattern (a few mm)
  lower it further. Each case's drawn ``pattern`` is in ``phantoms.json``, so an evaluation can compute
  the ceiling of its own set. The patterns are the ``field`` generator's
  (:func:`~pancreas_mt_training.phantoms.lesion_pattern`): ``0`` mottled 1-2 mm blobs in a lobulated
  outline, ``1`` a ring 2-3 mm thick, ``2`` a faint 1 mm wall and 1-3 thin septa in a smooth round outline.
* **Lesion HU: the pattern is spatial only.** The lesion's volume (drawn as above) and its HU mean
  (15-70 HU below the gland's) and std (:data:`LESION_HU_STD`) are drawn alike for every subtype, and so are the
  shape of its HU histogram and its rim-minus-core contrast:

  1. The canvas gets the lesion's mean HU (what partial volume mixes into the tissue around it); the
     pattern goes into a separate field on the same fine grid: standardized inside the lesion, plus
     white noise of :data:`TIE_NOISE` standard deviations, which orders tied voxels (a cyst's content,
     a ring's core) at random. The field goes through the image's slice partial volume and blur.
  2. The lesion's voxels (label 2) get a sample of a skew-normal distribution (shape uniform in
     :data:`HU_SKEW`) set exactly to the drawn mean and std, handed out by the **rank** of
     ``field + a * ramp``: ``ramp`` is 1 on the outline and falls linearly to 0 at
     :data:`RIM_GRADIENT_MM` deep (or the lesion's centre), and ``a`` is set by bisection so that the
     rim-minus-core contrast (mean HU within :data:`~pancreas_mt_training.rim.SHELL_MM` of the
     outline minus that of the rest, as the radiomics baseline measures it) is ``rim_contrast`` x std,
     ``rim_contrast`` uniform in :data:`RIM_CONTRAST` for every subtype.
  3. Noise and the global offset are added as for every tissue.

  So the lesion's HU histogram (mean, std, skewness, kurtosis, z-scored histogram) and its
  rim-minus-core contrast have one distribution whatever the subtype; the subtype shows in the spatial
  arrangement only: blobs and a lobulated outline, a ring with a sharp inner edge (the smooth ramp
  brightens or darkens the periphery of every lesion alike, so a ring stays a step or a ridge), or thin
  straight septa. Lesions without a core (every voxel within 2 mm of the outline: most under about
  6 mm, the lobulated ones more often) have no contrast to meet. :func:`make_lesion_patch` renders a
  case's lesion alone on a small field, with the same code, for fast checks of these statistics.

A case is fully determined by ``(seed, index, params)``: its label (normal or subtype) comes from a
seeded golden-ratio sequence, so any prefix of a set is balanced to within a case or two.
:data:`STRESS` holds named parameter sets for stress evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
from scipy import ndimage, stats
from scipy.interpolate import PchipInterpolator

from .labels import NO_SUBTYPE
from .phantoms import SUBTYPE_NAMES, Phantom, _to_phantom, lesion_pattern
from .rim import SHELL_MM, lesion_depth, rim_minus_core

#: Probability that a lesion shows its own subtype's pattern (else one of the other two, uniformly).
PATTERN_AGREEMENT = 0.92
#: Best achievable subtype accuracy on lesion cases: predicting the pattern shown (see the module docstring).
BAYES_CEILING = PATTERN_AGREEMENT
#: In-plane size of every case in voxels (y, x).
FIELD = (512, 512)
#: Range of the full gland's volume (mL): drawn uniformly from ``_GLAND_TARGET_ML``, met to a few %.
GLAND_VOLUME_ML = (40.0, 110.0)
_GLAND_TARGET_ML = (45.0, 100.0)
LOCATIONS = ("head", "body", "tail")
#: Golden-ratio step of the sequence that assigns normal cases and subtypes.
_GOLDEN = 0.6180339887498949
#: Range of the lesion's rim-minus-core contrast, in units of its HU standard deviation: one for every subtype.
RIM_CONTRAST = (0.0, 1.25)
#: Range of the skew-normal shape of the lesion's HU distribution: one for every subtype.
HU_SKEW = (-4.0, 4.0)
#: Range of the lesion's HU standard deviation: one for every subtype. With the image noise (4-10 HU) it sets how
#: clearly the spatial pattern shows: ``Testing/benchmarks/subtype_cue.py`` measured an idealized CNN at 1.25 mm
#: (450 training lesions, 3-40 mm) at 56% with 12-25 HU, 6-16 HU noise and log-uniform diameters, 78% with these.
LESION_HU_STD = (20.0, 35.0)
#: White noise (in standard deviations of the pattern) that orders the pattern's tied voxels at random.
TIE_NOISE = 0.3
#: Depth (mm) over which the radial gradient falls to 0 (at most the lesion's greatest depth).
RIM_GRADIENT_MM = 6.0
#: Bound on the strength ``a`` of the radial ramp (in standard deviations of the pattern field).
RIM_GRADIENT_LIMIT = 20.0


@dataclass(frozen=True)
class AbdomenParams:
    """Ranges the ``abdomen`` generator draws from; :data:`STRESS` holds the stress-set overrides."""

    slices: int = 32
    normal_fraction: float = 0.2
    spacing_xy: tuple[float, float] = (0.6, 0.9)
    slice_mm: tuple[float, float] = (1.0, 5.0)
    lesion_diameter_mm: tuple[float, float] = (3.0, 40.0)
    edge_probability: float = 0.25
    hu_offset: tuple[float, float] = (-20.0, 20.0)
    noise_hu: tuple[float, float] = (4.0, 10.0)
    pattern_agreement: float = PATTERN_AGREEMENT

    def __post_init__(self) -> None:
        if self.slices < 1:
            raise ValueError(f"slices must be at least 1, got {self.slices}")
        if not 0 <= self.normal_fraction <= 1:
            raise ValueError(f"normal_fraction must be in [0, 1], got {self.normal_fraction}")
        for name in ("spacing_xy", "slice_mm", "lesion_diameter_mm", "hu_offset", "noise_hu"):
            lo, hi = getattr(self, name)
            if lo > hi:
                raise ValueError(f"{name}: low {lo} above high {hi}")


#: Stress sets for evaluation: small (3-5 mm) or large (25-40 mm) lesions, edge lesions, global HU
#: offsets of +-60 and +-100, noise x2, 5 mm slices, 0.5 mm in-plane (a targeted field of view
#: that may crop the body). Sets about lesions have no normal cases.
STRESS: dict[str, dict[str, Any]] = {
    "small": {"lesion_diameter_mm": (3.0, 5.0), "normal_fraction": 0.0},
    "large": {"lesion_diameter_mm": (25.0, 40.0), "normal_fraction": 0.0},
    "edge": {"edge_probability": 1.0, "normal_fraction": 0.0},
    "hu60": {"hu_offset": (-60.0, 60.0)},
    "hu100": {"hu_offset": (-100.0, 100.0)},
    "noise2": {"noise_hu": (8.0, 20.0)},
    "thick5": {"slice_mm": (5.0, 5.0)},
    "inplane05": {"spacing_xy": (0.5, 0.5)},
}


def stress_params(name: str, base: AbdomenParams | None = None) -> AbdomenParams:
    """``base`` (default :class:`AbdomenParams`) with the overrides of stress set ``name``."""
    if name not in STRESS:
        raise ValueError(f"stress set must be one of {sorted(STRESS)}, got {name!r}")
    return replace(base or AbdomenParams(), **STRESS[name])


def case_labels(seed: int, index: int, params: AbdomenParams) -> tuple[int, int]:
    """Subtype and the pattern shown of case ``index`` (both ``NO_SUBTYPE`` for a normal case).

    The subtype comes from a seeded golden-ratio sequence (balanced over any run of cases); the
    pattern is the subtype's with probability ``pattern_agreement``, else one of the other two.
    """
    start = np.random.default_rng([seed, 2**31 - 3]).uniform()
    u = (start + index * _GOLDEN) % 1.0
    if u < params.normal_fraction:
        return NO_SUBTYPE, NO_SUBTYPE
    count = len(SUBTYPE_NAMES)
    subtype = min(int((u - params.normal_fraction) / (1 - params.normal_fraction) * count), count - 1)
    rng = np.random.default_rng([seed, index, 3, 2])
    if rng.uniform() < params.pattern_agreement:
        return subtype, subtype
    return subtype, (subtype + 1 + int(rng.integers(0, count - 1))) % count


class _Waves:
    """A smooth random field in mm: a sum of plane waves, evaluable on any (sparse) grid."""

    def __init__(self, rng: np.random.Generator, count: int, wavelength: tuple[float, float]) -> None:
        directions = rng.standard_normal((count, 3))
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
        self.k = directions * (2 * np.pi / rng.uniform(*wavelength, (count, 1)))
        self.phase = rng.uniform(0, 2 * np.pi, count)

    def __call__(self, z: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
        total = sum(np.cos(k[0] * z + k[1] * y + k[2] * x + p) for k, p in zip(self.k, self.phase, strict=True))
        return np.sqrt(2 / len(self.phase)) * total


@dataclass(frozen=True)
class Gland:
    """The pancreas as a tube along x (patient right to left): centreline y(x), z(x) and radii, in mm."""

    knots_x: tuple[float, ...]
    knots_y: tuple[float, ...]
    knots_z: tuple[float, ...]
    radius_y: tuple[float, ...]
    radius_z: tuple[float, ...]
    lobulation: _Waves

    def centre(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Centreline y, z and the half-thicknesses across it (AP corrected for the slope) at ``x``."""
        xc = np.clip(x, self.knots_x[0], self.knots_x[-1])
        y = PchipInterpolator(self.knots_x, self.knots_y)(xc)
        slope = PchipInterpolator(self.knots_x, self.knots_y).derivative()(xc)
        z = PchipInterpolator(self.knots_x, self.knots_z)(xc)
        ry = np.interp(xc, self.knots_x, self.radius_y) * np.sqrt(1 + slope**2)
        rz = np.interp(xc, self.knots_x, self.radius_z)
        return y, z, ry, rz

    def radius(self, z: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Normalized radius (< 1 inside the gland) on a sparse (z, y, x) grid in mm."""
        yc, zc, ry, rz = self.centre(x)
        beyond = np.maximum(self.knots_x[0] - x, 0) + np.maximum(x - self.knots_x[-1], 0)
        r = np.sqrt(((y - yc) / ry) ** 2 + ((z - zc) / rz) ** 2 + (beyond / (0.8 * rz)) ** 2)
        return r * (1 + 0.07 * self.lobulation(z, y, x))

    def bounds(self) -> np.ndarray:
        """Bounding box [[z0, y0, x0], [z1, y1, x1]] in mm with a margin for the lobulation."""
        x = np.linspace(self.knots_x[0], self.knots_x[-1], 200)
        y, z, ry, rz = self.centre(x)
        lo = np.array([np.min(z - rz), np.min(y - ry), x[0] - rz.max()]) - 3
        hi = np.array([np.max(z + rz), np.max(y + ry), x[-1] + rz.max()]) + 3
        return np.stack([lo, hi])

    def volume_ml(self, z_range: tuple[float, float], step: float = 1.5) -> tuple[float, float]:
        """Gland volume (mL) on a ``step`` mm grid: the whole gland's and the part within ``z_range``."""
        lo, hi = self.bounds()
        axes = [np.arange(a + step / 2, b, step) for a, b in zip(lo, hi, strict=True)]
        z, y, x = np.meshgrid(*axes, indexing="ij", sparse=True)
        per_plane = (self.radius(z, y, x) < 1).sum((1, 2)) * step**3 / 1000
        within = (axes[0] >= z_range[0]) & (axes[0] < z_range[1])
        return float(per_plane.sum()), float(per_plane[within].sum())


def draw_case(seed: int, index: int, params: AbdomenParams | None = None) -> dict[str, Any]:
    """Every drawn parameter of case ``index`` (anatomy, phase, lesion, imaging), without rendering.

    Returns a dict; ``metadata`` (JSON-ready) goes to ``phantoms.json``, the rest feeds the renderer.
    """
    params = params or AbdomenParams()
    rng = np.random.default_rng([seed, index, 3, 0])
    subtype, pattern = case_labels(seed, index, params)
    s_xy = rng.uniform(*params.spacing_xy)
    s_z = rng.uniform(*params.slice_mm)
    fov = FIELD[1] * s_xy
    a = float(np.clip(rng.uniform(0.36, 0.46) * fov, 120, 190))
    b = a * rng.uniform(0.66, 0.82)
    k = a / 160
    fat = rng.uniform(8, 35) * k
    wall = rng.uniform(7, 14) * k
    centre = np.array([-0.04 * fov, 0.0]) + rng.uniform(-0.03, 0.03, 2) * fov  # (y, x) of the body in the field
    y_v = _BACK * b - fat - wall - rng.uniform(40, 50) * k  # vertebral body centre, relative to the body centre
    r_v = rng.uniform(16, 22) * k
    aorta = np.array([y_v - r_v - 12 * k, rng.uniform(5, 18) * k, rng.uniform(9, 13) * k])  # y, x, radius
    sma = np.array([aorta[0] - aorta[2] - rng.uniform(10, 16) * k, aorta[1] - rng.uniform(0, 6) * k, 3.5 * k])
    smv = np.array([sma[0] + rng.uniform(-2, 3) * k, sma[1] - rng.uniform(11, 16) * k, rng.uniform(4.5, 6.5) * k])
    size = rng.uniform(0.9, 1.2)
    neck_r = rng.uniform(6, 8) * size
    head_x = smv[1] - rng.uniform(17, 24) * k
    tail_x = rng.uniform(75, 100) * k
    tail_rise = rng.uniform(5, 25)
    knots_x = (head_x - 18 * k, head_x, smv[1] - 2 * k, smv[1] + 8 * k, aorta[1] + 30 * k, tail_x - 25 * k, tail_x)
    knots_y = (
        smv[0] + 4 * k,
        smv[0] + rng.uniform(-2, 6) * k,
        smv[0] - smv[2] - neck_r - 2,
        sma[0] - neck_r - rng.uniform(4, 9) * k,
        sma[0] - rng.uniform(10, 18) * k,
        y_v - rng.uniform(28, 36) * k,
        y_v - rng.uniform(22, 30) * k,
    )
    knots_z = (-4.0, 0.0, 4.0, 6.0, 0.5 * tail_rise, 0.85 * tail_rise, tail_rise)
    knots_z = tuple(z + rng.uniform(-2, 2) for z in knots_z)
    head_ry, head_rz = rng.uniform(12, 16) * size, rng.uniform(15, 20) * size
    body_ry, body_rz = rng.uniform(7, 10) * size, rng.uniform(10, 13) * size
    gland = Gland(
        tuple(float(v) for v in knots_x),
        tuple(float(v) for v in knots_y),
        knots_z,
        (0.8 * head_ry, head_ry, neck_r, body_ry, body_ry, 0.95 * body_ry, 0.7 * body_ry),
        (0.8 * head_rz, head_rz, 0.9 * body_rz, body_rz, body_rz, 0.95 * body_rz, 0.7 * body_rz),
        _Waves(rng, 8, (10.0, 25.0)),
    )
    # Scale the thickness so that the whole gland meets a volume drawn from _GLAND_TARGET_ML.
    factor = np.sqrt(rng.uniform(*_GLAND_TARGET_ML) / gland.volume_ml((0, 0), step=3.0)[0])
    gland = replace(
        gland,
        radius_y=tuple(float(r * factor) for r in gland.radius_y),
        radius_z=tuple(float(r * factor) for r in gland.radius_z),
    )

    lesion: dict[str, Any] | None = None
    if subtype != NO_SUBTYPE:
        location = LOCATIONS[int(rng.integers(0, 3))]
        x_range = {
            "head": (knots_x[0] + 4, knots_x[2]),
            "body": (knots_x[2], knots_x[4] + 0.5 * (knots_x[5] - knots_x[4])),
            "tail": (knots_x[4] + 0.5 * (knots_x[5] - knots_x[4]), knots_x[6] - 4),
        }[location]
        diameter = rng.uniform(*params.lesion_diameter_mm)
        x_l = rng.uniform(*x_range)
        yc, zc, ry, rz = (float(v) for v in gland.centre(np.array(x_l)))
        edge = bool(rng.uniform() < params.edge_probability)
        theta = rng.uniform(0, 2 * np.pi)
        reach = 1.0 if edge else rng.uniform(0, 0.5) * max(0.0, 1 - diameter / 2 / min(ry, rz))
        lesion = {
            "location": location,
            "diameter_mm": diameter,
            "edge": edge,
            "centre": [zc + reach * rz * np.sin(theta), yc + reach * ry * np.cos(theta), x_l],
            "aspect": rng.uniform(0.75, 1.0, 2).tolist(),
            "angle": rng.uniform(0, np.pi),
            "wobble": _Waves(rng, 6, (0.6 * diameter + 2, 1.2 * diameter + 4)),
            "hu_drop": rng.uniform(15, 70),
            "hu_std": rng.uniform(*LESION_HU_STD),
            "duct_dilated": bool(location != "tail" and rng.uniform() < 0.4),
            "duct_radius": rng.uniform(2.5, 4.0),
        }
        texture = np.random.default_rng([seed, index, 3, 4])
        lesion["hu_skew"] = texture.uniform(*HU_SKEW)
        lesion["rim_contrast"] = texture.uniform(*RIM_CONTRAST)
        lesion["stream"] = [seed, index, 3, 5]
    phase = rng.uniform(0, 1)
    # Window: centred near the lesion, or the gland for normal cases; the lesion centre stays inside.
    extent = params.slices * s_z
    target = lesion["centre"][0] if lesion else float(np.mean(gland.bounds()[:, 0]))
    z0 = target - extent / 2 + rng.uniform(-0.2, 0.2) * max(extent - 2 * s_z, 0)
    full, covered = gland.volume_ml((z0, z0 + extent))
    draw = {
        "subtype": subtype,
        "pattern": pattern,
        "spacing": (s_xy, s_z),
        "z0": z0,
        "body": {"a": a, "b": b, "k": k, "fat": fat, "wall": wall, "centre": centre},
        "spine": (y_v, r_v),
        "aorta": aorta,
        "sma": sma,
        "smv": smv,
        "gland": gland,
        "lesion": lesion,
        "phase": phase,
        "hu_offset": rng.uniform(*params.hu_offset),
        "noise_hu": rng.uniform(*params.noise_hu),
        "gland_volume_ml": full,
    }
    draw["metadata"] = {
        "subtype": subtype,
        "pattern": pattern,
        "normal": subtype == NO_SUBTYPE,
        "spacing_mm": [s_xy, s_xy, s_z],
        "slices": params.slices,
        "z_extent_mm": extent,
        "phase": phase,
        "hu_offset": draw["hu_offset"],
        "noise_hu": draw["noise_hu"],
        "gland_volume_ml": full,
        "gland_fraction_covered": covered / full,
        "lesion": None
        if lesion is None
        else {
            key: lesion[key]
            for key in (
                "location",
                "diameter_mm",
                "edge",
                "centre",
                "duct_dilated",
                "hu_drop",
                "hu_std",
                "hu_skew",
                "rim_contrast",
            )
        },
    }
    return draw


def _planes_per_slice(slice_mm: float) -> int:
    """Planes of the fine grid averaged into one slice (slice-thickness partial volume): 1-3."""
    return int(np.clip(round(slice_mm / 1.5), 1, 3))


class _Canvas:
    """The fine grid: planes (z), rows (y) and columns (x) in mm relative to the body centre.

    ``window`` keeps part of the 512 x 512 field (rows, columns): the same voxel positions as the whole case.
    """

    def __init__(self, draw: dict[str, Any], slices: int, window: tuple[slice, slice] | None = None) -> None:
        s_xy, s_z = draw["spacing"]
        self.sub = _planes_per_slice(s_z)
        self.z = draw["z0"] + (np.arange(slices * self.sub) + 0.5) * s_z / self.sub
        cy, cx = draw["body"]["centre"]
        window = window or (slice(None), slice(None))
        self.y = ((np.arange(FIELD[0]) - FIELD[0] / 2 + 0.5) * s_xy - cy)[window[0]]
        self.x = ((np.arange(FIELD[1]) - FIELD[1] / 2 + 0.5) * s_xy - cx)[window[1]]
        self.spacing = np.array([s_z / self.sub, s_xy, s_xy])
        self.hu = np.empty((len(self.z), len(self.y), len(self.x)), np.float32)
        self.cavity = np.zeros(self.hu.shape[1:], bool)

    def box(self, lo: Sequence[float], hi: Sequence[float]) -> tuple[slice, slice, slice]:
        """Index slices of the grid within [lo, hi] (z, y, x in mm); empty slices when outside."""
        return tuple(
            slice(int(np.searchsorted(axis, a)), int(np.searchsorted(axis, b, side="right")))
            for axis, a, b in zip((self.z, self.y, self.x), lo, hi, strict=True)
        )

    def coords(self, box: tuple[slice, slice, slice]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return (
            self.z[box[0]][:, None, None],
            self.y[box[1]][None, :, None],
            self.x[box[2]][None, None, :],
        )

    def paint(
        self, centre: Sequence[float], radii: Sequence[float], value: float, angle: float = 0.0
    ) -> tuple[tuple[slice, slice, slice], np.ndarray]:
        """Fill an ellipsoid (z, y, x centre and radii in mm; rotated in-plane by ``angle``); returns (box, mask)."""
        reach = max(radii[1], radii[2])
        box = self.box(
            (centre[0] - radii[0], centre[1] - reach, centre[2] - reach),
            (centre[0] + radii[0], centre[1] + reach, centre[2] + reach),
        )
        z, y, x = self.coords(box)
        dy, dx = y - centre[1], x - centre[2]
        ca, sa = np.cos(angle), np.sin(angle)
        inside = ((ca * dx + sa * dy) / radii[2]) ** 2 + ((-sa * dx + ca * dy) / radii[1]) ** 2 + (
            (z - centre[0]) / radii[0]
        ) ** 2 < 1
        self.hu[box][inside] = value
        return box, inside

    def tube_z(
        self, y: float, x: float, ry: float, value: float, z_range: tuple[float, float] | None = None, rx: float = 0
    ) -> tuple[tuple[slice, slice, slice], np.ndarray]:
        """Fill a vertical elliptic cylinder (a vessel, the descending duodenum); returns (box, mask)."""
        rx = rx or ry
        lo_z, hi_z = z_range or (-np.inf, np.inf)
        box = self.box((lo_z, y - ry, x - rx), (hi_z, y + ry, x + rx))
        _, yy, xx = self.coords(box)
        inside = np.broadcast_to(((yy - y) / ry) ** 2 + ((xx - x) / rx) ** 2 < 1, self.hu[box].shape)
        self.hu[box][inside] = value
        return box, inside


def _hollow(canvas: _Canvas, centre, radii, wall_hu: float, content_hu: float, angle: float, air_level: float):
    """A hollow viscus: wall 3 mm, content; gas rises anteriorly (smaller y) above ``air_level`` (0-1)."""
    canvas.paint(centre, radii, wall_hu, angle)
    inner = [max(r - 3, 1.0) for r in radii]
    box, inside = canvas.paint(centre, inner, content_hu, angle)
    if air_level > 0:
        reach = max(inner[1], inner[2])
        _, y, _ = canvas.coords(box)
        gas = inside & (y < centre[1] - reach + 2 * reach * air_level)
        canvas.hu[box][gas] = -1000


#: Posterior body surface over the half-depth ``b``: the back is flattened by ``1 + 0.15 y / b``.
_BACK = (np.sqrt(1.6) - 1) / 0.3


def _render_body(canvas: _Canvas, draw: dict[str, Any], hu: dict[str, float], rng: np.random.Generator) -> None:
    """Air, the table, subcutaneous fat, the abdominal wall and the cavity's fat, the same in every plane."""
    body = draw["body"]
    a, b, fat, wall = body["a"], body["b"], body["fat"], body["wall"]
    y, x = canvas.y[:, None], canvas.x[None, :]
    plane = np.full(FIELD, -1000.0, np.float32)
    # Table: a cradle-shaped plate under the back, a foam pad on it.
    table_y = _BACK * b + rng.uniform(0, 4) - 0.0003 * x**2
    plane[(y > table_y) & (y < table_y + 6)] = -850
    plane[(y > table_y + 6) & (y < table_y + 6 + rng.uniform(6, 10))] = hu["table"]
    flat = np.where(y > 0, 1 + 0.15 * (y / b), 1.0)  # the back is flatter than the front

    def ellipse(shrink: float) -> np.ndarray:
        return (x / (a - shrink)) ** 2 + (y * flat / (b - shrink)) ** 2 < 1

    plane[ellipse(0)] = hu["fat"]
    plane[ellipse(fat)] = hu["muscle"]
    cavity = ellipse(fat + wall)
    plane[cavity] = hu["visceral_fat"]
    canvas.hu[:] = plane
    canvas.cavity = cavity


def _render_retroperitoneum(
    canvas: _Canvas, draw: dict[str, Any], hu: dict[str, float], rng: np.random.Generator
) -> None:
    """Spine (bodies, discs, arch), paraspinal and psoas muscles, lower ribs, aorta and IVC."""
    body = draw["body"]
    a, b, k, fat, wall = body["a"], body["b"], body["k"], body["fat"], body["wall"]
    y, x = canvas.y[:, None], canvas.x[None, :]
    y_v, r_v = draw["spine"]

    def disk(cy: float, cx: float, ry: float, rx: float, value: float) -> None:
        canvas.hu[:, ((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 < 1] = value

    for side in (-1, 1):
        disk(y_v + 38 * k, side * 30 * k, 22 * k, 24 * k, hu["muscle"])  # paraspinal
        disk(y_v + 2 * k, side * 36 * k, 14 * k, 16 * k, hu["muscle"])  # psoas
    disk(y_v + r_v + 12 * k, 0, 13 * k, 12 * k, hu["cortex"])  # neural arch
    disk(y_v + r_v + 30 * k, 0, 14 * k, 5 * k, hu["cortex"])  # spinous process
    disk(y_v + r_v + 9 * k, 0, 8 * k, 8 * k, 15)  # canal
    # Vertebral bodies and discs: cortex ring, cancellous core; a disc every 28-34 mm.
    period, phase = rng.uniform(28, 34), rng.uniform(0, 34)
    ring = ((y - y_v) ** 2 + x**2 < r_v**2) & ((y - y_v) ** 2 + x**2 >= (r_v - 1.5) ** 2)
    core = (y - y_v) ** 2 + x**2 < (r_v - 1.5) ** 2
    for p, z in enumerate(canvas.z):
        is_disc = (z + phase) % period < 8
        canvas.hu[p][ring | core] = hu["disc"] if is_disc else hu["cancellous"]
        if not is_disc:
            canvas.hu[p][ring] = hu["cortex"]
    aorta = draw["aorta"]
    canvas.tube_z(aorta[0], aorta[1], aorta[2], hu["artery"])
    canvas.tube_z(y_v - r_v - 8 * k, -rng.uniform(20, 28) * k, 9 * k, hu["vein"], rx=13 * k)
    # Lower ribs: bone ovals in the wall, each on the planes near its level.
    rib_r = np.array([a - fat - wall, b - fat - wall])
    for _ in range(int(rng.integers(6, 11))):
        theta = rng.choice([rng.uniform(-0.4, 1.2), rng.uniform(1.9, 3.5)])
        level, spacing = rng.uniform(0, 30), rng.uniform(24, 34)
        cy, cx = rib_r[1] * np.sin(theta), rib_r[0] * np.cos(theta)
        cy /= 1 + 0.15 * max(cy, 0) / b
        near = np.abs((canvas.z - level + spacing / 2) % spacing - spacing / 2) < 5
        box = canvas.box((-np.inf, cy - 6, cx - 8), (np.inf, cy + 6, cx + 8))
        _, yy, xx = canvas.coords(box)
        r = ((yy - cy) / 4.5) ** 2 + ((xx - cx) / 6.5) ** 2
        shape = canvas.hu[box].shape
        rib = np.broadcast_to(r < 1, shape) & near[:, None, None]
        marrow = np.broadcast_to(r < 0.45, shape) & near[:, None, None]
        canvas.hu[box][rib] = hu["cortex"]
        canvas.hu[box][marrow] = hu["cancellous"]


def _organ_hu(draw: dict[str, Any], rng: np.random.Generator) -> dict[str, float]:
    """Tissue HU for the case's contrast phase (organs rise by up to 100 HU, vessels by up to 230)."""
    phase = draw["phase"]
    jitter = lambda: rng.uniform(-8, 8)  # noqa: E731
    return {
        "fat": rng.uniform(-110, -85),
        "visceral_fat": rng.uniform(-105, -80),
        "muscle": 45 + 15 * phase + jitter(),
        "liver": 55 + 60 * phase + jitter(),
        "spleen": 45 + 80 * phase + jitter(),
        "kidney": 32 + 100 * phase + jitter(),
        "pancreas": 42 + 70 * phase + jitter(),
        "bowel_wall": 35 + 60 * phase + jitter(),
        "artery": 42 + 230 * phase + jitter(),
        "vein": 42 + 150 * phase + jitter(),
        "cancellous": rng.uniform(150, 280),
        "cortex": rng.uniform(500, 900),
        "disc": rng.uniform(70, 100),
        "table": rng.uniform(100, 250),
        "fluid": rng.uniform(0, 20),
        "oral": rng.uniform(150, 400),
    }


def _render_organs(canvas: _Canvas, draw: dict[str, Any], hu: dict[str, float], rng: np.random.Generator) -> None:
    """Liver, spleen, kidneys, stomach and bowel loops (clipped to the abdominal cavity where they may reach out)."""
    a, b, k = draw["body"]["a"], draw["body"]["b"], draw["body"]["k"]
    gland: Gland = draw["gland"]
    tail_x, tail_y, tail_z = gland.knots_x[-1], gland.knots_y[-1], gland.knots_z[-1]
    outside = ~canvas.cavity
    before = canvas.hu[:, outside].copy()
    canvas.paint(
        (rng.uniform(60, 80), -rng.uniform(0.0, 0.15) * b, -0.55 * a),
        (rng.uniform(75, 95) * k, 0.75 * b, 0.45 * a),
        hu["liver"],
        rng.uniform(-0.3, 0.3),
    )
    canvas.paint(
        (tail_z + rng.uniform(15, 30), tail_y + rng.uniform(8, 20) * k, tail_x + rng.uniform(20, 30) * k),
        (rng.uniform(40, 55) * k, rng.uniform(35, 45) * k, rng.uniform(18, 26) * k),
        hu["spleen"],
        rng.uniform(0.6, 1.1),
    )
    oral = rng.uniform() < 0.5
    content = lambda: hu["oral"] if oral and rng.uniform() < 0.6 else hu["fluid"]  # noqa: E731
    _hollow(
        canvas,
        (tail_z + rng.uniform(20, 35), -rng.uniform(0.35, 0.5) * b, rng.uniform(0.15, 0.35) * a),
        (rng.uniform(35, 50) * k, rng.uniform(25, 35) * k, rng.uniform(35, 50) * k),
        hu["bowel_wall"],
        content(),
        rng.uniform(-0.5, 0.5),
        rng.uniform(0, 0.5),
    )
    for _ in range(int(rng.integers(5, 10))):
        centre_y = rng.uniform(-0.75, -0.1) * b
        centre_x = rng.uniform(-0.6, 0.7) * a
        _hollow(
            canvas,
            (rng.uniform(canvas.z[0] - 20, canvas.z[-1] + 20) - 25, centre_y, centre_x),
            (rng.uniform(15, 40), rng.uniform(9, 18) * k, rng.uniform(12, 30) * k),
            hu["bowel_wall"],
            content(),
            rng.uniform(0, np.pi),
            rng.choice([0.0, rng.uniform(0.2, 1.0)]),
        )
    canvas.hu[:, outside] = before


def _render_kidneys(canvas: _Canvas, draw: dict[str, Any], hu: dict[str, float], rng: np.random.Generator) -> None:
    """Both kidneys beside the spine (the left one higher), with renal sinus fat at the hilum."""
    k = draw["body"]["k"]
    y_v, _ = draw["spine"]
    for side, dz in ((-1, -rng.uniform(5, 20)), (1, rng.uniform(-5, 10))):
        centre = (dz, y_v + rng.uniform(5, 12) * k, side * rng.uniform(60, 72) * k)
        radii = (rng.uniform(45, 55) * k, rng.uniform(20, 25) * k, rng.uniform(25, 30) * k)
        angle = side * rng.uniform(0.3, 0.6)
        canvas.paint(centre, radii, hu["kidney"], angle)
        canvas.paint(
            (*centre[:2], centre[2] - side * 12 * k), (0.6 * radii[0], 8 * k, 9 * k), hu["visceral_fat"], angle
        )


def _render_gland(canvas: _Canvas, draw: dict[str, Any], hu: dict[str, float], rng: np.random.Generator) -> np.ndarray:
    """Pancreas, duct, SMA/SMV, splenic vein and duodenum; returns the fine-grid gland mask."""
    k = draw["body"]["k"]
    gland: Gland = draw["gland"]
    pancreas = np.zeros(canvas.hu.shape, bool)
    lo, hi = gland.bounds()
    box = canvas.box(lo, hi)
    z, y, x = canvas.coords(box)
    inside = gland.radius(z, y, x) < 1
    canvas.hu[box][inside] = hu["pancreas"]
    pancreas[box] = inside
    # Duct along the centreline; dilated upstream (tail side) of some lesions.
    lesion = draw["lesion"]
    yc, zc, _, _ = gland.centre(x)
    duct_r = np.full(x.shape, rng.uniform(0.8, 1.3))
    if lesion and lesion["duct_dilated"]:
        duct_r = np.where(x > lesion["centre"][2] + lesion["diameter_mm"] / 2, lesion["duct_radius"], duct_r)
    duct = (
        inside & ((y - yc) ** 2 + (z - zc) ** 2 < duct_r**2) & (x > gland.knots_x[0] + 8) & (x < gland.knots_x[-1] - 6)
    )
    canvas.hu[box][duct] = hu["fluid"]
    # Vessels and duodenum take their place from the gland.
    sma, smv = draw["sma"], draw["smv"]
    for centre_y, centre_x, radius, value in (
        (sma[0], sma[1], sma[2] + 3, hu["visceral_fat"]),
        (sma[0], sma[1], sma[2], hu["artery"]),
        (smv[0], smv[1], smv[2], hu["vein"]),
    ):
        vessel_box, vessel = canvas.tube_z(centre_y, centre_x, radius, value)
        pancreas[vessel_box] &= ~vessel
    sv_x = np.linspace(smv[1], gland.knots_x[-1] - 10, 60)
    sv_y, sv_z, sv_ry, _ = gland.centre(sv_x)
    sv_r = rng.uniform(3.0, 4.5) * k
    for vx, vy, vz, vr in zip(sv_x, sv_y, sv_z, sv_ry, strict=True):
        vb, mask = canvas.paint((vz - 2, vy + vr + sv_r, vx), (sv_r, sv_r, sv_r), hu["vein"])
        pancreas[vb] &= ~mask
    d_r = rng.uniform(9, 13) * k
    d_x = gland.knots_x[0] - d_r - 4
    d_y, d_z, _, head_rz = (float(v) for v in gland.centre(np.array(gland.knots_x[1])))
    duodenum_hu = hu["fluid"] if rng.uniform() < 0.6 else hu["oral"]
    for wall, value in ((d_r, hu["bowel_wall"]), (d_r - 2.5, duodenum_hu)):
        for vb, mask in (
            canvas.tube_z(d_y, d_x, wall, value, (d_z - head_rz - 15, d_z + head_rz)),
            canvas.paint((d_z - head_rz - 12, d_y + 5 * k, d_x + 35 * k), (wall, wall, 40 * k), value),
        ):
            pancreas[vb] &= ~mask
    return pancreas


@dataclass(frozen=True)
class _LesionField:
    """The rendered lesion on the fine grid: its mask, and its pattern field within ``box`` (planes whole slices)."""

    mask: np.ndarray
    box: tuple[slice, slice, slice]
    field: np.ndarray


def _connected_below(d: np.ndarray, target: int) -> tuple[np.ndarray, float]:
    """The largest connected region (26-neighbours) of ``d < t`` for the least ``t`` that makes it ``target``
    voxels or more, and that ``t``: one lesion, where a plain threshold of an irregular outline also leaves
    satellites (up to six in 40 cases) that the label map would count as further lesions.

    Bisection over the sorted values of ``d``; the region has ``target`` voxels unless the step that reaches
    them also joins a satellite (then a few more: 2 of 31 lesions, by 1% and 7%)."""
    values = np.sort(d.ravel())
    structure = np.ones((3, 3, 3), bool)

    def largest(k: int) -> np.ndarray:
        labelled, count = ndimage.label(d < values[k], structure=structure)
        if count == 0:
            return np.zeros(d.shape, bool)
        return labelled == 1 + int(np.bincount(labelled.ravel())[1:].argmax())

    low, high = target, d.size - 1
    while low < high:
        middle = (low + high) // 2
        low, high = (low, middle) if np.count_nonzero(largest(middle)) >= target else (middle + 1, high)
    return largest(low), float(values[low])


def _render_lesion(canvas: _Canvas, draw: dict[str, Any], hu: dict[str, float]) -> _LesionField:
    """The lesion: rotated ellipsoid with the pattern's outline irregularity, one connected region of the drawn
    volume (:func:`_connected_below`).

    The canvas gets the lesion's mean HU (what partial volume mixes into the gland around it); the
    pattern goes into a separate field (:func:`lesion_pattern`, standardized inside the lesion, plus
    white noise of :data:`TIE_NOISE` that orders tied voxels at random), whose ranks
    :func:`_lesion_hu` later maps to HU. Drawn from its own random stream, so a window of the case
    (:func:`make_lesion_patch`) renders the same lesion.
    """
    lesion = draw["lesion"]
    rng = np.random.default_rng(lesion["stream"])
    centre = np.array(lesion["centre"])
    r_eq = lesion["diameter_mm"] / 2
    radii = np.array([r_eq * lesion["aspect"][0], r_eq * lesion["aspect"][1], r_eq])
    radii *= r_eq / np.prod(radii) ** (1 / 3)
    reach = 1.6 * radii.max() + 2 * canvas.spacing
    planes, rows, columns = canvas.box(centre - reach, centre + reach)
    sub = canvas.sub
    box = (slice(planes.start // sub * sub, -(-planes.stop // sub) * sub), rows, columns)
    z, y, x = canvas.coords(box)
    irregularity = (0.3, 0.1, 0.02)[draw["pattern"]]
    dz, dy, dx = z - centre[0], y - centre[1], x - centre[2]
    ca, sa = np.cos(lesion["angle"]), np.sin(lesion["angle"])
    u, v = ca * dx + sa * dy, -sa * dx + ca * dy
    d = np.sqrt((u / radii[2]) ** 2 + (v / radii[1]) ** 2 + (dz / radii[0]) ** 2)
    d = d * (1 + irregularity * lesion["wobble"](z, y, x))
    target = int(np.clip(round(4 / 3 * np.pi * r_eq**3 / np.prod(canvas.spacing)), 1, d.size - 1))
    inside, threshold = _connected_below(d, target)
    pattern = lesion_pattern(rng, draw["pattern"], (z, y, x), centre, d / threshold, inside, r_eq, canvas.spacing)
    field = np.zeros(inside.shape, np.float32)
    values = pattern[inside]
    field[inside] = (values - values.mean()) / (values.std() + 1e-9)
    field += TIE_NOISE * rng.standard_normal(field.shape, np.float32)
    canvas.hu[box][inside] = hu["pancreas"] - lesion["hu_drop"]
    mask = np.zeros(canvas.hu.shape, bool)
    mask[box] = inside
    return _LesionField(mask, box, field)


def _lesion_hu(field: np.ndarray, depth: np.ndarray, lesion: dict[str, Any], mean: float) -> np.ndarray:
    """HU of the lesion's voxels from their pattern ``field`` values and ``depth`` (mm) below the outline.

    Values are drawn from one distribution for every subtype (skew-normal of shape ``hu_skew``, set to
    ``mean`` and ``hu_std`` exactly) and handed out by the rank of ``field + a * (1 - depth / max depth)``,
    with the radial gradient's strength ``a`` set (bisection; the contrast rises with ``a``) so that
    the rim-minus-core contrast meets ``rim_contrast`` x ``hu_std`` as well as the voxels allow.
    """
    rng = np.random.default_rng([*lesion["stream"], 1])
    values = stats.skewnorm.rvs(lesion["hu_skew"], size=field.size, random_state=rng)
    values = np.sort(mean + lesion["hu_std"] * (values - values.mean()) / values.std())
    gradient = np.clip(1 - depth / min(RIM_GRADIENT_MM, float(depth.max())), 0, 1)

    def ranked(strength: float) -> np.ndarray:
        result = np.empty_like(values)
        result[np.argsort(field + strength * gradient, kind="stable")] = values
        return result

    if (depth <= SHELL_MM).all():  # no core: no rim-minus-core to meet
        return ranked(0.0)
    target = lesion["rim_contrast"] * lesion["hu_std"]
    low, high = -RIM_GRADIENT_LIMIT, RIM_GRADIENT_LIMIT
    for _ in range(30):
        middle = 0.5 * (low + high)
        low, high = (middle, high) if rim_minus_core(ranked(middle), depth) < target else (low, middle)
    return ranked(0.5 * (low + high))


def _acquire(
    canvas: _Canvas,
    pancreas: np.ndarray,
    lesion: _LesionField | None,
    draw: dict[str, Any],
    hu: dict[str, float],
    rng: np.random.Generator,
    case_id: str,
) -> Phantom:
    """Slice-thickness partial volume, labels, in-plane blur, the lesion's HU, noise and offset: the phantom."""
    sub = canvas.sub
    slab = (-1, sub, *canvas.hu.shape[1:])
    # Each slice is the mean of its planes; labels where they cover half.
    image = canvas.hu.reshape(slab).mean(1)
    gland_cover = (pancreas | (lesion.mask if lesion else False)).reshape(slab).mean(1, dtype=np.float32)
    label = np.zeros(image.shape, np.uint8)
    label[gland_cover >= 0.5] = 1
    image = ndimage.gaussian_filter(image, (0, 0.5, 0.5))
    if lesion:
        lesion_cover = lesion.mask.reshape(slab).mean(1, dtype=np.float32)
        label[lesion_cover >= min(0.5, 0.5 * lesion_cover.max())] = 2
        # The pattern field through the same partial volume and blur; its ranks set the lesion's HU.
        planes, rows, columns = lesion.box
        box = (slice(planes.start // sub, planes.stop // sub), rows, columns)
        field = lesion.field.reshape(-1, sub, *lesion.field.shape[1:]).mean(1)
        field = ndimage.gaussian_filter(field, (0, 0.5, 0.5))
        region = label[box] == 2
        s_xy, s_z = draw["spacing"]
        depth = lesion_depth(region, (s_z, s_xy, s_xy))
        mean = hu["pancreas"] - draw["lesion"]["hu_drop"]
        image[box][region] = _lesion_hu(field[region], depth[region], draw["lesion"], mean)
    noise = ndimage.gaussian_filter(rng.standard_normal(image.shape, np.float32), (0, *[rng.uniform(0.6, 1.0)] * 2))
    image += draw["hu_offset"] + noise * (draw["noise_hu"] / (noise.std() + 1e-9))
    metadata = dict(draw["metadata"])
    metadata["organ_hu"] = {key: float(value) for key, value in hu.items()}
    s_xy, s_z = draw["spacing"]
    phantom = _to_phantom(image, label, (s_xy, s_xy, s_z), rng, case_id, draw["subtype"])
    return replace(phantom, metadata=metadata)


def make_abdomen_phantom(
    seed: int, index: int, params: AbdomenParams | None = None, case_id: str | None = None
) -> Phantom:
    """One ``abdomen`` phantom (see the module docstring); the same ``(seed, index, params)`` gives the same case."""
    params = params or AbdomenParams()
    draw = draw_case(seed, index, params)
    rng = np.random.default_rng([seed, index, 3, 1])
    canvas = _Canvas(draw, params.slices)
    hu = _organ_hu(draw, rng)
    _render_body(canvas, draw, hu, rng)
    _render_organs(canvas, draw, hu, rng)
    _render_retroperitoneum(canvas, draw, hu, rng)
    _render_kidneys(canvas, draw, hu, rng)
    pancreas = _render_gland(canvas, draw, hu, rng)
    lesion = _render_lesion(canvas, draw, hu) if draw["lesion"] else None
    return _acquire(canvas, pancreas, lesion, draw, hu, rng, case_id or f"abdomen_s{seed}_{index:03d}")


def make_lesion_patch(seed: int, index: int, params: AbdomenParams | None = None, margin_mm: float = 6.0) -> Phantom:
    """The lesion of case ``index`` alone, on a window of its field filled with gland tissue: a fast check.

    Rendered by the case's own code and draws (pattern, texture, partial volume, blur, noise level),
    so its lesion statistics follow the full cases'; the lesion's voxels before noise are the full
    case's (bar the few that the blur mixes with a different neighbourhood). Raises for a normal case.
    """
    params = params or AbdomenParams()
    draw = draw_case(seed, index, params)
    if not draw["lesion"]:
        raise ValueError(f"case {index} of seed {seed} is normal: no lesion to render")
    rng = np.random.default_rng([seed, index, 3, 1])
    hu = _organ_hu(draw, rng)
    whole = _Canvas(draw, 1)
    centre, reach = draw["lesion"]["centre"], 1.6 * draw["lesion"]["diameter_mm"] / 2 + margin_mm
    window = tuple(
        slice(int(np.searchsorted(axis, c - reach)), int(np.searchsorted(axis, c + reach)))
        for axis, c in ((whole.y, centre[1]), (whole.x, centre[2]))
    )
    canvas = _Canvas(draw, params.slices, window)
    canvas.hu[:] = hu["pancreas"]
    pancreas = np.ones(canvas.hu.shape, bool)
    lesion = _render_lesion(canvas, draw, hu)
    return _acquire(canvas, pancreas, lesion, draw, hu, rng, f"lesion_s{seed}_{index:03d}")


def side_file(phantoms: Sequence[tuple[str, int, dict]], params: AbdomenParams) -> dict[str, Any]:
    """``phantoms.json`` content: the generative model, the set's achievable ceiling and each case's draw.

    ``phantoms``: each case's id, subtype and drawn parameters (``Phantom.metadata``).
    """
    lesions = [(subtype, metadata) for _, subtype, metadata in phantoms if subtype != NO_SUBTYPE]
    agree = [metadata["pattern"] == subtype for subtype, metadata in lesions]
    return {
        "generator": "abdomen",
        "params": asdict(params),
        "subtype_names": list(SUBTYPE_NAMES),
        "pattern_agreement": params.pattern_agreement,
        "bayes_ceiling": params.pattern_agreement,
        "set_ceiling": float(np.mean(agree)) if agree else None,
        "cases": {case_id: metadata for case_id, _, metadata in phantoms},
    }
