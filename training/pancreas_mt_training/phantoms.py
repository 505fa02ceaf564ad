"""Synthetic pancreas CT regions of interest with three lesion subtypes of distinct appearance.

Each phantom is a cropped abdominal region (about 45 x 45 x 32 mm at 0.7 x 0.7 x 2 mm, like the
paper's ROI crops) holding fat, a few vessels and bowel loops, a lobulated pancreas and one lesion.
The subtypes differ in how the lesion looks on contrast CT (portal venous phase, parenchyma ~100 HU):

* ``0`` **hypodense-solid** (PDAC-like): a hypo-attenuating mass of 35-55 HU with mottled texture
  (+-14 HU) and an irregular, infiltrative outline.
* ``1`` **rim-enhancing**: an enhancing rim (1.5-2.5 mm, 140-180 HU) around a necrotic core of 10-30 HU.
* ``2`` **cystic-septated**: smooth, round, homogeneous fluid of -5-10 HU with a 1 mm wall and 1-3
  thin (1 mm) enhancing septa of 80-120 HU.

Shapes, sizes (lesion radius 5-11 mm), positions (the lesion within a few mm of the crop's centre,
as in crops made around a lesion) and intensities are random; noise is Gaussian
(10-18 HU) after a slight blur for partial-volume effect. Images have identity direction (LPS, the
orientation the engine brings every input to) and int16 HU; labels are 0 background, 1 pancreas,
2 lesion. A case is fully determined by ``(seed, index)``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from PancreasMultiTaskLib.io import atomic_path, write_image
from scipy import ndimage

SUBTYPE_NAMES = ("hypodense-solid", "rim-enhancing", "cystic-septated")
#: Voxel spacing (x, y, z) in mm: anisotropic like the paper's thin in-plane, thicker axial spacing.
SPACING = (0.7, 0.7, 2.0)
#: Default array shape (z, y, x).
SHAPE = (16, 64, 64)


@dataclass(frozen=True)
class Phantom:
    """One synthetic case: CT image (HU), label map and subtype index."""

    case_id: str
    image: sitk.Image
    label: sitk.Image
    subtype: int


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, ...], sigma_vox: tuple[float, ...]) -> np.ndarray:
    """Zero-mean, unit-variance smooth random field."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape), sigma_vox)
    return (field - field.mean()) / (field.std() + 1e-9)


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
    image_itk = sitk.GetImageFromArray(np.clip(np.round(image), -1024, 3071).astype(np.int16))
    label_itk = sitk.GetImageFromArray(label)
    origin = tuple(float(v) for v in rng.uniform(-200, 200, 3))
    for img in (image_itk, label_itk):
        img.SetSpacing(SPACING)
        img.SetOrigin(origin)
        img.SetDirection((1, 0, 0, 0, 1, 0, 0, 0, 1))
    return Phantom(case_id or f"phantom_s{seed}_{index:03d}", image_itk, label_itk, subtype)


def phantom_subtypes(seed: int, count: int) -> list[int]:
    """Balanced, shuffled subtype indices for ``count`` phantoms of one seed."""
    subtypes = np.arange(count) % len(SUBTYPE_NAMES)
    np.random.default_rng([seed, 2**31 - 1]).shuffle(subtypes)
    return [int(s) for s in subtypes]


def generate_phantoms(seed: int, count: int, shape: tuple[int, int, int] = SHAPE) -> list[Phantom]:
    """``count`` phantoms with balanced subtypes, reproducible by ``seed``."""
    return [make_phantom(seed, i, s, shape) for i, s in enumerate(phantom_subtypes(seed, count))]


def write_phantoms(
    output: str | Path, seed: int, count: int, shape: tuple[int, int, int] = SHAPE, layout: str = "generic"
) -> Path:
    """Write phantoms as a generic folder (``images/``, ``labels/``, ``subtypes.csv``) or the paper's layout.

    The paper's layout is ``train/subtype{k}/<case>_0000.nii.gz`` beside ``<case>.nii.gz``.
    """
    if layout not in ("generic", "paper"):
        raise ValueError(f"layout must be 'generic' or 'paper', got {layout!r}")
    output = Path(output)
    rows = []
    for phantom in generate_phantoms(seed, count, shape):
        if layout == "generic":
            image_dir, label_dir = output / "images", output / "labels"
        else:
            image_dir = label_dir = output / "train" / f"subtype{phantom.subtype}"
        write_image(phantom.image, image_dir / f"{phantom.case_id}_0000.nii.gz")
        write_image(phantom.label, label_dir / f"{phantom.case_id}.nii.gz")
        rows.append((phantom.case_id, phantom.subtype))
    if layout == "generic":
        with atomic_path(output / "subtypes.csv") as tmp, tmp.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["case_id", "subtype"])
            writer.writerows(rows)
    return output
