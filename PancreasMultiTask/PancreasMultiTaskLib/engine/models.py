"""The installed models of the store, shared by the CLI, the Slicer module and batch mode: folders registered in
place, listing (broken models with their reason), removal, the bundled demo, and the ``-m`` rule that turns a
folder, a zip or an installed model's name into a model folder.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .model_store import models_home
from .model_zip import install_zip, install_zip_reporting, member_name, read_sha256_file, sha256_file
from .store_layout import (
    INSTALL_RECORD,
    MANIFEST,
    MODEL_NAME,
    REGISTRY,
    ModelExistsError,
    ModelInstallError,
    check_model_folder,
    check_model_name,
    read_registry,
    same_install,
    write_registry,
)


class ModelNotFoundError(ModelInstallError):
    """No model folder, model zip or installed model of that name."""


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
    folds = check_model_folder(folder)
    path = folder / "dataset.json"
    try:
        names = _subtype_names(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError, TypeError, ValueError) as error:
        raise ModelInstallError(f"{path}: not a valid dataset.json ({error})") from error
    return InstalledModel(name, folder, folds, names, registered, **_provenance(folder, registered))


def _broken(name: str, folder: Path, registered: bool, error: Exception) -> InstalledModel:
    problem = str(error) or type(error).__name__
    return InstalledModel(name, folder, [], [], registered, problem=problem, **_provenance(folder, registered))


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
    registry = read_registry(models_dir)
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
    write_registry(models_dir, registry)
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
        registry = read_registry(models_dir)
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
    registry = read_registry(models_dir)
    if name in registry:
        path = registry.pop(name)
        write_registry(models_dir, registry)
        return InstalledModel(name, Path(path), [], [], True, source="folder", origin=path)
    folder = models_dir / name
    if not MODEL_NAME.match(name) or not folder.is_dir():
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
        folder, changed = install_zip_reporting(path, models_dir, sha256, name, replace, False, "zip")
        name, registered = folder.name, False
    elif path.is_dir():
        if sha256:
            raise ModelInstallError(f"{path}: --sha256 checks a model zip; this is a folder")
        name = check_model_name(name or path.resolve().name)
        changed = read_registry(models_dir).get(name) != str(path.resolve())
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
    if not MODEL_NAME.match(value) or value.lower().endswith(".zip"):
        names = _installed_names(store_models(models_dir))
        raise ModelNotFoundError(f"{value}: no such model folder or model zip, nor an installed model ({names})")
    if sha256:
        raise ModelInstallError(f"--sha256 checks a model zip; {value} is not one")
    return find_model(value, models_dir)
