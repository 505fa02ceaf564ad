"""Installed models: import a distributable model zip (verified), register a folder, list, remove.

A model zip (written by ``pancreas-mt-train export``) holds one folder ``<name>/`` in nnU-Net's
results layout (``dataset.json``, ``plans.json``, ``fold_N/checkpoint_final.pth``) and a
``manifest.json`` at its root listing the SHA-256 of every other member. Importing requires the
zip's own SHA-256 (given, or from a ``<zip>.sha256`` file beside it) unless the caller says it
trusts the zip (``allow_unhashed=True``); it refuses members that are absolute, climb out with
``..``, are links, collide once normalized (``a/./b`` is ``a/b``), are both a file and a folder, or
are not in the manifest; refuses zips that would unpack to more than ``MAX_UNPACKED_BYTES`` or
more than ``MAX_RATIO`` times their own size; checks every member's hash; then extracts into a
temporary folder inside the models folder and renames it into place.
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
#: Refused before anything is written: more unpacked bytes than this, or more than MAX_RATIO times
#: the zip's size (checkpoints barely compress; a zip bomb compresses a thousandfold).
MAX_UNPACKED_BYTES = 16 << 30
MAX_RATIO = 20


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
    problem: str | None = None  #: why the model cannot be used; ``None`` when it looks usable

    @property
    def broken(self) -> bool:
        return self.problem is not None


def check_model_name(name: object) -> str:
    """A model name as a plain folder name (letters, digits, ``.``, ``_``, ``-``), or an error."""
    if not isinstance(name, str) or not _NAME.match(name) or name.strip(".") == "":
        raise ModelInstallError(f"model name {name!r} may hold only letters, digits, '.', '_' and '-'")
    return name


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def read_sha256_file(path: str | Path) -> str:
    """The hex digest in a ``sha256sum``-style file (``<hex>  <name>``)."""
    try:
        text = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as error:
        raise ModelInstallError(f"{path}: not a readable SHA-256 checksum file ({error})") from error
    digest = text.split()[0].lower() if text else ""
    if not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise ModelInstallError(f"{path}: not a SHA-256 checksum file")
    return digest


def member_name(info: zipfile.ZipInfo) -> str:
    """A member's name as it will be written: ``.`` parts and repeated or trailing slashes removed."""
    return str(PurePosixPath(info.filename))


def _member_problem(info: zipfile.ZipInfo) -> str | None:
    name = info.filename
    path = PurePosixPath(name)
    if "\\" in name or name.startswith("/") or re.match(r"^[A-Za-z]:", name) or "\0" in name:
        return f"member {name!r} has an absolute or non-portable path"
    if any(part == ".." for part in path.parts):
        return f"member {name!r} would be written outside the target folder"
    if not path.parts or str(path) == ".":
        return f"member {name!r} has no name"
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return f"member {name!r} is a symbolic link"
    return None


def _check_members(zip_path: Path, infos: list[zipfile.ZipInfo]) -> list[str]:
    """The normalized names of the file members, or an error for any hostile member or size."""
    for info in infos:
        problem = _member_problem(info)
        if problem:
            raise ModelInstallError(f"{zip_path}: refused, {problem}")
    files = [member_name(i) for i in infos if not i.is_dir()]
    folders = {member_name(i) for i in infos if i.is_dir()}
    seen: dict[str, str] = {}
    for name in files:
        key = name.casefold()  # two names one file on Windows and macOS
        if key in seen:
            raise ModelInstallError(f"{zip_path}: refused, duplicate member names {seen[key]!r} and {name!r}")
        seen[key] = name
    parents = {str(parent) for name in files for parent in PurePosixPath(name).parents} | folders
    both = sorted(set(files) & parents)
    if both:
        raise ModelInstallError(f"{zip_path}: refused, member {both[0]!r} is both a file and a folder")
    unpacked = sum(i.file_size for i in infos)
    if unpacked > MAX_UNPACKED_BYTES:
        raise ModelInstallError(
            f"{zip_path}: refused, it would unpack to {unpacked / 2**30:.1f} GiB "
            f"(more than {MAX_UNPACKED_BYTES / 2**30:.0f} GiB)"
        )
    if unpacked > MAX_RATIO * max(zip_path.stat().st_size, 1):
        raise ModelInstallError(
            f"{zip_path}: refused, it would unpack to {unpacked / 2**20:.0f} MiB, more than {MAX_RATIO} times "
            f"its own size (a zip bomb)"
        )
    return files


