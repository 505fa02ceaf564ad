"""Image input and output: files and DICOM series through SimpleITK, checks, atomic writes.

Inputs are read in a child process (``isolation``), so that a reader crashing on a stranger's file
fails that case only; ``read_case_here`` is what the child runs.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import shutil
import stat
import tempfile
import time
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
#: nnU-Net's channel tag of an image file's first (here: only) channel, ``<case>_0000.nii.gz``.
CHANNEL_TAG = "_0000"
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


def file_stem(path: str | Path) -> str:
    """A file's name without its image suffix (``.nii.gz``, ``.seg.nrrd``, ...): a label's case id, as nnU-Net's
    labels carry no channel tag."""
    name = Path(path).name
    suffix = next((s for s in (".seg.nrrd", *IMAGE_SUFFIXES) if name.lower().endswith(s)), "")
    return name[: len(name) - len(suffix)]


def case_id_from_path(path: str | Path) -> str:
    """Case identifier of an image file or DICOM folder: its name without suffix or ``_0000`` channel tag.

    Never empty, ``.`` or ``..``: a name that would give one (``.nii.gz``, ``...nii.gz``) keeps its whole
    name, so every input has a name to report; ``case_folder_name`` makes any id a safe folder name.
    """
    full, name = Path(path).name, file_stem(path)
    if len(name) > 5 and name.endswith(CHANNEL_TAG):  # nnU-Net's tag of the one (CT) channel; other digits are
        name = name[: -len(CHANNEL_TAG)]  # the name's own (``ct_2024``, case ``abdomen_s1_1000``)
    if name in ("", ".", ".."):
        name = full
    return name or "unnamed"


# Names OUTDIR holds beside the case folders (summary.csv, a shard's summary, the contact sheet and its page),
# and names Windows keeps for devices: a case folder never takes one of them.
_RESERVED_NAMES = re.compile(r"(summary(_part\d+of\d+)?\.csv|index\.html|previews\.png)", re.IGNORECASE)
_DEVICE_NAMES = re.compile(r"(con|prn|aux|nul|com\d|lpt\d)(\..*)?", re.IGNORECASE)
_UNSAFE_CHARS = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]')
NAME_MAX_BYTES = 255
_HASHED_STEM_BYTES = 100


def case_folder_name(case_id: str) -> str:
    """The case's folder under OUTDIR: the case id itself where that is safe, else a sanitized name with a hash.

    Safe means: a plain file name on Linux, macOS and Windows (no separator, control or reserved character, no
    trailing dot or space, no device name), not hidden (a leading dot is kept for our temporaries, and rules out
    ``.`` and ``..``), not a file OUTDIR holds beside the cases (``summary.csv``, ``index.html``...) and at most
    255 bytes. Any other id becomes ``<id, unsafe characters as _, at most 100 bytes>-<8 hex of its SHA-256>``
    (``_`` in front of a device name): the same id always gets the same folder, so shards and reruns agree,
    which a running number ``case_<n>`` would not. Distinct ids get distinct folders but for a made-up clash
    with an id that looks hashed, which the CLI refuses as it refuses duplicate ids.
    """
    if _is_safe_folder_name(case_id):
        return case_id
    stem = _UNSAFE_CHARS.sub("_", case_id.encode("utf-8", "replace").decode("utf-8")).strip(" .")
    stem = stem.encode("utf-8")[:_HASHED_STEM_BYTES].decode("utf-8", "ignore").rstrip(" .") or "case"
    if _DEVICE_NAMES.fullmatch(stem.split(".")[0]):  # Windows reads "nul.txt-..." as the device NUL too
        stem = f"_{stem}"
    return f"{stem}-{_short_hash(case_id)}"


def _is_safe_folder_name(name: str) -> bool:
    """Whether ``name`` can be a folder of OUTDIR as it is, on every system, beside our own files."""
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:  # undecodable bytes of a POSIX file name (surrogate escapes)
        return False
    return (
        0 < size <= NAME_MAX_BYTES
        and not name.startswith(".")
        and not name.endswith((" ", "."))
        and not _UNSAFE_CHARS.search(name)
        and not _RESERVED_NAMES.fullmatch(name)
        and not _DEVICE_NAMES.fullmatch(name)
    )


def _short_hash(text: str) -> str:
    """8 hex digits naming ``text`` (any POSIX file name, undecodable bytes included) in a shortened name."""
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:8]


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

    The read runs in a child process (``isolation``): a crash there is an ``InputError`` for this input. A
    missing, unreadable or special entry (FIFO, broken link) is refused here first, with no child started.
    """
    check_readable(Path(path))
    return read_isolated(path, series)


def read_case_here(path: str | Path, series: str | None = None) -> tuple[sitk.Image, ImageSource]:
    """``read_case`` in this process: the reading child's work.

    Files are checked before ITK reads their pixels (``file_checks``) and read by the ITK reader their
    name says; DICOM folders have every entry accounted for (``dicom``). Every refusal is an
    ``InputError`` naming the file.
    """
    path = Path(path)
    check_readable(path)
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
    except OSError as error:  # e.g. permission denied while the checks read the file
        raise InputError(f"{path}: cannot read ({error.strerror or error})") from error
    check_image(image, path)
    return image, source


_FILE_KINDS = {stat.S_IFIFO: "a FIFO", stat.S_IFSOCK: "a socket", stat.S_IFCHR: "a device", stat.S_IFBLK: "a device"}


