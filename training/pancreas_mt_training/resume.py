"""Resuming long runs: what a result depends on, so that a rerun skips what is done and redoes what changed.

``demo-model`` fits its record and evaluates hundreds of whole fields after training, hours of a small CPU; a
sitting or a lent GPU machine may end in the middle. A result is kept with a digest of everything it was made
from (the model's files, the inputs' bytes, the settings, and this code: every ``.py`` file of the engine and of
this package), and reused only where that digest is the same, so a changed model, case, setting or code is run
again rather than reported stale. Hand-written: nnU-Net resumes training from its checkpoints only.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from PancreasMultiTaskLib.engine.io import atomic_path

#: Where a training folder records its post-training stages done (``demo-model``).
STAGES_FILE = "demo_stages.json"


def _add_file(digest: Any, path: Path, name: str) -> None:
    digest.update(name.encode() + b"\0")
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    digest.update(b"\0")


def files_digest(files: Iterable[Path], root: Path | None = None) -> str:
    """SHA-256 over the files' names (relative to ``root`` where given) and bytes, in name order."""
    digest = hashlib.sha256()
    named = sorted((str(p.relative_to(root)) if root else str(p), p) for p in files)
    for name, path in named:
        _add_file(digest, path, name)
    return digest.hexdigest()


def folder_digest(folder: Path) -> str:
    """SHA-256 over every file under ``folder`` (a model folder: plans, folds, localizer, record)."""
    return files_digest((p for p in folder.rglob("*") if p.is_file()), folder)


def code_digest() -> str:
    """SHA-256 over the Python sources of the engine (``PancreasMultiTaskLib``) and of this package."""
    import PancreasMultiTaskLib

    roots = [Path(PancreasMultiTaskLib.__file__).parent, Path(__file__).parent]
    digest = hashlib.sha256()
    for root in roots:
        digest.update(files_digest(root.rglob("*.py"), root.parent).encode())
    return digest.hexdigest()


def _setting(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return str(value)


def machine() -> dict[str, Any]:
    """What of the machine changes a result: whether the engine runs bfloat16 on this CPU (its ``auto``)."""
    from PancreasMultiTaskLib.engine.precision import cpu_bf16_units

    return {"cpu_bf16_units": bool(cpu_bf16_units())}


def settings_digest(*parts: Any) -> str:
    """SHA-256 of JSON-able settings (dataclasses as dicts, anything else, such as paths, as text)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=_setting).encode()).hexdigest()


def stored(path: Path, key: str) -> Any | None:
    """The value stored at ``path`` under ``key`` (:func:`store`), or ``None`` when absent, unreadable or made
    from something else."""
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(entry, dict) or entry.get("key") != key:
        return None
    return entry.get("value")


def _plain(value: Any) -> Any:
    """numpy scalars and arrays as Python numbers and lists, for JSON."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON-able")


def store(path: Path, key: str, value: Any) -> None:
    """Write ``value`` (JSON-able; numpy numbers allowed) with the ``key`` it was made from, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps({"key": key, "value": value}, indent=1, default=_plain) + "\n", encoding="utf-8")


def stages_done(folder: Path, key: str) -> list[str]:
    """The stages recorded in ``folder``'s :data:`STAGES_FILE` as done from ``key``; none when another key."""
    done = stored(folder / STAGES_FILE, key)
    return [s for s in done if isinstance(s, str)] if isinstance(done, list) else []


def mark_stage(folder: Path, key: str, stage: str, order: Sequence[str]) -> None:
    """Record ``stage`` done from ``key``; the stages after it in ``order`` are forgotten (they used its output)."""
    position = order.index(stage)
    done = [s for s in stages_done(folder, key) if s in order and order.index(s) < position]
    store(folder / STAGES_FILE, key, [*done, stage])


def stages_to_run(done: Sequence[str], order: Sequence[str]) -> list[str]:
    """The stages of ``order`` from the first one not ``done`` on: each after it used its output."""
    first = next((i for i, stage in enumerate(order) if stage not in done), len(order))
    return list(order[first:])
