"""The model store shared by the CLI, the Slicer module and batch mode: where it lives, model zips imported
(verified), folders registered in place, listing (broken models with their reason), removal, and the ``-m``
rule that turns a folder, a zip or an installed model's name into a model folder.

A model zip (written by ``pancreas-mt-train export``) holds one folder ``<name>/`` in nnU-Net's
results layout (``dataset.json``, ``plans.json``, ``fold_N/checkpoint_final.pth``) and a
``manifest.json`` at its root listing the SHA-256 of every other member; a model with a localizer carries it
as ``<name>/localizer/`` in the same layout, checked like the model itself. Importing requires the
zip's own SHA-256 (given, or from a ``<zip>.sha256`` file beside it) unless the caller says it
trusts the zip (``allow_unhashed=True``); it refuses members that are absolute, climb out with
``..``, are links, collide once normalized (``a/./b`` is ``a/b``), are both a file and a folder, or
are not in the manifest; refuses zips that would unpack to more than ``MAX_UNPACKED_BYTES`` or
more than ``MAX_RATIO`` times their own size; checks every member's hash; then extracts into a
temporary folder inside the models folder and renames it into place. A different model of the same
name is never replaced unless the caller says so (``replace``); each install records where it came from
and the zip's SHA-256 (``installed_from.json`` in the model folder).
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

MANIFEST = "manifest.json"
MANIFEST_FORMAT = "pancreas-multitask-model"
REGISTRY = "registered.json"
#: Written into each model folder a zip is installed into: ``{"source": "zip"|"bundled", "zip": path, "sha256": hex}``.
INSTALL_RECORD = "installed_from.json"
#: The subfolder of a model folder holding its localizer, a plain nnU-Net model folder (``engine/localizer.py``).
LOCALIZER_FOLDER = "localizer"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_CHUNK = 1 << 20
#: Refused before anything is written: more unpacked bytes than this, or more than MAX_RATIO times
#: the zip's size (checkpoints barely compress; a zip bomb compresses a thousandfold).
MAX_UNPACKED_BYTES = 16 << 30
MAX_RATIO = 20


class ModelInstallError(ValueError):
    """A model zip or folder that cannot be installed; the message names the file and the reason."""


class ModelExistsError(ModelInstallError):
    """A different model of the same name is installed; nothing was replaced."""


class ModelNotFoundError(ModelInstallError):
    """No model folder, model zip or installed model of that name."""


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
            if (new_models / folder.name).exists() or folder.name in _read_registry(new_models):
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
        old = _read_registry(old_models)
    except ModelInstallError as error:
        done.left[REGISTRY] = str(error)
        return
    if not old:
        return
    new = _read_registry(new_models)
    taken = {name for name in old if name in new or (new_models / name).exists()}
    for name in sorted(taken):
        done.left[name] = f"the model store already has a model named {name}"
    carried = {name: path for name, path in old.items() if name not in taken}
    if carried:
        _write_registry(new_models, {**new, **carried})
        done.registered += sorted(carried)
    if taken:
        _write_registry(old_models, {name: old[name] for name in taken})
    else:
        (old_models / REGISTRY).unlink()


def _remove_if_empty(folder: Path) -> None:
    """Delete the old models folder once nothing but hidden leftovers (locks, staging) is in it."""
    if any(not p.name.startswith(".") for p in folder.iterdir()):
        return
    shutil.rmtree(folder, ignore_errors=True)


@dataclass(frozen=True)
class InstalledModel:
    """A model the engine can use: its name, folder, folds and subtype names."""

    name: str
    path: Path
    folds: list[str]
    subtypes: list[str]
    registered: bool
    problem: str | None = None  #: why the model cannot be used; ``None`` when it looks usable
    #: where it came from: ``bundled`` (the demo), ``zip`` (installed from a zip), ``folder`` (registered in
    #: place) or ``store`` (a folder put into the store by other means)
    source: str = "store"
    origin: str = ""  #: the zip or folder it came from, when known
    sha256: str | None = None  #: the SHA-256 of the zip it was installed from, when known

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
    return _verify_zip(Path(zip_path), expected_sha256, allow_unhashed)[0]


def _verify_zip(zip_path: Path, expected_sha256: str | None, allow_unhashed: bool) -> tuple[dict, str | None]:
    """:func:`verify_zip`, also returning the zip's checked SHA-256 (``None`` when none was checked)."""
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
    actual = None
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
    return manifest, actual


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
    name: str | None = None,
    source: str = "zip",
) -> Path:
    """Verify and install a model zip into ``models_dir/<name>`` (the manifest's name unless ``name`` is given);
    returns the installed folder.

    Without ``expected_sha256`` or a ``<zip>.sha256`` beside it, the zip is refused unless
    ``allow_unhashed`` is set (see :func:`verify_zip`). A model of that name already installed or
    registered is refused unless ``overwrite`` (then a registered folder is forgotten, its files stay).
    """
    zip_path = Path(zip_path)
    manifest, digest = _verify_zip(zip_path, expected_sha256, allow_unhashed)
    return _unpack(zip_path, Path(models_dir), manifest, digest, name=name, overwrite=overwrite, source=source)


