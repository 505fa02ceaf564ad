"""DICOM series folders: which series is the volume, and whether its slices form a regular grid.

Rule for a folder holding several series: CT modality first, then the most slices (a localizer or
a dose report is short), then the smallest SeriesInstanceUID, so the choice is repeatable;
``--series UID`` picks one. A series with a missing slice or uneven slice spacing is refused, naming
the gap: ITK would read it with an averaged spacing, a wrong geometry.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

#: Largest difference between a slice gap and the median gap, as a fraction of the median (and at least 0.01 mm).
SPACING_TOLERANCE = 0.01


class DicomError(ValueError):
    """A DICOM folder that cannot be read as one regular volume; the message names the folder."""


@dataclass
class Series:
    """One series in a folder: its UID, modality and sorted slice files."""

    uid: str
    modality: str
    files: list[str]

    def describe(self) -> str:
        return f"{self.uid} ({self.modality or 'no modality'}, {len(self.files)} slices)"


def find_series(folder: Path) -> list[Series]:
    """Every DICOM series in ``folder`` (not its subfolders), in the order of the choice rule."""
    uids = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder)) or ()
    found = []
    for uid in uids:
        files = list(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), uid))
        if files:
            found.append(Series(uid, _modality(files[0]), files))
    return sorted(found, key=lambda s: (s.modality.upper() != "CT", -len(s.files), s.uid))


def _modality(file: str) -> str:
    reader = sitk.ImageFileReader()
    reader.SetFileName(file)
    try:
        reader.ReadImageInformation()
    except RuntimeError:
        return ""
    return reader.GetMetaData("0008|0060").strip() if reader.HasMetaDataKey("0008|0060") else ""


def choose_series(folder: Path, series: list[Series], uid: str | None = None) -> Series:
    """The series the rule (or ``uid``) names; an error listing the folder's series if ``uid`` is absent."""
    if not series:
        raise DicomError(f"{folder}: folder holds no DICOM series")
    if uid is None:
        return series[0]
    for candidate in series:
        if candidate.uid == uid:
            return candidate
    listing = "; ".join(s.describe() for s in series)
    raise DicomError(f"{folder}: no DICOM series {uid}; the folder holds {listing}")


def read_series(folder: Path, series: Series) -> sitk.Image:
    """Read one series, refusing a missing slice or uneven slice spacing."""
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(series.files)
    reader.MetaDataDictionaryArrayUpdateOn()
    image = reader.Execute()
    positions = []
    for i in range(len(series.files)):
        if not reader.HasMetaDataKey(i, "0020|0032"):
            raise DicomError(f"{folder}: slice {Path(series.files[i]).name} has no Image Position (0020,0032)")
        positions.append([float(v) for v in reader.GetMetaData(i, "0020|0032").split("\\")])
    check_slice_spacing(folder, np.asarray(positions), np.asarray(image.GetDirection()).reshape(3, 3)[:, 2])
    return image


def check_slice_spacing(folder: Path, positions: np.ndarray, normal: np.ndarray) -> None:
    """Refuse slice positions (sorted as read) that are not evenly spaced along ``normal``."""
    if len(positions) < 3:
        return
    along = positions @ normal
    gaps = np.diff(along)
    expected = float(np.median(gaps))
    tolerance = max(SPACING_TOLERANCE * abs(expected), 0.01)
    bad = np.flatnonzero(np.abs(gaps - expected) > tolerance)
    if bad.size == 0:
        return
    k = int(bad[0])
    what = "a missing slice?" if abs(gaps[k]) > abs(expected) else "an extra or duplicate slice?"
    raise DicomError(
        f"{folder}: uneven slice spacing: a gap of {abs(gaps[k]):.2f} mm between slices {k} and {k + 1} "
        f"(at {along[k]:.2f} and {along[k + 1]:.2f} mm along the slice normal) where the others are "
        f"{abs(expected):.2f} mm ({what}, {bad.size} uneven gap(s) in all); refusing, as the volume's geometry "
        f"would be wrong"
    )
