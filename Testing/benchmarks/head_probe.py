"""Does the demo network's subtype head learn from lesion tiles alone? A probe on a demo run's preprocessed data.

Builds the network of a demo work folder's plans (``nnUNetResEncUNetMPlans_MultiTask.json``, fresh weights) and
trains it with the class loss only (cross-entropy, label smoothing 0.1; nnU-Net's SGD) on lesion tiles of
fold 0's training cases: the patch size, centred on the lesion of each case's ``--slices-per-case`` largest
lesion slices, shifted by up to 15% of the patch (the trainer's ``tile_jitter``), flipped. It prints the tile
accuracy on training tiles and on one tile (the largest lesion slice) of each validation case every 100
iterations. ``--head gap`` swaps the paper's head for global average pooling and one linear layer; ``--view Y X``
trains on a smaller tile (pixels, multiples of the network's stride) around the lesion, the head sized for it;
``--features`` sets the features per stage; ``--optimizer adamw`` trains with AdamW (lr 3e-3) instead of nnU-Net's
SGD (``--lr``, ``--momentum`` change either); ``--init MODEL`` starts from fold 0 of a trained model folder (the
engine's loader) (with ``--view``, a fresh paper head sized for the view), and ``--head-only`` then trains the head
alone on its frozen encoder: whether the segmentation's features carry the subtype (``--stage K``: a fresh head
on encoder stage K's features instead of the deepest, the paper's). ``--net cue`` trains
``subtype_cue.py``'s idealized CNN on the same tiles instead: whether the preprocessed tiles carry the cue at all,
which tells the network and its training from the data. ``--init MODEL --evaluate`` only scores MODEL's fold 0
on one centred tile of each validation lesion (the figure the training README gives for the demo runs). Not a
test.

    OMP_NUM_THREADS=1 python Testing/benchmarks/head_probe.py --workdir /tmp/pmt-demo --iterations 800
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch
from nnunetv2.training.dataloading.nnunet_dataset import infer_dataset_class
from nnunetv2.utilities.get_network_from_plans import get_network_from_plans
from pancreas_mt_training.labels import NO_SUBTYPE
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ct_runs import cpu_flags
from subtype_cue import network as cue_network

LESION = 2
#: Fewest lesion pixels of a tile (``DemoConfig.class_min_pixels``).
MIN_PIXELS = 24
JITTER = 0.15


def lesion_tiles(
    dataset, ids, subtypes, patch, per_case: int, rng, jitter: float = JITTER
) -> tuple[np.ndarray, np.ndarray]:
    """Tiles of ``patch`` around the lesion of each case's largest lesion slices (shifted by up to ``jitter`` of
    the patch), and their subtypes."""
    tiles, labels = [], []
    for case in ids:
        if subtypes.get(case, NO_SUBTYPE) == NO_SUBTYPE:
            continue
        data, seg, _, _ = dataset.load_case(case)
        data, seg = np.asarray(data[0]), np.asarray(seg[0])
        area = (seg == LESION).sum((1, 2))
        for k in np.argsort(area)[::-1][:per_case]:
            if area[k] < MIN_PIXELS:
                break
            ys, xs = np.nonzero(seg[k] == LESION)
            y0 = round(ys.mean() + rng.uniform(-jitter, jitter) * patch[0] - patch[0] / 2)
            x0 = round(xs.mean() + rng.uniform(-jitter, jitter) * patch[1] - patch[1] / 2)
            tile = np.full(patch, data.min(), np.float32)
            a, b = max(0, y0), max(0, x0)
            c, d = min(data.shape[1], y0 + patch[0]), min(data.shape[2], x0 + patch[1])
            tile[a - y0 : c - y0, b - x0 : d - x0] = data[k, a:c, b:d]
            tiles.append(tile)
            labels.append(subtypes[case])
    return np.stack(tiles)[:, None], np.array(labels)


class CueNetwork(nn.Module):
    """``subtype_cue.py``'s idealized CNN, answering like the multi-task network: (no segmentation, class logits)."""

    def __init__(self, classes: int) -> None:
        super().__init__()
        self.body = cue_network(classes)

    def forward(self, x: torch.Tensor) -> tuple[None, torch.Tensor]:
        return None, self.body(x)


