"""Does refitting the subtype head on a trained fold's frozen network help the case's subtype? Refits compared.

Takes a trained fold of a view network (a demo work folder's ``fold_N/checkpoint_final.pth``, read, never
written; the trainer's log goes beside it) and scores, on its validation cases and through the product's
lesion-weighted pooling, the jointly trained head and the head of the trainer's ``refit_head`` for each
``--iterations`` x ``--lr``. The segmentation, and so each case's guided tiles and lesion masses, is the same for
every head (the refit freezes everything but the head): it is computed once, as the fold's final validation
computes it, and kept in ``--cache``. The jointly trained head's row is what the fold's ``validation/subtypes.json``
says. Prints the accuracy (Wilson 95% interval), the Brier score, and McNemar's exact test against the joint head.
Not a test.

    PANCREAS_MT_TRAIN_PRECISION=bfloat16 OMP_NUM_THREADS=2 \
        python Testing/benchmarks/head_refit.py --workdir /tmp/pmt-demo --iterations 2000 6000
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import binomtest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ct_runs import cpu_flags

TRAINER, PLANS = "nnUNetTrainerMultiTask", "nnUNetResEncUNetMPlans_MultiTask"


def trained_fold(workdir: Path, fold: int):
    """The multi-task trainer of fold ``fold`` of a demo work folder, initialized, its final checkpoint loaded."""
    for name in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
        os.environ[name] = str(workdir / name)
    os.environ.setdefault("nnUNet_n_proc_DA", "1")
    from nnunetv2.run.run_training import get_trainer_from_args
    from pancreas_mt_training.trainer import external_trainer_folder

    os.environ["nnUNet_extTrainer"] = str(external_trainer_folder())
    dataset = next((workdir / "nnUNet_preprocessed").glob("Dataset*")).name
    trainer = get_trainer_from_args(dataset, "2d", fold, TRAINER, PLANS, device=torch.device("cpu"))
    trainer.initialize()
    trainer.load_checkpoint(str(Path(trainer.output_folder) / "checkpoint_final.pth"))
    return trainer


def validation_views(trainer, cache: Path) -> dict[str, dict]:
    """Per validation case of a view network: its guided tiles' central views, lesion and pancreas masses, and truth
    (cached in ``cache``, read back with ``weights_only``)."""
    if cache.is_file():
        return torch.load(cache, weights_only=True)
    from PancreasMultiTaskLib.engine.network import centre_crop

    network = trainer._plain_network()
    cases = {}
    for key, data, logits, _, subtype in trainer.validation_cases():
        tiles, lesion_mass, pancreas_mass = trainer.guided_inputs(data, logits)
        cases[key] = {
            "views": centre_crop(tiles, network.classifier_view).clone(),
            "lesion_mass": torch.from_numpy(lesion_mass),
            "pancreas_mass": torch.from_numpy(pancreas_mass),
            "truth": subtype,
        }
    torch.save(cases, cache)
    return cases


def score(network, cases: dict[str, dict]) -> tuple[np.ndarray, np.ndarray]:
    """Each lesion case's lesion-weighted pooled probabilities and truth, through ``network``'s head."""
    from pancreas_mt_training.labels import NO_SUBTYPE
    from PancreasMultiTaskLib.engine.subtype import pool_slices

    network.eval()
    pooled, truths = [], []
    with torch.no_grad():
        for case in cases.values():
            if case["truth"] == NO_SUBTYPE:
                continue
            probs = torch.softmax(network.classify(case["views"]).float(), 1).numpy()
            result = pool_slices(probs, case["lesion_mass"].numpy(), case["pancreas_mass"].numpy(), "lesion-weighted")
            pooled.append(result.probabilities)
            truths.append(case["truth"])
    return np.array(pooled), np.array(truths)


def line(
    name: str, probs: np.ndarray, truth: np.ndarray, reference: np.ndarray | None, against: str = "the joint head"
) -> str:
    """One row: accuracy (Wilson 95%), Brier, and with ``reference`` (right or wrong per case) McNemar against it."""
    from pancreas_mt_training.evaluate import wilson_interval

    right = probs.argmax(1) == truth
    low, high = wilson_interval(int(right.sum()), len(right))
    brier = float(np.mean(np.sum((probs - np.eye(probs.shape[1])[truth]) ** 2, 1)))
    text = f"{name}: {right.sum()}/{len(right)} = {right.mean():.1%} ({low:.1%}-{high:.1%}), Brier {brier:.3f}"
    if reference is not None:
        gained, lost = int((right & ~reference).sum()), int((reference & ~right).sum())
        p = binomtest(gained, gained + lost).pvalue if gained + lost else 1.0
        text += f"; against {against} +{gained} -{lost}, McNemar p = {p:.2f}"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True, help="a demo work folder (nnU-Net's three folders)")
    parser.add_argument("--fold", type=int, default=0)
    parser.add_argument("--iterations", type=int, nargs="+", default=[2000])
    parser.add_argument("--lr", type=float, nargs="+", default=[3e-3])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", type=Path, help="the views' cache (default: <workdir>/head_refit_fold_N.pt)")
    args = parser.parse_args()
    trainer = trained_fold(args.workdir, args.fold)
    network = trainer._plain_network()
    weights = copy.deepcopy(network.state_dict())
    if network.classifier_view is None:
        parser.error("the fold's network has no classifier_view: its head reads the sliding window's tiles")
    print(f"CPU bfloat16 flags: {cpu_flags()}; cores: {os.cpu_count()}; torch threads: {torch.get_num_threads()}")
    start = time.time()
    cases = validation_views(trainer, args.cache or args.workdir / f"head_refit_fold_{args.fold}.pt")
    print(f"{len(cases)} validation cases' guided views in {time.time() - start:.0f} s")
    joint_probs, truth = score(network, cases)
    print(line("jointly trained head", joint_probs, truth, None), flush=True)
    joint_right = joint_probs.argmax(1) == truth
    trainer.dataloader_train, trainer.dataloader_val = trainer.get_dataloaders()
    try:
        for lr in args.lr:
            for iterations in args.iterations:
                network.load_state_dict(copy.deepcopy(weights))
                trainer.options.head_refit_iterations, trainer.options.head_refit_lr = iterations, lr
                torch.manual_seed(args.seed)
                np.random.seed(args.seed)
                start = time.time()
                trainer.refit_head()
                probs, _ = score(network, cases)
                name = f"refit, {iterations} iterations at lr {lr:g} ({time.time() - start:.0f} s)"
                print(line(name, probs, truth, joint_right), flush=True)
    finally:
        for loader in (trainer.dataloader_train, trainer.dataloader_val):
            if hasattr(loader, "_finish"):
                loader._finish()


if __name__ == "__main__":
    main()