def check_readable(path: Path) -> None:
    """Refuse, naming why, an input that is missing, a broken link, a FIFO or device, or an unreadable folder.

    Checked before anything opens it: opening a FIFO would wait forever for a writer.
    """
    try:
        mode = path.stat().st_mode
    except OSError as error:
        if path.is_symlink():
            raise InputError(f"{path}: broken symbolic link (to {os.readlink(path)})") from error
        if error.errno == errno.ENOENT:
            raise InputError(f"{path}: no such file or folder") from error
        raise InputError(f"{path}: cannot read ({error.strerror or error})") from error
    if stat.S_ISDIR(mode):
        try:
            with os.scandir(path) as entries:
                next(entries, None)
        except OSError as error:
            raise InputError(f"{path}: cannot read folder ({error.strerror or error})") from error
    elif not stat.S_ISREG(mode):
        raise InputError(f"{path}: not a regular file ({_FILE_KINDS.get(stat.S_IFMT(mode), 'a special file')})")


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
LOCK_SUFFIX = ".lock"
STALE_S = 120.0  # an unlocked temporary folder untouched this long belongs to no live run
_TEMP_STEM_BYTES = 200  # ".<stem>.partial-<8 hex>.lock" stays under 255 bytes


def temporary_prefix(name: str, mark: str) -> str:
    """The start of ``atomic_folder``'s temporary names for ``name``: ``.<name><mark>`` (a long name shortened)."""
    raw = name.encode("utf-8", "surrogateescape")
    if len(raw) <= _TEMP_STEM_BYTES:
        return f".{name}{mark}"
    stem = raw[: _TEMP_STEM_BYTES - 9].decode("utf-8", "ignore")
    return f".{stem}~{_short_hash(name)}{mark}"


@contextlib.contextmanager
def atomic_folder(path: str | Path) -> Iterator[Path]:
    """Yield a fresh temporary folder beside ``path`` and swap it in whole for ``path`` on success.

    Files of two runs never end up together: the old folder is moved aside, the new one renamed
    into place, then the old one removed. A failure (or a kill) leaves only hidden ``.partial-``
    or ``.old-`` folders, which ``remove_leftovers`` clears on a later run. While a run works in
    them it holds a lock on a ``.lock`` file beside each, so no other run's cleanup removes them.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked_folder(path.parent, temporary_prefix(path.name, PARTIAL_MARK)) as tmp:
        yield tmp
        if not path.exists():
            os.replace(tmp, path)
            return
        with _locked_folder(path.parent, temporary_prefix(path.name, OLD_MARK)) as old:
            os.replace(path, old / path.name)
            try:
                os.replace(tmp, path)
            except OSError:
                os.replace(old / path.name, path)  # the earlier output back in place, whole
                raise


@contextlib.contextmanager
def _locked_folder(parent: Path, prefix: str) -> Iterator[Path]:
    """A new folder ``parent/<prefix><8 hex>``, locked through ``<folder>.lock`` until it is removed at the end."""
    while True:
        folder = parent / f"{prefix}{os.urandom(4).hex()}"
        lock = folder.with_name(folder.name + LOCK_SUFFIX)
        try:
            handle = lock.open("xb")  # exclusive creation: the name is ours
            break
        except FileExistsError:
            continue
    try:
        with handle:
            _try_lock(handle)
            folder.mkdir()
            try:
                yield folder
            finally:
                shutil.rmtree(folder, ignore_errors=True)  # gone already when renamed into place
    finally:
        lock.unlink(missing_ok=True)


def _try_lock(handle) -> bool:
    """Take an exclusive lock on an open file without waiting; ``False`` if another process holds it."""
    try:
        if os.name == "nt":
            import msvcrt

            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def remove_leftovers(folder: str | Path, name: str) -> None:
    """Remove what an interrupted ``atomic_folder`` of ``folder/name`` left behind, and nothing a live run uses.

    Candidates are only the names ``atomic_folder`` gives ``name``'s temporaries (so never another case's
    folder or temporaries), and of those only dead ones: nobody holds their lock, and neither they nor
    their lock file changed for ``STALE_S`` seconds (which covers a run between creating a folder and
    locking it).
    """
    folder = Path(folder)
    if not folder.is_dir():
        return
    patterns = [re.escape(temporary_prefix(name, mark)) + r"[0-9a-f]{8}" for mark in (PARTIAL_MARK, OLD_MARK)]
    pattern = re.compile(f"({'|'.join(patterns)})({re.escape(LOCK_SUFFIX)})?")
    for leftover in sorted(folder.iterdir()):
        match = pattern.fullmatch(leftover.name)
        if match and not match.group(2):
            _remove_if_dead(leftover, leftover.with_name(leftover.name + LOCK_SUFFIX))
        elif match and not leftover.with_name(match.group(1)).exists():  # a lock whose folder is gone
            _remove_if_dead(leftover.with_name(match.group(1)), leftover)


def _remove_if_dead(leftover: Path, lock: Path) -> None:
    """Remove ``leftover`` and its lock file if no live run holds the lock and both are stale."""
    try:
        handle = lock.open("rb")
    except FileNotFoundError:
        handle = None
    except OSError:
        return
    try:
        if handle is not None and not _try_lock(handle):
            return
        if _touched_within(STALE_S, leftover, lock):
            return
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)
        lock.unlink(missing_ok=True)
    finally:
        if handle is not None:
            handle.close()


def _touched_within(seconds: float, *paths: Path) -> bool:
    """Whether any of ``paths`` that exist was modified less than ``seconds`` ago."""
    now = time.time()
    for path in paths:
        try:
            if now - path.lstat().st_mtime < seconds:
                return True
        except OSError:
            continue
    return False
