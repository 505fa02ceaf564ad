"""The bad-input suite: inputs ITK reads wrongly or not at all, each refused by the CLI with one line.

``test_inputs_refused.py`` runs every case here through ``pancreas-mt predict`` and writes its table in
``Testing/bad_inputs_table.md`` (input, message, exit code) that the README links; ``test_outputs_safe.py``
writes the file's second table (hostile names and folders). Each test owns one section of the file.
"""

from __future__ import annotations

import gzip
import os
import struct
from collections.abc import Callable
from pathlib import Path

import nibabel as nib
import numpy as np
import SimpleITK as sitk
from dicom_factory import add_unreadable_entry, write_series
from model_factory import ct_volume

Maker = Callable[[Path], Path]
TABLE = Path(__file__).with_name("bad_inputs_table.md")


def _marker(writer: str) -> str:
    return f"<!-- Written by Testing/{writer} ("


def table_section(writer: str) -> str:
    """The section of ``bad_inputs_table.md`` that ``writer`` (a test file's name) wrote, or ''."""
    text = TABLE.read_text(encoding="utf-8")
    start = text.find(_marker(writer))
    if start < 0:
        return ""
    end = text.find("<!-- Written by ", start + 1)
    return text[start : end if end >= 0 else len(text)].rstrip("\n") + "\n"


def write_table_section(writer: str, section: str) -> None:
    """Replace ``writer``'s section of ``bad_inputs_table.md`` with ``section`` (appended if it has none)."""
    text = TABLE.read_text(encoding="utf-8") if TABLE.exists() else ""
    old = table_section(writer) if text else ""
    if old:
        start = text.find(_marker(writer))
        text = text[:start] + section + text[start + len(old) :]
    else:
        text = (text.rstrip("\n") + "\n\n" if text else "") + section
    TABLE.write_text(text, encoding="utf-8")


def _volume() -> sitk.Image:
    return ct_volume((8, 40, 48), seed=9)[0]


def _nifti_bytes(tmp: Path, name: str) -> bytearray:
    path = tmp / f"src-{name}"
    sitk.WriteImage(_volume(), str(path))
    return bytearray(path.read_bytes())


def truncated_nii_gz(tmp: Path) -> Path:
    path = tmp / "half.nii.gz"
    sitk.WriteImage(_volume(), str(path))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return path


def truncated_nii_gz_1pct(tmp: Path) -> Path:
    path = tmp / "cut1pct.nii.gz"
    sitk.WriteImage(_volume(), str(path))
    path.write_bytes(path.read_bytes()[: int(path.stat().st_size * 0.99)])
    return path


def truncated_nii(tmp: Path) -> Path:
    path = tmp / "short.nii"
    path.write_bytes(_nifti_bytes(tmp, "short.nii")[:-100])
    return path


