"""Strict, bounded JSON for the files of a model folder, which come from strangers: a regular file, read up to a
size bound, no NaN or Infinity (Python's extension of JSON) and no key repeated (a repeated key would let one
reader see another value than the next)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class StrictJSONError(ValueError):
    """A file that is not strict JSON within its bound; the message names the file."""


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    record = dict(pairs)
    if len(record) != len(pairs):
        seen: set[str] = set()
        repeated = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise ValueError(f"key {repeated!r} appears twice")
    return record


def load_strict_json(path: Path, max_bytes: int) -> Any:
    """``path``'s JSON, refused (``StrictJSONError``) when it is not a regular file, is larger than ``max_bytes``
    (not read further), or is not strict JSON with unique keys."""
    if not path.is_file():
        raise StrictJSONError(f"{path}: not a regular file")
    try:
        with path.open("rb") as handle:
            raw = handle.read(max_bytes + 1)
    except OSError as error:
        raise StrictJSONError(f"{path}: cannot be read ({error})") from None
    if len(raw) > max_bytes:
        raise StrictJSONError(f"{path}: larger than {max_bytes} bytes, refused")
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant, object_pairs_hook=_unique_keys)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise StrictJSONError(f"{path}: not valid JSON ({error})"[:300]) from None
