"""The calibration's report: ``calibration.json``, ``calibration.md`` and a reliability diagram, before and after."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from PancreasMultiTaskLib.engine.io import atomic_path
from sklearn.calibration import calibration_curve

from .calibration import ECE_BINS, MAX_NORMAL_KEPT, MIN_CASES, OPERATING_TARGETS, REPORTED_DIAMETER_MM, operating_points
from .familiarity import LIMIT_FACTOR, LIMIT_QUANTILE, TRAINING_CASES


def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def reliability_diagram(fitted: dict[str, Any], path: Path) -> Path:
    """Accuracy against confidence in ``ECE_BINS`` equal-width bins, before and after calibration."""
    fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.plot([0, 1], [0, 1], "k:", label="perfectly calibrated")
    for stage, style in (("before", "o--"), ("after", "s-")):
        metrics = fitted[stage]
        accuracy, confidence = calibration_curve(
            np.array(metrics["correct"]), np.array(metrics["confidence"]), n_bins=ECE_BINS, strategy="uniform"
        )
        ax.plot(confidence, accuracy, style, label=f"{stage} (ECE {metrics['ece']:.3f})")
    ax.axvline(fitted["uncertain_below"], color="grey", lw=0.8, label="uncertain below")
    ax.set(xlabel="confidence (top subtype probability)", ylabel="accuracy", xlim=(0, 1), ylim=(0, 1.02))
    ax.set_title(f"Reliability, {fitted['cases']} validation cases (T = {fitted['temperature']:.2f})")
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return path


def _bound_note(fitted: dict[str, Any]) -> str:
    """Why a temperature at a bound of its search says little: which bound, and what drives it there."""
    if not fitted["temperature_at_bound"]:
        return ""
    if fitted["temperature"] > 1:
        return (
            " T lies at the upper search bound: the confidence carries no information on these cases (a classifier"
            " near chance is flattened towards uniform probabilities)."
        )
    return (
        " T lies at the lower search bound: these cases do not pin it (every case right drives it there); more"
        " validation cases are needed."
    )


def markdown(fitted: dict[str, Any], figure: str) -> str:
    """The report's text: the rules, the fitted values and the before/after table."""
    before, after, lesion = fitted["before"], fitted["after"], fitted["no_lesion"]
    engine = f"{fitted['classification']} classification, {fitted['pooling']} pooling"
    if fitted.get("precision"):
        engine += f", {fitted['precision']}"
    lines = [
        "# Calibration",
        "",
        f"{fitted['cases']} validation cases of folds {', '.join(fitted['folds'])}, each predicted by the fold that"
        f" did not train on it (engine: {engine}),"
        f" lesion cases whose lesion the no-lesion rule below finds. At least {MIN_CASES} are needed.",
        "",
        f"- temperature T = {fitted['temperature']:.3f}: softmax(log p / T), fitted by minimizing the negative"
        " log-likelihood (T > 1 softens, T < 1 sharpens)." + _bound_note(fitted),
        f"- uncertain below {fitted['uncertain_below']:.3f}: the lowest calibrated top probability such that the"
        f" validation error rate among cases at or above it is at most {fitted['target_error_rate']:g}"
        " (0: every case right, nothing flagged; 1: no threshold meets the target, everything flagged).",
        "",
        "| | before (uncalibrated; flag: entropy) | after (calibrated; flag: threshold) |",
        "|---|---|---|",
    ]
    for key, label in (
        ("accuracy", "accuracy"),
        ("nll", "negative log-likelihood"),
        ("ece", f"ECE ({ECE_BINS} equal-width bins)"),
        ("auroc_right_vs_wrong", "AUROC of confidence, right vs wrong"),
    ):
        lines.append(f"| {label} | {_fmt(before[key])} | {_fmt(after[key])} |")
    for key, label in (
        ("flagged_share_of_right", "flagged, of right answers"),
        ("flagged_share_of_wrong", "flagged, of wrong answers"),
    ):
        lines.append(f"| {label} | {_percent(before[key])} | {_percent(after[key])} |")
    lines += [
        "",
        "ECE: the sum over bins of (share of cases) x |accuracy - mean confidence|."
        + (
            " AUROC n/a: all answers right (or all wrong)."
            if before["auroc_right_vs_wrong"] is None or after["auroc_right_vs_wrong"] is None
            else ""
        )
        + " Each case is predicted by one fold, so the fold-spread flag is not measured here; the engine's flag"
        " with several folds adds it.",
        "",
        f"![reliability diagram]({figure})",
        "",
        *trade_off_lines(fitted),
        "",
        "## No lesion found",
        "",
    ]
    if lesion["min_lesion_ml"] is None:
        lines.append(f"The no-lesion rule is not fitted: {lesion['reason']}; the record keeps its own.")
    else:
        lines += no_lesion_lines(lesion)
    return "\n".join(lines + familiarity_lines(fitted.get("familiarity") or {})) + "\n"


