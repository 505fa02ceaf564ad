"""What separates the product's right subtype answers from its wrong ones, re-read from a demo-model run. Not a test.

``pancreas-mt-train demo-model`` keeps each evaluated case's ``result.json``, segmentation and row (with the
truth) under ``<workdir>/eval_<set>/``: the held-out set and the stress sets. For the cases the product answered
with a subtype, this prints how well each per-case signal tells right answers from wrong ones (AUROC; 0.5 is
chance), so that the next confidence rule is chosen from measured signals: the probability the product gives
(calibrated), the normalized entropy, the spread between folds, the weighted share of slices voting the answer,
the image-familiarity distance, the segmentation's own certainty (the 90th percentile of P(lesion) inside the
lesion) and the lesion's volume. Then what restricting the lesion-weighted pooling to slices that hold predicted
lesion voxels would change (the product weighs every slice by its soft lesion mass, so slices without a lesion
voxel keep a little weight). Reads files only: seconds.

    python Testing/benchmarks/answer_signals.py --workdir /tmp/refit [-o signals.json]

Choose a rule on the validation folds, not on these sets: they are the report's held-out figures.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from PancreasMultiTaskLib.engine.subtype import fold_spread
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

#: Per-case signals, each oriented so that a larger value should mean a right answer.
SIGNALS = {
    "probability": lambda r: r["subtype"]["probability"],
    "-normalized entropy": lambda r: -r["subtype"]["uncertainty"]["normalized_entropy"],
    "-fold spread": lambda r: -r["subtype"]["uncertainty"]["fold_spread"],
    "slices voting the answer": lambda r: slice_agreement(r["subtype"]),
    "-familiarity distance": lambda r: -r["assessment"]["feature_distance"],
    "lesion p90": lambda r: r["assessment"]["lesion_p90"],
    "lesion volume": lambda r: r["measurements"]["lesion_volume_ml"],
}


def slice_agreement(subtype: dict) -> float:
    """The pooling weights' share on slices whose own most probable subtype is the answer."""
    answer = subtype["names"].index(subtype["predicted"])
    weights = np.array([s["weight"] for s in subtype["slices"]])
    votes = np.array([np.argmax(s["probabilities"]) == answer for s in subtype["slices"]])
    return float(weights @ votes / weights.sum())


def lesion_voxels_per_slice(segmentation: Path, subtype: dict) -> np.ndarray:
    """Predicted lesion voxels (label 2) in each result slice, along the input axis its slice index k runs on."""
    image = sitk.ReadImage(str(segmentation))
    slices = subtype["slices"]
    first, second = (np.array(image.TransformPhysicalPointToContinuousIndex(s["position_mm"])) for s in slices[:2])
    axis = int(np.argmax(np.abs(second - first)))  # ITK's (x, y, z) order
    lesion = sitk.GetArrayViewFromImage(image) == 2  # (z, y, x)
    per_index = lesion.sum(axis=tuple(a for a in range(3) if a != 2 - axis))
    return np.array([per_index[s["index"]] for s in slices], dtype=float)


def cases(workdir: Path) -> list[dict]:
    """The answered lesion cases of every evaluated set: set, right or wrong, result, restricted pooling's answer."""
    found = []
    for folder in sorted(workdir.glob("eval_*")):
        for path in sorted((folder / "predictions").glob("*.result.json")):
            result = json.loads(path.read_text(encoding="utf-8"))
            case_id = path.name.removesuffix(".result.json")
            truth = json.loads((folder / "rows" / f"{case_id}.json").read_text(encoding="utf-8"))["value"]["truth"]
            subtype = result["subtype"]
            if truth < 0 or subtype["predicted"] is None:
                continue
            probabilities = np.array([s["probabilities"] for s in subtype["slices"]])
            weights = np.array([s["lesion_mass"] for s in subtype["slices"]])
            weights *= lesion_voxels_per_slice(folder / "predictions" / f"{case_id}.nii.gz", subtype) > 0
            restricted = int(np.argmax(weights @ probabilities)) if weights.sum() > 0 else None
            found.append(
                {
                    "set": folder.name.removeprefix("eval_"),
                    "right": subtype["names"].index(subtype["predicted"]) == truth,
                    "restricted_right": None if restricted is None else restricted == truth,
                    "signals": {name: read(result) for name, read in SIGNALS.items()},
                }
            )
    return found


def report_cases(metrics: Path) -> list[dict]:
    """The answered lesion cases of a report's ``metrics.json`` (its sets with the product's answers; the
    cross-validation has none), with the signals it keeps per case."""
    found = []
    for evaluated in json.loads(metrics.read_text(encoding="utf-8"))["results"]:
        for case in evaluated["cases"]:
            answer = case.get("answer") or {}
            if case["truth"] < 0 or answer.get("predicted") is None:
                continue
            folds = [list(p.values()) for p in case["fold_probabilities"].values()]
            spread = fold_spread(np.array(folds))
            found.append(
                {
                    "set": evaluated["title"],
                    "right": answer["predicted"] == case["truth"],
                    "signals": {
                        "probability": answer["probability"],
                        "-fold spread": None if spread is None else -spread,
                        "lesion p90": case["lesion_p90"],
                        "lesion volume": case["lesion_volume_ml"],
                    },
                }
            )
    return found