class StageReader(nn.Module):
    """A fresh paper head on one encoder stage's features of a trained network (``--stage``), answering like it."""

    def __init__(self, net: nn.Module, stage: int, view: tuple[int, int]) -> None:
        from PancreasMultiTaskLib.engine.network import SubtypeClassifierHead, bottleneck_size

        super().__init__()
        self.encoder, self.stage = net.encoder, stage
        size = bottleneck_size(view, net.encoder.strides[: stage + 1])
        self.classifier = SubtypeClassifierHead(net.encoder.output_channels[stage], size, net.num_subtypes)

    def forward(self, x: torch.Tensor) -> tuple[None, torch.Tensor]:
        return None, self.classifier(self.encoder(x)[self.stage])


def accuracy(net: nn.Module, x: torch.Tensor, y: np.ndarray) -> float:
    net.eval()
    with torch.no_grad():
        logits = torch.cat([net(x[i : i + 64])[1] for i in range(0, len(x), 64)])
    return float(np.mean(logits.argmax(1).numpy() == y))


def evaluate(model: Path, checkpoint: str, dataset, ids, subtypes) -> None:
    """Fold 0 of ``model`` on a tile of its own patch centred on each validation lesion's largest slice."""
    from pancreas_mt_training.evaluate import wilson_interval
    from PancreasMultiTaskLib.engine.model_folder import open_model_folder

    net = open_model_folder(model, folds=["0"], checkpoint_name=checkpoint).load_network("0")
    net.class_outputs = True
    x, y = lesion_tiles(dataset, ids, subtypes, net.patch_size, 1, np.random.default_rng(0), jitter=0.0)
    correct = round(accuracy(net, torch.from_numpy(x), y) * len(y))
    low, high = wilson_interval(correct, len(y))
    print(f"{model} fold 0 ({checkpoint}), tile {net.patch_size}: {correct}/{len(y)} validation lesions right")
    print(f"= {correct / len(y):.1%} (95% CI {low:.1%}-{high:.1%}); lesions per subtype {np.bincount(y).tolist()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True, help="a demo-model work folder (nnUNet_preprocessed)")
    parser.add_argument("--iterations", type=int, default=800)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--slices-per-case", type=int, default=6)
    parser.add_argument("--net", choices=("plans", "cue"), default="plans", help="cue: subtype_cue.py's CNN")
    parser.add_argument("--head", choices=("paper", "gap"), default="paper")
    parser.add_argument("--features", type=int, nargs="+", help="features per stage (default: the plans')")
    parser.add_argument("--view", type=int, nargs=2, help="tile size in pixels (default: the plans' patch)")
    parser.add_argument("--optimizer", choices=("sgd", "adamw"), default="sgd")
    parser.add_argument("--lr", type=float, help="learning rate (default: 1e-2 for SGD, 3e-3 for AdamW)")
    parser.add_argument("--momentum", type=float, default=0.99, help="SGD momentum (default: nnU-Net's 0.99)")
    parser.add_argument("--init", type=Path, help="a trained model folder: start from its fold 0's weights")
    parser.add_argument("--head-only", action="store_true", help="with --init: train a fresh head alone")
    parser.add_argument("--stage", type=int, help="with --head-only: the encoder stage read (default: deepest)")
    parser.add_argument("--checkpoint", default="checkpoint_final.pth", help="with --init: the checkpoint file")
    parser.add_argument(
        "--evaluate",
        action="store_true",
        help="with --init: score its fold 0 on a centred tile of each validation lesion, no training",
    )
    args = parser.parse_args()
    if args.evaluate and (not args.init or args.head_only or args.view):
        parser.error("--evaluate scores --init's own network: no --head-only or --view")
    if args.head_only and not args.init:
        parser.error("--head-only needs --init")
    if args.stage is not None and not args.head_only:
        parser.error("--stage needs --head-only")
    if args.init and (args.head != "paper" or args.net != "plans"):
        parser.error("--init keeps the trained network: no --head or --net")
    if args.net == "cue" and (args.head != "paper" or args.features):
        parser.error("--net cue has its own layers: no --head or --features")
    if args.init and args.features:
        parser.error("--init keeps the trained network: no --features")
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    preprocessed = next((args.workdir / "nnUNet_preprocessed").glob("Dataset*"))
    config = json.loads((preprocessed / "nnUNetResEncUNetMPlans_MultiTask.json").read_text())["configurations"]["2d"]
    split = json.loads((preprocessed / "splits_final.json").read_text())[0]
    with (preprocessed / "subtypes.csv").open(encoding="utf-8") as handle:
        subtypes = {row["case_id"]: int(row["subtype"]) for row in csv.DictReader(handle)}
    dataset = infer_dataset_class(str(preprocessed / config["data_identifier"]))(
        str(preprocessed / config["data_identifier"]), split["train"] + split["val"]
    )
    if args.evaluate:
        evaluate(args.init, args.checkpoint, dataset, split["val"], subtypes)
        return
    patch = tuple(args.view or config["patch_size"])
    train_x, train_y = lesion_tiles(dataset, split["train"], subtypes, patch, args.slices_per_case, rng)
    val_x, val_y = lesion_tiles(dataset, split["val"], subtypes, patch, 1, rng)
    arch = config["architecture"]
    if args.features:
        if len(args.features) != arch["arch_kwargs"]["n_stages"]:
            parser.error(f"--features needs {arch['arch_kwargs']['n_stages']} numbers, one a stage")
        arch["arch_kwargs"]["features_per_stage"] = args.features
    if args.init:
        from PancreasMultiTaskLib.engine.model_folder import open_model_folder

        net = open_model_folder(args.init, folds=["0"], checkpoint_name=args.checkpoint).load_network("0")
        net.class_outputs = True
    elif args.net == "cue":
        net = CueNetwork(3)
    else:
        net = get_network_from_plans(
            arch["network_class_name"],
            {**arch["arch_kwargs"], "patch_size": list(patch)},
            arch["_kw_requires_import"],
            1,
            3,
            deep_supervision=False,
        )
    if args.init and args.view:  # a fresh head sized for the view, on the trained encoder
        from PancreasMultiTaskLib.engine.network import SubtypeClassifierHead, bottleneck_size

        net.patch_size = patch
        net.classifier = SubtypeClassifierHead(
            net.encoder.output_channels[-1], bottleneck_size(patch, net.encoder.strides), net.num_subtypes
        )
    if args.stage is not None:
        if args.stage not in range(len(net.encoder.output_channels)):
            parser.error(f"--stage must be 0..{len(net.encoder.output_channels) - 1}")
        net = StageReader(net, args.stage, patch)
    if args.head_only:  # a fresh head on the trained, frozen encoder
        for module in net.classifier.modules():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
        for name, parameter in net.named_parameters():
            parameter.requires_grad = name.startswith("classifier.")
    if args.head == "gap":
        net.classifier = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(arch["arch_kwargs"]["features_per_stage"][-1], 3)
        )
    print(f"CPU bfloat16 flags: {cpu_flags()}; cores: {os.cpu_count()}; torch threads: {torch.get_num_threads()}")
    start = f"fold 0 of {args.init}" + (", head alone" if args.head_only else "") if args.init else "fresh weights"
    start += "" if args.stage is None else f" on stage {args.stage}"
    trained = [p for p in net.parameters() if p.requires_grad]
    if args.optimizer == "adamw":
        optimizer = torch.optim.AdamW(trained, args.lr or 3e-3, weight_decay=1e-3)
    else:
        optimizer = torch.optim.SGD(trained, args.lr or 1e-2, momentum=args.momentum, nesterov=True, weight_decay=3e-5)
    settings = {k: optimizer.defaults[k] for k in ("lr", "momentum", "weight_decay") if k in optimizer.defaults}
    print(f"{args.net} network, {args.head} head, {args.optimizer} {settings}, tile {patch}, {start}, ", end="")
    print(f"{len(train_y)} training tiles, {len(val_y)} val")
    inputs, targets, val_inputs = torch.from_numpy(train_x), torch.from_numpy(train_y), torch.from_numpy(val_x)
    for iteration in range(1, args.iterations + 1):
        net.train()
        index = torch.from_numpy(rng.integers(0, len(inputs), args.batch))
        batch = inputs[index]
        for axis in (-1, -2):
            if rng.uniform() < 0.5:
                batch = batch.flip(axis)
        loss = nn.functional.cross_entropy(net(batch)[1], targets[index], label_smoothing=0.1)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if iteration % 100 == 0:
            shown = slice(0, min(400, len(inputs)))
            train, val = accuracy(net, inputs[shown], train_y[shown]), accuracy(net, val_inputs, val_y)
            print(f"iteration {iteration}: loss {loss.item():.3f}, tile accuracy train {train:.3f}, val {val:.3f}")


if __name__ == "__main__":
    main()
