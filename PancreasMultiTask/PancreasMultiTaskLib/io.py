"""Image input and output: files and DICOM series through SimpleITK, checks, atomic writes."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import SimpleITK as sitk

IMAGE_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".mha", ".mhd")


class InputError(ValueError):
    """An input image that cannot be used; the message names the file and what to do."""


def case_id_from_path(path: str | Path) -> str:
    """Case identifier of an image file or DICOM folder: its name without suffix or ``_0000`` channel tag."""
    name = Path(path).name
    for suffix in (".seg.nrrd", *IMAGE_SUFFIXES):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    if len(name) > 5 and name[-5] == "_" and name[-4:].isdigit():
        name = name[:-5]
    return name


def is_image_file(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(IMAGE_SUFFIXES)


def _dicom_series(folder: Path) -> list[str]:
    series_ids = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder)) or ()
    if not series_ids:
        return []
    # The series with the most slices is the volume; localizers and dose reports are short.
    files = [sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), sid) for sid in series_ids]
    return list(max(files, key=len))


def is_dicom_folder(path: Path) -> bool:
    return path.is_dir() and bool(_dicom_series(path))


def read_image(path: str | Path) -> sitk.Image:
    """Read a 3D scalar image from a file or a DICOM series folder, with a clear error if unusable."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    try:
        if path.is_dir():
            files = _dicom_series(path)
            if not files:
                raise InputError(f"{path}: folder holds no DICOM series")
            reader = sitk.ImageSeriesReader()
            reader.SetFileNames(files)
            image = reader.Execute()
        else:
            image = sitk.ReadImage(str(path))
    except RuntimeError as error:
        first = str(error).strip().splitlines()
        reason = first[-1] if first else "unreadable"
        raise InputError(f"{path}: cannot read image ({reason})") from error
    check_image(image, path)
    return image


def check_image(image: sitk.Image, name: str | Path) -> None:
    """Refuse images the engine cannot segment: not 3D, several components, NaN, constant."""
    if image.GetDimension() != 3:
        raise InputError(f"{name}: expected a 3D volume, got a {image.GetDimension()}D image")
    size = image.GetSize()
    if min(size) < 1 or (size[2] == 1):
        raise InputError(f"{name}: expected a 3D volume, got size {size} (a single slice)")
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(
            f"{name}: expected one channel, got {image.GetNumberOfComponentsPerPixel()} components per voxel"
        )
    array = sitk.GetArrayViewFromImage(image)
    if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
        raise InputError(f"{name}: contains NaN or infinite voxel values")
    if array.min() == array.max():
        raise InputError(f"{name}: all voxels have the same value ({array.min()}): an empty volume")


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling of ``path`` (same suffixes) and rename it onto ``path`` on success.

    Readers never see a half-written file, and a failure leaves nothing behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = "".join(path.suffixes) or ""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".partial{suffix}", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if tmp.exists():  # mkstemp makes 0600; give the file the mode a plain open() would
            umask = os.umask(0)
            os.umask(umask)
            tmp.chmod(0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_image(image: sitk.Image, path: str | Path, *, compress: bool = True, metadata: dict | None = None) -> Path:
    """Write an image atomically; ``metadata`` keys go into the header (NRRD ``key:=value``)."""
    path = Path(path)
    image = sitk.Image(image)
    for key, value in (metadata or {}).items():
        image.SetMetaData(key, str(value))
    with atomic_path(path) as tmp:
        sitk.WriteImage(image, str(tmp), useCompression=compress)
    return path


def check_writable_folder(folder: str | Path) -> Path:
    """Create ``folder`` if needed and prove it is writable, before any work is done."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise InputError(f"{folder}: output folder is not writable ({error.strerror or error})") from error
    return folder