def verify_zip(zip_path: str | Path, expected_sha256: str | None = None, *, allow_unhashed: bool = False) -> dict:
    """Check a model zip without extracting it; returns its manifest.

    The zip's SHA-256 must be given or be in ``<zip>.sha256`` beside it, unless ``allow_unhashed``
    says the caller trusts where the zip came from.
    """
    zip_path = Path(zip_path)
    if not zip_path.is_file():
        raise ModelInstallError(f"{zip_path}: no such file")
    sidecar = zip_path.with_name(zip_path.name + ".sha256")
    if expected_sha256 is None and sidecar.is_file():
        expected_sha256 = read_sha256_file(sidecar)
    if expected_sha256 is None and not allow_unhashed:
        raise ModelInstallError(
            f"{zip_path}: no SHA-256 to check it against: give the publisher's checksum (--sha256) or put "
            f"{sidecar.name} beside it"
        )
    if expected_sha256 is not None:
        actual = sha256_file(zip_path)
        if actual != expected_sha256.lower():
            raise ModelInstallError(f"{zip_path}: SHA-256 {actual} does not match the expected {expected_sha256}")
    try:
        with zipfile.ZipFile(zip_path) as archive:
            infos = archive.infolist()
            names = _check_members(zip_path, infos)
            if MANIFEST not in names:
                raise ModelInstallError(f"{zip_path}: no {MANIFEST}; not a PancreasMultiTask model zip")
            manifest_info = next(i for i in infos if member_name(i) == MANIFEST)
            try:
                manifest = json.loads(archive.read(manifest_info).decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
                raise ModelInstallError(f"{zip_path}: {MANIFEST} is not valid UTF-8 JSON ({error})") from None
            _check_manifest(zip_path, manifest, names)
            for info in infos:
                name = member_name(info)
                if info.is_dir() or name == MANIFEST:
                    continue
                digest = hashlib.sha256()
                with archive.open(info) as handle:
                    while chunk := handle.read(_CHUNK):
                        digest.update(chunk)
                if digest.hexdigest() != manifest["files"][name]:
                    raise ModelInstallError(f"{zip_path}: member {name} fails its SHA-256 check")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, OSError) as error:
        raise ModelInstallError(f"{zip_path}: not a readable zip file ({error})") from error
    return manifest


def _check_manifest(zip_path: Path, manifest: dict, names: list[str]) -> None:
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise ModelInstallError(f"{zip_path}: {MANIFEST} field 'format' must be {MANIFEST_FORMAT!r}")
    name = manifest.get("name")
    try:
        check_model_name(name)
    except ModelInstallError:
        raise ModelInstallError(
            f"{zip_path}: {MANIFEST} field 'name' must be a plain folder name, got {name!r}"
        ) from None
    files = manifest.get("files")
    if not isinstance(files, dict) or not all(
        isinstance(v, str) and re.fullmatch(r"[0-9a-f]{64}", v) for v in files.values()
    ):
        raise ModelInstallError(f"{zip_path}: {MANIFEST} field 'files' must map member names to SHA-256")
    members = set(names) - {MANIFEST}
    if set(files) != members:
        extra, missing = sorted(members - set(files)), sorted(set(files) - members)
        raise ModelInstallError(f"{zip_path}: members not in manifest {extra}, manifest files missing {missing}")
    outside = sorted(m for m in members if PurePosixPath(m).parts[0] != name)
    if outside:
        raise ModelInstallError(f"{zip_path}: members outside the model folder {name}/: {outside}")


