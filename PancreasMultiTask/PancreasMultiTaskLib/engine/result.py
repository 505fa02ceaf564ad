"""``CaseResult``: everything one prediction yields, and its versioned ``result.json``."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .io import atomic_path

SCHEMA_VERSION = "1.6"
# 1.1: source, runtime versions, per-slice index k and position, classification.
# 1.2: assessment (answered / answered-with-warnings / withheld, reasons, notice); a withheld subtype or "no lesion"
#      has predicted, probability and the probabilities empty; fold_spread null where not measured (one fold);
#      provenance.precision; timings_s per stage (check, roi, orient, nnunet_preprocess, window, classify,
#      segmentation, measure, result).
# 1.4: assessment.feature_distance and feature_limit (the image's familiarity, where the model has a reference);
#      timings_s.familiarity.
# 1.5: provenance.postprocessing (nnU-Net's postprocessing the model carries, as its labels_or_regions; null where
#      none); timings_s.postprocess.
# 1.6: assessment.lesion_p90 (the 90th percentile of the lesion probability inside the predicted lesion, where the
#      model's no-lesion rule uses it; null otherwise).


@dataclass
class Uncertainty:
    """How much to trust the subtype: spread between folds and entropy of the case probabilities."""

    #: ``None`` where not measured (a single fold has no spread).
    fold_spread: float | None
    normalized_entropy: float
    uncertain: bool
    max_fold_spread: float
    max_normalized_entropy: float
    #: With a calibrated model: the calibrated top probability below which a case is flagged uncertain.
    uncertain_below: float | None = None


@dataclass
class SliceEntry:
    """One axial slice's subtype probabilities and the weight it had in the pooling.

    ``index`` is the slice's index k along the input's own slice axis (what Slicer's slice navigation
    shows); ``position_mm`` is the physical (LPS) point at the slice's centre.
    """

    index: int
    probabilities: list[float]
    weight: float
    lesion_mass: float
    pancreas_mass: float
    position_mm: list[float] | None = None


@dataclass
class SubtypeResult:
    """The case-level subtype: pooled probabilities, per fold, per slice, and the pooling used.

    ``predicted`` and ``probability`` are ``None``, and the probabilities empty, where the answer is withheld
    or no lesion was found (``CaseResult.assessment`` says why).
    """

    names: list[str]
    predicted: str | None
    probability: float | None
    probabilities: dict[str, float]
    fold_probabilities: dict[str, dict[str, float]]
    pooling_requested: str
    pooling_used: str
    slices: list[SliceEntry]
    uncertainty: Uncertainty
    #: Which tiles the per-slice probabilities come from: ``guided`` (one tile centred on the
    #: predicted lesion) or ``tiles`` (the mean over the sliding window's tiles, as the paper).
    classification: str = "tiles"


@dataclass
class Assessment:
    """Whether the case was answered: ``answered``, ``answered-with-warnings`` or ``withheld``, with reasons.

    ``lesion_found`` is false for "no lesion found" (an outcome, not a subtype); ``notice`` is printed beside
    every verdict (a synthetic model says so).
    """

    status: str = "answered"
    reasons: list[str] = field(default_factory=list)
    lesion_found: bool = True
    notice: str | None = None
    #: How unlike the training images the case is, and the limit it was held to (``familiarity.py``).
    feature_distance: float | None = None
    feature_limit: float | None = None
    #: How sure the network is of the lesion it drew (``competence.lesion_confidence``), where the model's
    #: no-lesion rule uses it.
    lesion_p90: float | None = None

    @property
    def withheld(self) -> bool:
        return self.status == "withheld"


@dataclass
class Measurements:
    """Volumes in millilitres and the largest axial lesion diameter in millimetres."""

    pancreas_volume_ml: float
    lesion_volume_ml: float
    lesion_max_axial_diameter_mm: float


@dataclass
class Provenance:
    """What produced the result: model, folds, test-time augmentation, device, backend, precision, runtime versions.

    ``backend`` is the runtime that ran the network (torch, openvino or onnxruntime); the runtimes' versions
    have their own fields (``None`` where not installed); ``versions`` holds the other packages'.
    ``precision`` is the arithmetic the network ran in (float32, bfloat16 or float16; ``None`` in results
    written before schema 1.2).
    """

    model_name: str
    model_path: str
    configuration: str
    checkpoint: str
    folds: list[str]
    tta: bool
    device: str
    versions: dict[str, str]
    #: The region predicted in, as an LPS box in mm (``None``: the whole volume), and how it was found.
    roi: list[float] | None = None
    roi_how: str | None = None
    backend: str | None = None
    torch_version: str | None = None
    nnunetv2_version: str | None = None
    openvino_version: str | None = None
    onnxruntime_version: str | None = None
    precision: str | None = None
    #: Whether the fast preset (one fold, no mirroring) ran (``None`` in results written before schema 1.3).
    fast: bool | None = None
    #: The model's postprocessing, in order: the labels (or regions) each step kept the largest part of, as
    #: nnU-Net's ``labels_or_regions``; ``None`` where the model has none (and in results before schema 1.5).
    postprocessing: list[Any] | None = None


@dataclass
class CaseResult:
    """One case's prediction. ``subtype`` is ``None`` for a segmentation-only model."""

    case_id: str
    input_path: str
    labels: dict[str, int]
    measurements: Measurements
    provenance: Provenance
    timings_s: dict[str, float]
    subtype: SubtypeResult | None = None
    segmentation_file: str | None = None
    probabilities_file: str | None = None
    schema_version: str = SCHEMA_VERSION
    #: What was read: ``file`` (absolute path) and, for a DICOM folder, ``series_instance_uid``.
    source: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    assessment: Assessment = field(default_factory=Assessment)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CaseResult:
        version = str(data.get("schema_version", ""))
        if version.split(".")[0] != SCHEMA_VERSION.split(".")[0]:
            raise ValueError(f"result.json schema_version {version!r} is not supported (expected {SCHEMA_VERSION})")
        data = dict(data)
        subtype = data.pop("subtype", None)
        if subtype is not None:
            subtype = dict(subtype)
            subtype["slices"] = [SliceEntry(**s) for s in subtype["slices"]]
            subtype["uncertainty"] = Uncertainty(**subtype["uncertainty"])
            subtype = SubtypeResult(**subtype)
        return cls(
            **{k: v for k, v in data.items() if k not in ("measurements", "provenance", "assessment")},
            measurements=Measurements(**data["measurements"]),
            provenance=Provenance(**data["provenance"]),
            subtype=subtype,
            assessment=Assessment(**data.get("assessment", {})),  # 1.0/1.1 files had none: answered as they were
        )

    def write_json(self, path: str | Path) -> Path:
        """Write ``result.json`` atomically (temporary name, then rename); strict JSON, a NaN or Inf is an error."""
        path = Path(path)
        text = json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"  # before the file is created
        with atomic_path(path) as tmp:
            tmp.write_text(text, encoding="utf-8")
        return path

    @classmethod
    def read_json(cls, path: str | Path) -> CaseResult:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise ValueError(f"{path}: not a readable result.json ({error})") from error
        return cls.from_dict(data)

    def verdict(self) -> str:
        """One line for a person: the subtype and its probability, or why there is none; warnings and notice."""
        a = self.assessment
        notice = f" [{a.notice}]" if a.notice else ""
        if a.status == "withheld":
            return f"Subtype: withheld ({a.reasons[0] if a.reasons else 'outside the model competence'}){notice}"
        if self.subtype is None:
            return f"Segmentation only (this model has no subtype classifier).{notice}"
        if not a.lesion_found or self.subtype.predicted is None:
            return f"No lesion found{notice}"
        s = self.subtype
        flag = "uncertain" if s.uncertainty.uncertain else "confident"
        warned = f"; warning: {a.reasons[0]}" if a.status == "answered-with-warnings" and a.reasons else ""
        return f"Subtype: {s.predicted} (p = {s.probability:.2f}, {flag}){warned}{notice}"

    def withhold_subtype(self) -> None:
        """Empty the subtype's answer (predicted, probabilities, per fold, per slice); keep names and settings."""
        if self.subtype is None:
            return
        s = self.subtype
        s.predicted, s.probability = None, None
        s.probabilities, s.fold_probabilities, s.slices = {}, {}, []
