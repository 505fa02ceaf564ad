"""Image files checked before ITK reads their pixels: header geometry, size, stored data bytes, NaN.

ITK reads some broken files "successfully": it fills a truncated NIfTI with zeros, turns NaN in a
NIfTI into 0, reads a zero pixdim as 1 mm and orthogonalizes a sheared NIfTI sform. Each such
file is refused here, with a message naming it, before a wrong volume can be predicted.

NIfTI headers are read with nibabel. For NRRD and MetaImage the few fields needed are read by hand:
ITK reports header values only after fixing them up, and no well-kept library says where their
data bytes start, which is what a truncation check needs.

A NRRD or MetaImage header may name the file holding its data. ITK reads whatever it names
(``/etc/passwd`` comes back as pixels) and MetaIO's file-pattern form (``/etc/pass%s 1 2 1``) kills
the process, so a header may name only one existing regular file inside its own folder: absolute
paths, ``..``, links leading out, missing files, and the LIST and file-pattern forms are refused
here, before ITK sees the file. A header these checks cannot parse is refused, not passed on.
Compressed data may not hold more bytes than the header declares (a gzip bomb stops after one
chunk). Readers still run in a child process (``isolation``): what these checks miss can crash
one case, never the batch.
"""

from __future__ import annotations

import math
import os
import re
import stat
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

#: Largest volume read, in voxels (x components): 512 x 512 x 2048, 2 GiB as float32.
MAX_VOXELS = 512 * 512 * 2048
_CHUNK = 1 << 22
#: Largest deviation of a direction matrix from orthonormal that is accepted.
ORTHOGONALITY_TOLERANCE = 1e-4
#: Largest NRRD or MetaImage header read; a longer one is refused (what lies beyond it is not checked).
HEADER_LIMIT = 1 << 16
#: Largest relative difference between a NIfTI sform's spacing and its pixdim, and between the direction
#: cosines of its sform and qform, that is accepted.
FORM_TOLERANCE = 1e-3
#: Largest distance between the origins of a NIfTI's sform and qform that is accepted, in mm.
ORIGIN_TOLERANCE_MM = 0.1


class FileCheckError(ValueError):
    """A file refused before reading; the message names the file and what is wrong."""


def check_header_geometry(
    name: object, size: Sequence[int], spacing: Sequence[float], direction: Sequence[float] | None, components: int = 1
) -> None:
    """Refuse a declared size above ``MAX_VOXELS``, a zero/negative spacing, or sheared direction cosines."""
    voxels = math.prod(int(s) for s in size) * max(int(components), 1)
    if voxels > MAX_VOXELS:
        shape = " x ".join(str(int(s)) for s in size)
        raise FileCheckError(
            f"{name}: header declares {shape} voxels ({voxels:,}), more than the limit of {MAX_VOXELS:,} "
            f"(512 x 512 x 2048); crop or split the volume"
        )
    bad = [float(s) for s in spacing if not (math.isfinite(float(s)) and float(s) > 0)]
    if bad:
        values = tuple(float(s) for s in spacing)
        raise FileCheckError(f"{name}: voxel spacing {values} has a zero, negative or undefined value")
    if direction is not None:
        n = len(spacing)
        matrix = np.asarray(direction, float).reshape(n, n)
        deviation = float(np.abs(matrix.T @ matrix - np.eye(n)).max())
        if deviation > ORTHOGONALITY_TOLERANCE:
            raise FileCheckError(
                f"{name}: sheared or non-orthogonal direction cosines (axes {_worst_angle(matrix):.1f} degrees off "
                f"perpendicular); resample it to an orthogonal grid first"
            )


def _worst_angle(columns: np.ndarray) -> float:
    unit = columns / np.maximum(np.linalg.norm(columns, axis=0), 1e-12)
    cosines = np.abs(unit.T @ unit - np.eye(unit.shape[0]))
    return math.degrees(math.asin(min(1.0, float(cosines.max()))))


