"""Check an untrusted ``plans.json`` before anything it names is built or called.

Every class name is resolved without importing anything new (only modules already loaded are
walked) and the resolved object is compared by identity with an explicit allow-list: the network
classes this engine knows, and the ``torch.nn`` convolution, normalization, dropout and
non-linearity classes nnU-Net's planners write. Their ``*_kwargs`` must be plain JSON values and
keys the class takes. Sizes are bounded before any memory is allocated. Every refusal is a
``ValueError`` subclass raised by the caller's ``error`` type, naming ``plans.json`` and the field.
"""

from __future__ import annotations

import inspect
import math
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import dynamic_network_architectures.architectures.unet as dna_unet
import dynamic_network_architectures.building_blocks.residual as dna_residual
from torch import nn

from .network import MultiTaskResEncUNet

#: Network classes a plans file may name, compared by identity after resolving the name.
ALLOWED_NETWORK_CLASSES: frozenset[type] = frozenset(
    {MultiTaskResEncUNet, dna_unet.PlainConvUNet, dna_unet.ResidualEncoderUNet}
)
#: Names of allowed classes that earlier releases wrote into plans.json (the network lived in
#: ``PancreasMultiTaskLib/network.py`` before the Lib was split into engine/, cli/ and slicer/).
LEGACY_NAMES: dict[str, type] = {"PancreasMultiTaskLib.network.MultiTaskResEncUNet": MultiTaskResEncUNet}
#: For each ``_kw_requires_import`` key, the classes it may resolve to (identity); ``None`` is also allowed.
ALLOWED_IMPORTS: dict[str, frozenset[type]] = {
    "conv_op": frozenset({nn.Conv1d, nn.Conv2d, nn.Conv3d}),
    "norm_op": frozenset(
        {nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d, nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d}
    ),
    "dropout_op": frozenset({nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d}),
    "nonlin": frozenset({nn.LeakyReLU, nn.ReLU, nn.PReLU, nn.ELU, nn.GELU, nn.SiLU}),
    "block": frozenset({dna_residual.BasicBlockD, dna_residual.BottleneckD}),
}
#: The ``*_kwargs`` argument that belongs to each imported class.
KWARGS_OF = {"norm_op": "norm_op_kwargs", "dropout_op": "dropout_op_kwargs", "nonlin": "nonlin_kwargs"}
#: Names nnU-Net itself resolves inside its own package (preprocessing); only these are accepted.
ALLOWED_PREPROCESSORS = frozenset({"DefaultPreprocessor"})
ALLOWED_RESAMPLING = frozenset({"resample_data_or_seg_to_shape", "resample_torch_fornnunet"})
ALLOWED_NORMALIZATION = frozenset(
    {"CTNormalization", "ZScoreNormalization", "NoNormalization", "RescaleTo01Normalization", "RGBTo01Normalization"}
)
ALLOWED_LABEL_MANAGERS = frozenset({"LabelManager"})
#: Set by the engine, never by plans.json.
RESERVED_ARGUMENTS = frozenset({"input_channels", "num_classes", "deep_supervision"})

#: Sanity limits, checked before anything is allocated.
MAX_STAGES = 10
MAX_FEATURES = 2048
MAX_KERNEL, MAX_STRIDE, MAX_BLOCKS = 9, 4, 16
MIN_PATCH, MAX_PATCH = 4, 2048
MIN_SPACING, MAX_SPACING = 0.1, 20.0  # mm; below 0.1 mm a CT slice resamples to tens of thousands of voxels
MAX_LABELS = 255  # the output is uint8
MAX_SUBTYPES = 64
MAX_NAME = 64  # characters of a subtype name (a column of summary.csv, a bar of the chart)
#: ``*_kwargs`` keys that would put tensors on another device or in another type than the engine chose.
FORBIDDEN_KWARGS = frozenset({"device", "dtype"})

_DOTTED = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$")
_PLAIN = (str, int, float, bool, type(None))

Error = Callable[[str], Exception]


