"""What a model knows its limits to be (``competence.json``), and the checks a case is held against.

A model folder made by the training package carries ``competence.json``: the spacing and image sizes seen
in training, the foreground intensities, gland and lesion volume ranges, the share of normal cases,
whether the data were synthetic, validation metrics, the fitted calibration and whether a bfloat16 check
passed. It comes from strangers like ``plans.json``: bounded in size, strict JSON, every field
type-checked and range-checked. A plain nnU-Net folder has none: what ``plans.json`` gives is derived,
and what is missing is said.

The checks run before the network (is this a CT, at a spacing the model has seen?) and after it (are
the gland and the lesion plausible for this model?). Each finding is a one-line reason; a finding that
withholds keeps the subtype from being given (the segmentation is still written).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .familiarity import Familiarity, FeatureReference, parse_references
from .result import Assessment
from .strict_json import StrictJSONError, load_strict_json

COMPETENCE_FILE = "competence.json"
#: A record is a few kB, with feature references (a fold's is 192 x 192 numbers for ResEnc M) up to a few MB;
#: refuse anything larger, which could only be an attack.
MAX_BYTES = 8 << 20
SCHEMA = 1

SYNTHETIC_NOTICE = "synthetic demo model: not for clinical images"

#: Outcomes of a case, from best to worst.
ANSWERED, WARNED, WITHHELD = "answered", "answered-with-warnings", "withheld"

# Thresholds of the checks, each named where it is used and listed in the README's table.
#: An input whose voxels are all integers with at most this many distinct values is a label map.
LABEL_MAP_MAX_VALUES = 32
#: Values a CT in Hounsfield units never holds (beyond any scanner's padding value of -3024 and metal's 3071+).
HU_FLOOR, HU_CEILING = -4000.0, 32000.0
#: A value this many times outside the trained range warns (training sets are samples: a held-out case of the
#: same kind may lie a little beyond their extremes).
RANGE_MARGIN = 1.2
#: A spacing this many times outside the trained range withholds.
SPACING_FACTOR = 2.0
#: A gland or lesion volume this many times outside the trained range withholds (gland) or warns (lesion).
VOLUME_FACTOR = 3.0


class CompetenceError(ValueError):
    """A ``competence.json`` that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class Calibration:
    """Temperature scaling of the case probabilities and the ``uncertain`` threshold fitted on validation."""

    temperature: float
    #: A case whose calibrated top probability is below this is flagged uncertain.
    uncertain_below: float
    #: The validation error rate the threshold was chosen for, and how many cases it was fitted on.
    target_error_rate: float | None = None
    cases: int | None = None