def auroc(rows: list[dict], signal: str) -> float | None:
    right = [r["right"] for r in rows]
    if all(right) or not any(right) or any(r["signals"][signal] is None for r in rows):
        return None
    return float(roc_auc_score(right, [r["signals"][signal] for r in rows]))


def combined(fit_rows: list[dict], score_rows: list[dict], signals: list[str]) -> dict[str, float | None]:
    """A logistic regression on ``signals`` (log of the volume) fitted on ``fit_rows``: its AUROC there (in
    sample) and on ``score_rows``."""

    def features(rows: list[dict]) -> np.ndarray:
        return np.array(
            [[np.log1p(r["signals"][s]) if s == "lesion volume" else r["signals"][s] for s in signals] for r in rows]
        )

    model = make_pipeline(StandardScaler(), LogisticRegression())
    model.fit(features(fit_rows), [r["right"] for r in fit_rows])
    figures = {}
    for name, rows in (("fitted on", fit_rows), ("scored on", score_rows)):
        confidence = model.predict_proba(features(rows))[:, 1]
        scored = [{**r, "signals": {"combined": p}} for r, p in zip(rows, confidence, strict=True)]
        figures[name] = auroc(scored, "combined")
    return figures


def flag_trade_off(calibration: Path, groups: dict[str, list[dict]]) -> list[dict]:
    """Per error-rate target: the threshold fitted on the validation cases, and the shares of right and wrong
    answers of each group below it (flagged)."""
    from pancreas_mt_training.calibration import OPERATING_TARGETS, operating_points

    fitted = json.loads(calibration.read_text(encoding="utf-8"))
    targets = sorted({fitted["target_error_rate"], *OPERATING_TARGETS})
    header = " | ".join(f"{name}: right / wrong flagged" for name in groups)
    print(f"\n| target error rate | uncertain below | {header} |")
    print("|---|---|" + "---|" * len(groups))
    rows = []
    for point in operating_points(fitted["after"]["confidence"], fitted["after"]["correct"], targets):
        threshold, cells = point["uncertain_below"], []
        row = {"target_error_rate": point["target_error_rate"], "uncertain_below": threshold}
        for name, group in groups.items():
            flagged = {
                kind: float(np.mean([r["signals"]["probability"] < threshold for r in group if r["right"] == right]))
                for kind, right in (("right", True), ("wrong", False))
            }
            row[name] = flagged
            cells.append(f"{flagged['right']:.0%} / {flagged['wrong']:.0%}")
        rows.append(row)
        print(f"| {point['target_error_rate']:g} | {threshold:.3f} | " + " | ".join(cells) + " |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--workdir", type=Path, help="a demo-model --workdir with its eval_* folders")
    source.add_argument("--metrics", type=Path, help="an evaluation report's metrics.json")
    parser.add_argument("-o", "--output", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    rows = cases(args.workdir) if args.workdir else report_cases(args.metrics)
    signals = list(rows[0]["signals"]) if rows else []
    groups = {
        "held-out": [r for r in rows if r["set"] == "held-out"],
        "stress sets": [r for r in rows if r["set"] != "held-out"],
        "all": rows,
    }
    figures = {"cases": {}, "auroc": {}, "pooling": {}}
    print("| signal (AUROC, right vs wrong) | " + " | ".join(groups) + " |")
    print("|---|" + "---|" * len(groups))
    for name, group in groups.items():
        figures["cases"][name] = {"answered": len(group), "wrong": sum(not r["right"] for r in group)}
    for signal in signals:
        figures["auroc"][signal] = {name: auroc(group, signal) for name, group in groups.items()}
        cells = ["n/a" if v is None else f"{v:.3f}" for v in figures["auroc"][signal].values()]
        print(f"| {signal} | " + " | ".join(cells) + " |")
    print()
    if args.metrics:
        figures["combined"] = {}
        print("| combined signals (logistic regression) | AUROC on held-out (fitted there) | AUROC on stress sets |")
        print("|---|---|---|")
        for chosen in (["probability", "lesion p90", "lesion volume"], signals):
            figure = combined(groups["held-out"], groups["stress sets"], chosen)
            figures["combined"][" + ".join(chosen)] = figure
            cells = ["n/a" if v is None else f"{v:.3f}" for v in figure.values()]
            print(f"| {' + '.join(chosen)} | " + " | ".join(cells) + " |")
        calibration = args.metrics.parent / "calibration" / "calibration.json"
        if calibration.is_file():
            figures["flagged"] = flag_trade_off(calibration, groups)
    for name, group in groups.items():
        if args.metrics:
            break  # the report keeps no slices: the pooling is not re-read
        restricted = [r["restricted_right"] for r in group if r["restricted_right"] is not None]
        figures["pooling"][name] = {
            "product_right": sum(r["right"] for r in group),
            "restricted_right": sum(restricted),
            "restricted_cases": len(restricted),
        }
        pooled, wrong = figures["pooling"][name], figures["cases"][name]["wrong"]
        print(
            f"{name}: {len(group)} answered, {wrong} wrong; right with the product's pooling"
            f" {pooled['product_right']}/{len(group)}, restricted to slices with lesion voxels"
            f" {pooled['restricted_right']}/{pooled['restricted_cases']}"
        )
    if args.output:
        args.output.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
