"""The demo's data preparation in one process and in several: wall time and the ratio, same files. Not a test.

``demo-model`` writes hundreds of whole 512 x 512 abdomen fields (600 training, 60 held-out, 30 a stress set), cuts
the training ones to gland crops and converts those to an nnU-Net raw dataset (every read a child process); on a
machine lent for minutes (a GPU machine's 16 cores) one process would spend most of them there. This writes
``--count`` phantoms of the demo's training set (its seed, slices and normal share), their crops and their
conversion once with ``jobs=1`` (the reference) and once with ``--jobs``, in the same run, prints each stage's wall
times and their ratio, and checks that both runs wrote the same bytes.

    python Testing/benchmarks/data_prep_jobs.py [--count 40] [--jobs N] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import filecmp
import os
import tempfile
import time
from pathlib import Path


def _prepare(folder: Path, count: int, jobs: int) -> dict[str, float]:
    """Seconds of each stage: ``count`` training phantoms of the demo, their gland crops, their conversion."""
    from pancreas_mt_training.convert import collect_generic, convert_cases
    from pancreas_mt_training.crops import crop_folder
    from pancreas_mt_training.demo import DemoConfig
    from pancreas_mt_training.phantoms import SUBTYPE_NAMES, write_phantoms

    config = DemoConfig()
    times = {"phantoms": time.perf_counter()}
    full = write_phantoms(
        folder / "full", config.train_seed, count, generator="abdomen", abdomen=config.abdomen(), jobs=jobs
    )
    times["crops"] = time.perf_counter()
    crops = crop_folder(full, folder / "crops", config.crop_margin_mm, seed=config.train_seed, jobs=jobs)
    times["conversion"] = time.perf_counter()
    cases, _ = collect_generic(crops / "images", crops / "labels", crops / "subtypes.csv")
    convert_cases(cases, folder / "Dataset999_Bench", list(SUBTYPE_NAMES), jobs=jobs)
    end = time.perf_counter()
    stages = list(times)
    return {name: (times[stages[i + 1]] if i + 1 < len(stages) else end) - times[name] for i, name in enumerate(stages)}


def _differing(a: Path, b: Path) -> list[str]:
    """Files that differ between two folders, or exist in one only."""
    names = {p.relative_to(a) for p in a.rglob("*") if p.is_file()} | {
        p.relative_to(b) for p in b.rglob("*") if p.is_file()
    }
    return sorted(
        str(n) for n in names if not ((a / n).is_file() and (b / n).is_file() and filecmp.cmp(a / n, b / n, False))
    )


def main() -> None:
    from pancreas_mt_training.parallel import default_jobs

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=40, help="phantoms (default: %(default)s)")
    parser.add_argument("--jobs", type=int, default=default_jobs(), help="processes (default: nnU-Net's, %(default)s)")
    parser.add_argument("--workdir", help="scratch folder (default: a temporary one, removed)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.workdir) as scratch:
        work = Path(scratch)
        one = _prepare(work / "jobs1", args.count, 1)
        many = _prepare(work / f"jobs{args.jobs}", args.count, args.jobs)
        differing = _differing(work / "jobs1", work / f"jobs{args.jobs}")
    print(f"{args.count} training phantoms of the demo, their crops and conversion, {os.cpu_count()} cores:")
    for stage in (*one, "all"):
        a = one[stage] if stage != "all" else sum(one.values())
        b = many[stage] if stage != "all" else sum(many.values())
        print(f"  {stage:<11} 1 process {a:7.1f} s, {args.jobs} processes {b:7.1f} s: ratio {a / b:.2f}x")
    print("  same files: yes" if not differing else f"  DIFFERENT: {', '.join(differing[:5])}")


if __name__ == "__main__":
    main()
