"""Image input and output: files and DICOM series through SimpleITK, checks, atomic writes.

Inputs are read in a child process (``isolation``), so that a reader crashing on a stranger's file
fails that case only; ``read_case_here`` is what the child runs.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from .dicom import (
    DicomError,
    check_all_placed,
    check_entries,
    choose_series,
    find_series,
    has_dicom_files,
    read_series,
)
from .file_checks import FileCheckError, check_file, check_header_geometry
from .isolation import read_isolated

# ITK's own warnings ("No Series were found", "unexpected scales in sform", ...) are not for the
# user's screen; what matters is checked here and said in our own words.
sitk.ProcessObject.SetGlobalWarningDisplay(False)

IMAGE_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".mha", ".mhd")
#: ITK's reader for each accepted file ending: left to itself ITK picks a reader by the file's content
#: (GDCM for any DICOM bytes, GE readers, ...), past the checks made for the format the name says.
IMAGE_IOS = {".nii.gz": "NiftiImageIO", ".nii": "NiftiImageIO", ".nrrd": "NrrdImageIO"}
IMAGE_IOS.update({".mha": "MetaImageIO", ".mhd": "MetaImageIO"})


class InputError(ValueError):
    """An input image that cannot be used; the message names the file and what to do."""


class WriteError(OSError):
    """An output that could not be written whole (disk full, file size limit); nothing was left behind."""


@dataclass
class ImageSource:
    """What was read for a case: the file or folder, and the DICOM series used (with a note if chosen)."""

    file: str
    series_instance_uid: str | None = None
    note: str | None = None


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


def is_dicom_folder(path: Path) -> bool:
    """A folder holding a DICOM file, judged by bytes: GDCM never parses a stranger's file in this process."""
    return path.is_dir() and has_dicom_files(path)


def read_image(path: str | Path, series: str | None = None) -> sitk.Image:
    """Read a 3D scalar image from a file or a DICOM series folder, with a clear error if unusable."""
    return read_case(path, series)[0]


def read_case(path: str | Path, series: str | None = None) -> tuple[sitk.Image, ImageSource]:
    """Read an image file or a DICOM folder (its series by the rule, or ``series``) and say what was read.

    The read runs in a child process (``isolation``): a crash there is an ``InputError`` for this input.
    """
    return read_isolated(path, series)


def read_case_here(path: str | Path, series: str | None = None) -> tuple[sitk.Image, ImageSource]:
    """``read_case`` in this process: the reading child's work.

    Files are checked before ITK reads their pixels (``file_checks``) and read by the ITK reader their
    name says; DICOM folders have every entry accounted for (``dicom``). Every refusal is an
    ``InputError`` naming the file.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    source = ImageSource(file=os.path.abspath(path))
    try:
        if path.is_dir():
            check_entries(path)
            found = find_series(path)
            check_all_placed(path, found)
            chosen = choose_series(path, found, series)
            source.series_instance_uid = chosen.uid
            if len(found) > 1:
                source.note = (
                    f"DICOM series {chosen.describe()} chosen of {len(found)} series "
                    f"({'--series' if series else 'rule: CT first, then most slices'})"
                )
            image = read_series(path, chosen)
        else:
            if series is not None:
                raise InputError(f"{path}: --series applies to DICOM folders, not to a file")
            image_io = _image_io(path)
            check_file(path)
            reader = sitk.ImageFileReader()
            reader.SetImageIO(image_io)
            reader.SetFileName(str(path))
            reader.ReadImageInformation()
            check_header_geometry(
                path, reader.GetSize(), reader.GetSpacing(), reader.GetDirection(), reader.GetNumberOfComponents()
            )
            image = reader.Execute()
    except (FileCheckError, DicomError) as error:
        raise InputError(str(error)) from error
    except RuntimeError as error:
        raise InputError(f"{path}: cannot read image ({_itk_reason(error)})") from error
    check_image(image, path)
    return image, source


def _image_io(path: Path) -> str:
    """The ITK reader for ``path``'s name; a FIFO, device or unknown format is refused before anything opens it."""
    if not stat.S_ISREG(path.stat().st_mode):
        raise InputError(f"{path}: not a regular file")
    name = path.name.lower()
    for suffix, image_io in IMAGE_IOS.items():
        if name.endswith(suffix):
            return image_io
    raise InputError(f"{path}: not an image file ({', '.join(IMAGE_SUFFIXES)}) or a DICOM folder")


_ITK_PREFIX = re.compile(r"^(itk::)?(ITK )?ERROR: \w+\(0x[0-9a-fA-F]+\):\s*")


def _itk_reason(error: RuntimeError) -> str:
    """The informative part of an ITK exception, without ITK's source lines and object addresses."""
    lines = [_ITK_PREFIX.sub("", line.strip()) for line in str(error).splitlines() if line.strip()]
    for line in lines:
        if line.startswith("Reason:") and not any(word in line for word in ("No such file", "Success")):
            return line.removeprefix("Reason:").strip()
    useful = [line for line in lines if not line.startswith(("Exception thrown", "/"))]
    return (useful or lines or ["unreadable"])[-1]


