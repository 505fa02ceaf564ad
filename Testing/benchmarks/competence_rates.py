"""How often the demo model withholds or warns on in-distribution cases, and on the public real scans.

Generates held-out ``field`` phantoms (the demo's generator, a seed not used in training), runs
``pancreas-mt predict`` with the bundled demo model over them and over ``Testing/data/public/``, and
prints the share of each assessment status with a 95% Wilson interval. Not a test: it takes minutes.

    OMP_NUM_THREADS=1 python Testing/benchmarks/competence_rates.py --phantoms 30 --seed 7
"""

from __future__ import annotations

import argparse
import csv
import math
import platform
import tempfile
from collections import Counter
from pathlib import Path

from pancreas_mt_training.demo import DemoConfig
from pancreas_mt_training.phantoms import write_phantoms
from PancreasMultiTaskLib.cli.main import main as predict_main

PUBLIC = Path(__file__).resolve().parents[1] / "data" / "public"


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The 95% Wilson score interval of k successes in n (the usual interval for small counts)."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def statuses(inputs: Path, out: Path) -> list[dict[str, str]]:
    argv = ["predict", "-i", str(inputs), "-o", str(out), "--device", "cpu", "--progress", "none"]
    predict_main(argv)
    with (out / "summary.csv").open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def report(title: str, rows: list[dict[str, str]]) -> None:
    counts = Counter(r["assessment"] or r["status"] for r in rows)
    print(f"\n{title}: {len(rows)} cases")
    for status, k in sorted(counts.items()):
        low, high = wilson(k, len(rows))
        print(f"  {status:<24} {k:3d}  {100 * k / len(rows):5.1f}%  (95% CI {100 * low:.1f}-{100 * high:.1f}%)")
    for row in rows:
        if row["assessment"] != "answered":
            print(f"  - {row['case_id']}: {row['assessment']}: {row['reasons'][:160]}")


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--phantoms", type=int, default=30, help="held-out phantoms (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=7, help="their seed; training used 1 (default: %(default)s)")
    args = parser.parse_args()
    config = DemoConfig()
    print(f"machine: {platform.processor() or platform.machine()}; demo model, default options")
    with tempfile.TemporaryDirectory() as tmp:
        phantoms = write_phantoms(
            Path(tmp) / "phantoms",
            args.seed,
            args.phantoms,
            config.shape,
            generator=config.generator,
            orientation="random",
        )
        report(f"held-out field phantoms (seed {args.seed})", statuses(phantoms / "images", Path(tmp) / "out"))
        report("public real scans (Testing/data/public)", statuses(PUBLIC, Path(tmp) / "public"))


if __name__ == "__main__":
    run()