def trade_off_lines(fitted: dict[str, Any]) -> list[str]:
    """What other error-rate targets would flag on the same cases: whether any threshold makes the flag useful."""
    after = fitted["after"]
    targets = sorted({fitted["target_error_rate"], *OPERATING_TARGETS})
    lines = [
        "## The flag at other targets",
        "",
        "The threshold each target error rate would give on the same calibrated cases, and the answers it would flag"
        " (the fitted target in bold; `pancreas-mt-train calibrate --target-error-rate` chooses it). The confidence"
        " is useful where some target flags few right answers and most wrong ones.",
        "",
        "| target error rate | uncertain below | flagged, of right answers | flagged, of wrong answers |",
        "|---|---|---|---|",
    ]
    for point in operating_points(after["confidence"], after["correct"], targets):
        target = f"{point['target_error_rate']:g}"
        if point["target_error_rate"] == fitted["target_error_rate"]:
            target = f"**{target}**"
        lines.append(
            f"| {target} | {point['uncertain_below']:.3f} | {_percent(point['flagged_share_of_right'])} |"
            f" {_percent(point['flagged_share_of_wrong'])} |"
        )
    return lines


def _rule(min_ml: float, min_p90: float | None) -> str:
    if min_p90 is None:
        return f"lesion > {min_ml:.4g} mL"
    return f"lesion > {min_ml:.4g} mL and p90 > {min_p90:.4f}"


def no_lesion_summary(lesion: dict[str, Any]) -> str:
    """One line on the fitted no-lesion rule, for the command's output."""
    if lesion["min_lesion_ml"] is None:
        return f"no-lesion rule not fitted ({lesion['reason']})"
    return (
        f"a lesion is found where {_rule(lesion['min_lesion_ml'], lesion['min_lesion_p90'])}"
        f" ({_percent(lesion['large_lesion_found_share'])} of validation lesions >= 5 mm)"
    )


def no_lesion_lines(lesion: dict[str, Any]) -> list[str]:
    """The no-lesion rule chosen and every rule tried, each at most ``MAX_NORMAL_KEPT`` of the normal cases."""
    lines = [
        f"Rule: {_rule(lesion['min_lesion_ml'], lesion['min_lesion_p90'])} (p90: the 90th percentile of the lesion"
        f" probability inside the predicted lesion). Each rule tried keeps a lesion in at most {MAX_NORMAL_KEPT:.0%}"
        f" of the {lesion['normal_cases']} normal validation cases: the volume alone (its smallest such volume), or"
        " a volume floor with the lowest such p90 threshold; the one that finds the most lesions of at least"
        f" {REPORTED_DIAMETER_MM:g} mm across (equivalent-sphere diameter of the case's true lesion;"
        f" {lesion['large_lesion_cases']} of the {lesion['lesion_cases']} lesion cases) is chosen.",
        "",
        "| rule | normal cases with a lesion | lesion cases found | lesions >= 5 mm found |",
        "|---|---|---|---|",
    ]
    for tried in lesion.get("rules_tried", [lesion]):
        chosen = (
            " (chosen)"
            if tried["min_lesion_ml"] == lesion["min_lesion_ml"] and tried["min_lesion_p90"] == lesion["min_lesion_p90"]
            else ""
        )
        lines.append(
            f"| {_rule(tried['min_lesion_ml'], tried['min_lesion_p90'])}{chosen} |"
            f" {_percent(tried['normal_kept_share'])} | {_percent(tried['lesion_found_share'])} |"
            f" {_percent(tried['large_lesion_found_share'])} |"
        )
    return lines


def familiarity_lines(summary: dict[str, Any]) -> list[str]:
    """The feature references' section: per fold, what they were fitted on and the limit."""
    lines = [
        "",
        "## Image familiarity",
        "",
        f"Per fold, the first encoder stages' features of up to {TRAINING_CASES} training cases' guided tiles (mean,"
        f" Ledoit-Wolf precision) and the limit: {LIMIT_FACTOR:g} x the {LIMIT_QUANTILE:g}th percentile of the"
        " validation cases' distances. A case beyond it is withheld as unlike the training images.",
        "",
        "| fold | training cases (tiles) | features | validation cases | validation distance median / max | limit |",
        "|---|---|---|---|---|---|",
    ]
    for fold, entry in sorted(summary.items()):
        if "reason" in entry:
            lines.append(f"| {fold} | not fitted: {entry['reason']} | | | | |")
            continue
        d = entry["validation_distances"]
        lines.append(
            f"| {fold} | {entry['training_cases']} ({entry['training_tiles']}) | {entry['features']} |"
            f" {entry['validation_cases']} | {np.median(d):.3g} / {max(d):.3g} | {entry['limit']:.3g} |"
        )
    return lines


def write_calibration_report(fitted: dict[str, Any], output: Path) -> Path:
    """``calibration.json`` (everything fitted, per-case confidences), ``calibration.md`` and the diagram."""
    output.mkdir(parents=True, exist_ok=True)
    figure = reliability_diagram(fitted, output / "calibration_reliability.png")
    with atomic_path(output / "calibration.json") as tmp:
        tmp.write_text(json.dumps(fitted, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    with atomic_path(output / "calibration.md") as tmp:
        tmp.write_text(markdown(fitted, figure.name), encoding="utf-8")
    return output / "calibration.md"
