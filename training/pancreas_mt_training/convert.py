"""Conversion into an nnU-Net v2 raw dataset with ``subtypes.csv`` and subtype names in ``dataset.json``.

Two source layouts:

* **generic**: a folder of images (``<case>_0000.nii.gz`` or ``<case>.nii.gz``), a folder of labels
  (``<case>.nii.gz``) and a CSV ``case_id,subtype`` (subtype as index or name; ``-1`` for a case
  without a lesion, which trains the segmentation only);
* **paper**: ``train/subtype{k}/<case>_0000.nii.gz`` beside ``<case>.nii.gz`` (and ``validation/...``,
  which becomes the held-out ``imagesTs``/``labelsTs``).

Every case is checked (labels only 0/1/2, image and label geometry equal, a subtype for every case)
before anything is written, and all bad cases are listed in one error. Images and labels are
reoriented to LPS (identity direction for axis-aligned scans), the orientation the engine uses.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from PancreasMultiTaskLib.engine.io import (
    CHANNEL_TAG,
    IMAGE_SUFFIXES,
    InputError,
    atomic_path,
    case_id_from_path,
    file_stem,
    read_image,
    write_image,
)

from .labels import NO_SUBTYPE, write_subtypes_csv
from .parallel import map_in_processes

LABELS = {"background": 0, "pancreas": 1, "lesion": 2}
REGION_LABELS = {"background": 0, "pancreas": [1, 2], "lesion": 2}
ALLOWED_LABEL_VALUES = frozenset(LABELS.values())
FILE_ENDING = ".nii.gz"


class ConversionError(ValueError):
    """Source data that cannot be converted; the message lists every bad case."""


@dataclass(frozen=True)
class SourceCase:
    """One case to convert: image and label files and its subtype index."""

    case_id: str
    image: Path
    label: Path
    subtype: int


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.name.lower().endswith(IMAGE_SUFFIXES))


def collect_generic(
    images: str | Path, labels: str | Path, subtypes_csv: str | Path, names: Sequence[str] | None = None
) -> tuple[list[SourceCase], list[str]]:
    """Cases of a generic folder; subtype values are indices, or names mapped through ``names`` (else sorted)."""
    images, labels, subtypes_csv = Path(images), Path(labels), Path(subtypes_csv)
    for folder in (images, labels):
        if not folder.is_dir():
            raise ConversionError(f"{folder}: not a folder")
    try:
        with subtypes_csv.open(newline="", encoding="utf-8") as handle:
            rows = [r for r in csv.reader(handle) if r and any(c.strip() for c in r)]
    except OSError as error:
        raise ConversionError(f"{subtypes_csv}: cannot read ({error.strerror or error})") from error
    if not rows or [c.strip() for c in rows[0][:2]] != ["case_id", "subtype"]:
        raise ConversionError(f"{subtypes_csv}: first line must be the header 'case_id,subtype'")
    raw = {r[0].strip(): r[1].strip() for r in rows[1:] if len(r) >= 2}
    if names is None:
        if all(v.lstrip("-").isdigit() for v in raw.values()):
            count = max((int(v) for v in raw.values()), default=-1) + 1
            names = [f"subtype{i}" for i in range(count)]
        else:
            names = sorted(set(raw.values()) - {str(NO_SUBTYPE)})
    names = list(names)
    index = {name: i for i, name in enumerate(names)}
    image_files = {case_id_from_path(p): p for p in _image_files(images)}
    label_files = {file_stem(p): p for p in _image_files(labels)}
    problems = []
    cases = []
    for case_id in sorted(set(image_files) | set(label_files)):
        if case_id not in label_files:
            problems.append(f"{case_id}: image {image_files[case_id].name} has no label in {labels}")
            continue
        if case_id not in image_files:
            problems.append(f"{case_id}: label {label_files[case_id].name} has no image in {images}")
            continue
        value = raw.get(case_id)
        if value is None:
            problems.append(f"{case_id}: no subtype in {subtypes_csv}")
            continue
        subtype = int(value) if value.lstrip("-").isdigit() else index.get(value, -1)
        if subtype not in range(len(names)) and subtype != NO_SUBTYPE:
            problems.append(f"{case_id}: subtype {value!r} is not one of {names} or 0..{len(names) - 1}")
            continue
        cases.append(SourceCase(case_id, image_files[case_id], label_files[case_id], subtype))
    if problems:
        raise ConversionError(f"{len(problems)} bad case(s): " + "; ".join(problems))
    return cases, names


def collect_paper(root: str | Path, split: str = "train") -> tuple[list[SourceCase], list[str]]:
    """Cases of the paper's layout ``<root>/<split>/subtype{k}/<case>_0000.nii.gz`` + ``<case>.nii.gz``."""
    root = Path(root) / split
    folders = sorted((p for p in root.glob("subtype*") if p.is_dir()), key=lambda p: p.name)
    if not folders:
        raise ConversionError(f"{root}: no subtype0, subtype1, ... folders")
    indices = []
    for folder in folders:
        suffix = folder.name[len("subtype") :]
        if not suffix.isdigit():
            raise ConversionError(f"{folder}: folder name must be subtype<index>")
        indices.append(int(suffix))
    if sorted(indices) != list(range(len(indices))):
        raise ConversionError(f"{root}: subtype folders must be numbered 0..{len(indices) - 1}, got {sorted(indices)}")
    problems = []
    cases = []
    for folder, subtype in zip(folders, indices, strict=True):
        files = _image_files(folder)
        images = {case_id_from_path(p): p for p in files if file_stem(p).endswith(CHANNEL_TAG)}
        labels = {file_stem(p): p for p in files if not file_stem(p).endswith(CHANNEL_TAG)}
        for case_id in sorted(set(images) | set(labels)):
            if case_id not in labels:
                problems.append(f"{case_id}: {images[case_id]} has no label {case_id}{FILE_ENDING}")
            elif case_id not in images:
                problems.append(f"{case_id}: {labels[case_id]} has no image {case_id}_0000{FILE_ENDING}")
            else:
                cases.append(SourceCase(case_id, images[case_id], labels[case_id], subtype))
    if problems:
        raise ConversionError(f"{len(problems)} bad case(s): " + "; ".join(problems))
    return cases, [f"subtype{i}" for i in range(len(indices))]