def check_file(path: Path) -> None:
    """Check the header and stored data of a NIfTI, NRRD or MetaImage file (other formats pass)."""
    name = path.name.lower()
    if name.endswith((".nii", ".nii.gz")):
        _check_nifti(path)
    elif name.endswith(".nrrd"):
        _check_nrrd(path)
    elif name.endswith((".mha", ".mhd")):
        _check_metaimage(path)


# --------------------------------------------------------------------------------------------------
class _EndsEarly(Exception):
    """A compressed stream that stops before its end-of-stream marker."""


def _chunks(path: Path, file_offset: int, compressed: bool) -> Iterator[bytes]:
    """The bytes stored after ``file_offset``, decompressed (gzip or zlib, several members) if ``compressed``."""
    with path.open("rb") as handle:
        handle.seek(file_offset)
        if not compressed:
            while raw := handle.read(_CHUNK):
                yield raw
            return
        decompressor, fed, pending = zlib.decompressobj(wbits=47), False, b""  # 47: gzip or zlib header
        while True:
            raw, pending = pending or handle.read(_CHUNK), b""
            if not raw:
                if fed and not decompressor.eof:
                    raise _EndsEarly
                return
            fed = True
            yield decompressor.decompress(raw, _CHUNK)
            while decompressor.unconsumed_tail:
                yield decompressor.decompress(decompressor.unconsumed_tail, _CHUNK)
            if decompressor.eof:
                pending = decompressor.unused_data
                decompressor, fed = zlib.decompressobj(wbits=47), False


def check_stored_data(
    path: Path,
    nbytes: int,
    file_offset: int = 0,
    compressed: bool = False,
    skip: int = 0,
    float_dtype=None,
    name: object = None,
) -> None:
    """Refuse a file holding fewer than ``nbytes`` data bytes, or (``float_dtype``) NaN or infinite values.

    The data are counted chunk by chunk and never kept, so a header declaring a huge size with
    little data costs nothing. ``skip`` bytes of the (decompressed) stream come before the data.
    Compressed data holding more than declared are refused after one chunk more (a gzip bomb).
    Messages name ``name`` (default: ``path``).
    """
    name = path if name is None else name
    got, tail, ended_early, extra = 0, b"", False, 0
    stream = _chunks(path, file_offset, compressed)
    try:
        for chunk in stream:
            if skip:
                cut = min(skip, len(chunk))
                chunk, skip = chunk[cut:], skip - cut
            used = chunk[: nbytes - got]
            got += len(used)
            if float_dtype is not None and used:
                data = tail + used
                usable = len(data) - len(data) % float_dtype.itemsize
                if not np.isfinite(np.frombuffer(data[:usable], float_dtype)).all():
                    raise FileCheckError(f"{name}: contains NaN or infinite voxel values; refusing")
                tail = data[usable:]
            if got >= nbytes:
                extra = len(chunk) - len(used)
                break
    except _EndsEarly:
        ended_early = True
    except zlib.error as error:
        raise FileCheckError(f"{name}: corrupt compressed data ({error})") from error
    if got < nbytes:
        how = "its compressed stream ends early" if ended_early else "the file ends early"
        raise FileCheckError(
            f"{name}: truncated: holds {got:,} of the {nbytes:,} data bytes its header declares ({how})"
        )
    if compressed and (extra or _more_data(stream)):
        raise FileCheckError(
            f"{name}: its compressed data hold more than the {nbytes:,} bytes its header declares "
            f"(a compression bomb?); refusing"
        )


def _more_data(stream: Iterator[bytes]) -> bool:
    """Whether a decompressed stream yields any byte more; damage after the declared data is ITK's to ignore."""
    try:
        return any(stream)
    except (_EndsEarly, zlib.error):
        return False


