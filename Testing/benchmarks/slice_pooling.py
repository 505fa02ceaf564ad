"""Would another way of pooling the slices' subtype probabilities serve the case better? Poolings compared.

Scores a trained fold's jointly trained head on its validation cases through the product's lesion-weighted pooling
(``engine/subtype.py``; what the fold's ``validation/subtypes.json`` says) and through alternatives, paired against
it: weights of the squared lesion mass, the slice of most lesion alone, a weighted mean of log-probabilities, the
slices of at least half the largest lesion mass, and the paper's equal weights over the slices with lesion. The
guided views are ``head_refit.py``'s (its cache is shared). Prints the accuracy (Wilson 95% interval), the Brier
score and McNemar's exact test against the product's pooling. Not a test.

    PANCREAS_MT_TRAIN_PRECISION=bfloat16 OMP_NUM_THREADS=2 \\
        python Testing/benchmarks/slice_pooling.py --workdir /tmp/pmt-demo
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ct_runs import cpu_flags
from head_refit import line, trained_fold, validation_views


def _weighted(probabilities: np.ndarray, weights: np.ndarray) -> np.ndarray:
    return weights @ probabilities / weights.sum()


#: Each pooling: (slices x subtypes) probabilities and the slices' lesion masses -> case probabilities (unnormalized).
POOLINGS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "squared lesion mass": lambda p, m: _weighted(p, m**2),
    "slice of most lesion": lambda p, m: p[np.argmax(m)],
    "weighted mean of log-probabilities": lambda p, m: np.exp(_weighted(np.log(np.clip(p, 1e-9, 1.0)), m)),
    "slices of at least half the most lesion": lambda p, m: _weighted(p, m * (m >= 0.5 * m.max())),
    "equal weights over slices with lesion": lambda p, m: p[m >= 1.0].mean(0) if (m >= 1.0).any() else p.mean(0),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True, help="a demo work folder (nnU-Net's three folders)")
    parser.add_argument("--fold", type=int, default=0)
    parser.add_argument("--cache", type=Path, help="the views' cache (default: <workdir>/head_refit_fold_N.pt)")
    args = parser.parse_args()
    from pancreas_mt_training.labels import NO_SUBTYPE
    from PancreasMultiTaskLib.engine.subtype import pool_slices

    trainer = trained_fold(args.workdir, args.fold)
    network = trainer._plain_network().eval()
    print(f"CPU bfloat16 flags: {cpu_flags()}; cores: {os.cpu_count()}; torch threads: {torch.get_num_threads()}")
    cases = validation_views(trainer, args.cache or args.workdir / f"head_refit_fold_{args.fold}.pt")
    pooled: dict[str, list[np.ndarray]] = {"lesion-weighted (the product's)": []}
    truth = []
    with torch.no_grad():
        for case in cases.values():
            if case["truth"] == NO_SUBTYPE:
                continue
            slices = torch.softmax(network.classify(case["views"]).float(), 1).numpy().astype(np.float64)
            lesion_mass, pancreas_mass = case["lesion_mass"].numpy(), case["pancreas_mass"].numpy()
            product = pool_slices(slices, lesion_mass, pancreas_mass, "lesion-weighted")
            pooled["lesion-weighted (the product's)"].append(product.probabilities)
            # The masses the product weighted by: the lesion's, or where it is absent the pancreas's, or none.
            mass = {"lesion-weighted": lesion_mass, "pancreas-weighted": pancreas_mass}.get(
                product.method, np.ones(len(slices))
            )
            for name, pooling in POOLINGS.items():
                case_probabilities = pooling(slices, mass)
                pooled.setdefault(name, []).append(case_probabilities / case_probabilities.sum())
            truth.append(case["truth"])
    truth = np.array(truth)
    reference = None
    for name, probabilities in pooled.items():
        probabilities = np.array(probabilities)
        print(line(name, probabilities, truth, reference, against="the product's pooling"), flush=True)
        if reference is None:
            reference = probabilities.argmax(1) == truth


if __name__ == "__main__":
    main()
