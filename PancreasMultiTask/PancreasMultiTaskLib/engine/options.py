"""Every prediction option, declared once: name, type, choices, default, help, and where it applies.

The ``pancreas-mt predict`` parser, the batch script's parser, the Slicer runner's argv, the Slicer
parameter node and :class:`PredictionOptions` are all generated from :data:`OPTIONS`, so a default or a
choice cannot drift between them. Torch-free, so ``--help`` and the Slicer panel load fast.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: Where an option is offered: the ``pancreas-mt predict`` CLI, the batch script, the Slicer panel.
CLI, BATCH, SLICER = "cli", "batch", "slicer"
FRONT_ENDS = (CLI, BATCH, SLICER)

DEVICES = ("auto", "cpu", "cuda", "mps")
POOLING_METHODS = ("lesion-weighted", "uniform")
#: ``guided``: one patch-size tile per slice centred on the predicted lesion (the gland when a slice has
#: none); ``tiles``: the mean over the sliding window's tiles (the paper). Default chosen on held-out phantoms.
CLASSIFICATION_MODES = ("guided", "tiles")
PRECISIONS = ("auto", "float32", "bfloat16")
BACKENDS = ("auto", "torch", "openvino", "onnxruntime")
CHECKPOINTS = ("final", "best")
#: ``--roi`` words besides a box.
ROI_MODES = ("full", "auto")


@dataclass(frozen=True)
class Option:
    """One user option.

    ``name`` is the Python name (``PredictionOptions`` field, argparse dest); ``flag`` the command-line
    flag; ``slicer`` the parameter node's name (camelCase, as Slicer's template). ``engine`` options are
    fields of :class:`PredictionOptions`; the others steer the run (which model, which DICOM series).
    A ``bool`` whose default is ``True`` is switched off by its flag (``--no-tta``).
    """

    name: str
    kind: type
    default: Any
    help: str
    flag: str = ""
    choices: tuple[Any, ...] | None = None
    applies: tuple[str, ...] = FRONT_ENDS
    engine: bool = True
    many: bool = False  # a list of values (``--folds 0 1``)
    metavar: str | None = None
    advanced: bool = True  # in the panel's collapsed "Advanced" section
    label: str = ""  # the panel's label

    @property
    def cli_flag(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")

    @property
    def slicer_name(self) -> str:
        head, *rest = self.name.split("_")
        return head + "".join(word.capitalize() for word in rest)

    def check(self, value: Any) -> None:
        """A clear ``ValueError`` naming the option when ``value`` is not one of its choices."""
        if value is None or self.choices is None:
            return
        if value not in self.choices and not (self.name == "device" and str(value).startswith("cuda:")):
            raise ValueError(f"{self.name} must be one of {', '.join(map(str, self.choices))}; got {value!r}")


OPTIONS: tuple[Option, ...] = (
    Option(
        "model",
        str,
        None,
        "model folder <Trainer>__<Plans>__2d, the name of an installed model (pancreas-mt models list), or a "
        "model zip to verify and install (default: $PANCREAS_MT_MODEL, else the bundled demo model)",
        flag="--model",
        engine=False,
        metavar="MODEL",
        advanced=False,
        label="Model",
    ),
    Option(
        "device",
        str,
        "auto",
        "auto: CUDA, else Apple MPS, else the CPU",
        choices=DEVICES,
        advanced=False,
        label="Device",
    ),
    Option(
        "folds",
        str,
        None,
        "folds to ensemble, e.g. 0 1 2 or 0,1,2 (default: all present)",
        many=True,
        metavar="FOLD",
        label="Folds",
    ),
    Option(
        "use_mirroring",
        bool,
        True,
        "no mirroring test-time augmentation (default: mirror)",
        flag="--no-tta",
        label="Test-time mirroring",
    ),
    Option(
        "fast",
        bool,
        False,
        "the fast preset: the first fold only (of --folds, else of those present) and no test-time mirroring, "
        "neither of the sliding window nor of the guided tiles; faster, a little less accurate (result.json "
        "records it)",
        label="Fast (one fold, no mirroring)",
    ),
    Option(
        "classification",
        str,
        "guided",
        "where a slice's subtype probabilities come from: guided, one tile centred on the predicted lesion; "
        "tiles, the mean over all sliding-window tiles as in the paper",
        choices=CLASSIFICATION_MODES,
        label="Classification",
    ),
    Option(
        "pooling",
        str,
        "lesion-weighted",
        "how slices are pooled into the case's subtype: weighted by the lesion the segmentation sees, or every "
        "slice alike as in the paper",
        choices=POOLING_METHODS,
        label="Slice pooling",
    ),
    Option(
        "precision",
        str,
        "auto",
        "the network's arithmetic; auto: float16 on CUDA, bfloat16 on CPUs with bfloat16 units for a model whose "
        "competence.json records a passed bfloat16 check, else float32 as nnU-Net",
        choices=PRECISIONS,
        label="Precision",
    ),
    Option(
        "backend",
        str,
        "auto",
        "auto: on the CPU OpenVINO, else ONNX Runtime, when installed; otherwise PyTorch",
        choices=BACKENDS,
        label="Backend",
    ),
    Option(
        "checkpoint",
        str,
        "final",
        "which checkpoint of each fold: checkpoint_final.pth or checkpoint_best.pth",
        choices=CHECKPOINTS,
        label="Checkpoint",
    ),
    Option(
        "save_probabilities",
        bool,
        False,
        "also write lesion_probability.nii.gz",
        advanced=False,
        label="Save lesion probability",
    ),
    Option(
        "orientation",
        str,
        None,
        'bring inputs to this orientation (e.g. LPS) before predicting, overriding dataset.json\'s "orientation" '
        "(default: dataset.json's; a model without it runs on the array as stored, as nnU-Net does)",
        applies=(CLI, BATCH),
        metavar="CODE",
    ),
    Option(
        "batch_size",
        int,
        None,
        "network samples per forward pass, at least 1 (default: chosen from free memory)",
        applies=(CLI, BATCH),
        metavar="N",
    ),
    Option(
        "series",
        str,
        None,
        "DICOM SeriesInstanceUID to use (default: CT first, then most slices)",
        applies=(CLI, BATCH),
        engine=False,
        metavar="UID",
    ),
    Option(
        "roi",
        str,
        "auto",
        "where to predict: auto, the body (air and the CT table cut away), then the box of the gland the model's "
        "localizer finds, where it has one; full, the whole volume; or a box X0 Y0 Z0 X1 Y1 Z1 in physical LPS mm, "
        "as 6 numbers or --roi=x0,y0,z0,x1,y1,z1 (default: auto)",
        applies=(CLI, BATCH),
        many=True,
        metavar="full|auto|X0 Y0 Z0 X1 Y1 Z1",
    ),
    Option(
        "roi_ras",
        float,
        None,
        "a box in RAS millimetres, as Slicer displays coordinates: X0 Y0 Z0 X1 Y1 Z1 or --roi-ras=x0,...",
        applies=(CLI, BATCH),
        many=True,
        metavar="X0 Y0 Z0 X1 Y1 Z1",
    ),
    Option(
        "roi_mask",
        str,
        None,
        "predict inside the box of a mask from another tool (e.g. TotalSegmentator's pancreas), plus --roi-margin",
        applies=(CLI, BATCH),
        metavar="FILE",
    ),
    Option(
        "roi_label",
        int,
        None,
        "the --roi-mask label to use (default: every non-zero voxel)",
        applies=(CLI, BATCH),
        metavar="N",
    ),
    Option(
        "roi_margin",
        float,
        10.0,
        "millimetres added around the --roi-mask box",
        applies=(CLI, BATCH),
        metavar="MM",
    ),
    # Engine-only settings: used by benchmarks, evaluation and tests, offered by no front end.
    Option("tile_step_size", float, 0.5, "sliding-window step as a fraction of the patch", applies=()),
    Option("num_threads", int, None, "CPU threads (default: all cores)", applies=()),
    Option(
        "classification_mirroring",
        bool,
        None,
        "mirroring of the guided tiles (one a slice, so cheap); None: as use_mirroring",
        applies=(),
    ),
    Option(
        "slab_slices",
        int,
        16,
        "slices handled at once after the sliding window (export, slice maps): bounds a whole CT's peak memory",
        applies=(),
    ),
)

BY_NAME: dict[str, Option] = {option.name: option for option in OPTIONS}


def options_for(front_end: str) -> list[Option]:
    """The options a front end offers, in declaration order."""
    return [option for option in OPTIONS if front_end in option.applies]


def default(name: str) -> Any:
    return BY_NAME[name].default


# --------------------------------------------------------------------------------------------------
class _Checked:
    """Checks every declared choice, the ROI's six numbers and a positive batch size when built."""

    def __post_init__(self) -> None:
        for item in dataclasses.fields(self):  # type: ignore[arg-type]
            BY_NAME[item.name].check(getattr(self, item.name))
        roi = getattr(self, "roi", None)
        if isinstance(roi, str) and roi not in ROI_MODES:
            raise ValueError(f"roi must be {' or '.join(ROI_MODES)} or 6 numbers (x0 y0 z0 x1 y1 z1), got {roi!r}")
        for name in ("roi", "roi_ras"):
            box = getattr(self, name, None)
            if box is not None and not isinstance(box, str) and len(box) != 6:
                raise ValueError(f"{name} needs 6 numbers (x0 y0 z0 x1 y1 z1), got {len(box)}")
        for name in ("batch_size", "slab_slices"):
            count = getattr(self, name, None)
            if count is not None and count < 1:
                raise ValueError(f"{name} must be at least 1, got {count}")

    @property
    def mirroring(self) -> bool:
        """Whether the sliding window mirrors: as asked, and never under the fast preset."""
        return bool(self.use_mirroring) and not self.fast  # type: ignore[attr-defined]

    @property
    def tile_mirroring(self) -> bool | None:
        """Whether the guided tiles mirror (``None``: as the sliding window); never under the fast preset."""
        return False if self.fast else self.classification_mirroring  # type: ignore[attr-defined]

    @property
    def checkpoint_name(self) -> str:
        """The checkpoint file of each fold (nnU-Net's names)."""
        return f"checkpoint_{self.checkpoint}.pth"  # type: ignore[attr-defined]