# --------------------------------------------------------------------------------------------------
def check_data_file(header: Path, value: str) -> Path:
    """The one data file a NRRD or MetaImage header names, if it is an existing regular file inside its folder.

    ITK reads any file a header names (``/etc/passwd`` as pixels), and MetaIO's file-pattern form
    crashes the process: the LIST and pattern forms are refused outright, and so is anything else
    that is not a plain relative name of a file beside (or below) the header.
    """
    if not value.strip():
        raise FileCheckError(f"{header}: its header names no data file")
    if len(value.split()) != 1 or "%" in value or value.upper() == "LIST":
        raise FileCheckError(
            f"{header}: its header names its data by a file list or pattern ({value[:80]!r}); only one data "
            f"file, inside the image's own folder, is accepted"
        )
    why = _outside_reason(header.parent, value)
    if why:
        raise FileCheckError(
            f"{header}: its header names the data file {value[:80]!r}, {why}; a header may name only an existing "
            f"file inside its own folder"
        )
    return header.parent / value


def _outside_reason(folder: Path, value: str) -> str | None:
    """Why ``value`` (a name from a header) is not an existing regular file inside ``folder``; ``None`` if it is."""
    parts = re.split(r"[\\/]", value)
    if value.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", value):
        return "an absolute path"
    if ".." in parts:
        return "a path climbing out with '..'"
    target = folder / value
    try:
        resolved = target.resolve(strict=True)
        mode = os.stat(resolved).st_mode
    except (OSError, RuntimeError):
        return "which is missing or unreadable"
    if not resolved.is_relative_to(folder.resolve()):
        return f"a link leading out of the folder (to {resolved})"
    if not stat.S_ISREG(mode):
        return "which is not a regular file"
    return None


# --------------------------------------------------------------------------------------------------
def _nifti_header(path: Path):
    """The NIfTI-1 or -2 header as stored (``check=False``: nibabel would "fix" a zero pixdim to 1)."""
    import gzip

    import nibabel as nib

    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as handle:
        first = handle.read(4)
        handle.seek(0)
        sizes = {int.from_bytes(first, order) for order in ("little", "big")}
        kind = nib.Nifti2Header if 540 in sizes else nib.Nifti1Header
        return kind.from_fileobj(handle, check=False)


def _check_nifti(path: Path) -> None:
    from nibabel.spatialimages import HeaderDataError

    try:
        header = _nifti_header(path)
        shape = tuple(int(s) for s in header.get_data_shape())
        dtype = np.dtype(header.get_data_dtype())
        offset = int(header["vox_offset"])
    except (HeaderDataError, OSError, EOFError, ValueError, TypeError, zlib.error):
        return  # not a NIfTI nibabel reads: ITK's reader gives the error
    if not shape:
        return
    if dtype.kind == "c" or (dtype.kind == "f" and dtype.itemsize > 8):
        raise FileCheckError(f"{path}: voxels of type {dtype.name}; a CT volume holds real numbers of at most 64 bits")
    pixdim = [float(v) for v in header["pixdim"][1 : 1 + min(3, len(shape))]]
    direction = None
    if int(header["sform_code"]) > 0 and len(shape) >= 3:
        matrix = np.asarray(header.get_sform())[:3, :3]
        norms = np.linalg.norm(matrix, axis=0)
        if (norms > 0).all():
            direction = (matrix / norms).ravel()
    check_header_geometry(path, shape[:3], pixdim, direction, math.prod(shape[3:]))
    _check_nifti_forms(path, header, len(shape))
    compressed = path.name.lower().endswith(".gz")
    nbytes = math.prod(shape) * dtype.itemsize
    float_dtype = dtype if dtype.kind == "f" else None  # ITK's NIfTI reader turns NaN into 0: look here
    if compressed:
        check_stored_data(path, nbytes, 0, True, skip=offset, float_dtype=float_dtype)
    else:
        check_stored_data(path, nbytes, offset, False, float_dtype=float_dtype)


