"""nnU-Net's postprocessing, read from its ``postprocessing.json`` instead of its pickle.

nnU-Net chooses its postprocessing on the cross-validation (``determine_postprocessing``: keep only the largest
connected part of the foreground, then of each label or region, wherever that raised the mean Dice) and stores
it as ``postprocessing.pkl``, which this engine never unpickles, and as ``postprocessing.json``, which names the
same functions and arguments. A model folder may carry that JSON beside ``plans.json``; it is untrusted input
like the rest of the folder: only nnU-Net's one postprocessing function, with labels of this model, is run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .strict_json import StrictJSONError, load_strict_json

POSTPROCESSING_FILE = "postprocessing.json"
#: The one function ``determine_postprocessing`` chooses; nothing else named in the file is run.
KEEP_LARGEST = "remove_all_but_largest_component_from_segmentation"
#: A bigger file is refused unread (nnU-Net's are a few kilobytes: the steps and two Dice tables).
MAX_BYTES = 1 << 20
#: Steps in one file (nnU-Net's: the foreground, then at most one a label or region).
MAX_STEPS = 64

#: A step's labels, as nnU-Net's ``labels_or_regions``: one label, or labels and regions whose union is kept whole.
Step = int | tuple[int | tuple[int, ...], ...]


class PostprocessingError(ValueError):
    """A ``postprocessing.json`` that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class Postprocessing:
    """The steps in order: each keeps the largest connected part of its labels' union, the rest becomes background."""

    steps: tuple[Step, ...]
    source: str = ""

    def apply(self, labels: np.ndarray) -> np.ndarray:
        """``labels`` postprocessed by nnU-Net's own function (a new array; the input is not changed)."""
        from nnunetv2.postprocessing.remove_connected_components import (
            remove_all_but_largest_component_from_segmentation,
        )

        for step in self.steps:
            labels = remove_all_but_largest_component_from_segmentation(labels, _nnunet_argument(step))
        return labels

    def describe(self) -> list[int | list[int | list[int]]]:
        """The steps as JSON for ``result.json`` (nnU-Net's ``labels_or_regions``)."""
        return [
            step if isinstance(step, int) else [p if isinstance(p, int) else list(p) for p in step]
            for step in self.steps
        ]


def _nnunet_argument(step: Step) -> int | list[int | tuple[int, ...]]:
    """``labels_or_regions`` as ``determine_postprocessing`` passes it: a label, or a list of labels and regions."""
    return step if isinstance(step, int) else list(step)


def _label(value: Any, allowed: set[int], where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value not in allowed:
        raise PostprocessingError(f"{where}: {value!r} is not a foreground label of this model ({sorted(allowed)})")
    return value


def _step(value: Any, allowed: set[int], where: str) -> Step:
    """One ``labels_or_regions``: a label, or a non-empty list of labels and of regions (non-empty label lists)."""
    if not isinstance(value, list):
        return _label(value, allowed, where)
    if not value or len(value) > len(allowed):
        raise PostprocessingError(f"{where}: expected 1 to {len(allowed)} labels or regions, got {len(value)}")
    parts: list[int | tuple[int, ...]] = []
    for i, part in enumerate(value):
        if isinstance(part, list):
            if not part or len(part) > len(allowed):
                raise PostprocessingError(f"{where}[{i}]: a region needs 1 to {len(allowed)} labels")
            parts.append(tuple(_label(p, allowed, f"{where}[{i}]") for p in part))
        else:
            parts.append(_label(part, allowed, f"{where}[{i}]"))
    return tuple(parts)


def parse_postprocessing(data: Any, labels: Iterable[int], source: Path) -> Postprocessing:
    """The steps of nnU-Net's ``postprocessing.json`` (its Dice tables are ignored), every field checked."""
    allowed = {int(v) for v in labels if int(v) > 0}
    if not isinstance(data, dict):
        raise PostprocessingError(f"{source}: expected a JSON object")
    names, arguments = data.get("postprocessing_fns"), data.get("postprocessing_kwargs")
    if not isinstance(names, list) or not isinstance(arguments, list) or len(names) != len(arguments):
        raise PostprocessingError(
            f"{source}: 'postprocessing_fns' and 'postprocessing_kwargs' must be lists of the same length"
        )
    if len(names) > MAX_STEPS:
        raise PostprocessingError(f"{source}: {len(names)} steps, more than {MAX_STEPS}")
    steps = []
    for i, (name, kwargs) in enumerate(zip(names, arguments, strict=True)):
        if name != KEEP_LARGEST:
            raise PostprocessingError(f"{source}: postprocessing_fns[{i}] is {name!r}; only {KEEP_LARGEST} is run")
        if not isinstance(kwargs, dict) or set(kwargs) != {"labels_or_regions"}:
            raise PostprocessingError(f"{source}: postprocessing_kwargs[{i}] must hold 'labels_or_regions' only")
        steps.append(_step(kwargs["labels_or_regions"], allowed, f"{source}: postprocessing_kwargs[{i}]"))
    return Postprocessing(tuple(steps), str(source))


def read_postprocessing(path: Path, labels: Iterable[int]) -> Postprocessing:
    """``path`` read as untrusted input (``strict_json.py``: bounded, strict, unique keys), then checked."""
    try:
        data = load_strict_json(path, MAX_BYTES)
    except StrictJSONError as error:
        raise PostprocessingError(str(error)) from None
    return parse_postprocessing(data, labels, path)


def label_values(dataset_labels: dict[str, Any]) -> set[int]:
    """Every label value named in ``dataset.json``'s ``labels`` (a region's values included)."""
    values: set[int] = set()
    for value in dataset_labels.values():
        values.update(int(v) for v in (value if isinstance(value, list | tuple) else (value,)))
    return values