def _unpack(
    zip_path: Path,
    models_dir: Path,
    manifest: dict,
    digest: str | None,
    *,
    name: str | None,
    overwrite: bool,
    source: str,
    differs: bool = False,
) -> Path:
    """Unpack a verified zip into a hidden staging folder, check it, record where it came from, rename it into
    place. Every member is hashed again as it is written, so a zip changed since it was verified is refused."""
    name = check_model_name(name) if name else manifest["name"]
    models_dir.mkdir(parents=True, exist_ok=True)
    target = models_dir / name
    try:
        registry = _read_registry(models_dir)
    except ModelInstallError:
        registry = {}  # listed as broken; it does not stop an install under another name
    if not overwrite and (target.exists() or name in registry):
        raise ModelExistsError(
            f"{zip_path}: refused, {'a different' if differs else 'a'} model named {name} is already installed "
            f"({registry.get(name, target)}); remove it first (pancreas-mt models remove {name}) or replace it "
            f"(pancreas-mt models add {zip_path} --replace)"
        )
    digest = digest or sha256_file(zip_path)
    staging = Path(tempfile.mkdtemp(prefix=".importing-", dir=models_dir))
    try:
        with zipfile.ZipFile(zip_path) as archive:
            for info in archive.infolist():
                member = member_name(info)
                if info.is_dir() or member == MANIFEST:
                    continue
                destination = staging.joinpath(*PurePosixPath(member).parts)
                if not destination.resolve().is_relative_to(staging.resolve()):
                    raise ModelInstallError(f"{zip_path}: refused, member {info.filename!r} escapes the target")
                destination.parent.mkdir(parents=True, exist_ok=True)
                hashed = hashlib.sha256()
                with archive.open(info) as packed, destination.open("xb") as sink:
                    while chunk := packed.read(_CHUNK):
                        hashed.update(chunk)
                        sink.write(chunk)
                if hashed.hexdigest() != manifest["files"].get(member):
                    raise ModelInstallError(f"{zip_path}: member {member} fails its SHA-256 check")
        folder = staging / manifest["name"]
        _check_model_folder(folder)
        if (folder / LOCALIZER_FOLDER).exists():
            _check_model_folder(folder / LOCALIZER_FOLDER)
        (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        record = {"source": source, "zip": str(zip_path.resolve()), "sha256": digest}
        (folder / INSTALL_RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        _move_into_place(folder, target, staging)
        if name in registry:
            del registry[name]
            _write_registry(models_dir, registry)
    except (OSError, zipfile.BadZipFile) as error:
        raise ModelInstallError(f"{zip_path}: cannot install into {target} ({error})") from error
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def install_zip(
    archive: str | Path,
    models_dir: str | Path | None = None,
    expected_sha256: str | None = None,
    *,
    name: str | None = None,
    replace: bool | Callable[[Path], bool] = False,
    allow_unhashed: bool = False,
    source: str = "zip",
) -> Path:
    """A model zip verified and installed into the store (default :func:`models_home`), or its installed copy
    when the same model (the same manifest) is already there; returns the model folder.

    A different model of the same name is replaced only when ``replace`` says so (a callable is asked with
    the installed folder); otherwise :class:`ModelExistsError`. Safe when several processes start at once:
    the install runs under a lock, and each process checks again once it holds the lock, so only the
    first one unpacks.
    """
    return _install_zip(archive, models_dir, expected_sha256, name, replace, allow_unhashed, source)[0]


def _install_zip(
    archive: str | Path,
    models_dir: str | Path | None,
    expected_sha256: str | None,
    name: str | None,
    replace: bool | Callable[[Path], bool],
    allow_unhashed: bool,
    source: str,
) -> tuple[Path, bool]:
    """:func:`install_zip`, also saying whether anything was installed (``False``: it already was)."""
    from .filelock import locked

    archive = Path(archive)
    models_dir = Path(models_dir) if models_dir else models_home()
    manifest, digest = _verify_zip(archive, expected_sha256, allow_unhashed)
    name = check_model_name(name) if name else manifest["name"]
    target = models_dir / name
    if same_install(target, manifest):
        return target, False
    with locked(models_dir / f".{name}.install.lock"):
        if same_install(target, manifest):
            return target, False
        overwrite = bool(replace(target) if callable(replace) else replace)
        folder = _unpack(
            archive, models_dir, manifest, digest, name=name, overwrite=overwrite, source=source, differs=True
        )
        return folder, True


def same_install(folder: Path, manifest: dict) -> bool:
    """Whether ``folder`` is an installed copy of the zip with this manifest."""
    installed = folder / MANIFEST
    try:
        return installed.is_file() and json.loads(installed.read_text(encoding="utf-8")) == manifest
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return False


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


def _subtype_names(dataset: object) -> list[str]:
    if not isinstance(dataset, dict):
        raise ValueError("not a JSON object")
    subtypes = dataset.get("subtypes") or {}
    return [str(subtypes[k]) for k in sorted(subtypes, key=int)] if isinstance(subtypes, dict) else []


def install_record(folder: Path) -> dict:
    """What :data:`INSTALL_RECORD` says about an installed folder (``{}`` when absent or unreadable)."""
    try:
        data = json.loads((folder / INSTALL_RECORD).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def _provenance(folder: Path, registered: bool) -> dict:
    """``source``, ``origin`` and ``sha256`` of a listed model (see :class:`InstalledModel`)."""
    if registered:
        return {"source": "folder", "origin": str(folder), "sha256": None}
    record = install_record(folder)
    source = record.get("source")
    if source not in ("zip", "bundled"):
        source = "zip" if (folder / MANIFEST).is_file() else "store"
    sha256 = record.get("sha256")
    sha256 = sha256 if isinstance(sha256, str) and re.fullmatch(r"[0-9a-f]{64}", sha256) else None
    return {"source": source, "origin": str(record.get("zip") or ""), "sha256": sha256}


def _describe(name: str, folder: Path, registered: bool) -> InstalledModel:
    folds = _check_model_folder(folder)
    path = folder / "dataset.json"
    try:
        names = _subtype_names(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError, TypeError, ValueError) as error:
        raise ModelInstallError(f"{path}: not a valid dataset.json ({error})") from error
    return InstalledModel(name, folder, folds, names, registered, **_provenance(folder, registered))


def _broken(name: str, folder: Path, registered: bool, error: Exception) -> InstalledModel:
    problem = str(error) or type(error).__name__
    return InstalledModel(name, folder, [], [], registered, problem=problem, **_provenance(folder, registered))


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


def register_model_folder(
    folder: str | Path, models_dir: str | Path, name: str | None = None, *, replace: bool = False
) -> InstalledModel:
    """Make a model folder already on disk (e.g. one just trained) usable by name, without copying it.

    Another model of that name is refused unless ``replace`` (then an installed copy is deleted, another
    registration forgotten).
    """
    folder = Path(folder).resolve()
    models_dir = Path(models_dir)
    name = check_model_name(name or folder.name)
    model = _describe(name, folder, True)
    registry = _read_registry(models_dir)
    installed = models_dir / name
    if installed.exists() or (name in registry and registry[name] != str(folder)):
        if not replace:
            raise ModelExistsError(
                f"{folder}: refused, a model named {name} is already installed ({registry.get(name, installed)}); "
                f"remove it first (pancreas-mt models remove {name}), give another name (--name) or replace it "
                "(--replace)"
            )
        if installed.exists():
            if folder.is_relative_to(installed.resolve()):
                raise ModelInstallError(f"{folder}: this is the installed model {name} itself")
            shutil.rmtree(installed)
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


def remove_model(models_dir: str | Path, name: str) -> InstalledModel:
    """Delete an installed model folder, or forget a registered one (its files stay); returns what went."""
    models_dir = Path(models_dir)
    registry = _read_registry(models_dir)
    if name in registry:
        path = registry.pop(name)
        _write_registry(models_dir, registry)
        return InstalledModel(name, Path(path), [], [], True, source="folder", origin=path)
    folder = models_dir / name
    if not _NAME.match(name) or not folder.is_dir():
        names = sorted({m.name for m in list_models(models_dir)})
        raise ModelNotFoundError(
            f"{models_dir}: no installed model named {name!r} (installed: {', '.join(names) or 'none'})"
        )
    shutil.rmtree(folder)
    return InstalledModel(name, folder, [], [], False)


def describe_zip(archive: Path) -> InstalledModel:
    """What a model zip holds (name, folds, subtypes; SHA-256 from its ``.sha256`` or computed), read without
    unpacking it: how the bundled demo is listed before its first use. Not a verification."""
    try:
        with zipfile.ZipFile(archive) as handle:
            infos = {member_name(i): i for i in handle.infolist() if not i.is_dir()}
            manifest = json.loads(handle.read(infos[MANIFEST]).decode("utf-8"))
            name = check_model_name(manifest.get("name") if isinstance(manifest, dict) else None)
            folds = sorted(
                {
                    parts[1][len("fold_") :]
                    for parts in (PurePosixPath(m).parts for m in infos)
                    if len(parts) == 3 and parts[0] == name and parts[1].startswith("fold_")
                    and parts[2].startswith("checkpoint_") and parts[2].endswith(".pth")
                }
            )  # fmt: skip
            subtypes = _subtype_names(json.loads(handle.read(infos[f"{name}/dataset.json"]).decode("utf-8")))
    except (OSError, KeyError, ValueError, RecursionError, zipfile.BadZipFile) as error:
        raise ModelInstallError(f"{archive}: not a readable model zip ({error})") from error
    sidecar = archive.with_name(archive.name + ".sha256")
    sha256 = read_sha256_file(sidecar) if sidecar.is_file() else sha256_file(archive)
    return InstalledModel(name, archive, folds, subtypes, False, source="zip", origin=str(archive), sha256=sha256)


def is_bundled_copy(folder: Path, archive: Path) -> bool:
    """Whether an installed ``folder`` holds the bundled model ``archive`` (any version of it), so that a newer
    bundled zip may replace it: installed as the bundled model, from that zip, or before installs were recorded."""
    if not folder.is_dir():
        return False
    record = install_record(folder)
    return not record or record.get("source") == "bundled" or record.get("zip") == str(Path(archive).resolve())


def store_models(models_dir: str | Path | None = None) -> list[InstalledModel]:
    """Every model of the store as users see it: the bundled demo first (source ``bundled``, listed once,
    whether or not it is unpacked yet; installed on first use), then :func:`list_models`' others."""
    from .demo import bundled_zip

    models_dir = Path(models_dir) if models_dir else models_home()
    models = list_models(models_dir)
    archive = bundled_zip()
    if archive is None:
        return models
    try:
        demo = describe_zip(archive)
    except ModelInstallError as error:
        return [
            _bundled(InstalledModel("(bundled demo)", archive, [], [], False, problem=str(error)), archive),
            *models,
        ]
    demo = _bundled(dataclasses.replace(demo, path=models_dir / demo.name), archive)
    for index, model in enumerate(models):
        if model.name != demo.name or model.registered:
            continue
        if not is_bundled_copy(model.path, archive):
            demo = dataclasses.replace(
                demo, problem=f"a different model named {demo.name} is installed ({model.path}); the bundled demo "
                "model is not installed over it",
            )  # fmt: skip
            break
        if same_install(model.path, _zip_manifest(archive)):
            demo = _bundled(model, archive, demo.sha256)
        del models[index]
        break
    return [demo, *models]


def _bundled(model: InstalledModel, archive: Path, sha256: str | None = None) -> InstalledModel:
    return dataclasses.replace(model, source="bundled", origin=str(archive), sha256=sha256 or model.sha256)


def _zip_manifest(archive: Path) -> dict:
    try:
        with zipfile.ZipFile(archive) as handle:
            return json.loads(handle.read(MANIFEST).decode("utf-8"))
    except (OSError, KeyError, ValueError, RecursionError, zipfile.BadZipFile):
        return {}


def find_model(name: str, models_dir: str | Path | None = None) -> Path:
    """The folder of the installed model called ``name`` (the bundled demo's name installs it on first use);
    an error naming the installed models when there is none, or saying why that model cannot be used."""
    models_dir = Path(models_dir) if models_dir else models_home()
    models = store_models(models_dir)
    for model in models:
        if model.name == name and not model.broken:
            if model.source == "bundled":
                from .demo import demo_model_folder

                return demo_model_folder(models_dir)
            return model.path
    broken = next((m for m in models if m.name == name), None)
    if broken is not None:
        raise ModelInstallError(f"The installed model {name!r} cannot be used: {broken.problem}")
    raise ModelNotFoundError(f"No installed model named {name!r} in {models_dir} ({_installed_names(models)})")


def _installed_names(models: list[InstalledModel]) -> str:
    usable = sorted({m.name for m in models if not m.broken})
    return (
        f"installed: {', '.join(usable) or 'none'}; 'pancreas-mt models list' lists them, "
        "'pancreas-mt models add' adds one"
    )


def add_model(
    path: str | Path,
    models_dir: str | Path | None = None,
    *,
    sha256: str | None = None,
    name: str | None = None,
    replace: bool = False,
) -> tuple[InstalledModel, bool]:
    """Install a model zip (verified as :func:`install_zip` does) or register a model folder in place: what the
    Slicer module's "Add folder/zip" and ``pancreas-mt models add`` do. Returns the model as listed and whether
    anything changed (``False``: that very model was installed already)."""
    path = Path(path)
    models_dir = Path(models_dir) if models_dir else models_home()
    if path.is_file() and path.suffix.lower() == ".zip":
        folder, changed = _install_zip(path, models_dir, sha256, name, replace, False, "zip")
        name, registered = folder.name, False
    elif path.is_dir():
        if sha256:
            raise ModelInstallError(f"{path}: --sha256 checks a model zip; this is a folder")
        name = check_model_name(name or path.resolve().name)
        changed = _read_registry(models_dir).get(name) != str(path.resolve())
        name, registered = register_model_folder(path, models_dir, name, replace=replace).name, True
    else:
        raise ModelInstallError(f"{path}: not a model folder or a .zip file")
    model = next(m for m in list_models(models_dir) if m.name == name and m.registered == registered)
    return model, changed


def resolve_model(value: str | None, sha256: str | None = None, models_dir: str | Path | None = None) -> Path:
    """The model folder ``-m VALUE`` means: a model folder (a path), else a model zip (verified; installed into
    the store unless that very model is there already; a different model of the same name is never
    replaced), else the name of an installed model (:func:`find_model`), else an error naming the installed
    models. Without a value: ``$PANCREAS_MT_MODEL``, resolved the same way, else the bundled demo model.
    ``sha256`` (``--sha256``) is the publisher's checksum of a zip."""
    models_dir = Path(models_dir) if models_dir else models_home()
    if not value:
        if os.environ.get("PANCREAS_MT_MODEL"):
            return resolve_model(os.environ["PANCREAS_MT_MODEL"], sha256, models_dir)
        if sha256:
            raise ModelInstallError("--sha256 checks a model zip given with -m")
        from .demo import demo_model_folder

        return demo_model_folder(models_dir)
    path = Path(value)
    if path.is_dir() or (path.is_file() and path.suffix.lower() != ".zip"):
        if sha256:
            raise ModelInstallError(f"--sha256 checks a model zip; {value} is not one")
        return path  # a file is refused, naming it, when the model folder is opened
    if path.is_file():
        return install_zip(path, models_dir, sha256)
    if not _NAME.match(value) or value.lower().endswith(".zip"):
        names = _installed_names(store_models(models_dir))
        raise ModelNotFoundError(f"{value}: no such model folder or model zip, nor an installed model ({names})")
    if sha256:
        raise ModelInstallError(f"--sha256 checks a model zip; {value} is not one")
    return find_model(value, models_dir)
