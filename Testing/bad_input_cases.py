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
from dicom_factory import write_series
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
]
