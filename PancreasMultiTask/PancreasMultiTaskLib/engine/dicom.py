"""DICOM series folders: which series is the volume, and whether its slices form a regular grid.

Rule for a folder holding several series: CT modality first, then the most slices (a localizer or
a dose report is short), then the smallest SeriesInstanceUID, so the choice is repeatable;
``--series UID`` picks one. A series with a missing slice or uneven slice spacing is refused, naming
the gap: ITK would read it with an averaged spacing, a wrong geometry.

Every entry of the folder is accounted for. GDCM silently drops every file listed after a dangling
link, a FIFO or a socket, and lost end slices leave no gap to see, so such entries (and unreadable
files) are refused by name before GDCM runs; a DICOM file GDCM placed in no series is refused too,
and the slices read must number the files of the series. A FIFO is never opened (it would block).
"""

from __future__ import annotations

import os
import stat
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


def has_dicom_files(folder: Path) -> bool:
    """Whether ``folder`` holds a DICOM Part 10 file, judged by bytes alone (GDCM runs only in the reading child)."""
    return any(_is_dicom_file(entry) for entry in _entries(folder, quiet=True))


def _entries(folder: Path, quiet: bool = False) -> list[Path]:
    """The folder's entries by name; an unlistable folder is a ``DicomError`` (``quiet``: no entries)."""
    try:
        return sorted(Path(entry.path) for entry in os.scandir(folder))
    except OSError as error:
        if quiet:
            return []
        raise DicomError(f"{folder}: cannot list the folder ({error.strerror})") from error


def _is_dicom_file(path: Path) -> bool:
    """A regular file (never a FIFO, which would block) with the ``DICM`` marker at byte 128."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return False
        with open(path, "rb") as handle:
            return handle.read(132)[128:] == b"DICM"
    except OSError:
        return False


def check_entries(folder: Path) -> None:
    """Refuse, by name, an entry GDCM cannot read, before GDCM runs: it would drop every file listed after it."""
    for path in _entries(folder):
        problem = _entry_problem(path)
        if problem:
            raise DicomError(
                f"{folder}: {path.name} is {problem}; GDCM would silently drop the files listed after it: "
                f"remove it and try again"
            )


_SPECIAL_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"))


def _entry_problem(path: Path) -> str | None:
    """What makes a folder entry unreadable; ``None`` for a subfolder or a regular file that opens."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "a link to a missing file" if path.is_symlink() else "gone"
    except OSError as error:
        return f"unreadable ({error.strerror})"
    if stat.S_ISDIR(mode):
        return None
    if not stat.S_ISREG(mode):
        return next((what for test, what in _SPECIAL_KINDS if test(mode)), "a device")
    try:
        with open(path, "rb"):
            return None
    except OSError as error:
        return f"unreadable ({error.strerror})"


def check_all_placed(folder: Path, series: list[Series]) -> None:
    """Refuse a DICOM file GDCM placed in no series: a slice it could not parse would be lost silently."""
    placed = {os.path.abspath(file) for found in series for file in found.files}
    for path in _entries(folder):
        if path.name.upper() != "DICOMDIR" and os.path.abspath(path) not in placed and _is_dicom_file(path):
            raise DicomError(
                f"{folder}: {path.name} is a DICOM file GDCM placed in no series (damaged?); refusing the folder "
                f"rather than lose a slice"
            )


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
    check_slice_count(folder, series, image.GetDepth(), _frames(reader, len(series.files)))
    positions = []
    for i in range(len(series.files)):
        if not reader.HasMetaDataKey(i, "0020|0032"):
            raise DicomError(f"{folder}: slice {Path(series.files[i]).name} has no Image Position (0020,0032)")
        positions.append([float(v) for v in reader.GetMetaData(i, "0020|0032").split("\\")])
    check_slice_spacing(folder, np.asarray(positions), np.asarray(image.GetDirection()).reshape(3, 3)[:, 2])
    return image


def _frames(reader: sitk.ImageSeriesReader, files: int) -> int:
    """Frames in the files read: Number of Frames (0028,0008) each, 1 where absent."""
    total = 0
    for i in range(files):
        value = reader.GetMetaData(i, "0028|0008").strip() if reader.HasMetaDataKey(i, "0028|0008") else ""
        total += int(value) if value.isdigit() and int(value) > 0 else 1
    return total


def check_slice_count(folder: Path, series: Series, depth: int, expected: int) -> None:
    """Refuse a volume whose slices do not number the frames of its series' files: some were dropped."""
    if depth != expected:
        raise DicomError(
            f"{folder}: series {series.uid}: read {depth} slices from {len(series.files)} files holding "
            f"{expected}; refusing, as slices were lost"
        )


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