def resolve(name: str) -> object | None:
    """The object a dotted name points to, walking only modules already imported (never importing).

    Returns ``None`` if the name is malformed, has a private part or cannot be found.
    """
    if not isinstance(name, str) or not _DOTTED.match(name):
        return None
    if name in LEGACY_NAMES:
        return LEGACY_NAMES[name]
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        module = sys.modules.get(".".join(parts[:cut]))
        if module is not None:
            break
    else:
        return None
    obj: object = module
    for part in parts[cut:]:
        try:
            obj = inspect.getattr_static(obj, part)
        except AttributeError:
            return None
    return obj


def is_plain(value: Any) -> bool:
    """A JSON scalar, or a list of plain values (no objects, no dicts)."""
    if isinstance(value, list | tuple):
        return all(is_plain(v) for v in value)
    return isinstance(value, _PLAIN) and not (isinstance(value, float) and not math.isfinite(value))


def accepted_arguments(cls: type) -> tuple[set[str], bool]:
    """Keyword names a class's ``__init__`` takes along its MRO, and whether it ends the chain in ``**kwargs``."""
    names: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        parameters = inspect.signature(init).parameters.values()
        names |= {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        if not any(p.kind is p.VAR_KEYWORD for p in parameters):
            return names - {"self"}, False
    return names - {"self"}, True


def _int_list(value: Any, length: int, low: int, high: int, field: str, error: Error, source: Path) -> list:
    if not isinstance(value, list) or len(value) != length:
        raise error(f"{source}: {field} must be a list of {length} entries, got {value!r}"[:300])
    for item in value:
        entries = item if isinstance(item, list) else [item]
        if not entries or not all(type(v) is int and low <= v <= high for v in entries):
            raise error(f"{source}: {field} entries must be integers in {low}..{high}, got {item!r}"[:300])
    return value


def check_network(arch: dict, patch_size: Sequence[int], error: Error, source: Path) -> tuple[type, dict[str, Any]]:
    """The allowed network class and its keyword arguments with imports resolved, or ``error``."""
    if not isinstance(arch, dict):
        raise error(f"{source}: 'architecture' must be an object")
    class_name = arch.get("network_class_name")
    cls = resolve(class_name)
    if cls not in ALLOWED_NETWORK_CLASSES:
        allowed = sorted(f"{c.__module__}.{c.__qualname__}" for c in ALLOWED_NETWORK_CLASSES)
        raise error(
            f"{source}: network_class_name {class_name!r} is not a known network (allowed: {', '.join(allowed)})"[:500]
        )
    kwargs = arch.get("arch_kwargs")
    imports = arch.get("_kw_requires_import", [])
    if not isinstance(kwargs, dict):
        raise error(f"{source}: arch_kwargs must be an object")
    if not isinstance(imports, list) or not all(isinstance(k, str) for k in imports):
        raise error(f"{source}: _kw_requires_import must be a list of argument names")
    taken, open_ended = accepted_arguments(cls)
    resolved: dict[str, Any] = {}
    for key, value in kwargs.items():
        if key in RESERVED_ARGUMENTS or (key not in taken and not open_ended):
            raise error(f"{source}: arch_kwargs.{key} is not an argument of {cls.__name__}")
        if key in imports:
            if key not in ALLOWED_IMPORTS:
                raise error(f"{source}: arch_kwargs.{key} may not name a class to import")
            target = None if value is None else resolve(value)
            if value is not None and target not in ALLOWED_IMPORTS[key]:
                raise error(f"{source}: arch_kwargs.{key} = {value!r} is not an allowed class"[:300])
            resolved[key] = target
        elif key.endswith("_kwargs"):
            if value is not None and not (isinstance(value, dict) and all(is_plain(v) for v in value.values())):
                raise error(f"{source}: arch_kwargs.{key} must map names to plain JSON values")
            if value and FORBIDDEN_KWARGS & set(value):
                raise error(f"{source}: arch_kwargs.{key} may not set {sorted(FORBIDDEN_KWARGS & set(value))}")
            resolved[key] = dict(value) if value is not None else None
        elif not is_plain(value):
            raise error(f"{source}: arch_kwargs.{key} must be a plain JSON value (number, string, list)")
        else:
            resolved[key] = value
    for key in imports:
        if key not in kwargs:
            raise error(f"{source}: _kw_requires_import names {key!r}, which arch_kwargs does not set")
    for op, kwargs_key in KWARGS_OF.items():
        options = resolved.get(kwargs_key)
        if not options:
            continue
        if resolved.get(op) is None:
            raise error(f"{source}: arch_kwargs.{kwargs_key} is set but {op} is not")
        takes, _ = accepted_arguments(resolved[op])
        unknown = sorted(set(options) - takes)
        if unknown:
            raise error(f"{source}: arch_kwargs.{kwargs_key} has {unknown}, not arguments of {resolved[op].__name__}")
    _check_sizes(resolved, patch_size, error, source)
    return cls, resolved


def _check_sizes(kwargs: dict[str, Any], patch_size: Sequence[int], error: Error, source: Path) -> None:
    n_stages = kwargs.get("n_stages")
    if type(n_stages) is not int or not 1 <= n_stages <= MAX_STAGES:
        raise error(f"{source}: arch_kwargs.n_stages must be an integer in 1..{MAX_STAGES}, got {n_stages!r}")
    dims = len(patch_size)
    features = kwargs.get("features_per_stage")
    if type(features) is int:
        features = [features] * n_stages
    _int_list(features, n_stages, 1, MAX_FEATURES, "arch_kwargs.features_per_stage", error, source)
    for key, high in (("kernel_sizes", MAX_KERNEL), ("strides", MAX_STRIDE)):
        value = kwargs.get(key)
        value = [value] * n_stages if type(value) is int else value
        _int_list(value, n_stages, 1, high, f"arch_kwargs.{key}", error, source)
        if any(isinstance(v, list) and len(v) != dims for v in value):
            raise error(f"{source}: arch_kwargs.{key} entries must have {dims} values (the patch's axes)")
    blocks = "n_blocks_per_stage" if "n_blocks_per_stage" in kwargs else "n_conv_per_stage"
    for key, length in ((blocks, n_stages), ("n_conv_per_stage_decoder", n_stages - 1)):
        value = kwargs.get(key)
        value = [value] * length if type(value) is int else value
        _int_list(value, length, 1, MAX_BLOCKS, f"arch_kwargs.{key}", error, source)
    for key in ("bottleneck_channels", "stem_channels"):
        value = kwargs.get(key)
        if value is not None and not all(type(v) is int and 1 <= v <= MAX_FEATURES for v in _as_list(value)):
            raise error(f"{source}: arch_kwargs.{key} entries must be integers in 1..{MAX_FEATURES}")
    if "patch_size" in kwargs and list(kwargs["patch_size"] or []) != list(patch_size):
        raise error(
            f"{source}: arch_kwargs.patch_size {kwargs['patch_size']!r} differs from patch_size {list(patch_size)}"
        )
    view = kwargs.get("classifier_view")
    if view is not None and not (
        isinstance(view, list)
        and len(view) == dims
        and all(type(v) is int and 1 <= v <= p for v, p in zip(view, patch_size, strict=True))
    ):
        raise error(
            f"{source}: arch_kwargs.classifier_view must be {dims} integers within the patch {list(patch_size)}, "
            f"got {view!r}"[:300]
        )
    subtypes = kwargs.get("num_subtypes")
    if subtypes is not None and (type(subtypes) is not int or not 2 <= subtypes <= MAX_SUBTYPES):
        raise error(f"{source}: arch_kwargs.num_subtypes must be an integer in 2..{MAX_SUBTYPES}, got {subtypes!r}")


def _as_list(value: Any) -> list:
    return list(value) if isinstance(value, list) else [value]


def check_configuration(configuration: dict, name: str, error: Error, source: Path) -> None:
    """Patch size, spacing and the names nnU-Net resolves for preprocessing, bounded and allow-listed."""
    field = f"configurations.{name}"
    patch = configuration.get("patch_size")
    if not isinstance(patch, list) or not all(type(p) is int and MIN_PATCH <= p <= MAX_PATCH for p in patch):
        raise error(f"{source}: {field}.patch_size must list integers in {MIN_PATCH}..{MAX_PATCH}, got {patch!r}"[:300])
    spacing = configuration.get("spacing")
    if (
        not isinstance(spacing, list)
        or len(spacing) != len(patch)
        or not all(type(s) in (int, float) and MIN_SPACING <= s <= MAX_SPACING for s in spacing)
    ):
        raise error(
            f"{source}: {field}.spacing must list {len(patch)} values in {MIN_SPACING}..{MAX_SPACING} mm, "
            f"got {spacing!r}"[:300]
        )
    checks = (
        ("preprocessor_name", ALLOWED_PREPROCESSORS),
        ("resampling_fn_data", ALLOWED_RESAMPLING),
        ("resampling_fn_seg", ALLOWED_RESAMPLING),
        ("resampling_fn_probabilities", ALLOWED_RESAMPLING),
    )
    for key, allowed in checks:
        if key in configuration and configuration[key] not in allowed:
            raise error(f"{source}: {field}.{key} {configuration[key]!r} is not one of {sorted(allowed)}"[:300])
        options = configuration.get(f"{key}_kwargs")
        plain = isinstance(options, dict) and all(is_plain(v) for v in options.values())
        if key.startswith("resampling") and options is not None and not plain:
            raise error(f"{source}: {field}.{key}_kwargs must map names to plain JSON values")
    schemes = configuration.get("normalization_schemes", [])
    if not isinstance(schemes, list) or not all(s in ALLOWED_NORMALIZATION for s in schemes):
        raise error(
            f"{source}: {field}.normalization_schemes {schemes!r} not all in {sorted(ALLOWED_NORMALIZATION)}"[:300]
        )


def check_plans_header(plans: dict, error: Error, source: Path) -> None:
    """Plan-level names nnU-Net resolves (the label manager) and the configurations' inheritance."""
    if plans.get("label_manager", "LabelManager") not in ALLOWED_LABEL_MANAGERS:
        raise error(
            f"{source}: label_manager {plans['label_manager']!r} is not one of {sorted(ALLOWED_LABEL_MANAGERS)}"
        )
    configurations = plans.get("configurations")
    if not isinstance(configurations, dict) or not all(isinstance(c, dict) for c in configurations.values()):
        raise error(f"{source}: 'configurations' must map names to objects")


def check_labels(dataset_json: dict, error: Error, source: Path) -> None:
    """The number of labels and subtypes, bounded."""
    labels = dataset_json.get("labels")
    if not isinstance(labels, dict) or not 2 <= len(labels) <= MAX_LABELS:
        raise error(f"{source}: 'labels' must map 2..{MAX_LABELS} names to values")
    subtypes = dataset_json.get("subtypes")
    if subtypes is not None and not (
        isinstance(subtypes, dict)
        and 2 <= len(subtypes) <= MAX_SUBTYPES
        and set(subtypes) == {str(i) for i in range(len(subtypes))}
    ):
        raise error(f"{source}: 'subtypes' must map '0'..'N-1' (2..{MAX_SUBTYPES} entries) to names")
    if subtypes is not None:
        names = list(subtypes.values())
        if not all(isinstance(n, str) and 0 < len(n.strip()) <= MAX_NAME for n in names):
            raise error(f"{source}: 'subtypes' names must be non-empty strings of at most {MAX_NAME} characters")
        if len({n.strip().casefold() for n in names}) != len(names):
            raise error(f"{source}: 'subtypes' names must differ from each other, got {names!r}"[:300])


def check_mirror_axes(axes: Any, dims: int, error: Error, source: Path) -> tuple[int, ...] | None:
    """``inference_allowed_mirroring_axes``: distinct axes of the configuration, or ``None``."""
    if axes is None:
        return None
    if not isinstance(axes, list | tuple) or not all(type(a) is int and 0 <= a < dims for a in axes):
        raise error(f"{source}: inference_allowed_mirroring_axes must list axes in 0..{dims - 1}, got {axes!r}"[:300])
    if len(set(axes)) != len(axes):
        raise error(f"{source}: inference_allowed_mirroring_axes repeats an axis: {list(axes)!r}"[:300])
    return tuple(axes)