def nifti_with(tmp: Path, name: str, values: float) -> Path:
    array = sitk.GetArrayFromImage(_volume())
    array[: array.shape[0] // 2] = values
    path = tmp / name
    nib.save(nib.Nifti1Image(array.transpose(2, 1, 0).astype(np.float32), np.diag([0.8, 0.8, 2.0, 1.0])), path)
    return path


def nan_nifti(tmp: Path) -> Path:
    return nifti_with(tmp, "halfnan.nii.gz", np.nan)


def inf_nifti(tmp: Path) -> Path:
    return nifti_with(tmp, "inf.nii", np.inf)


def _pixdim(tmp: Path, name: str, index: int, value: float) -> Path:
    data = _nifti_bytes(tmp, name)
    data[76 + 4 * index : 80 + 4 * index] = struct.pack("<f", value)
    path = tmp / name
    path.write_bytes(data)
    return path


def zero_pixdim(tmp: Path) -> Path:
    return _pixdim(tmp, "zeropixdim.nii", 1, 0.0)


def negative_pixdim(tmp: Path) -> Path:
    return _pixdim(tmp, "negpixdim.nii", 3, -2.0)


def sheared_nifti(tmp: Path) -> Path:
    affine = np.diag([0.8, 0.8, 2.0, 1.0])
    affine[0, 1] = 0.3
    image = nib.Nifti1Image(sitk.GetArrayFromImage(_volume()).transpose(2, 1, 0), affine)
    image.set_qform(np.diag([0.8, 0.8, 2.0, 1.0]), 1)
    image.set_sform(affine, 2)
    path = tmp / "sheared.nii.gz"
    nib.save(image, path)
    return path


def sheared_nrrd(tmp: Path) -> Path:
    image = _volume()
    image.SetDirection((1, 0.2, 0, 0, 1, 0, 0, 0, 1))
    path = tmp / "sheared.nrrd"
    sitk.WriteImage(image, str(path))
    return path


def huge_header_nrrd(tmp: Path) -> Path:
    path = tmp / "huge.nrrd"
    path.write_bytes(b"NRRD0004\ntype: short\ndimension: 3\nsizes: 1024 1024 1024\nencoding: raw\n\n" + bytes(16))
    return path


def little_data_nrrd(tmp: Path) -> Path:
    path = tmp / "littledata.nrrd"
    header = b"NRRD0004\ntype: short\ndimension: 3\nsizes: 512 512 300\nencoding: gzip\n\n"
    path.write_bytes(header + gzip.compress(bytes(64)))
    return path


def truncated_mha(tmp: Path) -> Path:
    path = tmp / "cut.mha"
    sitk.WriteImage(sitk.Cast(_volume(), sitk.sitkInt16), str(path), False)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return path


def zero_spacing_mha(tmp: Path) -> Path:
    path = tmp / "zerospacing.mha"
    sitk.WriteImage(sitk.Cast(_volume(), sitk.sitkInt16), str(path), False)
    header, _, data = path.read_bytes().partition(b"ElementDataFile = LOCAL\n")
    lines = [
        b"ElementSpacing = 0 0.8 2" if line.startswith(b"ElementSpacing") else line for line in header.split(b"\n")
    ]
    path.write_bytes(b"\n".join(lines) + b"ElementDataFile = LOCAL\n" + data)
    return path


def single_slice(tmp: Path) -> Path:
    path = tmp / "oneslice.nii.gz"
    sitk.WriteImage(_volume()[:, :, 3:4], str(path))
    return path


def nan_mha(tmp: Path) -> Path:
    image = _volume()
    array = sitk.GetArrayFromImage(image)
    array[2, 10, 10] = np.nan
    nan = sitk.GetImageFromArray(array)
    nan.CopyInformation(image)
    path = tmp / "nan.mha"
    sitk.WriteImage(nan, str(path))
    return path


def dicom_missing_slice(tmp: Path) -> Path:
    return write_series(_volume(), tmp / "dicom-gap", "1.2.3.4.5", slices=[0, 1, 2, 4, 5, 6, 7])


def dicom_uneven(tmp: Path) -> Path:
    z = [100.0, 102.0, 104.0, 106.0, 108.5, 110.5, 112.5, 114.5]
    return write_series(_volume(), tmp / "dicom-uneven", "1.2.3.4.6", positions_z=z)


def not_an_image(tmp: Path) -> Path:
    path = tmp / "noise.nii.gz"
    path.write_bytes(b"not an image at all")
    return path


def fifo_named_like_an_image(tmp: Path) -> Path:
    """Opening a FIFO waits for a writer forever: it must be refused before anything opens it."""
    path = tmp / "pipe.nii.gz"
    os.mkfifo(path)
    return path


def broken_link(tmp: Path) -> Path:
    path = tmp / "lost.nii.gz"
    path.symlink_to(tmp / "gone.nii.gz")
    return path


# --------------------------------------------------------------------------------------------------
# Files and names from strangers (issue 23): headers naming other files, disagreeing forms, bombs, sizes.
# The headers declare 8 x 8 x 4 bytes, fewer than any /etc/passwd holds: read, it would come back as a volume.
def _metaimage(tmp: Path, name: str, data_file: str) -> Path:
    path = tmp / name
    path.write_text(
        "ObjectType = Image\nNDims = 3\nDimSize = 8 8 4\nElementType = MET_UCHAR\nElementSpacing = 0.8 0.8 2\n"
        f"ElementDataFile = {data_file}\n"
    )
    return path


def _nrrd(tmp: Path, name: str, field: str, padding: str = "") -> Path:
    path = tmp / name
    path.write_text(f"NRRD0004\n{padding}type: uchar\ndimension: 3\nsizes: 8 8 4\nencoding: raw\n{field}\n\n")
    return path


def metaimage_naming_etc_passwd(tmp: Path) -> Path:
    return _metaimage(tmp, "passwd.mha", "/etc/passwd")


def metaimage_pattern_form(tmp: Path) -> Path:
    return _metaimage(tmp, "pattern.mha", "/etc/pass%s 1 2 1")  # MetaIO's list form: a segmentation fault


def metaimage_list_form(tmp: Path) -> Path:
    return _metaimage(tmp, "list.mhd", "LIST")


def metaimage_link_leading_out(tmp: Path) -> Path:
    (tmp / "slices.raw").symlink_to("/etc/passwd")
    return _metaimage(tmp, "linked.mhd", "slices.raw")


def nrrd_naming_etc_passwd(tmp: Path) -> Path:
    return _nrrd(tmp, "passwd.nrrd", "data file: /etc/passwd")


def nrrd_climbing_out(tmp: Path) -> Path:
    (tmp.parent / f"{tmp.name}-secret.raw").write_bytes(bytes(range(256)))
    return _nrrd(tmp, "climb.nrrd", f"datafile: ../{tmp.name}-secret.raw")


def nrrd_long_header(tmp: Path) -> Path:
    return _nrrd(tmp, "padded.nrrd", "data file: /etc/passwd", padding="# padding\n" * 8000)


def _nifti_forms(tmp: Path, name: str, qform: np.ndarray, sform: np.ndarray) -> Path:
    image = nib.Nifti1Image(sitk.GetArrayFromImage(_volume()).transpose(2, 1, 0), None)
    image.set_qform(qform, 1)
    image.set_sform(sform, 2)
    path = tmp / name
    nib.save(image, path)
    return path


def nifti_sform_5mm_pixdim_07mm(tmp: Path) -> Path:
    return _nifti_forms(tmp, "sform5mm.nii.gz", np.diag([0.7, 0.7, 2.0, 1.0]), np.diag([5.0, 0.7, 2.0, 1.0]))


def nifti_qform_sform_turned(tmp: Path) -> Path:
    turned = np.array([[0.0, -0.8, 0, 0], [0.8, 0, 0, 0], [0, 0, 2.0, 0], [0, 0, 0, 1]])
    return _nifti_forms(tmp, "turned.nii.gz", np.diag([0.8, 0.8, 2.0, 1.0]), turned)


def nifti_gzip_bomb(tmp: Path) -> Path:
    """About 1 MB of gzip members: a 48 x 40 x 8 header and volume, then 1 GiB of zeros."""
    header = nib.Nifti1Header()
    header.set_data_shape((48, 40, 8))
    header.set_data_dtype(np.int16)
    header.set_zooms((0.8, 0.8, 2.0))
    header["vox_offset"] = 352
    volume = sitk.GetArrayFromImage(sitk.Cast(_volume(), sitk.sitkInt16)).tobytes()
    path = tmp / "bomb.nii.gz"
    path.write_bytes(gzip.compress(header.binaryblock + bytes(4) + volume) + gzip.compress(bytes(1 << 20), 9) * 1023)
    return path


def complex_nifti(tmp: Path) -> Path:
    path = tmp / "complex.nii.gz"
    array = sitk.GetArrayFromImage(_volume()).transpose(2, 1, 0).astype(np.complex64)
    nib.save(nib.Nifti1Image(array, np.diag([0.8, 0.8, 2.0, 1.0])), path)
    return path


def _spaced(tmp: Path, name: str, spacing: float) -> Path:
    path = tmp / name
    image = ct_volume((22, 142, 148), spacing_xyz=(spacing,) * 3, seed=9)[0]
    sitk.WriteImage(sitk.Cast(image, sitk.sitkInt16), str(path))
    return path


def spacing_30mm(tmp: Path) -> Path:
    return _spaced(tmp, "spacing30.nii.gz", 30.0)


def spacing_1e4mm(tmp: Path) -> Path:
    return _spaced(tmp, "spacing1e4.nii.gz", 1e4)


def _dicom_with(tmp: Path, folder: str, kind: str) -> Path:
    path = write_series(ct_volume((16, 40, 48), seed=9)[0], tmp / folder, "1.2.3.4.7")
    add_unreadable_entry(path, "zz_slice.dcm", kind)
    return path


def dicom_dangling_link(tmp: Path) -> Path:
    return _dicom_with(tmp, "dicom-link", "link")


def dicom_fifo(tmp: Path) -> Path:
    return _dicom_with(tmp, "dicom-fifo", "fifo")


def dicom_damaged_file(tmp: Path) -> Path:
    path = write_series(ct_volume((16, 40, 48), seed=9)[0], tmp / "dicom-damaged", "1.2.3.4.8")
    (path / "extra.dcm").write_bytes(next(path.glob("*.dcm")).read_bytes()[:300])
    return path


#: (input as the table names it, how to make it, a phrase the message must hold)
CASES: list[tuple[str, Maker, str]] = [
    ("`.nii.gz` cut to half its bytes", truncated_nii_gz, "truncated"),
    ("`.nii.gz` cut by 1%", truncated_nii_gz_1pct, "truncated"),
    ("`.nii` missing its last 100 bytes", truncated_nii, "truncated"),
    ("NIfTI, half of it NaN", nan_nifti, "NaN"),
    ("NIfTI holding Inf", inf_nifti, "infinite"),
    ("NIfTI with a zero pixdim", zero_pixdim, "zero, negative"),
    ("NIfTI with a negative pixdim", negative_pixdim, "zero, negative"),
    ("NIfTI with a sheared sform", sheared_nifti, "sheared"),
    ("NRRD with sheared space directions", sheared_nrrd, "sheared"),
    ("NRRD header declaring 1024^3 voxels, 16 data bytes", huge_header_nrrd, "limit"),
    ("gzip NRRD declaring 512x512x300, holding 64 bytes", little_data_nrrd, "truncated"),
    ("`.mha` cut to half its bytes", truncated_mha, "truncated"),
    ("MetaImage with a zero spacing", zero_spacing_mha, "zero, negative"),
    ("MetaImage with a NaN voxel", nan_mha, "NaN"),
    ("a single slice", single_slice, "single slice"),
    ("DICOM series missing a slice", dicom_missing_slice, "missing slice"),
    ("DICOM series with uneven slice spacing", dicom_uneven, "uneven slice spacing"),
    ("a file that is no image", not_an_image, "cannot read"),
    ("a FIFO named like an image", fifo_named_like_an_image, "not a regular file (a FIFO)"),
    ("a broken symbolic link named like an image", broken_link, "broken symbolic link"),
    ("MetaImage naming `/etc/passwd` as its data file", metaimage_naming_etc_passwd, "absolute path"),
    ("MetaImage with the file-pattern form `/etc/pass%s 1 2 1` (ITK crashes)", metaimage_pattern_form, "pattern"),
    ("MetaImage with the LIST form", metaimage_list_form, "file list"),
    ("MetaImage whose data file is a link to `/etc/passwd`", metaimage_link_leading_out, "link leading out"),
    ("NRRD with `data file: /etc/passwd`", nrrd_naming_etc_passwd, "absolute path"),
    ("NRRD with `datafile: ../...`", nrrd_climbing_out, "climbing out"),
    ("NRRD header padded past 64 KiB", nrrd_long_header, "longer than"),
    ("NIfTI whose sform says 5 mm, pixdim 0.7 mm", nifti_sform_5mm_pixdim_07mm, "pixdim"),
    ("NIfTI whose qform and sform point different ways", nifti_qform_sform_turned, "disagree"),
    ("gzip bomb: 1 MB of `.nii.gz` holding 1 GiB", nifti_gzip_bomb, "more than"),
    ("NIfTI of complex voxels", complex_nifti, "complex64"),
    ("22x142x148 voxels of 30 mm", spacing_30mm, "resampled"),
    ("22x142x148 voxels of 10,000 mm", spacing_1e4mm, "resampled"),
    ("DICOM series with a dangling link", dicom_dangling_link, "zz_slice.dcm is a link to a missing file"),
    ("DICOM series with a FIFO", dicom_fifo, "zz_slice.dcm is a FIFO"),
    ("DICOM series with a damaged file", dicom_damaged_file, "extra.dcm is a DICOM file GDCM placed in no series"),
]
