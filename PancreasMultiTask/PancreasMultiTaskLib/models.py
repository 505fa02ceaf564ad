"""Installed models: import a distributable model zip (verified), register a folder, list, remove.

A model zip (written by ``pancreas-mt-train export``) holds one folder ``<name>/`` in nnU-Net's
results layout (``dataset.json``, ``plans.json``, ``fold_N/checkpoint_final.pth``) and a
``manifest.json`` at its root listing the SHA-256 of every other member. Importing checks the
zip's own SHA-256 (given, or from a ``<zip>.sha256`` file beside it), refuses members that are
absolute, climb out with ``..``, are links or are not in the manifest, checks every member's hash,
extracts into a temporary folder inside the models folder and renames it into place.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

MANIFEST = "manifest.json"
MANIFEST_FORMAT = "pancreas-multitask-model"
REGISTRY = "registered.json"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_CHUNK = 1 << 20


class ModelInstallError(ValueError):
    """A model zip or folder that cannot be installed; the message names the file and the reason."""


@dataclass(frozen=True)
class InstalledModel:
    """A model the engine can use: its name, folder, folds and subtype names."""

    name: str
    path: Path
    folds: list[str]
    subtypes: list[str]
    registered: bool


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def read_sha256_file(path: str | Path) -> str:
    """The hex digest in a ``sha256sum``-style file (``<hex>  <name>``)."""
    text = Path(path).read_text(encoding="utf-8").strip()
    digest = text.split()[0].lower() if text else ""
    if not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise ModelInstallError(f"{path}: not a SHA-256 checksum file")
    return digest


def _member_problem(info: zipfile.ZipInfo) -> str | None:
    name = info.filename
    path = PurePosixPath(name)
    if "\\" in name or name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return f"member {name!r} has an absolute or non-portable path"
    if any(part == ".." for part in path.parts):
        return f"member {name!r} would be written outside the target folder"
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return f"member {name!r} is a symbolic link"
    return None


def verify_zip(zip_path: str | Path, expected_sha256: str | None = None) -> dict:
    """Check a model zip without extracting it; returns its manifest."""
    zip_path = Path(zip_path)
    if not zip_path.is_file():
        raise ModelInstallError(f"{zip_path}: no such file")
    sidecar = zip_path.with_name(zip_path.name + ".sha256")
    if expected_sha256 is None and sidecar.is_file():
        expected_sha256 = read_sha256_file(sidecar)
    if expected_sha256 is not None:
        actual = sha256_file(zip_path)
        if actual != expected_sha256.lower():
            raise ModelInstallError(f"{zip_path}: SHA-256 {actual} does not match the expected {expected_sha256}")
    try:
        with zipfile.ZipFile(zip_path) as archive:
            infos = archive.infolist()
            for info in infos:
                problem = _member_problem(info)
                if problem:
                    raise ModelInstallError(f"{zip_path}: refused, {problem}")
            names = [i.filename for i in infos if not i.is_dir()]
            if len(set(names)) != len(names):
                raise ModelInstallError(f"{zip_path}: refused, duplicate member names")
            if MANIFEST not in names:
                raise ModelInstallError(f"{zip_path}: no {MANIFEST}; not a PancreasMultiTask model zip")
            manifest = json.loads(archive.read(MANIFEST).decode("utf-8"))
            _check_manifest(zip_path, manifest, names)
            for name in names:
                if name == MANIFEST:
                    continue
                digest = hashlib.sha256()
                with archive.open(name) as handle:
                    while chunk := handle.read(_CHUNK):
                        digest.update(chunk)
                if digest.hexdigest() != manifest["files"][name]:
                    raise ModelInstallError(f"{zip_path}: member {name} fails its SHA-256 check")
    except zipfile.BadZipFile as error:
        raise ModelInstallError(f"{zip_path}: not a readable zip file ({error})") from error
    return manifest


def _check_manifest(zip_path: Path, manifest: dict, names: list[str]) -> None:
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise ModelInstallError(f"{zip_path}: {MANIFEST} field 'format' must be {MANIFEST_FORMAT!r}")
    name = manifest.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ModelInstallError(f"{zip_path}: {MANIFEST} field 'name' must be a plain folder name, got {name!r}")
    files = manifest.get("files")
    if not isinstance(files, dict):
        raise ModelInstallError(f"{zip_path}: {MANIFEST} field 'files' must map member names to SHA-256")
    members = set(names) - {MANIFEST}
    if set(files) != members:
        extra, missing = sorted(members - set(files)), sorted(set(files) - members)
        raise ModelInstallError(f"{zip_path}: members not in manifest {extra}, manifest files missing {missing}")
    outside = sorted(m for m in members if PurePosixPath(m).parts[0] != name)
    if outside:
        raise ModelInstallError(f"{zip_path}: members outside the model folder {name}/: {outside}")


def import_model_zip(
    zip_path: str | Path, models_dir: str | Path, expected_sha256: str | None = None, *, overwrite: bool = False
) -> Path:
    """Verify and install a model zip into ``models_dir/<name>``; returns the installed folder."""
    manifest = verify_zip(zip_path, expected_sha256)
    models_dir = Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    target = models_dir / manifest["name"]
    if target.exists() and not overwrite:
        raise ModelInstallError(f"{target}: a model of that name is already installed (remove it first)")
    staging = Path(tempfile.mkdtemp(prefix=".importing-", dir=models_dir))
    try:
        with zipfile.ZipFile(zip_path) as archive:
            for info in archive.infolist():
                if info.is_dir() or info.filename == MANIFEST:
                    continue
                destination = staging.joinpath(*PurePosixPath(info.filename).parts)
                if not destination.resolve().is_relative_to(staging.resolve()):
                    raise ModelInstallError(f"{zip_path}: refused, member {info.filename!r} escapes the target")
                destination.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(info) as source, destination.open("wb") as sink:
                    shutil.copyfileobj(source, sink, _CHUNK)
        folder = staging / manifest["name"]
        _check_model_folder(folder)
        (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        folder.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _check_model_folder(folder: Path) -> list[str]:
    """Folds of a model folder, or an error naming what is missing."""
    for name in ("dataset.json", "plans.json"):
        if not (folder / name).is_file():
            raise ModelInstallError(f"{folder}: no {name}; not an nnU-Net model folder")
    folds = sorted(p.name[len("fold_") :] for p in folder.glob("fold_*") if any(p.glob("checkpoint_*.pth")))
    if not folds:
        raise ModelInstallError(f"{folder}: no fold_N/checkpoint_final.pth")
    return folds


def _describe(name: str, folder: Path, registered: bool) -> InstalledModel:
    folds = _check_model_folder(folder)
    try:
        dataset = json.loads((folder / "dataset.json").read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ModelInstallError(f"{folder / 'dataset.json'}: not valid JSON ({error})") from error
    subtypes = dataset.get("subtypes") or {}
    names = [str(subtypes[k]) for k in sorted(subtypes, key=int)] if isinstance(subtypes, dict) else []
    return InstalledModel(name, folder, folds, names, registered)


def _read_registry(models_dir: Path) -> dict[str, str]:
    path = models_dir / REGISTRY
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ModelInstallError(f"{path}: not valid JSON ({error})") from error
    return {str(k): str(v) for k, v in data.items()}


def _write_registry(models_dir: Path, registry: dict[str, str]) -> None:
    models_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{REGISTRY}.", dir=models_dir)
    with open(fd, "w", encoding="utf-8") as handle:
        json.dump(registry, handle, indent=2)
    Path(tmp).replace(models_dir / REGISTRY)


def register_model_folder(folder: str | Path, models_dir: str | Path, name: str | None = None) -> InstalledModel:
    """Make a model folder already on disk (e.g. one just trained) usable by name, without copying it."""
    folder = Path(folder).resolve()
    models_dir = Path(models_dir)
    name = name or folder.name
    if not _NAME.match(name):
        raise ModelInstallError(f"model name {name!r} may hold only letters, digits, '.', '_' and '-'")
    model = _describe(name, folder, True)
    registry = _read_registry(models_dir)
    if (models_dir / name).exists() or (name in registry and registry[name] != str(folder)):
        raise ModelInstallError(f"{models_dir}: a model named {name} is already installed")
    registry[name] = str(folder)
    _write_registry(models_dir, registry)
    return model


def list_models(models_dir: str | Path) -> list[InstalledModel]:
    """Installed and registered models, by name; folders that are not model folders are skipped."""
    models_dir = Path(models_dir)
    if not models_dir.is_dir():
        return []
    models = []
    for folder in sorted(p for p in models_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            models.append(_describe(folder.name, folder, False))
        except ModelInstallError:
            continue
    for name, path in sorted(_read_registry(models_dir).items()):
        try:
            models.append(_describe(name, Path(path), True))
        except ModelInstallError:
            continue
    return models


def remove_model(models_dir: str | Path, name: str) -> None:
    """Delete an installed model folder, or forget a registered one (its files stay)."""
    models_dir = Path(models_dir)
    registry = _read_registry(models_dir)
    if name in registry:
        del registry[name]
        _write_registry(models_dir, registry)
        return
    folder = models_dir / name
    if not _NAME.match(name) or not folder.is_dir():
        raise ModelInstallError(f"{models_dir}: no installed model named {name!r}")
    shutil.rmtree(folder)
