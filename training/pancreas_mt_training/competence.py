"""The competence record of a trained model (``competence.json``), from its training data.

Spacings and image sizes come from nnU-Net's own ``dataset_fingerprint.json``; foreground intensities
from ``plans.json`` (nnU-Net measured them on the training foreground); gland and lesion volumes, lesion
components and the share of normal cases from the training labels. The engine reads the record
(``PancreasMultiTaskLib.engine.competence``) and holds every case against it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk
from PancreasMultiTaskLib.engine.competence import COMPETENCE_FILE, Calibration, CompetenceRecord, read_record
from PancreasMultiTaskLib.engine.io import atomic_path
from PancreasMultiTaskLib.engine.labels import LESION_LABEL, PANCREAS_LABEL
from scipy import ndimage

FINGERPRINT_FILE = "dataset_fingerprint.json"


def label_statistics(labels_dir: Path, file_ending: str = ".nii.gz") -> dict[str, Any]:
    """Gland and lesion volumes (mL), the most lesion components in a case, and the share of cases without lesion."""
    gland, lesion, components, normal = [], [], 0, 0
    files = sorted(labels_dir.glob(f"*{file_ending}"))
    if not files:
        raise FileNotFoundError(f"{labels_dir}: no label files (*{file_ending})")
    for path in files:
        image = sitk.ReadImage(str(path))
        array = sitk.GetArrayViewFromImage(image)
        voxel_ml = float(np.prod(image.GetSpacing())) / 1000.0
        is_lesion = array == LESION_LABEL
        gland.append(float(np.count_nonzero(np.isin(array, (PANCREAS_LABEL, LESION_LABEL)))) * voxel_ml)
        if is_lesion.any():
            lesion.append(float(np.count_nonzero(is_lesion)) * voxel_ml)
            components = max(components, int(ndimage.label(is_lesion, structure=np.ones((3, 3, 3)))[1]))
        else:
            normal += 1
    return {
        "gland_volume_ml": [min(gland), max(gland)],
        "lesion_volume_ml": [min(lesion), max(lesion)] if lesion else None,
        "lesion_components_max": components,
        "normal_fraction": normal / len(files),
        "cases": len(files),
    }


def fingerprint_ranges(fingerprint: dict[str, Any]) -> dict[str, Any]:
    """In-plane and slice spacing ranges and in-plane image sizes from nnU-Net's dataset fingerprint."""
    spacings = np.asarray(fingerprint["spacings"], dtype=float)  # per case, array order (z, y, x)
    shapes = np.asarray(fingerprint["shapes_after_crop"], dtype=float)
    return {
        "in_plane_spacing_mm": [float(spacings[:, 1:].min()), float(spacings[:, 1:].max())],
        "slice_spacing_mm": [float(spacings[:, 0].min()), float(spacings[:, 0].max())],
        "in_plane_size_voxels": [int(shapes[:, 1:].min()), int(shapes[:, 1:].max())],
    }


def foreground_intensities(plans: dict[str, Any]) -> dict[str, float] | None:
    props = (plans.get("foreground_intensity_properties_per_channel") or {}).get("0")
    if not isinstance(props, dict):
        return None
    keys = ("percentile_00_5", "percentile_99_5", "median", "mean", "std")
    return {k: float(props[k]) for k in keys if k in props}


def build_record(
    raw_dataset: Path,
    fingerprint: dict[str, Any],
    plans: dict[str, Any],
    synthetic: bool,
    min_lesion_ml: float | None = None,
    validation: dict[str, float] | None = None,
    calibration: Calibration | None = None,
) -> CompetenceRecord:
    """The record of a model trained on ``raw_dataset`` (nnU-Net raw folder) with these plans."""
    stats = label_statistics(raw_dataset / "labelsTr")
    ranges = fingerprint_ranges(fingerprint)
    lesion = stats["lesion_volume_ml"]
    return CompetenceRecord(
        source="training",
        synthetic=synthetic,
        in_plane_spacing_mm=tuple(ranges["in_plane_spacing_mm"]),
        slice_spacing_mm=tuple(ranges["slice_spacing_mm"]),
        in_plane_size_voxels=tuple(ranges["in_plane_size_voxels"]),
        foreground_hu=foreground_intensities(plans),
        gland_volume_ml=tuple(stats["gland_volume_ml"]),
        lesion_volume_ml=None if lesion is None else tuple(lesion),
        lesion_components_max=stats["lesion_components_max"],
        normal_fraction=stats["normal_fraction"],
        min_lesion_ml=min_lesion_ml,
        validation=dict(validation or {}),
        calibration=calibration,
    )


def write_record(record: CompetenceRecord, model_folder: Path) -> Path:
    """Write ``competence.json`` into the model folder (atomically) and read it back through the engine's checks."""
    path = model_folder / COMPETENCE_FILE
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(record.to_json(), indent=2, allow_nan=False) + "\n", encoding="utf-8")
    read_record(path)  # what we write must pass what the engine accepts
    return path
