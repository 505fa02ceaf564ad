"""How many lesions does the abdomen phantoms' subtype cue take to learn, and do the baselines stay blind to it?

A fast check of the generator before a training of hours. It renders ``--cases`` lesions alone
(``make_lesion_patch``; the generator's defaults, diameters from ``--diameter-mm``), keeps the last
``--test`` for testing, and scores on them

* the ``HU`` and ``radiomics`` baselines (``baseline.score_baselines`` on the true lesion mask, fitted on
  every other lesion), and
* an idealized CNN trained on the first ``n`` lesions for each ``n`` of ``--train-lesions``: a small
  network on one axial slice per lesion (its largest), centred on the true lesion and resampled to
  ``--grid-mm`` (the demo's training grid), with flips and quarter turns.

The CNN is told where the lesion is and sees its best slice, so its accuracy bounds what the demo's head
can reach from as many lesions at that grid; a demo fold trains on about 60. The set's ceiling is the
share of test lesions whose pattern is their subtype's; ``--target pattern`` learns the pattern shown instead,
which separates the cue's visibility from its label noise. Not a test: a few minutes on 2 cores.

    OMP_NUM_THREADS=2 python Testing/benchmarks/subtype_cue.py --train-lesions 60 150 450
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import SimpleITK as sitk
import torch
from pancreas_mt_training.baseline import lesion_features, score_baselines
from pancreas_mt_training.demo import DemoConfig
from pancreas_mt_training.evaluate import accuracy_ci
from pancreas_mt_training.phantoms import SUBTYPE_NAMES
from pancreas_mt_training.phantoms_abdomen import AbdomenParams, make_lesion_patch
from scipy import ndimage
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ct_runs import cpu_flags

LESION = 2
#: Side of the CNN's square input around the lesion centre (mm): the largest lesion (40 mm) plus a margin.
FOV_MM = 48.0
SEED = 11


def render(job: tuple[int, AbdomenParams]) -> dict:
    """One lesion alone: its features, the centred slice (HU, native grid), subtype and pattern shown."""
    index, params = job
    phantom = make_lesion_patch(SEED, index, params)
    image = sitk.GetArrayFromImage(phantom.image).astype(np.float32)
    mask = sitk.GetArrayFromImage(phantom.label) == LESION
    k = int(mask.sum((1, 2)).argmax())
    return {
        "features": lesion_features(phantom.image, phantom.label),
        "slice": image[k],
        "mask": mask[k],
        "spacing": phantom.image.GetSpacing()[0],
        "subtype": phantom.subtype,
        "pattern": phantom.metadata["pattern"],
        "diameter_mm": phantom.metadata["lesion"]["diameter_mm"],
    }


def centred(case: dict, grid_mm: float) -> np.ndarray:
    """The lesion's slice resampled to ``grid_mm`` and cut to ``FOV_MM`` around its centre (padded with its median)."""
    zoom = case["spacing"] / grid_mm
    hu = ndimage.zoom(case["slice"], zoom, order=1)
    cy, cx = (c * zoom for c in ndimage.center_of_mass(case["mask"]))
    n = round(FOV_MM / grid_mm)
    out = np.full((n, n), np.median(hu), np.float32)
    y0, x0 = round(cy - n / 2), round(cx - n / 2)
    ys, xs, ye, xe = max(0, y0), max(0, x0), min(hu.shape[0], y0 + n), min(hu.shape[1], x0 + n)
    out[ys - y0 : ye - y0, xs - x0 : xe - x0] = hu[ys:ye, xs:xe]
    return (out - 40.0) / 40.0


def network(classes: int) -> nn.Module:
    def block(cin: int, cout: int, stride: int) -> list[nn.Module]:
        return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]

    return nn.Sequential(
        *block(1, 16, 1),
        *block(16, 16, 1),
        *block(16, 32, 2),
        *block(32, 32, 1),
        *block(32, 64, 2),
        *block(64, 64, 1),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Dropout(0.2),
        nn.Linear(64, classes),
    )


