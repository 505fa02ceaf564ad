"""The bundled demo model on its held-out set with segmentation mirroring off and on. Not a test.

The product mirrors by default (nnU-Net's test-time augmentation), and since 2026-12-07 so do the bundled record's
calibration and report (before, they ran without it, to fit a CPU budget); this shows what mirroring changes. It
runs the 60 held-out phantoms of ``Resources/DemoModel/demo_config.json`` (regenerated in ``--workdir`` from their
seed) through the engine both ways, everything else as the report runs them (all folds, ROI auto, guided
classification with mirrored tiles, PyTorch), in two processes, and prints what the product said each way:
outcomes, normal glands given a lesion, lesions found, and the confidence of its answers. About 20 minutes on two
cores.

    python Testing/benchmarks/held_out_mirroring.py --workdir /tmp/held-out [--cases 60] [-o result.json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import fields
from pathlib import Path

RESOURCES = Path(__file__).resolve().parents[2] / "Resources" / "DemoModel"


def _share(entry: dict) -> str:
    return f"{entry['count']}/{entry['of']} = {entry['share']:.1%}" if entry["of"] else "n/a"


def summary_rows(results: dict[bool, dict]) -> list[str]:
    """A markdown table: one column per mirroring setting."""
    rows = [
        (
            "answered / with warnings / withheld",
            lambda r: " / ".join(
                str(r["outcomes"][s]["count"]) for s in ("answered", "answered-with-warnings", "withheld")
            ),
        ),
        ("normal glands given a lesion or a subtype", lambda r: _share(r["outcomes"]["normal_with_lesion_or_subtype"])),
        ("lesions found", lambda r: _share(r["outcomes"]["lesions_found"])),
        ("lesions >= 5 mm found", lambda r: _share(r["outcomes"]["lesions_5mm_found"])),
        ("subtype accuracy (guided, all lesion cases)", lambda r: f"{r['classification']['guided']['accuracy']:.1%}"),
        (
            "answers: cases, ECE, AUROC right vs wrong",
            lambda r: "{cases}, {ece:.3f}, {auroc}".format(
                **{
                    **r["confidence"],
                    "auroc": "n/a" if r["confidence"]["auroc"] is None else f"{r['confidence']['auroc']:.3f}",
                }
            ),
        ),
        (
            "lesion Dice / gland Dice",
            lambda r: "{:.3f} / {:.3f}".format(
                r["segmentation"]["lesion"]["dice"], r["segmentation"]["pancreas"]["dice"]
            ),
        ),
    ]
    lines = ["| held-out | segmentation mirroring off | on (the product's default) |", "|---|---|---|"]
    lines += [f"| {label} | {value(results[False])} | {value(results[True])} |" for label, value in rows]
    return lines


def main() -> None:
    from pancreas_mt_training.demo import DemoConfig, _diameters, test_phantoms
    from pancreas_mt_training.evaluate import confidence_summary, evaluate_held_out, generic_cases, outcome_summary
    from PancreasMultiTaskLib.engine.model_zip import import_model_zip

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True, help="scratch folder for the phantoms and predictions")
    parser.add_argument("--cases", type=int, help="only the first N held-out cases")
    parser.add_argument("-o", "--output", type=Path, help="write both evaluations here as JSON")
    args = parser.parse_args()

    stored = json.loads((RESOURCES / "demo_config.json").read_text(encoding="utf-8"))
    config = DemoConfig(**{f.name: stored[f.name] for f in fields(DemoConfig) if f.name in stored})
    models = args.workdir / "models"
    if not models.is_dir():
        import_model_zip(RESOURCES / "PancreasPhantomsDemo.zip", models)
    model = next(models.rglob("plans.json")).parent
    held = test_phantoms(config, args.workdir)
    cases = generic_cases(held)[: args.cases]
    settings = {"classification_mirroring": True, "backend": "torch", "num_threads": 1}
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        jobs = {
            mirroring: pool.submit(
                evaluate_held_out,
                model,
                cases,
                args.workdir / f"mirroring_{'on' if mirroring else 'off'}",
                use_mirroring=mirroring,
                title=f"mirroring {mirroring}",
                **settings,
            )
            for mirroring in (False, True)
        }
        results = {mirroring: job.result() for mirroring, job in jobs.items()}
    for result in results.values():
        result["outcomes"] = outcome_summary(result["cases"], _diameters(held))
        result["confidence"] = confidence_summary(result["cases"])
    print("\n".join(summary_rows(results)))
    off = {row["case_id"]: row for row in results[False]["cases"]}
    for row in results[True]["cases"]:
        before = off[row["case_id"]]
        if (before.get("answer") or {}).get("predicted") != (row.get("answer") or {}).get("predicted"):
            print(
                f"{row['case_id']} (truth {row['truth']}): off {before['outcome']['status']}, lesion"
                f" {before['lesion_volume_ml']:.2f} mL p90 {before['lesion_p90'] or 0:.5f}, answer"
                f" {(before.get('answer') or {}).get('predicted')}; on {row['outcome']['status']}, lesion"
                f" {row['lesion_volume_ml']:.2f} mL p90 {row['lesion_p90'] or 0:.5f}, answer"
                f" {(row.get('answer') or {}).get('predicted')}"
            )
    if args.output:
        args.output.write_text(json.dumps({str(k): v for k, v in results.items()}, default=str) + "\n")


if __name__ == "__main__":
    main()
