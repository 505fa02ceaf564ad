"""Where the model store lives (``$PANCREAS_MT_HOME``, else ``~/.PancreasMultiTask``), and how the models of
earlier locations move into it, one whole model at a time, without losing one when a move fails half-way.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from .store_layout import MANIFEST, REGISTRY, ModelInstallError, read_registry, same_install, write_registry

#: The store's folder in the user's home when ``$PANCREAS_MT_HOME`` is not set: a folder of its own (as
#: SlicerMONAIAuto3DSeg's ``~/.MONAIAuto3DSeg``), never a cache, since Slicer's Settings > Cache > "Clear cache"
#: deletes Slicer's cache folder whole and a user's imported models with it.
STORE_FOLDER_NAME = ".PancreasMultiTask"
#: Where earlier releases kept the CLI's store (the Slicer module's was ``<Slicer cache>/PancreasMultiTask``).
LEGACY_CLI_STORE = Path(".cache") / "pancreas-mt"


def default_store_home() -> Path:
    """``~/.PancreasMultiTask``: the store of the CLI, the Slicer module and batch mode unless one is named."""
    return Path.home() / STORE_FOLDER_NAME


def store_home(fallback: str | Path | None = None) -> Path:
    """The one model store of the CLI, the Slicer module and batch mode: ``$PANCREAS_MT_HOME``, else ``fallback``
    (a folder a caller names explicitly), else :func:`default_store_home`.

    Installed models live in its ``models/`` folder, exported graphs in ``graphs/``.
    """
    if os.environ.get("PANCREAS_MT_HOME"):
        return Path(os.environ["PANCREAS_MT_HOME"])
    if fallback:
        return Path(fallback)
    return default_store_home()


def models_home(fallback: str | Path | None = None) -> Path:
    """The store's model folder: ``store_home(fallback) / "models"``."""
    return store_home(fallback) / "models"


@dataclass
class Migration:
    """What :func:`migrate_store` did: models moved, and those left where they were (with why)."""

    moved: list[str] = dataclasses.field(default_factory=list)
    registered: list[str] = dataclasses.field(default_factory=list)
    left: dict[str, str] = dataclasses.field(default_factory=dict)
    duplicates: list[str] = dataclasses.field(default_factory=list)

    def messages(self) -> list[str]:
        """One line per model moved or left behind, for a log."""
        lines = [f"Model {name} moved into the model store" for name in self.moved]
        lines += [
            f"Model {name} was already in the model store (same files); the old copy was removed"
            for name in self.duplicates
        ]
        lines += [f"Registered model {name} carried over into the model store" for name in self.registered]
        return lines + [f"Model {name} left where it was: {why}" for name, why in self.left.items()]


def open_store(legacy_homes: list[Path] | tuple[Path, ...] = ()) -> Path:
    """The store's home, with the models of earlier locations moved into it first when it is the default one.

    ``legacy_homes`` adds folders a caller knows of (the Slicer module: its folder in Slicer's cache); the CLI's
    old default (``~/.cache/pancreas-mt``) is always looked at. A store named by ``$PANCREAS_MT_HOME`` is used as
    it is: nothing is moved into a folder the user chose.
    """
    import logging

    home = store_home()
    if os.environ.get("PANCREAS_MT_HOME"):
        return home
    for legacy in (Path.home() / LEGACY_CLI_STORE, *legacy_homes):
        try:
            done = migrate_store(legacy, home)
        except OSError as error:  # the old store stays as it was; the next start tries again
            logging.warning("Models in %s were not moved to %s: %s", legacy, home, error)
            continue
        for line in done.messages():
            logging.info("%s (from %s to %s)", line, legacy, home)
    return home


def migrate_store(old_home: str | Path, new_home: str | Path) -> Migration:
    """Move every model of ``old_home/models`` into ``new_home/models``, one model at a time, and carry its
    registered folders over. Each model is renamed into place whole (copied first across file systems), and
    deleted from the old store only once its copy is in place, so a move that fails half-way loses nothing: what
    was not moved stays in the old store and the next call moves it. A name the new store already has is left."""
    from .filelock import locked

    old_models, new_models = Path(old_home) / "models", Path(new_home) / "models"
    done = Migration()
    if not old_models.is_dir() or old_models.resolve() == new_models.resolve():
        return done
    new_models.mkdir(parents=True, exist_ok=True)
    with locked(new_models / ".migrate.lock"):
        for folder in sorted(p for p in old_models.iterdir() if p.is_dir() and not p.name.startswith(".")):
            if _same_zip_install(folder, new_models / folder.name):
                shutil.rmtree(folder)
                done.duplicates.append(folder.name)
                continue
            if (new_models / folder.name).exists() or folder.name in read_registry(new_models):
                done.left[folder.name] = f"the model store already has a model named {folder.name}"
                continue
            _move_model(folder, new_models)
            done.moved.append(folder.name)
        _carry_registry(old_models, new_models, done)
        _remove_if_empty(old_models)
    return done


def _same_zip_install(old: Path, new: Path) -> bool:
    """Whether two folders are installs of the same zip (the same manifest, which holds every file's SHA-256)."""
    try:
        manifest = json.loads((old / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return False
    return isinstance(manifest, dict) and same_install(new, manifest)


def _move_model(folder: Path, models_dir: Path) -> None:
    """Rename ``folder`` into ``models_dir``; across file systems copy it under a hidden name, rename, then delete."""
    target = models_dir / folder.name
    try:
        folder.rename(target)
        return
    except OSError as error:
        if error.errno != errno.EXDEV:
            raise
    staging = models_dir / f".moving-{folder.name}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        shutil.copytree(folder, staging, symlinks=True)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(folder)


def _carry_registry(old_models: Path, new_models: Path, done: Migration) -> None:
    """Add the old store's registered folders to the new registry (names it already has stay as they are)."""
    try:
        old = read_registry(old_models)
    except ModelInstallError as error:
        done.left[REGISTRY] = str(error)
        return
    if not old:
        return
    new = read_registry(new_models)
    taken = {name for name in old if name in new or (new_models / name).exists()}
    for name in sorted(taken):
        done.left[name] = f"the model store already has a model named {name}"
    carried = {name: path for name, path in old.items() if name not in taken}
    if carried:
        write_registry(new_models, {**new, **carried})
        done.registered += sorted(carried)
    if taken:
        write_registry(old_models, {name: old[name] for name in taken})
    else:
        (old_models / REGISTRY).unlink()


def _remove_if_empty(folder: Path) -> None:
    """Delete the old models folder once nothing but hidden leftovers (locks, staging) is in it."""
    if any(not p.name.startswith(".") for p in folder.iterdir()):
        return
    shutil.rmtree(folder, ignore_errors=True)