def train_cnn(x: np.ndarray, y: np.ndarray, test_x: np.ndarray, epochs: int) -> np.ndarray:
    """Class probabilities of ``test_x`` from a small CNN trained on ``x``, ``y`` (flips and quarter turns)."""
    torch.manual_seed(SEED)
    generator = np.random.default_rng(SEED)
    net = network(len(SUBTYPE_NAMES))
    optimizer = torch.optim.AdamW(net.parameters(), 3e-3, weight_decay=1e-3)
    steps = epochs * -(-len(x) // 32)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, 3e-3, total_steps=steps)
    inputs, targets = torch.from_numpy(x[:, None]), torch.from_numpy(y)
    for _ in range(epochs):
        net.train()
        order = torch.randperm(len(x))
        for start in range(0, len(x), 32):
            batch = inputs[order[start : start + 32]]
            if generator.uniform() < 0.5:
                batch = batch.flip(-1)
            batch = torch.rot90(batch, int(generator.integers(4)), (-2, -1))
            loss = nn.functional.cross_entropy(net(batch), targets[order[start : start + 32]])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
    net.eval()
    with torch.no_grad():
        views = torch.from_numpy(test_x[:, None])
        logits = sum(net(torch.rot90(v, k, (-2, -1))) for v in (views, views.flip(-1)) for k in range(4))
    return torch.softmax(logits / 8, 1).numpy()


def percent(interval: Sequence[float]) -> str:
    return f"{100 * interval[0]:.1f}-{100 * interval[1]:.1f}%"


#: Diameter bands (mm) of the per-size accuracies.
BANDS = ((0.0, 6.0), (6.0, 10.0), (10.0, 20.0), (20.0, 41.0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=750, help="lesions rendered")
    parser.add_argument("--test", type=int, default=250, help="the last this many are the test set")
    parser.add_argument("--train-lesions", type=int, nargs="+", default=[60, 150, 450], help="training set sizes")
    parser.add_argument("--diameter-mm", type=float, nargs=2, help="lesion diameters (default: the generator's)")
    parser.add_argument("--grid-mm", type=float, default=DemoConfig().spacing_mm, help="the CNN's in-plane grid")
    parser.add_argument("--epochs", type=int, default=60, help="epochs at 450 lesions (more for fewer)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--target", choices=("subtype", "pattern"), default="subtype", help="the label learned and scored"
    )
    args = parser.parse_args()
    pool_size = args.cases - args.test
    if args.test < 1 or max(args.train_lesions) > pool_size:
        parser.error(f"--train-lesions at most --cases - --test = {pool_size}, and --test at least 1")
    params = AbdomenParams(normal_fraction=0.0)
    if args.diameter_mm:
        params = replace(params, lesion_diameter_mm=tuple(args.diameter_mm))
    with Pool(args.workers) as pool:
        cases = pool.map(render, [(i, params) for i in range(args.cases)])
    test = cases[pool_size:]
    y = np.array([c[args.target] for c in cases])
    diameter = np.array([c["diameter_mm"] for c in test])
    features = np.stack([c["features"] for c in cases])
    baselines = score_baselines(features[:pool_size], y[:pool_size], features[pool_size:], y[pool_size:], SUBTYPE_NAMES)
    x = np.stack([centred(c, args.grid_mm) for c in cases])
    lo, hi = params.lesion_diameter_mm
    print(f"CPU bfloat16 flags: {cpu_flags()}; cores: {os.cpu_count()}; torch threads: {torch.get_num_threads()}")
    print(f"{args.test} test lesions of {lo:g}-{hi:g} mm; CNN on a {FOV_MM:g} mm slice at {args.grid_mm:g} mm")
    print(f"learned and scored: the {args.target}" + (" shown (no ceiling)" if args.target == "pattern" else ""))
    ceiling = float(np.mean([c["pattern"] == c["subtype"] for c in test]))
    print(f"set ceiling (pattern shown = subtype): {100 * ceiling:.1f}%")
    for result in baselines:
        print(
            f"{result['baseline']} baseline ({pool_size} train): {100 * result['accuracy']:.1f}% "
            f"({percent(result['accuracy_ci95'])})"
        )
    bands = [f"{a:g}-{min(b, hi):g} mm (n={int(np.sum((diameter >= a) & (diameter < b)))})" for a, b in BANDS]
    print("| train lesions | idealized CNN (95% CI) | " + " | ".join(bands) + " |")
    print("|---" * (2 + len(BANDS)) + "|")
    for n in args.train_lesions:
        epochs = max(args.epochs, args.epochs * 450 // n // 3)
        probabilities = train_cnn(x[:n], y[:n], x[pool_size:], epochs)
        right = probabilities.argmax(1) == y[pool_size:]
        by_band = [right[(diameter >= a) & (diameter < b)] for a, b in BANDS]
        cells = [f"{100 * r.mean():.0f}%" if r.size else "n/a" for r in by_band]
        print(
            f"| {n} | {100 * right.mean():.1f}% ({percent(accuracy_ci(y[pool_size:], probabilities))}) | "
            + " | ".join(cells)
            + " |",
            flush=True,
        )


if __name__ == "__main__":
    main()