@dataclass(frozen=True)
class CompetenceRecord:
    """A model's limits. ``None`` means not known; ``missing`` names what a derived record could not give."""

    source: str
    synthetic: bool | None = None
    in_plane_spacing_mm: tuple[float, float] | None = None
    slice_spacing_mm: tuple[float, float] | None = None
    in_plane_size_voxels: tuple[int, int] | None = None
    foreground_hu: dict[str, float] | None = None
    gland_volume_ml: tuple[float, float] | None = None
    lesion_volume_ml: tuple[float, float] | None = None
    lesion_components_max: int | None = None
    normal_fraction: float | None = None
    #: A predicted lesion no larger than this (mL) is "no lesion found"; chosen on validation data.
    min_lesion_ml: float | None = None
    #: Where set, a predicted lesion is also "no lesion found" unless the 90th percentile of the network's lesion
    #: probability inside it is above this: chosen on validation data where it finds more lesions than the volume
    #: alone at the same share of normal glands (``min_lesion_ml`` is then that rule's volume floor).
    min_lesion_p90: float | None = None
    validation: dict[str, float] = field(default_factory=dict)
    calibration: Calibration | None = None
    bfloat16_check_passed: bool = False
    #: Per fold, the training tiles' early encoder features (``familiarity.py``).
    feature_references: tuple[FeatureReference, ...] = ()
    missing: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The record as ``competence.json`` holds it."""
        data = asdict(replace(self, feature_references=()))
        data.pop("source")
        data.pop("missing")
        data["feature_references"] = [r.to_json() for r in self.feature_references]
        data["bfloat16_check"] = {"passed": data.pop("bfloat16_check_passed")}
        return {"schema": SCHEMA, **data}


# ------------------------------------------------------------------------------------------------
def _number(value: Any, name: str, source: Path, low: float = -1e9, high: float = 1e9) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise CompetenceError(f"{source}: {name} must be a finite number, got {value!r}"[:300])
    if not low <= value <= high:
        raise CompetenceError(f"{source}: {name} = {value} is outside {low}..{high}")
    return float(value)


def _range(data: Mapping[str, Any], name: str, source: Path, low: float, high: float) -> tuple[float, float] | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != 2:
        raise CompetenceError(f"{source}: {name} must be [low, high], got {value!r}"[:300])
    a, b = (_number(v, name, source, low, high) for v in value)
    if a > b:
        raise CompetenceError(f"{source}: {name} low {a} is above high {b}")
    return a, b


def parse_record(data: Any, source: Path) -> CompetenceRecord:
    """A validated record from the JSON of ``competence.json``; every problem names the file and the field."""
    if not isinstance(data, dict):
        raise CompetenceError(f"{source}: expected a JSON object")
    if data.get("schema", SCHEMA) != SCHEMA:
        raise CompetenceError(f"{source}: schema {data.get('schema')!r} is not supported (expected {SCHEMA})")
    synthetic = data.get("synthetic")
    if synthetic is not None and not isinstance(synthetic, bool):
        raise CompetenceError(f"{source}: synthetic must be true or false")
    size = _range(data, "in_plane_size_voxels", source, 1, 100_000)
    foreground = data.get("foreground_hu")
    if foreground is not None:
        if not isinstance(foreground, dict) or len(foreground) > 16:
            raise CompetenceError(f"{source}: foreground_hu must be an object of at most 16 numbers")
        foreground = {str(k)[:40]: _number(v, f"foreground_hu.{k}", source) for k, v in foreground.items()}
    validation = data.get("validation") or {}
    if not isinstance(validation, dict) or len(validation) > 64:
        raise CompetenceError(f"{source}: validation must be an object of at most 64 numbers")
    validation = {str(k)[:60]: _number(v, f"validation.{k}", source) for k, v in validation.items()}
    calibration = data.get("calibration")
    if calibration is not None:
        if not isinstance(calibration, dict):
            raise CompetenceError(f"{source}: calibration must be an object")
        calibration = Calibration(
            temperature=_number(calibration.get("temperature"), "calibration.temperature", source, 0.01, 100),
            uncertain_below=_number(calibration.get("uncertain_below"), "calibration.uncertain_below", source, 0, 1),
            target_error_rate=None
            if calibration.get("target_error_rate") is None
            else _number(calibration["target_error_rate"], "calibration.target_error_rate", source, 0, 1),
            cases=None if calibration.get("cases") is None else int(_number(calibration["cases"], "cases", source, 0)),
        )
    bf16 = data.get("bfloat16_check")
    if bf16 is None:
        bf16 = {"passed": False}
    if not isinstance(bf16, dict):
        raise CompetenceError(f"{source}: 'bfloat16_check' must be an object, got {type(bf16).__name__}")
    if not isinstance(bf16.get("passed"), bool):
        raise CompetenceError(f"{source}: 'bfloat16_check.passed' must be true or false, got {bf16.get('passed')!r}")
    try:
        references = parse_references(data.get("feature_references") or [])
    except ValueError as error:
        raise CompetenceError(f"{source}: {error}") from None
    components = data.get("lesion_components_max")
    optional = {
        name: None if data.get(name) is None else _number(data[name], name, source, low, high)
        for name, low, high in (("normal_fraction", 0, 1), ("min_lesion_ml", 0, 1000), ("min_lesion_p90", 0, 1))
    }
    return CompetenceRecord(
        source=str(source),
        synthetic=synthetic,
        in_plane_spacing_mm=_range(data, "in_plane_spacing_mm", source, 0.01, 50),
        slice_spacing_mm=_range(data, "slice_spacing_mm", source, 0.01, 100),
        in_plane_size_voxels=None if size is None else (int(size[0]), int(size[1])),
        foreground_hu=foreground,
        gland_volume_ml=_range(data, "gland_volume_ml", source, 0, 1e5),
        lesion_volume_ml=_range(data, "lesion_volume_ml", source, 0, 1e5),
        lesion_components_max=None
        if components is None
        else int(_number(components, "lesion_components_max", source, 0, 1000)),
        normal_fraction=optional["normal_fraction"],
        min_lesion_ml=optional["min_lesion_ml"],
        min_lesion_p90=optional["min_lesion_p90"],
        validation=validation,
        calibration=calibration,
        bfloat16_check_passed=bf16["passed"],
        feature_references=references,
    )


def read_record(path: Path) -> CompetenceRecord:
    """Read and validate ``competence.json``: a regular file, at most ``MAX_BYTES``, strict JSON, unique keys."""
    try:
        data = load_strict_json(path, MAX_BYTES)
    except StrictJSONError as error:
        raise CompetenceError(str(error)) from None
    return parse_record(data, path)


def derived_record(plans: Mapping[str, Any], configuration: str, source: Path) -> CompetenceRecord:
    """What ``plans.json`` tells of a plain nnU-Net model's training data, and what it cannot tell."""
    spacing = plans.get("original_median_spacing_after_transp")
    in_plane = slice_ = None
    if isinstance(spacing, list) and len(spacing) == 3 and all(isinstance(s, int | float) for s in spacing):
        # Only medians are known: the trained range is taken as the median alone, so the factor decides.
        in_plane = (float(min(spacing[1:])), float(max(spacing[1:])))
        slice_ = (float(spacing[0]), float(spacing[0]))
    foreground = None
    props = (plans.get("foreground_intensity_properties_per_channel") or {}).get("0")
    if isinstance(props, dict):
        keys = ("percentile_00_5", "percentile_99_5", "median", "mean", "std")
        foreground = {k: float(props[k]) for k in keys if isinstance(props.get(k), int | float)}
    return CompetenceRecord(
        source=f"{source} (derived: the model has no {COMPETENCE_FILE})",
        in_plane_spacing_mm=in_plane,
        slice_spacing_mm=slice_,
        foreground_hu=foreground or None,
        missing=(
            "gland and lesion volume ranges",
            "lesion size for 'no lesion'",
            "calibration",
            "synthetic or not",
            "image familiarity",
        ),
    )


# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Finding:
    """One check's outcome: ``withheld`` keeps the subtype back, a warning gives it with the reason.

    ``model_independent`` findings (not a CT at all) hold for any model; the others compare with the record.
    """

    severity: str
    reason: str
    model_independent: bool = False


def check_input(array: np.ndarray, spacing_mm: Sequence[float], record: CompetenceRecord) -> list[Finding]:
    """Checks before the network: a CT in Hounsfield units, at a spacing this model has seen.

    ``array`` is the volume (any axis order); ``spacing_mm`` is (in-plane, in-plane, slice).
    """
    findings = []
    sample = array.ravel()[:: max(1, array.size // 2_000_000)]  # at most ~2M voxels: exact enough, bounded time
    if np.all(np.mod(sample, 1) == 0):
        distinct = np.unique(sample)
        if len(distinct) <= LABEL_MAP_MAX_VALUES:
            findings.append(
                Finding(
                    WITHHELD,
                    f"the input looks like a label map ({len(distinct)} distinct integer values), not a CT",
                    model_independent=True,
                )
            )
    low, high = float(sample.min()), float(sample.max())
    if low < HU_FLOOR or high > HU_CEILING:
        findings.append(
            Finding(
                WITHHELD,
                f"values {low:.0f} to {high:.0f} are not Hounsfield units (a CT lies within "
                f"{HU_FLOOR:.0f} to {HU_CEILING:.0f})",
                model_independent=True,
            )
        )
    in_plane, slice_ = max(spacing_mm[:2]), float(spacing_mm[2])
    for name, value, trained in (
        ("in-plane spacing", in_plane, record.in_plane_spacing_mm),
        ("slice spacing", slice_, record.slice_spacing_mm),
    ):
        finding = _range_finding(name, value, trained, SPACING_FACTOR, "mm", WITHHELD)
        if finding:
            findings.append(finding)
    return findings


def check_output(
    gland_ml: float,
    lesion_ml: float,
    lesion_components: int,
    gland_median_hu: float | None,
    record: CompetenceRecord,
) -> list[Finding]:
    """Checks after the network: gland and lesion plausible for this model's training data.

    ``lesion_ml``: the lesion the no-lesion rule found (0 where it found none: "no lesion found" has no volume to
    judge, so a speck below the rule's floor does not warn that it is smaller than the training lesions)."""
    findings = []
    gland = _range_finding("pancreas volume", gland_ml, record.gland_volume_ml, VOLUME_FACTOR, "mL", WITHHELD)
    if gland:
        findings.append(gland)
    if lesion_ml > 0:
        lesion = _range_finding("lesion volume", lesion_ml, record.lesion_volume_ml, VOLUME_FACTOR, "mL", WARNED)
        if lesion:
            findings.append(lesion)
    if record.lesion_components_max is not None and lesion_components > record.lesion_components_max:
        findings.append(
            Finding(
                WARNED,
                f"{lesion_components} separate lesions; training cases had at most "
                f"{record.lesion_components_max} (the subtype is pooled over all of them)",
            )
        )
    fg = record.foreground_hu or {}
    if gland_median_hu is not None and "percentile_00_5" in fg and "percentile_99_5" in fg:
        low, high = fg["percentile_00_5"], fg["percentile_99_5"]
        if not low <= gland_median_hu <= high:
            findings.append(
                Finding(
                    WITHHELD,
                    f"intensities inside the predicted pancreas (median {gland_median_hu:.0f} HU) are "
                    f"unlike the training foreground ({low:.0f} to {high:.0f} HU)",
                )
            )
    return findings


def check_familiarity(familiarity: Familiarity | None) -> list[Finding]:
    """The case's early encoder features against the training tiles' (``familiarity.py``): withheld beyond the
    limit; a warning where they could not be compared."""
    if familiarity is None:
        return []
    if familiarity.distance is not None and familiarity.limit is not None:
        if familiarity.distance > familiarity.limit:
            return [
                Finding(
                    WITHHELD,
                    f"the image is unlike the model's training images (texture distance {familiarity.distance:.3g},"
                    f" above the limit {familiarity.limit:.3g} set on its validation cases): another kind of scan"
                    " than it knows",
                )
            ]
        return []
    return [Finding(WARNED, familiarity.note)] if familiarity.note else []


def _range_finding(
    name: str, value: float, trained: tuple[float, float] | None, factor: float, unit: str, far: str
) -> Finding | None:
    """``far`` when ``value`` lies ``factor`` times outside ``trained``, a warning when just outside, else none."""
    if trained is None:
        return None
    low, high = trained
    if low / RANGE_MARGIN <= value <= high * RANGE_MARGIN:
        return None
    seen = f"{low:.3g} {unit}" if low == high else f"{low:.3g} to {high:.3g} {unit}"
    severity = far if (value < low / factor or value > high * factor) else WARNED
    return Finding(severity, f"{name} {value:.3g} {unit} is outside what the model was trained on ({seen})")


def lesion_confidence(labels: np.ndarray, lesion_probability: np.ndarray) -> float:
    """The 90th percentile of the network's lesion probability inside the predicted lesion (0 without one): how
    sure the network is of the lesion it drew, which tells a normal gland's false lesion from a real one better
    than its volume (``Testing/benchmarks/no_lesion_rules.py``)."""
    from .labels import LESION_LABEL

    return _p90(lesion_probability[labels == LESION_LABEL])


def _p90(probabilities: np.ndarray) -> float:
    """The 90th percentile of lesion probabilities (0 for none): the no-lesion rule's measure of sureness."""
    return float(np.quantile(probabilities, 0.9)) if probabilities.size else 0.0


def _lesion_outcome(record: CompetenceRecord, lesion_ml: float, lesion_p90: float | None) -> tuple[bool, str]:
    """Whether the record's no-lesion rule finds a lesion, and the reason when it does not."""
    minimum = record.min_lesion_ml or 0.0
    if lesion_ml <= minimum:
        return False, f"no lesion found (predicted lesion {lesion_ml:.2f} mL; minimum {minimum:g} mL)"
    if record.min_lesion_p90 is not None and (lesion_p90 or 0.0) <= record.min_lesion_p90:
        return False, (
            f"no lesion found (predicted lesion {lesion_ml:.2f} mL, the network unsure of it: the 90th percentile of "
            f"its lesion probability {lesion_p90 or 0.0:.4f} is not above {record.min_lesion_p90:.4f})"
        )
    return True, ""


def assess(
    findings: Sequence[Finding],
    record: CompetenceRecord,
    lesion_ml: float,
    has_classifier: bool,
    lesion_p90: float | None = None,
) -> Assessment:
    """The outcome from the findings; a lesion the record's rule does not find is "no lesion found"
    (``lesion_p90``: :func:`lesion_confidence`, where the record's rule uses it).

    A model without its own record (``missing`` says what) has only estimated limits: what they find warns,
    and only a model-independent finding (not a CT) withholds. Reasons: withholding ones first.
    """
    if record.missing:
        findings = [f if f.model_independent else Finding(WARNED, f.reason) for f in findings]
    withheld = [f.reason for f in findings if f.severity == WITHHELD]
    warnings = [f.reason for f in findings if f.severity != WITHHELD]
    if record.missing:
        warnings.append(f"the model has no competence record: not checked: {', '.join(record.missing)}")
    lesion_found, why = _lesion_outcome(record, lesion_ml, lesion_p90)
    no_lesion = [why] if has_classifier and not lesion_found else []
    status = WITHHELD if withheld else WARNED if warnings else ANSWERED
    notice = SYNTHETIC_NOTICE if record.synthetic else None
    return Assessment(
        status=status,
        reasons=withheld + no_lesion + warnings,
        lesion_found=lesion_found,
        notice=notice,
        lesion_p90=lesion_p90,
    )


def lesion_components(
    lesion: np.ndarray,
    spacing_mm: Sequence[float],
    min_ml: float = 0.0,
    probability: np.ndarray | None = None,
    min_p90: float | None = None,
) -> int:
    """Separate lesions (26-connected) that the record's no-lesion rule would find on their own: more than
    ``min_ml``, and, where ``probability`` (the lesion probability, same shape) and ``min_p90`` are given, the
    90th percentile of their own lesion probability above ``min_p90`` (:func:`lesion_confidence`). A speck or
    a component the network is unsure of is not a lesion by the rule that makes a case "no lesion found"."""
    from scipy import ndimage

    if not lesion.any():
        return 0
    labelled, count = ndimage.label(lesion, structure=np.ones((3, 3, 3)))
    volumes_ml = np.bincount(labelled.ravel())[1:] * (float(np.prod(spacing_mm)) / 1000.0)
    kept = volumes_ml > min_ml
    if probability is not None and min_p90 is not None:
        p90 = ndimage.labeled_comprehension(probability, labelled, np.arange(1, count + 1), _p90, float, 0.0)
        kept &= p90 > min_p90
    return int(np.count_nonzero(kept))


def assess_case(
    record: CompetenceRecord,
    image: np.ndarray,
    spacing_mm: Sequence[float],
    labels: np.ndarray,
    gland_ml: float,
    lesion_ml: float,
    has_classifier: bool,
    familiarity: Familiarity | None = None,
    network_labels: np.ndarray | None = None,
    lesion_map: np.ndarray | None = None,
) -> Assessment:
    """Every check on one case: the input as read (``image``, spacing (in-plane, in-plane, slice)), the
    labels predicted for it and the network's lesion probability (``lesion_map``, where the record's no-lesion
    rule uses it; same array shape) and its features' familiarity, against the model's record.

    Separate lesions are counted in ``network_labels`` where given (the labels before postprocessing kept the
    largest): the subtype is pooled over every lesion the network found. Only lesions the no-lesion rule keeps
    count, and none where it finds no lesion in the case; nor is the volume of a lesion it does not find judged.
    """
    from .labels import LESION_LABEL

    lesion_p90 = None if lesion_map is None else lesion_confidence(labels, lesion_map)
    lesion_found = _lesion_outcome(record, lesion_ml, lesion_p90)[0]
    components = 0
    if lesion_found:
        found = labels if network_labels is None else network_labels
        components = lesion_components(
            found == LESION_LABEL, spacing_mm, record.min_lesion_ml or 0.0, lesion_map, record.min_lesion_p90
        )
    gland = labels > 0
    median = float(np.median(image[gland])) if gland.any() else None
    found_ml = lesion_ml if lesion_found else 0.0
    findings = check_input(image, spacing_mm, record) + check_output(gland_ml, found_ml, components, median, record)
    assessment = assess([*findings, *check_familiarity(familiarity)], record, lesion_ml, has_classifier, lesion_p90)
    if familiarity is not None and familiarity.distance is not None:
        assessment = replace(assessment, feature_distance=familiarity.distance, feature_limit=familiarity.limit)
    return assessment


def with_warning(assessment: Assessment, reason: str | None) -> Assessment:
    """The assessment with one more warning from outside the model's record (such as a localizer that found no
    gland): answered becomes answered-with-warnings, withheld stays withheld."""
    if not reason:
        return assessment
    status = WARNED if assessment.status == ANSWERED else assessment.status
    return replace(assessment, status=status, reasons=[*assessment.reasons, reason])
