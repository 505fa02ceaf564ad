"""The bundled demo model and sample case (``Resources/`` of the repository or extension)."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

from .io import InputError
from .model_zip import install_zip
from .models import is_bundled_copy
from .store_layout import MANIFEST


def resources_dir() -> Path:
    """``$PANCREAS_MT_RESOURCES``, else the repository's ``Resources/``, else the installed module's."""
    if os.environ.get("PANCREAS_MT_RESOURCES"):
        return Path(os.environ["PANCREAS_MT_RESOURCES"])
    here = Path(__file__).resolve()
    candidates = [here.parents[3] / "Resources", here.parents[2] / "Resources"]  # repository, installed module
    return next((c for c in candidates if (c / "DemoModel").is_dir()), candidates[0])


def demo_zip() -> Path:
    zips = sorted((resources_dir() / "DemoModel").glob("*.zip"))
    if not zips:
        raise InputError(f"{resources_dir() / 'DemoModel'}: no bundled demo model (.zip) found; give a model with -m")
    return zips[0]


def bundled_zip() -> Path | None:
    """The bundled demo model zip, or ``None`` where this installation has none."""
    try:
        return demo_zip()
    except InputError:
        return None


def demo_model_name() -> str | None:
    """The name the bundled demo installs under (from its manifest), without installing it."""
    archive = bundled_zip()
    if archive is None:
        return None
    try:
        with zipfile.ZipFile(archive) as handle:
            return str(json.loads(handle.read(MANIFEST))["name"])
    except (OSError, KeyError, TypeError, ValueError, zipfile.BadZipFile):
        return None


def demo_model_folder(models_dir: Path | None = None) -> Path:
    """The demo model, verified (SHA-256) and unpacked into the store on first use; a newer bundled zip replaces
    an older installed copy of it, never another model of the same name."""
    archive = demo_zip()
    return install_zip(archive, models_dir, replace=lambda folder: is_bundled_copy(folder, archive), source="bundled")


def sample_case() -> Path:
    """The bundled sample CT (``Resources/SampleData/*_0000.nii.gz``)."""
    found = sorted((resources_dir() / "SampleData").glob("*_0000.nii.gz"))
    if not found:
        raise InputError(f"{resources_dir() / 'SampleData'}: no bundled sample case found")
    return found[0]
