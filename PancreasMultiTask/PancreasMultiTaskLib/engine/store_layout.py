"""What a model store holds on disk (the model-name rule, a model folder's files, the registry) and the errors its
checks raise: shared by models.py, model_zip.py and model_store.py so that none imports another both ways.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

MANIFEST = "manifest.json"
REGISTRY = "registered.json"
#: Written into each model folder a zip is installed into: ``{"source": "zip"|"bundled", "zip": path, "sha256": hex}``.
INSTALL_RECORD = "installed_from.json"
#: The subfolder of a model folder holding its localizer, a plain nnU-Net model folder (``engine/localizer.py``).
LOCALIZER_FOLDER = "localizer"
#: A model's name: a plain folder name (letters, digits, ``.``, ``_``, ``-``).
MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class ModelInstallError(ValueError):
    """A model zip or folder that cannot be installed; the message names the file and the reason."""


class ModelExistsError(ModelInstallError):
    """A different model of the same name is installed; nothing was replaced."""


def check_model_name(name: object) -> str:
    """A model name as a plain folder name (letters, digits, ``.``, ``_``, ``-``), or an error."""
    if not isinstance(name, str) or not MODEL_NAME.match(name) or name.strip(".") == "":
        raise ModelInstallError(f"model name {name!r} may hold only letters, digits, '.', '_' and '-'")
    return name


def same_install(folder: Path, manifest: dict) -> bool:
    """Whether ``folder`` is an installed copy of the zip with this manifest."""
    installed = folder / MANIFEST
    try:
        return installed.is_file() and json.loads(installed.read_text(encoding="utf-8")) == manifest
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return False


def check_model_folder(folder: Path) -> list[str]:
    """Folds of a model folder, or an error naming what is missing."""
    for name in ("dataset.json", "plans.json"):
        if not (folder / name).is_file():
            raise ModelInstallError(f"{folder}: no {name}; not an nnU-Net model folder")
    folds = sorted(p.name[len("fold_") :] for p in folder.glob("fold_*") if any(p.glob("checkpoint_*.pth")))
    if not folds:
        raise ModelInstallError(f"{folder}: no fold_N/checkpoint_final.pth")
    return folds


def read_registry(models_dir: Path) -> dict[str, str]:
    """The folders registered in place, by model name (``{}`` when none); an error when the file is broken."""
    path = models_dir / REGISTRY
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelInstallError(f"{path}: not valid JSON ({error})") from error
    if not isinstance(data, dict):
        raise ModelInstallError(f"{path}: expected a JSON object mapping model names to folders")
    return {str(k): str(v) for k, v in data.items()}


def write_registry(models_dir: Path, registry: dict[str, str]) -> None:
    """Replace the registry whole (written under a temporary name, then renamed)."""
    models_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{REGISTRY}.", dir=models_dir)
    with open(fd, "w", encoding="utf-8") as handle:
        json.dump(registry, handle, indent=2)
    Path(tmp).replace(models_dir / REGISTRY)