def _check_nifti_forms(path: Path, header, dimensions: int) -> None:
    """Refuse a NIfTI whose sform disagrees with its pixdim or its qform: ITK takes one and silently drops the other."""
    if int(header["sform_code"]) <= 0 or dimensions < 3:
        return
    sform = np.asarray(header.get_sform(), float)
    spacing = np.linalg.norm(sform[:3, :3], axis=0)
    pixdim = np.abs(np.asarray(header["pixdim"][1:4], float))
    if not np.allclose(spacing, pixdim, rtol=FORM_TOLERANCE, atol=0):
        raise FileCheckError(
            f"{path}: its sform gives a voxel spacing of {_rounded(spacing)} mm but its pixdim "
            f"{_rounded(pixdim)} mm; ITK would take the pixdim and drop the sform's: refusing an ambiguous geometry"
        )
    if int(header["qform_code"]) <= 0:
        return
    qform = np.asarray(header.get_qform(), float)
    cosines = [form[:3, :3] / np.linalg.norm(form[:3, :3], axis=0) for form in (qform, sform)]
    turned = float(np.abs(cosines[0] - cosines[1]).max()) > FORM_TOLERANCE
    moved = float(np.linalg.norm(qform[:3, 3] - sform[:3, 3])) > ORIGIN_TOLERANCE_MM
    if turned or moved:
        raise FileCheckError(
            f"{path}: its qform and sform disagree (qform: axes {_rounded(cosines[0].T.ravel())}, origin "
            f"{_rounded(qform[:3, 3])} mm; sform: axes {_rounded(cosines[1].T.ravel())}, origin "
            f"{_rounded(sform[:3, 3])} mm); ITK would take one and drop the other: refusing an ambiguous geometry"
        )


def _rounded(values: np.ndarray) -> tuple[float, ...]:
    return tuple(round(float(v), 3) + 0.0 for v in values)


# --------------------------------------------------------------------------------------------------
_NEWLINE = re.compile(rb"\r\n|\r|\n")


def _nrrd_header(path: Path) -> tuple[list[str], int | None]:
    """A NRRD header's lines (any line ending, as teem reads them) and where attached data start.

    The header ends at the first empty line; without one it is the whole file (data detached, offset
    ``None``). A header longer than ``HEADER_LIMIT`` is refused: a field beyond it would go unchecked.
    """
    with path.open("rb") as handle:
        head = handle.read(HEADER_LIMIT + 1)
    lines: list[str] = []
    position = 0
    for match in _NEWLINE.finditer(head):
        line = head[position : match.start()]
        position = match.end()
        if not line:
            return lines, position
        lines.append(line.decode("latin-1"))
    if len(head) > HEADER_LIMIT:
        raise FileCheckError(f"{path}: NRRD header longer than {HEADER_LIMIT:,} bytes; refusing")
    if head[position:]:
        lines.append(head[position:].decode("latin-1"))
    return lines, None


def _nrrd_fields(lines: list[str]) -> dict[str, str]:
    """The fields of a NRRD header (keys lower-case); comments and ``key:=value`` pairs are left out."""
    fields: dict[str, str] = {}
    for line in lines[1:]:
        key, sep, value = line.partition(":")
        if line.startswith("#") or not sep or value.startswith("="):
            continue
        fields[key.strip().lower()] = value.strip()
    return fields


def _itemsize_nrrd(type_name: str) -> int | None:
    t = type_name.lower().replace("_t", "")
    for words, size in (
        (("double",), 8),
        (("float",), 4),
        (("longlong", "long long", "int64"), 8),
        (("short", "int16"), 2),
        (("char", "int8"), 1),
        (("int",), 4),
    ):
        if any(w in t for w in words):
            return size
    return None


