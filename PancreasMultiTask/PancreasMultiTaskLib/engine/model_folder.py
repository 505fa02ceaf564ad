"""Open, validate and safely load nnU-Net v2 model folders (``<Trainer>__<Plans>__2d/``).

Model files come from strangers: checkpoints are read with ``torch.load(weights_only=True)`` and an
explicit allow-list, must hold finite weights and must lie inside the model folder; ``plans.json``
is checked by ``plans_check`` (allow-listed classes, plain arguments, bounded sizes) before the
network is built; the optional competence record (``competence.json``) and nnU-Net's postprocessing
(``postprocessing.json``) are size-bounded, strict JSON and type-checked. Every problem is a
``ModelFolderError`` that names the file and field.
"""

from __future__ import annotations

import json
import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from . import plans_check
from .competence import COMPETENCE_FILE, CompetenceError, CompetenceRecord, derived_record, read_record
from .network import NETWORK_CLASS_NAME
from .orientation import check_code
from .plans_check import ALLOWED_IMPORTS, ALLOWED_NETWORK_CLASSES  # noqa: F401  (re-exported)
from .postprocessing import POSTPROCESSING_FILE, Postprocessing, PostprocessingError, label_values, read_postprocessing

#: What nnU-Net checkpoints pickle besides tensors and plain containers: numpy scalars in the
#: training log and the device in ``init_args``. Nothing here can run code when unpickled.
SAFE_CHECKPOINT_GLOBALS = [
    np.dtype,
    np.dtypes.Float64DType,
    np.dtypes.Float32DType,
    np.dtypes.Int64DType,
    np.dtypes.Int32DType,
    np.dtypes.BoolDType,
    np._core.multiarray.scalar,
    np._core.multiarray._reconstruct,
    np.ndarray,
    torch.device,
]


#: Largest ``dataset.json`` or ``plans.json`` parsed (nnU-Net's are kilobytes): a bigger one is refused unread.
MAX_JSON_BYTES = 4 << 20


class ModelFolderError(ValueError):
    """A model folder or checkpoint that cannot be used; the message names file and field."""


def _inside(path: Path, root: Path | None) -> None:
    """Refuse a model file that is a link leading out of its model folder."""
    if root is not None and not path.resolve().is_relative_to(root.resolve()):
        raise ModelFolderError(f"{path}: refused, a link to {path.resolve()}, outside the model folder {root}")


