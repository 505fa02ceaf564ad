"""DICOM series written with SimpleITK (one file a slice, with the tags a scanner writes), for tests."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import SimpleITK as sitk

STUDY_UID = "1.2.826.0.1.3680043.2.1125.1"


def write_series(
    image: sitk.Image,
    folder: Path,
    series_uid: str,
    modality: str = "CT",
    slices: Sequence[int] | None = None,
    positions_z: Sequence[float] | None = None,
    prefix: str = "",
) -> Path:
    """Write ``image``'s slices (``slices``, default all) as a DICOM series; ``positions_z`` overrides their z."""
    folder.mkdir(parents=True, exist_ok=True)
    image = sitk.Cast(image, sitk.sitkInt16)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    chosen = list(range(image.GetDepth())) if slices is None else list(slices)
    for n, z in enumerate(chosen):
        plane = image[:, :, z]
        position = list(image.TransformIndexToPhysicalPoint((0, 0, z)))
        if positions_z is not None:
            position[2] = positions_z[n]
        for key, value in {
            "0008|0060": modality,
            "0008|0018": f"{series_uid}.{n + 1}",
            "0020|000d": STUDY_UID,
            "0020|000e": series_uid,
            "0020|0013": str(n + 1),
            "0020|0032": "\\".join(f"{v:.4f}" for v in position),
            "0020|0037": "1\\0\\0\\0\\1\\0",
            "0028|0030": f"{image.GetSpacing()[1]}\\{image.GetSpacing()[0]}",
            "0018|0050": str(image.GetSpacing()[2]),
        }.items():
            plane.SetMetaData(key, value)
        writer.SetFileName(str(folder / f"{prefix}{series_uid[-3:]}_{n:03d}.dcm"))
        writer.Execute(plane)
    return folder


def add_unreadable_entry(folder: Path, name: str, kind: str) -> Path:
    """Put an entry GDCM cannot read into a series folder: a dangling ``link`` or a ``fifo`` (root can't bypass)."""
    path = folder / name
    if kind == "link":
        path.symlink_to(folder / "no-such-slice.dcm")
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        raise ValueError(kind)
    return path
