"""bfloat16 against float32 on the trained demo model's phantoms of its held-out seed (never used in training).

Both precisions run through the PyTorch backend on this CPU (torch autocast to bfloat16: on a CPU
without bfloat16 units the arithmetic is emulated, but it is still bfloat16 rounding, so quality is
measured even where speed is not). Prints per precision the mean lesion and pancreas Dice against
the truth, the largest per-case Dice change, the label agreement between the two, subtype changes
and the largest change of a case probability, and last whether bfloat16 passes the check (mean Dice
moves by at most 0.005, no subtype changes). ``--precision auto`` takes bfloat16 on a CPU only for a
model whose own ``competence.json`` records such a check as passed (``"bfloat16_check": {"passed": true}``);
this script reports, it writes no record.

    python Testing/benchmarks/bf16_quality.py [--phantoms 12] [--seed 2] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE.parent))

MAX_DICE_CHANGE = 0.005


def cases(count: int, seed: int) -> list[tuple[str, object, object, str]]:
    """(case id, image, truth, true subtype name) of ``count`` held-out phantoms.

    Generated as a set of ``count`` with the held-out seed: subtypes and statistics are balanced per set,
    so these are other cases than the demo report's held-out ones, and like them not used in training.
    """
    from pancreas_mt_training.phantoms import SUBTYPE_NAMES, generate_phantoms

    config = json.loads(demo_config().read_text())
    # A config without "generator" predates the field phantoms: its model was trained on centred ones.
    phantoms = generate_phantoms(seed, count, tuple(config["shape"]), generator=config.get("generator", "centred"))
    return [(p.case_id, p.image, p.label, SUBTYPE_NAMES[p.subtype]) for p in phantoms]


def demo_config() -> Path:
    return REPO / "Resources" / "DemoModel" / "demo_config.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phantoms", type=int, default=12, help="held-out phantoms (balanced subtypes)")
    parser.add_argument("--seed", type=int, default=json.loads(demo_config().read_text())["test_seed"])
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="pmt-bf16-") as home:
        os.environ.setdefault("PANCREAS_MT_HOME", home)
        run(args)


def run(args: argparse.Namespace) -> None:
    import numpy as np
    import SimpleITK as sitk
    import torch
    from pancreas_mt_training.metrics import segmentation_metrics
    from PancreasMultiTaskLib.engine.demo import demo_model_folder
    from PancreasMultiTaskLib.engine.precision import cpu_bf16_units
    from PancreasMultiTaskLib.engine.predictor import PredictionOptions, Predictor

    if args.threads:
        torch.set_num_threads(args.threads)
    model = demo_model_folder()
    data = cases(args.phantoms, args.seed)
    rows: dict[str, list[dict]] = {}
    for precision in ("float32", "bfloat16"):
        options = PredictionOptions(device="cpu", backend="torch", precision=precision, num_threads=args.threads)
        predictor = Predictor(model, options)
        start, rows[precision] = time.perf_counter(), []
        for case_id, image, truth, subtype in data:
            prediction = predictor.predict(image, case_id)
            labels = sitk.GetArrayFromImage(prediction.segmentation)
            metrics = segmentation_metrics(labels, sitk.GetArrayFromImage(truth), truth.GetSpacing()[::-1])
            result = prediction.result.subtype
            rows[precision].append(
                {
                    "case": case_id,
                    "labels": labels,
                    "lesion": metrics["lesion"]["dice"],
                    "pancreas": metrics["pancreas"]["dice"],
                    "truth": subtype,
                    "predicted": result.predicted,
                    "probabilities": np.array(list(result.probabilities.values())),
                }
            )
        folds = ", ".join(predictor.model.folds)
        seconds = time.perf_counter() - start
        print(f"{precision}: {len(data)} cases in {seconds:.1f} s (torch backend, folds {folds}, TTA)")

    f32, bf16 = rows["float32"], rows["bfloat16"]
    print(f"model: {model.name}; cases: {args.phantoms} held-out phantoms (seed {args.seed})")
    print(f"CPU bfloat16 units (amx_bf16/avx512_bf16): {cpu_bf16_units()}; bfloat16 here is emulated if False")
    changes = {}
    for structure in ("lesion", "pancreas"):
        a = np.array([r[structure] for r in f32])
        b = np.array([r[structure] for r in bf16])
        changes[structure] = abs(b.mean() - a.mean())
        print(
            f"{structure} Dice: float32 {a.mean():.4f}, bfloat16 {b.mean():.4f}, "
            f"mean change {b.mean() - a.mean():+.4f}, largest per-case change {np.abs(b - a).max():.4f}"
        )
    agreement = np.mean([(x["labels"] == y["labels"]).mean() for x, y in zip(f32, bf16, strict=True)])
    print(f"label agreement bfloat16 / float32: {agreement * 100:.3f}% of voxels (mean over cases)")
    flipped = [x["case"] for x, y in zip(f32, bf16, strict=True) if x["predicted"] != y["predicted"]]
    largest = max(np.abs(x["probabilities"] - y["probabilities"]).max() for x, y in zip(f32, bf16, strict=True))
    correct = {p: np.mean([r["predicted"] == r["truth"] for r in rows[p]]) for p in rows}
    print(
        f"subtype accuracy (lesion-weighted pooling): float32 {correct['float32']:.3f}, "
        f"bfloat16 {correct['bfloat16']:.3f}"
    )
    print(f"subtype changes: {len(flipped)} {flipped}; largest case-probability change {largest:.4f}")
    passed = all(c <= MAX_DICE_CHANGE for c in changes.values()) and not flipped
    verdict = "PASS" if passed else "FAIL"
    print(f"bfloat16 quality check (mean Dice change <= {MAX_DICE_CHANGE}, no subtype change): {verdict}")


if __name__ == "__main__":
    main()
