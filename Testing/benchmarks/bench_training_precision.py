"""Benchmark: a training step of the demo configuration in float32 (nnU-Net's, the reference) and in bfloat16.

Workload: the demo model's own dataset and plans (``DemoConfig``: abdomen phantoms cropped to the gland, 1.25 mm,
5 stages of 8-64 features, 96 x 128 patch, batch 12, the 48 x 48 classifier view), built by the demo pipeline's
``prepare`` on ``--cases`` phantoms in a temporary folder. One ``nnUNetTrainerMultiTask`` per precision, as
``pancreas-mt-train train --precision`` makes it; both time ``trainer.train_step`` (forward, losses, backward,
optimizer) on the same ``--steps`` batches, drawn once by nnU-Net's data loader and augmentation in this process,
after ``--warmup`` steps. Printed: the median step of each precision, the median time to draw a batch (what a
data-augmentation worker must keep up with), the step's speed ratio, and last the CPU's bfloat16 flags.

``--epochs N`` then trains fold 0 for N epochs in each precision, the two at once (one thread each, own
``nnUNet_results``), through ``pancreas-mt-train train --precision``, and prints for each nnU-Net's median epoch
time and the fold's cross-validation figures (``evaluate.cross_validation``: lesion and gland Dice, subtype
accuracy and Brier score of the lesion-weighted pooling): whether a bfloat16 training learns what a float32 one
does. Use at least 40 cases with it (fold 0 validates a fifth of them).

    python Testing/benchmarks/bench_training_precision.py [--cases 10] [--steps 20] [--warmup 3] [--threads 2]
        [--epochs N]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from ct_runs import cpu_flags  # noqa: E402

DATASET_ID = 997


def trainer_for(preprocessed: Path, precision: str):
    """A fresh multi-task trainer (fold 0) on the demo plans, computing in ``precision``."""
    import torch
    from pancreas_mt_training.demo import MULTITASK_PLANS
    from pancreas_mt_training.train_precision import PRECISION_ENV
    from pancreas_mt_training.trainer import nnUNetTrainerMultiTask

    os.environ[PRECISION_ENV] = precision
    plans = json.loads((preprocessed / f"{MULTITASK_PLANS}.json").read_text(encoding="utf-8"))
    dataset = json.loads((preprocessed / "dataset.json").read_text(encoding="utf-8"))
    torch.manual_seed(0)
    trainer = nnUNetTrainerMultiTask({**plans, "continue_training": False}, "2d", 0, dataset, torch.device("cpu"))
    trainer.initialize()
    return trainer


def train_twins(raw: Path, work: Path) -> None:
    """Fold 0 in float32 and in bfloat16 at once, each through the training command; print their figures."""
    from pancreas_mt_training.demo import MULTITASK_PLANS, TRAINER
    from pancreas_mt_training.evaluate import cross_validation

    jobs = {}
    for precision in ("float32", "bfloat16"):
        env = {**os.environ, "nnUNet_results": str(work / f"results_{precision}"), "OMP_NUM_THREADS": "1"}
        env["nnUNet_n_proc_DA"] = "1"  # one augmentation worker each (the timing above drew in-process)
        argv = ["pancreas-mt-train", "train", str(DATASET_ID), "0", "--device", "cpu", "--precision", precision]
        log = (work / f"train_{precision}.log").open("w")
        jobs[precision] = (subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT), time.perf_counter())
    walls = {}
    while len(walls) < len(jobs):
        for precision, (job, started) in jobs.items():
            if precision not in walls and job.poll() is not None:
                walls[precision] = time.perf_counter() - started
        time.sleep(1)
    gt = Path(os.environ["nnUNet_preprocessed"]) / raw.name / "gt_segmentations"
    for precision, (job, _) in jobs.items():
        if job.returncode != 0:
            raise SystemExit(f"{precision} training failed: see {work / f'train_{precision}.log'}")
        folder = work / f"results_{precision}" / raw.name / f"{TRAINER}__{MULTITASK_PLANS}__2d"
        epochs = [
            float(t)
            for path in (folder / "fold_0").glob("training_log_*.txt")
            for t in re.findall(r"Epoch time: ([0-9.]+) s", path.read_text())
        ]
        result = cross_validation(folder, gt)
        seg, cls = result["segmentation"], result["classification"]["lesion-weighted"]
        print(
            f"{precision} fold 0: {len(epochs)} epochs, median epoch {statistics.median(epochs):.1f} s, wall "
            f"{walls[precision]:.0f} s (with nnU-Net's final validation); lesion Dice "
            f"{seg['lesion']['dice']:.3f}, gland Dice {seg['pancreas']['dice']:.3f}, subtype accuracy "
            f"{cls['accuracy']:.1%} of {cls['cases']} lesion cases, Brier {cls['brier']:.3f}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10, help="training phantoms (at least 5, for fold 0)")
    parser.add_argument("--steps", type=int, default=20, help="timed training steps per precision")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--epochs", type=int, default=0, help="then train fold 0 this long in each precision")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_training_precision_") as work:
        run(args, Path(work))


def run(args: argparse.Namespace, work: Path) -> None:
    """The benchmark in ``work`` (nnU-Net's three folders inside it)."""
    for name in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
        os.environ[name] = str(work / name)
    import numpy as np
    import torch
    from pancreas_mt_training.demo import DemoConfig, prepare

    config = DemoConfig(dataset_id=DATASET_ID, train_cases=args.cases, num_epochs=max(args.epochs, 1))
    started = time.perf_counter()
    raw = prepare(config, work)
    print(f"demo dataset and plans on {args.cases} phantoms: {time.perf_counter() - started:.0f} s", flush=True)
    os.environ["nnUNet_n_proc_DA"] = "0"  # batches drawn in this process (nnU-Net's planner needs it unset)
    torch.set_num_threads(args.threads)  # after planning, which sets its own
    preprocessed = Path(os.environ["nnUNet_preprocessed"]) / raw.name

    np.random.seed(0)
    loader = trainer_for(preprocessed, "float32").get_dataloaders()[0]
    batches, draws = [], []
    for _ in range(args.warmup + args.steps):
        started = time.perf_counter()
        batches.append(next(loader))
        draws.append(time.perf_counter() - started)
    medians = {}
    for precision in ("float32", "bfloat16"):
        trainer = trainer_for(preprocessed, precision)
        steps = []
        for i, batch in enumerate(batches):
            np.random.seed(i)
            started = time.perf_counter()
            trainer.train_step(batch)
            if i >= args.warmup:
                steps.append(time.perf_counter() - started)
        medians[precision] = statistics.median(steps)
        print(f"{precision}: median training step {medians[precision]:.3f} s over {len(steps)} steps", flush=True)
    draw = statistics.median(draws[args.warmup :])
    print(f"drawing a batch (nnU-Net's loader and augmentation, one process): median {draw:.3f} s")
    print(f"torch threads {args.threads}; batch {config.batch_size}, patch {config.patch_size}")
    print(f"CPU bfloat16 flags: {cpu_flags()}")
    ratio = medians["float32"] / medians["bfloat16"]
    print(f"speed ratio bfloat16 / float32 (training step): {ratio:.2f}x", flush=True)
    if args.epochs:
        train_twins(raw, work)


if __name__ == "__main__":
    main()
