"""Export a trained model folder as a distributable zip with a SHA-256 manifest (and import it back).

The zip holds ``<name>/dataset.json``, ``<name>/plans.json``, ``<name>/competence.json`` and
``<name>/postprocessing.json`` (where the folder has them) and ``<name>/fold_N/checkpoint_final.pth``
with the optimizer, grad-scaler and logging state stripped (inference needs only the weights, the
trainer name, the configuration and the mirroring axes), the folder's localizer (``<name>/localizer/``, its
``dataset.json``, ``plans.json`` and stripped checkpoints) where it has one, plus ``manifest.json`` listing every
member's SHA-256. ``<zip>.sha256`` beside it holds the zip's own SHA-256 (``sha256sum`` format).
Importing is :func:`PancreasMultiTaskLib.engine.model_zip.import_model_zip`; :func:`place_exported_folds` puts an
exported model's folds back in a training folder, for their validation and what follows it without training again.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PancreasMultiTaskLib.engine.competence import COMPETENCE_FILE, read_record
from PancreasMultiTaskLib.engine.io import atomic_path
from PancreasMultiTaskLib.engine.model_zip import MANIFEST_FORMAT, import_model_zip, sha256_file
from PancreasMultiTaskLib.engine.postprocessing import POSTPROCESSING_FILE, label_values, read_postprocessing
from PancreasMultiTaskLib.engine.store_layout import LOCALIZER_FOLDER, MANIFEST, ModelInstallError, check_model_name

#: Every member's time stamp: the zip's bytes, and so its SHA-256, depend on the model alone, not on when it was
#: exported (a reproducible zip; ``demo-model`` reruns reuse what was evaluated with the same model, ``resume.py``).
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
KEEP = ("network_weights", "trainer_name", "inference_allowed_mirroring_axes", "current_epoch")
#: Numpy types nnU-Net's own checkpoints may hold in their logs; allowed when reading a checkpoint to strip.
_NUMPY_GLOBALS = [np._core.multiarray.scalar, np.dtype, *(type(np.dtype(t)) for t in ("f4", "f8", "i8", "i4"))]


def load_training_checkpoint(path: str | Path) -> dict:
    """Read an nnU-Net checkpoint with ``weights_only=True`` (tensors, plain types, numpy scalars only)."""
    with torch.serialization.safe_globals(_NUMPY_GLOBALS):
        return torch.load(path, map_location="cpu", weights_only=True)


def strip_checkpoint(checkpoint: dict) -> dict:
    """What inference needs: weights, trainer name, configuration and mirroring axes (plain types only)."""
    stripped = {k: checkpoint[k] for k in KEEP if k in checkpoint}
    init_args = checkpoint.get("init_args", {})
    stripped["init_args"] = {k: init_args[k] for k in ("configuration", "fold") if k in init_args}
    axes = stripped.get("inference_allowed_mirroring_axes")
    if axes is not None:
        stripped["inference_allowed_mirroring_axes"] = tuple(int(a) for a in axes)
    return stripped


def model_members(
    folder: Path, prefix: str, folds: Sequence[str] | None = None, checkpoint_name: str = "checkpoint_final.pth"
) -> tuple[dict[str, bytes], list[str]]:
    """A model folder's zip members under ``prefix``: ``dataset.json``, ``plans.json`` and each fold's stripped
    checkpoint (as ``checkpoint_final.pth``), and the folds taken (default: every fold with the checkpoint)."""
    for required in ("dataset.json", "plans.json"):
        if not (folder / required).is_file():
            raise ModelInstallError(f"{folder}: no {required}; not an nnU-Net model folder")
    available = sorted(p.name[len("fold_") :] for p in folder.glob("fold_*") if (p / checkpoint_name).is_file())
    folds = list(folds) if folds is not None else available
    missing = sorted(set(folds) - set(available))
    if not folds or missing:
        raise ModelInstallError(f"{folder}: no {checkpoint_name} for fold(s) {missing or 'any'}")
    members = {f"{prefix}/{file}": (folder / file).read_bytes() for file in ("dataset.json", "plans.json")}
    for fold in folds:
        buffer = io.BytesIO()
        torch.save(strip_checkpoint(load_training_checkpoint(folder / f"fold_{fold}" / checkpoint_name)), buffer)
        members[f"{prefix}/fold_{fold}/checkpoint_final.pth"] = buffer.getvalue()
    return members, folds


def export_model(
    model_folder: str | Path,
    output_zip: str | Path,
    name: str | None = None,
    folds: Sequence[str] | None = None,
    checkpoint_name: str = "checkpoint_final.pth",
    extra_files: Sequence[str] = (),
) -> Path:
    """Write ``output_zip`` (+ ``.sha256``) from a trained model folder; returns the zip path."""
    model_folder, output_zip = Path(model_folder), Path(output_zip)
    name = check_model_name(name or output_zip.name.removesuffix(".zip"))  # the importer's rule, so it imports
    members, folds = model_members(model_folder, name, folds, checkpoint_name)
    if (model_folder / COMPETENCE_FILE).is_file():  # the model's limits travel with it
        read_record(model_folder / COMPETENCE_FILE)
        members[f"{name}/{COMPETENCE_FILE}"] = (model_folder / COMPETENCE_FILE).read_bytes()
    if (model_folder / POSTPROCESSING_FILE).is_file():  # nnU-Net's postprocessing chosen on its cross-validation
        dataset = json.loads((model_folder / "dataset.json").read_text(encoding="utf-8"))
        read_postprocessing(model_folder / POSTPROCESSING_FILE, label_values(dataset["labels"]))
        members[f"{name}/{POSTPROCESSING_FILE}"] = (model_folder / POSTPROCESSING_FILE).read_bytes()
    for extra in extra_files:
        if Path(extra).is_absolute() or ".." in Path(extra).parts:
            raise ModelInstallError(f"{model_folder}: extra file {extra!r} must lie inside the model folder")
        members[f"{name}/{Path(extra).as_posix()}"] = (model_folder / extra).read_bytes()
    if (model_folder / LOCALIZER_FOLDER).is_dir():  # the localizer travels with the model it finds the gland for
        members.update(model_members(model_folder / LOCALIZER_FOLDER, f"{name}/{LOCALIZER_FOLDER}")[0])
    manifest = {
        "format": MANIFEST_FORMAT,
        "version": 1,
        "name": name,
        "folds": folds,
        "files": {member: hashlib.sha256(data).hexdigest() for member, data in members.items()},
    }
    with (
        atomic_path(output_zip) as tmp,
        zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive,
    ):
        for member, data in {MANIFEST: (json.dumps(manifest, indent=2) + "\n").encode(), **members}.items():
            info = zipfile.ZipInfo(member, date_time=ZIP_TIME)
            info.external_attr = 0o644 << 16  # rw-r--r-- where unzipped by hand
            archive.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    sidecar = output_zip.with_name(output_zip.name + ".sha256")
    with atomic_path(sidecar) as tmp:
        tmp.write_text(f"{sha256_file(output_zip)}  {output_zip.name}\n", encoding="utf-8")
    return output_zip


def _same_json(path: Path, expected: Path) -> bool:
    return json.loads(path.read_text(encoding="utf-8")) == json.loads(expected.read_text(encoding="utf-8"))


def place_exported_folds(
    zip_path: str | Path,
    training_folder: str | Path,
    staging: str | Path,
    plans: Path,
    dataset: Path,
    folds: Sequence[str],
) -> Path:
    """Put the ``folds`` (and the localizer) of an exported model zip in ``training_folder`` as a training's own;
    returns the zip as installed in ``staging`` (verified against its ``.sha256``, as every import is).

    The weights belong to one network and one label set, so the zip's ``plans.json`` and ``dataset.json`` must be
    ``plans`` and ``dataset``, those the dataset was planned and converted with here. What the training folder holds
    already is kept when it is the zip's and refused otherwise: nothing there is overwritten.
    """
    training_folder = Path(training_folder)
    installed = import_model_zip(zip_path, staging, overwrite=True)
    for name, expected in (("plans.json", plans), ("dataset.json", dataset)):
        if not _same_json(installed / name, expected):
            raise ModelInstallError(
                f"{zip_path}: its {name} is not {expected}; its weights belong to another network or label set than"
                " the one prepared here"
            )
    missing = [fold for fold in folds if not (installed / f"fold_{fold}" / "checkpoint_final.pth").is_file()]
    if missing:
        held = ", ".join(sorted(f.name for f in installed.glob("fold_*")))
        raise ModelInstallError(f"{zip_path}: no fold {', '.join(missing)} (it holds {held})")
    files = ["plans.json", "dataset.json", *(f"fold_{fold}/checkpoint_final.pth" for fold in folds)]
    differ = [
        name
        for name in files
        if (training_folder / name).is_file()
        and (training_folder / name).read_bytes() != (installed / name).read_bytes()
    ]
    if differ:
        raise ModelInstallError(
            f"{training_folder}: holds {', '.join(differ)} unlike {zip_path}'s; move that training away or use another"
            " folder"
        )
    for name in files:
        if not (training_folder / name).is_file():
            (training_folder / name).parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(training_folder / name) as tmp:
                shutil.copyfile(installed / name, tmp)
    if (installed / LOCALIZER_FOLDER).is_dir() and not (training_folder / LOCALIZER_FOLDER).exists():
        partial = training_folder / f".{LOCALIZER_FOLDER}-placing"
        shutil.rmtree(partial, ignore_errors=True)
        shutil.copytree(installed / LOCALIZER_FOLDER, partial)
        partial.rename(training_folder / LOCALIZER_FOLDER)
    return installed