def _annotation(option: Option) -> Any:
    kind = Sequence[option.kind] if option.many else option.kind
    return kind | None if option.default is None else kind


PredictionOptions = dataclasses.make_dataclass(
    "PredictionOptions",
    [
        (option.name, _annotation(option), dataclasses.field(default=option.default))
        for option in OPTIONS
        if option.engine
    ],
    bases=(_Checked,),
    namespace={"__doc__": "How to predict: the engine options of :data:`OPTIONS` (``roi`` in LPS millimetres)."},
)
PredictionOptions.__module__ = __name__  # make_dataclass's ``module`` argument needs Python 3.12


# --------------------------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser, front_end: str) -> None:
    """Add the front end's options to an argparse parser (help texts say the default)."""
    for option in options_for(front_end):
        kwargs: dict[str, Any] = {"dest": option.name}
        help_text = option.help
        if option.kind is bool:
            kwargs["action"] = "store_false" if option.default else "store_true"
            if "(default" not in help_text:
                help_text += " (default: off)" if not option.default else ""
        else:
            if option.many:
                kwargs["nargs"] = "+"
                kwargs["type"] = str  # ROI and folds also take comma-separated words: parsed by parse_values
            elif option.kind is not str:
                kwargs["type"] = option.kind
            if option.choices is not None:
                kwargs["choices"] = option.choices
            if option.metavar:
                kwargs["metavar"] = option.metavar
            kwargs["default"] = option.default
            if "(default" not in help_text:
                help_text += " (default: %(default)s)"
        flags = [option.cli_flag] + (["-m"] if option.name == "model" else [])
        parser.add_argument(*flags, help=help_text, **kwargs)