def _check_nrrd(path: Path) -> None:
    lines, data_start = _nrrd_header(path)
    if not lines or not lines[0].startswith("NRRD"):
        return  # not a NRRD: ITK's NRRD reader refuses it
    fields = _nrrd_fields(lines)
    named = fields.get("data file", fields.get("datafile"))
    target = check_data_file(path, named) if named is not None else path
    try:
        sizes = [int(v) for v in fields["sizes"].split()]
    except (KeyError, ValueError):
        return
    spatial = sizes[-3:]
    spacing: list[float] = []
    direction = None
    if "space directions" in fields:
        vectors = [[float(x) for x in v.split(",")] for v in re.findall(r"\(([^)]*)\)", fields["space directions"])]
        if len(vectors) >= 3:
            matrix = np.array(vectors[-3:], float).T
            spacing = list(np.linalg.norm(matrix, axis=0))
            if all(s > 0 for s in spacing):
                direction = (matrix / np.array(spacing)).ravel()
    elif "spacings" in fields:
        spacing = [float(v) if v.lower() != "nan" else math.nan for v in fields["spacings"].split()][-3:]
    components = math.prod(sizes[:-3]) if len(sizes) > 3 else 1
    check_header_geometry(path, spatial, spacing or [1.0] * len(spatial), direction, components)
    itemsize = _itemsize_nrrd(fields.get("type", ""))
    encoding = fields.get("encoding", "").lower()
    skips = fields.get("byte skip", "0") != "0" or fields.get("line skip", "0") != "0"
    if itemsize is None or skips or encoding not in ("raw", "gzip", "gz"):
        return
    offset = 0 if named is not None else data_start if data_start is not None else path.stat().st_size
    label = path if named is None else f"{path} (data file {named})"
    check_stored_data(target, math.prod(sizes) * itemsize, offset, encoding != "raw", name=label)


_META_SIZES = {"CHAR": 1, "UCHAR": 1, "SHORT": 2, "USHORT": 2, "INT": 4, "UINT": 4, "FLOAT": 4, "DOUBLE": 8}
_META_SIZES.update({"LONG_LONG": 8, "ULONG_LONG": 8})


def _check_metaimage(path: Path) -> None:
    fields, data_start = _metaimage_header(path)
    data_file = fields["elementdatafile"]
    if data_file.upper() == "LOCAL":
        target, offset = path, data_start
    else:
        target, offset = check_data_file(path, data_file), 0
    try:
        sizes = [int(v) for v in fields["dimsize"].split()]
        spacing = [float(v) for v in fields.get("elementspacing", fields.get("elementsize", "")).split()]
    except (KeyError, ValueError):
        return
    matrix = fields.get("transformmatrix") or fields.get("rotation") or fields.get("orientation")
    direction = None
    if matrix and len(matrix.split()) == len(sizes) ** 2:
        direction = np.array([float(v) for v in matrix.split()]).reshape(len(sizes), len(sizes)).T.ravel()
    channels = int(fields.get("elementnumberofchannels", "1") or 1)
    check_header_geometry(path, sizes, spacing or [1.0] * len(sizes), direction, channels)
    itemsize = _META_SIZES.get(fields.get("elementtype", "").upper().removeprefix("MET_"))
    if itemsize is None or "headersize" in fields:
        return
    compressed = fields.get("compresseddata", "false").lower() == "true"
    label = path if target == path else f"{path} (data file {data_file})"
    check_stored_data(target, math.prod(sizes) * channels * itemsize, offset, compressed, name=label)


def _metaimage_header(path: Path) -> tuple[dict[str, str], int]:
    """A MetaImage header's fields (keys lower-case) and the offset of the data after ``ElementDataFile``.

    MetaIO splits a line at its first ``=`` or ``:``; a header that does not reach ``ElementDataFile``
    within ``HEADER_LIMIT`` bytes, line by line, is refused rather than left to MetaIO.
    """
    with path.open("rb") as handle:
        head = handle.read(HEADER_LIMIT)
    lines = head.split(b"\n")
    if len(head) == HEADER_LIMIT:
        lines.pop()  # perhaps cut short
    fields: dict[str, str] = {}
    position = 0
    for line in lines:
        position = min(position + len(line) + 1, len(head))
        text = line.decode("latin-1")
        at = min((i for i in (text.find("="), text.find(":")) if i >= 0), default=-1)
        if at < 0 and not text.strip():
            continue
        if at < 0:
            break
        key = text[:at].strip().lower()
        fields[key] = text[at + 1 :].strip()
        if key == "elementdatafile":
            return fields, position
    raise FileCheckError(f"{path}: not a MetaImage header ending in ElementDataFile within {HEADER_LIMIT:,} bytes")
