"""The localizer: a small, coarse nnU-Net model that finds the pancreas in a whole CT for ``--roi auto``.

A model folder may carry one as ``localizer/``: a plain nnU-Net v2 2D segmentation model folder (``dataset.json``,
``plans.json``, ``fold_N/checkpoint_final.pth``; labels background 0, pancreas 1) trained by
``pancreas-mt-train localizer`` on the model's data resampled to about 3 mm. At prediction the body crop is
resampled (SimpleITK, linear) to the grid :func:`localizer_spacing` gives, segmented by the engine's own
``Predictor`` (one fold, no mirroring, float32, PyTorch), and the box of the largest connected part of the
predicted gland (at least :data:`MIN_GLAND_ML`), plus :data:`GLAND_MARGIN_MM`, is where the full-resolution pass runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import SimpleITK as sitk

from .roi import mask_box_lps
from .store_layout import LOCALIZER_FOLDER

if TYPE_CHECKING:
    from .predictor import Predictor

#: Margin around the gland's box, in mm: the coarse outline is off by a voxel or two (3 mm each), and the
#: full-resolution pass needs context around the gland, where a lesion may bulge out of it.
GLAND_MARGIN_MM = 20.0
#: A predicted part smaller than this (mL) is noise, not a gland: a pancreas holds some 40-100 mL, the smallest
#: phantom gland about 5 mL, while a coarse localizer's stray specks are a few voxels of 27 uL.
MIN_GLAND_ML = 2.0
#: Value of voxels outside the input when resampling a CT (air).
AIR_HU = -1024.0


def localizer_folder(model_path: str | Path) -> Path | None:
    """The model folder's ``localizer/`` subfolder, or ``None`` when it has none."""
    folder = Path(model_path) / LOCALIZER_FOLDER
    return folder if folder.is_dir() else None


def localizer_spacing(spacing: Sequence[float], target_mm: float) -> tuple[float, ...]:
    """The localizer's grid: every axis finer than ``target_mm`` coarsened to it, coarser ones kept (0.7 mm pixels
    and 1 mm slices become 3 mm, 5 mm slices stay 5 mm); the same rule at training and at prediction."""
    return tuple(max(float(s), float(target_mm)) for s in spacing)


def resample_to(image: sitk.Image, spacing: Sequence[float], interpolator: int, default: float) -> sitk.Image:
    """``image`` as float32 on a grid of ``spacing`` covering the same physical extent (voxel edges kept)."""
    old_spacing = np.array(image.GetSpacing())
    new_spacing = np.array(spacing, dtype=float)
    size = [max(1, round(n * s / t)) for n, s, t in zip(image.GetSize(), old_spacing, new_spacing, strict=True)]
    direction = np.array(image.GetDirection()).reshape(3, 3)
    origin = np.array(image.GetOrigin()) + direction @ ((new_spacing - old_spacing) / 2)
    return sitk.Resample(
        image,
        [int(n) for n in size],
        sitk.Transform(),
        interpolator,
        [float(v) for v in origin],
        [float(v) for v in new_spacing],
        image.GetDirection(),
        float(default),
        sitk.sitkFloat32,
    )


def largest_part(labels: np.ndarray) -> np.ndarray:
    """The largest 26-connected part of the non-zero voxels (all ``False`` when there are none)."""
    from scipy import ndimage

    parts, count = ndimage.label(labels > 0, structure=np.ones((3, 3, 3)))
    if count == 0:
        return np.zeros(labels.shape, dtype=bool)
    return parts == int(np.argmax(np.bincount(parts.ravel())[1:])) + 1


class Localizer:
    """A localizer model run through the engine's predictor: called on an image, gives the gland's LPS box and
    a line saying how (``None`` and the reason when it finds no gland)."""

    def __init__(self, predictor: Predictor) -> None:
        self.predictor = predictor
        #: In-plane spacing of the localizer's 2D configuration: the grid it was trained on.
        self.spacing_mm = float(min(predictor.model.configuration_manager.spacing))

    def __call__(self, image: sitk.Image) -> tuple[list[float] | None, str]:
        """The gland's box (LPS mm, margin included) in ``image``, and how it was found."""
        coarse = resample_to(image, localizer_spacing(image.GetSpacing(), self.spacing_mm), sitk.sitkLinear, AIR_HU)
        labels = sitk.GetArrayFromImage(self.predictor.predict(coarse, "localizer").segmentation)
        gland = largest_part(labels)
        volume_ml = float(gland.sum()) * float(np.prod(coarse.GetSpacing())) / 1000.0
        what = f"the localizer ({self.spacing_mm:g} mm grid)"
        if volume_ml < MIN_GLAND_ML:
            return None, f"{what} found no pancreas (largest part {volume_ml:.1f} mL, below {MIN_GLAND_ML:g} mL)"
        mask = sitk.GetImageFromArray(gland.astype(np.uint8))
        mask.CopyInformation(coarse)
        box = mask_box_lps(mask, 1, GLAND_MARGIN_MM)
        return box, f"{what}: largest connected gland part ({volume_ml:.0f} mL) + {GLAND_MARGIN_MM:g} mm"
