"""Model zips from strangers: verified (SHA-256 of the zip and of every member, hostile names and sizes refused)
before anything is written, then unpacked under a hidden name and renamed into the store.

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

import hashlib
import json
import re
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from .model_store import models_home
from .store_layout import (
    INSTALL_RECORD,
    LOCALIZER_FOLDER,
    MANIFEST,
    ModelExistsError,
    ModelInstallError,
    check_model_folder,
    check_model_name,
    read_registry,
    same_install,
    write_registry,
)

MANIFEST_FORMAT = "pancreas-multitask-model"
_CHUNK = 1 << 20
#: Refused before anything is written: more unpacked bytes than this, or more than MAX_RATIO times
#: the zip's size (checkpoints barely compress; a zip bomb compresses a thousandfold).
MAX_UNPACKED_BYTES = 16 << 30
MAX_RATIO = 20


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
        registry = read_registry(models_dir)
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
        check_model_folder(folder)
        if (folder / LOCALIZER_FOLDER).exists():
            check_model_folder(folder / LOCALIZER_FOLDER)
        (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        record = {"source": source, "zip": str(zip_path.resolve()), "sha256": digest}
        (folder / INSTALL_RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        _move_into_place(folder, target, staging)
        if name in registry:
            del registry[name]
            write_registry(models_dir, registry)
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
    return install_zip_reporting(archive, models_dir, expected_sha256, name, replace, allow_unhashed, source)[0]


def install_zip_reporting(
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


def _move_into_place(folder: Path, target: Path, staging: Path) -> None:
    """Rename the unpacked folder to ``target``; an older install is moved aside first, then deleted."""
    if target.exists():
        target.rename(staging / ".replaced")
    folder.rename(target)
