"""The bundled demo model and sample case (``Resources/`` of the repository or extension)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from .filelock import locked
from .io import InputError


def resources_dir() -> Path:
    """``$PANCREAS_MT_RESOURCES``, else the repository's ``Resources/``, else the installed module's."""
    if os.environ.get("PANCREAS_MT_RESOURCES"):
        return Path(os.environ["PANCREAS_MT_RESOURCES"])
    here = Path(__file__).resolve()
    candidates = [here.parents[3] / "Resources", here.parents[2] / "Resources"]  # repository, installed module
    return next((c for c in candidates if (c / "DemoModel").is_dir()), candidates[0])


def models_home() -> Path:
    """Where imported models live for the CLI: ``$PANCREAS_MT_HOME/models`` or ``~/.cache/pancreas-mt/models``."""
    home = os.environ.get("PANCREAS_MT_HOME") or Path.home() / ".cache" / "pancreas-mt"
    return Path(home) / "models"


def demo_zip() -> Path:
    zips = sorted((resources_dir() / "DemoModel").glob("*.zip"))
    if not zips:
        raise InputError(f"{resources_dir() / 'DemoModel'}: no bundled demo model (.zip) found; give a model with -m")
    return zips[0]


def _installed(target: Path, manifest: dict) -> bool:
    installed = target / "manifest.json"
    try:
        return installed.is_file() and json.loads(installed.read_text(encoding="utf-8")) == manifest
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False


def demo_model_folder(models_dir: Path | None = None) -> Path:
    """The demo model, verified (SHA-256) and unpacked into the models folder on first use."""
    return installed_model_folder(demo_zip(), models_dir)


def installed_model_folder(archive: Path, models_dir: Path | None = None, expected_sha256: str | None = None) -> Path:
    """A model zip verified (SHA-256, members) and installed into the models folder, or its installed copy.

    Safe when several processes start at once: the install runs under a lock, and each process
    checks again once it holds the lock, so only the first one unpacks.
    """
    from .models import import_model_zip, verify_zip

    models_dir = models_dir or models_home()
    manifest = verify_zip(archive, expected_sha256)
    target = models_dir / manifest["name"]
    if _installed(target, manifest):
        return target
    with locked(models_dir / f".{manifest['name']}.install.lock"):
        if _installed(target, manifest):
            return target
        return import_model_zip(archive, models_dir, expected_sha256, overwrite=True)


def sample_case() -> Path:
    """The bundled sample CT (``Resources/SampleData/*_0000.nii.gz``)."""
    found = sorted((resources_dir() / "SampleData").glob("*_0000.nii.gz"))
    if not found:
        raise InputError(f"{resources_dir() / 'SampleData'}: no bundled sample case found")
    return found[0]
