"""Image files checked before ITK reads their pixels: header geometry, size, stored data bytes, NaN.

ITK reads some broken files "successfully": it fills a truncated NIfTI with zeros, turns NaN in a
NIfTI into 0, reads a zero pixdim as 1 mm and orthogonalizes a sheared NIfTI sform. Each such
file is refused here, with a message naming it, before a wrong volume can be predicted.

NIfTI headers are read with nibabel. For NRRD and MetaImage the few fields needed are read by hand:
ITK reports header values only after fixing them up, and no well-kept library says where their
data bytes start, which is what a truncation check needs.
"""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

#: Largest volume read, in voxels (x components): 512 x 512 x 2048, 2 GiB as float32.
MAX_VOXELS = 512 * 512 * 2048
_CHUNK = 1 << 22
#: Largest deviation of a direction matrix from orthonormal that is accepted.
ORTHOGONALITY_TOLERANCE = 1e-4


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
    path: Path, nbytes: int, file_offset: int = 0, compressed: bool = False, skip: int = 0, float_dtype=None
) -> None:
    """Refuse a file holding fewer than ``nbytes`` data bytes, or (``float_dtype``) NaN or infinite values.

    The data are counted chunk by chunk and never kept, so a header declaring a huge size with
    little data costs nothing. ``skip`` bytes of the (decompressed) stream come before the data.
    """
    got, tail, ended_early = 0, b"", False
    try:
        for chunk in _chunks(path, file_offset, compressed):
            if skip:
                cut = min(skip, len(chunk))
                chunk, skip = chunk[cut:], skip - cut
            chunk = chunk[: nbytes - got]
            got += len(chunk)
            if float_dtype is not None and chunk:
                data = tail + chunk
                usable = len(data) - len(data) % float_dtype.itemsize
                if not np.isfinite(np.frombuffer(data[:usable], float_dtype)).all():
                    raise FileCheckError(f"{path}: contains NaN or infinite voxel values; refusing")
                tail = data[usable:]
            if got >= nbytes:
                return
    except _EndsEarly:
        ended_early = True
    except zlib.error as error:
        raise FileCheckError(f"{path}: corrupt compressed data ({error})") from error
    how = "its compressed stream ends early" if ended_early else "the file ends early"
    raise FileCheckError(f"{path}: truncated: holds {got:,} of the {nbytes:,} data bytes its header declares ({how})")


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
    pixdim = [float(v) for v in header["pixdim"][1 : 1 + min(3, len(shape))]]
    direction = None
    if int(header["sform_code"]) > 0 and len(shape) >= 3:
        matrix = np.asarray(header.get_sform())[:3, :3]
        norms = np.linalg.norm(matrix, axis=0)
        if (norms > 0).all():
            direction = (matrix / norms).ravel()
    check_header_geometry(path, shape[:3], pixdim, direction, math.prod(shape[3:]))
    compressed = path.name.lower().endswith(".gz")
    nbytes = math.prod(shape) * dtype.itemsize
    float_dtype = dtype if dtype.kind == "f" else None  # ITK's NIfTI reader turns NaN into 0: look here
    if compressed:
        check_stored_data(path, nbytes, 0, True, skip=offset, float_dtype=float_dtype)
    else:
        check_stored_data(path, nbytes, offset, False, float_dtype=float_dtype)


def _read_text_header(path: Path, end: bytes, limit: int = 1 << 16) -> tuple[bytes, int] | None:
    """The header bytes up to and including the first ``end`` marker, and where the data start."""
    with path.open("rb") as handle:
        head = handle.read(limit)
    at = head.find(end)
    return (head[:at], at + len(end)) if at >= 0 else None


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
    found = _read_text_header(path, b"\n\n")
    if found is None or not found[0].startswith(b"NRRD"):
        return  # ITK's reader gives the error (or reads a header over 64 KiB)
    fields: dict[str, str] = {}
    for line in found[0].decode("latin-1").splitlines()[1:]:
        if line.startswith("#") or ":" not in line:
            continue
        key, _, value = line.partition(":")
        fields[key.strip().lower()] = value.lstrip("=").strip()
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
    detached = any(k in fields for k in ("data file", "datafile"))
    skips = fields.get("byte skip", "0") != "0" or fields.get("line skip", "0") != "0"
    if itemsize is None or detached or skips or encoding not in ("raw", "gzip", "gz"):
        return
    check_stored_data(path, math.prod(sizes) * itemsize, found[1], encoding != "raw")


_META_SIZES = {"CHAR": 1, "UCHAR": 1, "SHORT": 2, "USHORT": 2, "INT": 4, "UINT": 4, "FLOAT": 4, "DOUBLE": 8}
_META_SIZES.update({"LONG_LONG": 8, "ULONG_LONG": 8})


def _check_metaimage(path: Path) -> None:
    found = _metaimage_header(path)
    if found is None:
        return
    fields, data_start = found
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
    data_file = fields.get("elementdatafile", "")
    if itemsize is None or "headersize" in fields:
        return
    if data_file.upper() == "LOCAL":
        target, offset = path, data_start
    elif data_file and " " not in data_file and "%" not in data_file and data_file.upper() != "LIST":
        target, offset = path.parent / data_file, 0
        if not target.is_file():
            raise FileCheckError(f"{path}: its data file {data_file} is missing")
    else:
        return
    compressed = fields.get("compresseddata", "false").lower() == "true"
    check_stored_data(target, math.prod(sizes) * channels * itemsize, offset, compressed)


def _metaimage_header(path: Path) -> tuple[dict[str, str], int] | None:
    """A MetaImage header's fields (keys lower-case) and the offset of the data after ``ElementDataFile``."""
    with path.open("rb") as handle:
        head = handle.read(1 << 16)
    fields: dict[str, str] = {}
    position = 0
    for line in head.split(b"\n"):
        end = position + len(line) + 1
        key, sep, value = line.decode("latin-1").partition("=")
        if not sep:
            return None
        fields[key.strip().lower()] = value.strip()
        position = end
        if key.strip().lower() == "elementdatafile":
            return fields, position
    return None