def _read_json(path: Path, root: Path | None = None) -> dict[str, Any]:
    if not path.is_file():
        raise ModelFolderError(f"{path}: missing (a model folder needs dataset.json and plans.json)")
    _inside(path, root)
    if path.stat().st_size > MAX_JSON_BYTES:
        raise ModelFolderError(
            f"{path}: {path.stat().st_size:,} bytes, more than the {MAX_JSON_BYTES:,} a model file may hold"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise ModelFolderError(f"{path}: not valid JSON ({error})") from error
    if not isinstance(data, dict):
        raise ModelFolderError(f"{path}: expected a JSON object")
    return data


def read_competence(folder: Path, plans: dict[str, Any], configuration: str) -> CompetenceRecord:
    """The model's competence record (untrusted: bounded, strict, every field checked); for a folder without
    one, what ``plans.json`` gives, saying what is missing."""
    path = folder / COMPETENCE_FILE
    if not path.exists() and not path.is_symlink():
        return derived_record(plans, configuration, folder / "plans.json")
    _inside(path, folder)
    try:
        return read_record(path)
    except CompetenceError as error:
        raise ModelFolderError(str(error)) from None


def read_model_postprocessing(folder: Path, dataset_json: dict[str, Any]) -> Postprocessing | None:
    """The postprocessing nnU-Net chose on the model's cross-validation (``postprocessing.json``), or ``None``."""
    path = folder / POSTPROCESSING_FILE
    if not path.exists() and not path.is_symlink():
        return None
    _inside(path, folder)
    try:
        return read_postprocessing(path, label_values(dataset_json["labels"]))
    except PostprocessingError as error:
        raise ModelFolderError(str(error)) from None


def _check_zip_crc(path: Path) -> None:
    """PyTorch does not check its zip members' CRC-32: damaged bytes inside a tensor would load as weights."""
    if not zipfile.is_zipfile(path):
        return
    with zipfile.ZipFile(path) as archive:
        bad = archive.testzip()
    if bad is not None:
        raise ValueError(f"member {bad} fails its CRC-32 check")


def load_checkpoint(path: str | Path, root: str | Path | None = None) -> dict[str, Any]:
    """Load an nnU-Net checkpoint without unpickling arbitrary objects.

    A checkpoint that carries any object outside the allow-list is refused before it can execute;
    one that cannot be read for any other reason, holds no weight tensors, holds NaN or Inf weights
    or (with ``root``) is a link leading out of the model folder is refused too.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFolderError(f"{path}: checkpoint missing")
    _inside(path, Path(root) if root is not None else None)
    if path.stat().st_size == 0:
        raise ModelFolderError(f"{path}: corrupt or not a PyTorch checkpoint (empty file)")
    try:
        _check_zip_crc(path)
        with torch.serialization.safe_globals(SAFE_CHECKPOINT_GLOBALS):
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        detail = str(error).split("\n")
        culprit = next((line.strip() for line in detail if "GLOBAL" in line or "Unsupported" in line), detail[0])
        raise ModelFolderError(
            f"{path}: refused: the checkpoint holds a pickled object that is not allowed ({culprit[:200]})"
        ) from None
    except Exception as error:  # a damaged file fails in many ways (KeyError, struct.error, ...)
        reason = (str(error).splitlines() or [type(error).__name__])[0][:200]
        raise ModelFolderError(
            f"{path}: corrupt or not a PyTorch checkpoint ({type(error).__name__}: {reason})"
        ) from None
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("network_weights"), dict):
        raise ModelFolderError(f"{path}: not an nnU-Net checkpoint (no 'network_weights' entry)")
    for key, tensor in checkpoint["network_weights"].items():
        if not isinstance(key, str) or not isinstance(tensor, torch.Tensor):
            raise ModelFolderError(f"{path}: network_weights must map names to tensors (entry {key!r})"[:300])
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise ModelFolderError(f"{path}: refused, network_weights[{key!r}] holds NaN or Inf values")
    return checkpoint


@dataclass
class ModelFolder:
    """A validated nnU-Net v2 2D model folder; weights are read per fold on demand."""

    path: Path
    dataset_json: dict[str, Any]
    plans: dict[str, Any]
    configuration: str
    folds: tuple[str, ...]
    checkpoint_name: str = "checkpoint_final.pth"
    trainer_name: str = ""
    mirror_axes: tuple[int, ...] | None = (0, 1)
    #: The model's limits (``competence.json``, checked at open time; derived from plans.json where absent).
    competence: CompetenceRecord = field(default_factory=lambda: CompetenceRecord(source="none"))
    #: nnU-Net's postprocessing chosen on the cross-validation (``postprocessing.json``); ``None``: none.
    postprocessing: Postprocessing | None = None

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def bfloat16_check_passed(self) -> bool:
        """Whether the model's own record shows that a bfloat16 check on its validation data passed."""
        return self.competence.bfloat16_check_passed

    @property
    def subtypes(self) -> list[str] | None:
        """Subtype names by class index, or ``None`` for a segmentation-only model."""
        mapping = self.dataset_json.get("subtypes")
        if not mapping:
            return None
        return [str(mapping[str(i)]) for i in range(len(mapping))]

    @property
    def is_multitask(self) -> bool:
        return self.subtypes is not None

    @property
    def orientation(self) -> str | None:
        """Orientation (SimpleITK/DICOM code) the model was trained in, inputs are brought to it; ``None``
        (no ``"orientation"`` in dataset.json, a plain nnU-Net model) runs on the array as stored, as nnU-Net does."""
        value = self.dataset_json.get("orientation")
        return str(value) if value else None

    @property
    def plans_manager(self):
        from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

        return PlansManager(self.plans)

    @property
    def configuration_manager(self):
        return self.plans_manager.get_configuration(self.configuration)

    @property
    def label_manager(self):
        return self.plans_manager.get_label_manager(self.dataset_json)

    def checkpoint_path(self, fold: str) -> Path:
        return self.path / f"fold_{fold}" / self.checkpoint_name

    def load_weights(self, fold: str) -> dict[str, torch.Tensor]:
        """The network state dict of one fold (validated against the network at open time)."""
        return load_checkpoint(self.checkpoint_path(fold), self.path)["network_weights"]

    def build_network(self) -> nn.Module:
        """The network named in ``plans.json``, without deep supervision, as nnU-Net would build it.

        Only an allow-listed class is built, with arguments checked by ``plans_check``.
        """
        plans_file = self.path / "plans.json"
        cm = self.configuration_manager
        arch = {
            "network_class_name": cm.network_arch_class_name,
            "arch_kwargs": cm.network_arch_init_kwargs,
            "_kw_requires_import": list(cm.network_arch_init_kwargs_req_import),
        }
        cls, kwargs = plans_check.check_network(arch, cm.patch_size, ModelFolderError, plans_file)
        if self.is_multitask and cls.__module__ + "." + cls.__qualname__ == NETWORK_CLASS_NAME:
            declared = kwargs.get("num_subtypes")
            if declared != len(self.subtypes):
                raise ModelFolderError(
                    f"{plans_file}: arch_kwargs.num_subtypes = {declared} but dataset.json 'subtypes' names "
                    f"{len(self.subtypes)}: plans and dataset do not belong together"
                )
        try:
            return cls(
                input_channels=len(self.dataset_json["channel_names"]),
                num_classes=self.label_manager.num_segmentation_heads,
                deep_supervision=False,
                **kwargs,
            )
        except (TypeError, ValueError, AssertionError, RuntimeError, IndexError, KeyError) as error:
            raise ModelFolderError(f"{plans_file}: cannot build the network from arch_kwargs ({error})") from error

    def load_network(self, fold: str) -> nn.Module:
        """Build the network and load one fold's weights, with a clear error if they do not fit."""
        network = self.build_network()
        self.load_into(network, fold)
        return network.eval()

    def load_into(
        self, network: nn.Module, fold: str, weights: dict[str, torch.Tensor] | None = None, assign: bool = False
    ) -> None:
        try:
            network.load_state_dict(weights if weights is not None else self.load_weights(fold), assign=assign)
        except RuntimeError as error:
            lines = [line.strip() for line in str(error).splitlines()[1:4]]
            raise ModelFolderError(
                f"{self.checkpoint_path(fold)}: weights do not fit the network in plans.json ({'; '.join(lines)})"
            ) from None


def available_folds(path: Path, checkpoint_name: str = "checkpoint_final.pth") -> list[str]:
    """Fold names (``"0"``.., ``"all"``) that have the checkpoint, in numeric order."""
    folds = [p.name[len("fold_") :] for p in path.glob("fold_*") if (p / checkpoint_name).is_file()]
    return sorted(folds, key=lambda f: (not f.isdigit(), int(f) if f.isdigit() else 0, f))


def _plans_manager():
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    return PlansManager


def _check_orientation(value: object, dataset_file: Path) -> None:
    """Refuse an ``orientation`` that is not a code such as LPS here, in our words, not later in ITK's."""
    if value in (None, ""):
        return
    try:
        check_code(value if isinstance(value, str) else repr(value))
    except ValueError as error:
        raise ModelFolderError(f"{dataset_file}: field 'orientation': {error}") from None


def _configuration_name(path: Path, checkpoint: dict[str, Any]) -> str:
    parts = path.name.split("__")
    if len(parts) == 3:
        return parts[2]
    init_args = checkpoint.get("init_args") or {}
    if "configuration" in init_args:
        return str(init_args["configuration"])
    raise ModelFolderError(f"{path}: cannot tell the configuration (folder is not named <Trainer>__<Plans>__<config>)")


def open_model_folder(
    path: str | Path,
    folds: list[str | int] | tuple[str | int, ...] | None = None,
    checkpoint_name: str = "checkpoint_final.pth",
) -> ModelFolder:
    """Open and validate a model folder; ``folds=None`` takes every fold that has the checkpoint."""
    path = Path(path)
    if not path.is_dir():
        raise ModelFolderError(f"{path}: model folder not found")
    dataset_json = _read_json(path / "dataset.json", path)
    plans = _read_json(path / "plans.json", path)
    for key in ("channel_names", "labels"):
        if key not in dataset_json:
            raise ModelFolderError(f"{path / 'dataset.json'}: field '{key}' missing")
    if not isinstance(dataset_json["channel_names"], dict):
        raise ModelFolderError(f"{path / 'dataset.json'}: 'channel_names' must map indices to names")
    plans_check.check_labels(dataset_json, ModelFolderError, path / "dataset.json")
    _check_orientation(dataset_json.get("orientation"), path / "dataset.json")
    if "configurations" not in plans:
        raise ModelFolderError(f"{path / 'plans.json'}: field 'configurations' missing")
    plans_check.check_plans_header(plans, ModelFolderError, path / "plans.json")

    present = available_folds(path, checkpoint_name)
    wanted = [str(f) for f in folds] if folds else present
    if not wanted:
        raise ModelFolderError(f"{path}: no fold_N/{checkpoint_name} found")
    for fold in wanted:
        if fold not in present:
            raise ModelFolderError(
                f"{path / f'fold_{fold}' / checkpoint_name}: fold {fold} missing "
                f"(available: {', '.join(present) or 'none'})"
            )
    first = load_checkpoint(path / f"fold_{wanted[0]}" / checkpoint_name, path)
    configuration = _configuration_name(path, first)
    if configuration not in plans["configurations"]:
        raise ModelFolderError(f"{path / 'plans.json'}: configuration {configuration!r} not in 'configurations'")
    try:
        resolved = _plans_manager()(plans).get_configuration(configuration).configuration
    except (RuntimeError, ValueError, KeyError, TypeError) as error:
        raise ModelFolderError(f"{path / 'plans.json'}: configuration {configuration!r} unusable ({error})") from error
    plans_check.check_configuration(resolved, configuration, ModelFolderError, path / "plans.json")
    mirror_axes = plans_check.check_mirror_axes(
        first.get("inference_allowed_mirroring_axes"),
        len(resolved["patch_size"]),
        ModelFolderError,
        path / f"fold_{wanted[0]}" / checkpoint_name,
    )

    model = ModelFolder(
        path=path,
        dataset_json=dataset_json,
        plans=plans,
        configuration=configuration,
        folds=tuple(wanted),
        checkpoint_name=checkpoint_name,
        trainer_name=str(first.get("trainer_name", path.name.split("__")[0])),
        mirror_axes=mirror_axes,
        competence=read_competence(path, plans, configuration),
        postprocessing=read_model_postprocessing(path, dataset_json),
    )
    patch_size = model.configuration_manager.patch_size
    if len(patch_size) != 2:
        raise ModelFolderError(
            f"{path / 'plans.json'}: configuration {configuration!r} is {len(patch_size)}D "
            f"(patch_size {list(patch_size)}); this engine runs 2D configurations"
        )
    channels = len(dataset_json["channel_names"])
    if channels != 1:
        raise ModelFolderError(
            f"{path / 'dataset.json'}: channel_names lists {channels} input channels; this engine feeds one CT volume"
        )
    # Check that the first fold's weights fit the network, so an unusable model fails here and not
    # mid-prediction. The network is built without memory (meta device) and takes the loaded tensors.
    with torch.device("meta"):
        network = model.build_network()
    model.load_into(network, wanted[0], first["network_weights"], assign=True)
    return model