def import_model_zip(
    zip_path: str | Path,
    models_dir: str | Path,
    expected_sha256: str | None = None,
    *,
    overwrite: bool = False,
    allow_unhashed: bool = False,
) -> Path:
    """Verify and install a model zip into ``models_dir/<name>``; returns the installed folder.

    Without ``expected_sha256`` or a ``<zip>.sha256`` beside it, the zip is refused unless
    ``allow_unhashed`` is set (see :func:`verify_zip`).
    """
    manifest = verify_zip(zip_path, expected_sha256, allow_unhashed=allow_unhashed)
    models_dir = Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    target = models_dir / manifest["name"]
    if target.exists() and not overwrite:
        raise ModelInstallError(f"{target}: a model of that name is already installed (remove it first)")
    staging = Path(tempfile.mkdtemp(prefix=".importing-", dir=models_dir))
    try:
        with zipfile.ZipFile(zip_path) as archive:
            for info in archive.infolist():
                name = member_name(info)
                if info.is_dir() or name == MANIFEST:
                    continue
                destination = staging.joinpath(*PurePosixPath(name).parts)
                if not destination.resolve().is_relative_to(staging.resolve()):
                    raise ModelInstallError(f"{zip_path}: refused, member {info.filename!r} escapes the target")
                destination.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(info) as source, destination.open("xb") as sink:
                    shutil.copyfileobj(source, sink, _CHUNK)
        folder = staging / manifest["name"]
        _check_model_folder(folder)
        (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        _move_into_place(folder, target, staging)
    except (OSError, zipfile.BadZipFile) as error:
        raise ModelInstallError(f"{zip_path}: cannot install into {target} ({error})") from error
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _move_into_place(folder: Path, target: Path, staging: Path) -> None:
    """Rename the unpacked folder to ``target``; an older install is moved aside first, then deleted."""
    if target.exists():
        target.rename(staging / ".replaced")
    folder.rename(target)


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
    path = folder / "dataset.json"
    try:
        dataset = json.loads(path.read_text(encoding="utf-8"))
        subtypes = dataset.get("subtypes") or {}
        names = [str(subtypes[k]) for k in sorted(subtypes, key=int)] if isinstance(subtypes, dict) else []
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError, TypeError, ValueError) as error:
        raise ModelInstallError(f"{path}: not a valid dataset.json ({error})") from error
    return InstalledModel(name, folder, folds, names, registered)


def _broken(name: str, folder: Path, registered: bool, error: Exception) -> InstalledModel:
    return InstalledModel(name, folder, [], [], registered, problem=str(error) or type(error).__name__)


def _read_registry(models_dir: Path) -> dict[str, str]:
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
    name = check_model_name(name or folder.name)
    model = _describe(name, folder, True)
    registry = _read_registry(models_dir)
    if (models_dir / name).exists() or (name in registry and registry[name] != str(folder)):
        raise ModelInstallError(f"{models_dir}: a model named {name} is already installed")
    registry[name] = str(folder)
    _write_registry(models_dir, registry)
    return model


def list_models(models_dir: str | Path) -> list[InstalledModel]:
    """Installed and registered models, by name; one that cannot be used is listed with its problem.

    Hidden folders (``.importing-*`` while an import runs) are skipped.
    """
    models_dir = Path(models_dir)
    if not models_dir.is_dir():
        return []
    models = []
    for folder in sorted(p for p in models_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            models.append(_describe(folder.name, folder, False))
        except (ModelInstallError, OSError) as error:
            models.append(_broken(folder.name, folder, False, error))
    try:
        registry = _read_registry(models_dir)
    except ModelInstallError as error:
        return [*models, _broken(REGISTRY, models_dir / REGISTRY, True, error)]
    for name, path in sorted(registry.items()):
        try:
            models.append(_describe(name, Path(path), True))
        except (ModelInstallError, OSError) as error:
            models.append(_broken(name, Path(path), True, error))
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
