"""Subtype labels for training: ``subtypes.csv`` (``case_id,subtype``) beside the nnU-Net raw dataset.

Labels are looked up by the case keys nnU-Net's data loader returns with each batch; they are never
parsed out of file names.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
from PancreasMultiTaskLib.engine.io import atomic_path

SUBTYPES_CSV = "subtypes.csv"
#: Subtype value of a case without a lesion: it trains the segmentation only, never the classifier.
NO_SUBTYPE = -1
#: Other ways ``subtypes.csv`` may mark a case without a lesion (a normal gland): no subtype, or the word ``normal``.
NO_SUBTYPE_WORDS = ("", "normal")


class SubtypeLabelError(ValueError):
    """A subtypes.csv or dataset.json that cannot be used; the message names the file and the problem."""


def read_subtypes_csv(path: str | Path, num_subtypes: int | None = None, skip_normal: bool = False) -> dict[str, int]:
    """Read ``case_id,subtype`` rows into a dict, checking header, duplicates and index range.

    ``-1`` (:data:`NO_SUBTYPE`), an empty subtype or ``normal`` marks a case without a lesion (read as ``-1``);
    ``skip_normal`` leaves those rows out.
    """
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
    except OSError as error:
        raise SubtypeLabelError(f"{path}: cannot read subtype labels ({error.strerror or error})") from error
    if not rows or [c.strip() for c in rows[0][:2]] != ["case_id", "subtype"]:
        raise SubtypeLabelError(f"{path}: first line must be the header 'case_id,subtype'")
    labels: dict[str, int] = {}
    seen: set[str] = set()
    problems = []
    for line, row in enumerate(rows[1:], start=2):
        if not row or not any(c.strip() for c in row):
            continue
        if len(row) < 2 or not row[0].strip():
            problems.append(f"line {line}: expected 'case_id,subtype'")
            continue
        case_id, value = row[0].strip(), row[1].strip()
        try:
            subtype = NO_SUBTYPE if value.lower() in NO_SUBTYPE_WORDS else int(value)
        except ValueError:
            problems.append(f"line {line}: subtype {value!r} of {case_id} is not an integer index")
            continue
        if (subtype < 0 and subtype != NO_SUBTYPE) or (num_subtypes is not None and subtype >= num_subtypes):
            problems.append(
                f"line {line}: subtype {subtype} of {case_id} is outside 0..{(num_subtypes or 1) - 1}"
                f" (or {NO_SUBTYPE}: no lesion)"
            )
        elif case_id in seen:
            problems.append(f"line {line}: case {case_id} listed twice")
        else:
            seen.add(case_id)
            if not (skip_normal and subtype == NO_SUBTYPE):
                labels[case_id] = subtype
    if problems:
        raise SubtypeLabelError(f"{path}: " + "; ".join(problems))
    return labels


def write_subtypes_csv(path: str | Path, labels: Mapping[str, int]) -> Path:
    """Write ``case_id,subtype`` rows sorted by case, atomically."""
    path = Path(path)
    with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["case_id", "subtype"])
        for case_id in sorted(labels):
            writer.writerow([case_id, int(labels[case_id])])
    return path


def subtype_names(dataset_json: Mapping | str | Path) -> list[str]:
    """Subtype names in index order from a dataset.json's ``subtypes`` map (``{"0": name, ...}``)."""
    source = "dataset.json"
    if not isinstance(dataset_json, Mapping):
        source = str(dataset_json)
        dataset_json = json.loads(Path(dataset_json).read_text(encoding="utf-8"))
    subtypes = dataset_json.get("subtypes")
    if not isinstance(subtypes, Mapping) or not subtypes:
        raise SubtypeLabelError(f"{source}: no 'subtypes' map (index -> name); not a multi-task dataset")
    keys = sorted(subtypes, key=lambda k: int(k))
    if [int(k) for k in keys] != list(range(len(keys))):
        raise SubtypeLabelError(f"{source}: 'subtypes' keys must be 0..{len(keys) - 1}, got {keys}")
    return [str(subtypes[k]) for k in keys]


class SubtypeLookup:
    """Maps batch case keys to subtype indices; unknown keys fail with the list of missing cases."""

    def __init__(self, labels: Mapping[str, int], source: str = SUBTYPES_CSV) -> None:
        self.labels = dict(labels)
        self.source = source

    @classmethod
    def from_csv(cls, path: str | Path, num_subtypes: int | None = None) -> SubtypeLookup:
        return cls(read_subtypes_csv(path, num_subtypes), str(path))

    def __call__(self, keys: Iterable[str]) -> np.ndarray:
        keys = list(keys)
        missing = sorted({k for k in keys if k not in self.labels})
        if missing:
            raise SubtypeLabelError(f"{self.source}: no subtype for case(s) {', '.join(missing)}")
        return np.array([self.labels[k] for k in keys], dtype=np.int64)

    def require(self, keys: Sequence[str]) -> None:
        """Fail early, before training starts, if any case lacks a label."""
        self(keys)