def check_image(image: sitk.Image, name: str | Path) -> None:
    """Refuse images the engine cannot segment: not 3D, one slice, several components, bad geometry, NaN, constant."""
    if image.GetDimension() != 3:
        raise InputError(f"{name}: expected a 3D volume, got a {image.GetDimension()}D image")
    size = image.GetSize()
    if min(size) < 1 or (size[2] == 1):
        raise InputError(f"{name}: expected a 3D volume, got size {size} (a single slice)")
    if image.GetPixelID() in (sitk.sitkComplexFloat32, sitk.sitkComplexFloat64):
        raise InputError(
            f"{name}: complex voxel values ({image.GetPixelIDTypeAsString()}); a CT volume holds real numbers"
        )
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(
            f"{name}: expected one channel, got {image.GetNumberOfComponentsPerPixel()} components per voxel"
        )
    try:
        check_header_geometry(name, size, image.GetSpacing(), image.GetDirection())
    except FileCheckError as error:
        raise InputError(str(error)) from error
    array = sitk.GetArrayViewFromImage(image)
    if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
        raise InputError(f"{name}: contains NaN or infinite voxel values")
    if array.min() == array.max():
        raise InputError(f"{name}: all voxels have the same value ({array.min()}): an empty volume")


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling of ``path`` (same suffixes) and rename it onto ``path`` on success.

    The file is flushed to disk (fsync) before the rename, so readers never see a half-written
    file, and a failure leaves nothing behind. A full disk becomes a ``WriteError`` saying so.
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
            _fsync(tmp)
        os.replace(tmp, path)
    except OSError as error:
        if error.errno in (errno.ENOSPC, errno.EDQUOT) and not isinstance(error, WriteError):
            raise WriteError(error.errno, f"{path}: disk full, nothing written ({error.strerror})") from error
        raise
    finally:
        tmp.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    with path.open("rb+") as handle:
        os.fsync(handle.fileno())


def write_image(image: sitk.Image, path: str | Path, *, compress: bool = True, metadata: dict | None = None) -> Path:
    """Write an image atomically and check it (size, header, every data byte) before the rename.

    ITK does not report a failed write (a full disk leaves a short file it still reads), so the
    written file is read back; a short one is a ``WriteError`` naming the cause ("disk full").
    """
    path = Path(path)
    image = sitk.Image(image)
    for key, value in (metadata or {}).items():
        image.SetMetaData(key, str(value))
    with atomic_path(path) as tmp:
        try:
            sitk.WriteImage(image, str(tmp), useCompression=compress)
            _check_written(tmp, image)
        except (RuntimeError, FileCheckError) as error:
            raise _write_failure(path, image, error) from error
    return path


def _check_written(tmp: Path, image: sitk.Image) -> None:
    if tmp.stat().st_size == 0:
        raise FileCheckError(f"{tmp}: empty file")
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(tmp))
    reader.ReadImageInformation()
    if reader.GetSize() != image.GetSize() or reader.GetNumberOfComponents() != image.GetNumberOfComponentsPerPixel():
        raise FileCheckError(f"{tmp}: header reads back as size {reader.GetSize()}, not {image.GetSize()}")
    check_file(tmp)


def _write_failure(path: Path, image: sitk.Image, error: Exception) -> WriteError:
    """Why a written file came out short: probe the folder with the bytes it needed, and name the cause."""
    needed = image.GetNumberOfPixels() * image.GetSizeOfPixelComponent() * image.GetNumberOfComponentsPerPixel()
    cause = None
    try:
        with tempfile.TemporaryFile(dir=path.parent) as probe:
            block = bytes(1 << 20)
            for start in range(0, needed, len(block)):
                probe.write(block[: needed - start])
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as probe_error:
        cause = probe_error.errno
    if cause in (errno.ENOSPC, errno.EDQUOT):
        reason = "disk full"
    elif cause == errno.EFBIG:
        reason = "file size limit reached"
    else:
        reason = f"the written file is incomplete ({error})"
    return WriteError(cause or errno.EIO, f"{path}: cannot write the image: {reason}; nothing written")


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


PARTIAL_MARK, OLD_MARK = ".partial-", ".old-"


@contextlib.contextmanager
def atomic_folder(path: str | Path) -> Iterator[Path]:
    """Yield a fresh temporary folder beside ``path`` and swap it in whole for ``path`` on success.

    Files of two runs never end up together: the old folder is moved aside, the new one renamed
    into place, then the old one removed. A failure (or a kill) leaves only hidden ``.partial-``
    or ``.old-`` folders, which ``remove_leftovers`` clears on the next run.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}{PARTIAL_MARK}", dir=path.parent))
    try:
        yield tmp
        old = None
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}{OLD_MARK}", dir=path.parent))
            os.replace(path, old / path.name)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def remove_leftovers(folder: str | Path, name: str) -> None:
    """Remove what an interrupted ``atomic_folder``/``atomic_path`` of ``folder/name`` left behind."""
    folder = Path(folder)
    if not folder.is_dir():
        return
    for mark in (PARTIAL_MARK, OLD_MARK, "."):
        for leftover in folder.glob(f".{glob.escape(name)}{mark}*"):
            if leftover.is_dir() and mark != ".":
                shutil.rmtree(leftover, ignore_errors=True)
            elif leftover.is_file() and ".partial" in leftover.name:
                leftover.unlink(missing_ok=True)
