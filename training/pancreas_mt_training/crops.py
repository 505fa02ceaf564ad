"""Crops around the gland: what the main model trains on when a localizer finds the gland at prediction.

With ``--roi auto`` the engine predicts inside the localizer's gland box plus a margin, so the main model
only ever sees such a region; training it on the same crops (as the paper's data were: ROI crops about
one patch in size) spends its capacity there and keeps preprocessing small on a CPU. The margin is drawn
per case from a range around the localizer's, so the crop edge is not always at the same distance.
"""

from __future__ import annotations

import json
import shutil
from functools import partial
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from PancreasMultiTaskLib.engine.io import atomic_path, write_image

from .labels import SUBTYPES_CSV
from .parallel import map_in_processes


def slice_axis(image: sitk.Image) -> int:
    """The index axis (x, y, z order) closest to the patient's head-foot direction, whatever the storage order."""
    direction = np.array(image.GetDirection()).reshape(3, 3)
    return int(np.argmax(np.abs(direction[2])))


def gland_crop(
    image: sitk.Image, label: sitk.Image, margin_mm: float, axes: tuple[int, ...] = (0, 1, 2)
) -> tuple[sitk.Image, sitk.Image]:
    """``image`` and ``label`` cut to the box of every non-zero label voxel plus ``margin_mm`` (inside the volume)
    along the index ``axes``; the others are kept whole (``axes=(slice_axis(image),)``: a slab of whole slices)."""
    stats = sitk.LabelShapeStatisticsImageFilter()
    stats.Execute(sitk.Cast(label > 0, sitk.sitkUInt8))
    if not stats.HasLabel(1):
        raise ValueError("the label map has no gland to crop around")
    box = stats.GetBoundingBox(1)  # x, y, z start, then sizes
    start, size = np.array(box[:3]), np.array(box[3:])
    margin = np.ceil(margin_mm / np.array(image.GetSpacing())).astype(int)
    low = np.maximum(start - margin, 0)
    high = np.minimum(start + size + margin, np.array(image.GetSize()))
    whole = [axis for axis in range(3) if axis not in axes]
    low[whole], high[whole] = 0, np.array(image.GetSize())[whole]
    region = [int(v) for v in high - low], [int(v) for v in low]
    return sitk.RegionOfInterest(image, *region), sitk.RegionOfInterest(label, *region)


def crop_folder(
    source: str | Path, output: str | Path, margin_mm: tuple[float, float], seed: int = 0, jobs: int = 1
) -> Path:
    """A generic phantom folder (``images/``, ``labels/``, ``subtypes.csv``) cut to gland crops in ``output``.

    Each case's margin is drawn uniformly from ``margin_mm``; ``crops.json`` records it. Skipped when
    ``output`` already holds ``subtypes.csv`` (an interrupted run resumes). ``jobs``: cases cut in that many
    processes, the same crops as in one.
    """
    source, output = Path(source), Path(output)
    if (output / SUBTYPES_CSV).is_file():
        return output
    rng = np.random.default_rng(seed)
    margins = {
        path.name.removesuffix(".nii.gz"): float(rng.uniform(*margin_mm))
        for path in sorted((source / "labels").glob("*.nii.gz"))
    }
    map_in_processes(partial(_crop_case, source=source, output=output), margins.items(), jobs)
    with atomic_path(output / "crops.json") as tmp:
        tmp.write_text(json.dumps({"margin_mm": margins}, indent=2) + "\n", encoding="utf-8")
    with atomic_path(output / SUBTYPES_CSV) as tmp:  # last: marks the folder complete
        shutil.copyfile(source / SUBTYPES_CSV, tmp)
    return output


def _crop_case(case: tuple[str, float], source: Path, output: Path) -> None:
    """Cut one case of ``source`` (id, margin in mm) into ``output``."""
    case_id, margin = case
    image_path, label_path = source / "images" / f"{case_id}_0000.nii.gz", source / "labels" / f"{case_id}.nii.gz"
    image, label = gland_crop(sitk.ReadImage(str(image_path)), sitk.ReadImage(str(label_path)), margin)
    write_image(image, output / "images" / image_path.name)
    write_image(label, output / "labels" / label_path.name)