def _words(values: Iterable[str]) -> list[str]:
    return [word for value in values for word in str(value).replace(",", " ").split()]


def parse_values(namespace: argparse.Namespace | Mapping[str, Any], front_end: str) -> dict[str, Any]:
    """The front end's option values from a parsed namespace, lists split on commas and checked."""
    source = vars(namespace) if isinstance(namespace, argparse.Namespace) else dict(namespace)
    values: dict[str, Any] = {}
    for option in options_for(front_end):
        value = source.get(option.name, option.default)
        if option.many and value is not None:
            words = _words(value if isinstance(value, list | tuple) else [value])
            if option.name == "roi" and len(words) == 1 and words[0] in ROI_MODES:
                value = words[0]
            elif option.kind is float or option.name == "roi":
                try:
                    value = [float(w) for w in words]
                except ValueError as error:
                    raise ValueError(f"{option.cli_flag}: not a number ({error})") from error
                if len(value) != 6:
                    raise ValueError(f"{option.cli_flag} needs 6 numbers x0 y0 z0 x1 y1 z1, got {len(value)}")
            else:
                value = words or None
        if option.name == "batch_size" and value is not None and value < 1:
            raise ValueError(f"--batch-size must be at least 1, got {value}")
        option.check(value)
        values[option.name] = value
    return values


def prediction_options(values: Mapping[str, Any], **engine_only: Any) -> Any:
    """:class:`PredictionOptions` from option values (non-engine ones such as ``model`` are left out)."""
    fields = {name: value for name, value in values.items() if name in BY_NAME and BY_NAME[name].engine}
    return PredictionOptions(**fields, **engine_only)


def to_argv(values: Mapping[str, Any]) -> list[str]:
    """``pancreas-mt predict`` arguments for option values; a value equal to its default is left out.

    Values go as one ``--flag=value`` word where a value could start with ``-`` (ROI numbers).
    """
    argv: list[str] = []
    for name, value in values.items():
        option = BY_NAME[name]
        if CLI not in option.applies:
            raise ValueError(f"{name} is not an option of pancreas-mt predict")
        if value is None or value == option.default or (option.many and not value):
            continue
        option.check(value)
        if option.kind is bool:
            argv.append(option.cli_flag)
        elif option.name == "roi" and isinstance(value, str):
            argv.append(f"{option.cli_flag}={value}")
        elif option.many and option.name in ("roi", "roi_ras"):
            argv.append(option.cli_flag + "=" + ",".join(repr(float(v)) for v in value))
        elif option.many:
            argv += [option.cli_flag, *[str(v) for v in value]]
        else:
            argv.append(f"{option.cli_flag}={value}")
    return argv


def slicer_parameters() -> list[tuple[str, Option]]:
    """The Slicer parameter node's (name, option) pairs: what the panel offers, in order."""
    return [(option.slicer_name, option) for option in options_for(SLICER)]


def slicer_value(option: Option, value: Any) -> Any:
    """A parameter node value as an option value: folds typed as "0, 1" become a list."""
    if option.many:
        return _words([value]) if value else None
    return value