def _geometry_problem(image: sitk.Image, label: sitk.Image) -> str | None:
    if image.GetSize() != label.GetSize():
        return f"image size {image.GetSize()} != label size {label.GetSize()}"
    if not np.allclose(image.GetSpacing(), label.GetSpacing(), rtol=1e-3):
        return f"image spacing {image.GetSpacing()} != label spacing {label.GetSpacing()}"
    if not np.allclose(image.GetOrigin(), label.GetOrigin(), atol=1e-2 * min(image.GetSpacing())):
        return f"image origin {image.GetOrigin()} != label origin {label.GetOrigin()}"
    if not np.allclose(image.GetDirection(), label.GetDirection(), atol=1e-4):
        return "image and label directions differ"
    return None


def check_case(case: SourceCase) -> tuple[sitk.Image | None, sitk.Image | None, str | None]:
    """Read and check one case; returns images reoriented to LPS, or the problem."""
    try:
        image = read_image(case.image)
        label = sitk.ReadImage(str(case.label))
    except (InputError, RuntimeError) as error:
        return None, None, f"{case.case_id}: {str(error).strip().splitlines()[-1]}"
    problem = _geometry_problem(image, label)
    if problem is None:
        values = set(np.unique(sitk.GetArrayViewFromImage(label)).tolist())
        if not values <= ALLOWED_LABEL_VALUES:
            bad = sorted(values - ALLOWED_LABEL_VALUES)
            problem = f"label {case.label.name} holds values {bad} (only 0 background, 1 pancreas, 2 lesion allowed)"
    if problem is not None:
        return None, None, f"{case.case_id}: {problem}"
    label = sitk.Cast(label, sitk.sitkUInt8)
    return sitk.DICOMOrient(image, "LPS"), sitk.DICOMOrient(label, "LPS"), None


def convert_cases(
    cases: Sequence[SourceCase],
    output: str | Path,
    names: Sequence[str],
    test_cases: Sequence[SourceCase] = (),
    *,
    regions: bool = False,
    description: str = "",
    jobs: int = 1,
) -> Path:
    """Check every case, then write imagesTr/labelsTr (+ imagesTs/labelsTs), dataset.json and subtypes.csv.

    Nothing is written unless every case passes. The check keeps no image: each case is read again to be
    written, so memory holds one case at a time (a set of whole CTs does not fit in memory at once), one a
    process with ``jobs`` processes (the same files as one writes).
    """
    output = Path(output)
    all_cases = [(c, "Tr") for c in cases] + [(c, "Ts") for c in test_cases]
    if not cases:
        raise ConversionError(f"{output}: no training cases to convert")
    seen: dict[str, Path] = {}
    problems = []
    for case, _ in all_cases:
        if case.case_id in seen:
            problems.append(f"{case.case_id}: case id used twice ({seen[case.case_id]} and {case.image})")
        seen[case.case_id] = case.image
    problems += [problem for problem in map_in_processes(_case_problem, [c for c, _ in all_cases], jobs) if problem]
    if problems:
        raise ConversionError(f"{len(problems)} bad case(s): " + "; ".join(problems))
    for problem in map_in_processes(partial(_write_case, output=output), all_cases, jobs):
        if problem:
            raise ConversionError(f"{problem} (the file changed after it was checked)")
    dataset = {
        "name": output.name,
        "description": description or "Pancreas and lesion segmentation with lesion subtype (PancreasMultiTask)",
        "channel_names": {"0": "CT"},
        "labels": REGION_LABELS if regions else LABELS,
        "numTraining": len(cases),
        "file_ending": FILE_ENDING,
        "subtypes": {str(i): str(n) for i, n in enumerate(names)},
        "orientation": "LPS",
    }
    if regions:
        dataset["regions_class_order"] = [1, 2]
    with atomic_path(output / "dataset.json") as tmp:
        tmp.write_text(json.dumps(dataset, indent=2) + "\n", encoding="utf-8")
    write_subtypes_csv(output / "subtypes.csv", {c.case_id: c.subtype for c, _ in all_cases})
    return output


def _case_problem(case: SourceCase) -> str | None:
    return check_case(case)[2]


def _write_case(case: tuple[SourceCase, str], output: Path) -> str | None:
    """Read, check and write one case of a split into ``output``; the problem if it changed since its check."""
    (source, split) = case
    image, label, problem = check_case(source)
    if problem:
        return problem
    write_image(image, output / f"images{split}" / f"{source.case_id}_0000{FILE_ENDING}")
    write_image(label, output / f"labels{split}" / f"{source.case_id}{FILE_ENDING}")
    return None


def dataset_folder(raw_root: str | Path, dataset_id: int, name: str) -> Path:
    """``<raw_root>/DatasetXXX_<name>``, nnU-Net's naming."""
    if not 1 <= dataset_id <= 999:
        raise ConversionError(f"dataset id must be 1..999, got {dataset_id}")
    if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
        raise ConversionError(f"dataset name {name!r} may hold only letters, digits, '_' and '-'")
    return Path(raw_root) / f"Dataset{dataset_id:03d}_{name}"
