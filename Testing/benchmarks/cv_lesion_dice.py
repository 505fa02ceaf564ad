"""Where a trained model's lesion Dice is lost: its cross-validation segmentations by true lesion diameter and
slice spacing, as nnU-Net wrote them (``fold_N/validation/``) and after the postprocessing the model carries.

Lesion cases only (a truth with a lesion; normal glands, whose Dice nnU-Net counts as 0 for any false lesion,
are what ``calibrate``'s no-lesion size is about). Diameters and spacings from the phantom set's
``phantoms.json``. Not a test: it reads every validation case.

    python Testing/benchmarks/cv_lesion_dice.py MODEL --raw $nnUNet_raw/Dataset502_PancreasAbdomenPhantoms \
        --phantoms phantoms_train/phantoms.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from pancreas_mt_training.metrics import segmentation_metrics
from PancreasMultiTaskLib.engine.postprocessing import POSTPROCESSING_FILE, label_values, read_postprocessing

DIAMETERS_MM = ((0, 6), (6, 10), (10, 20), (20, 41))
SLICES_MM = ((0, 2.5), (2.5, 4), (4, 6))


def dice_rows(model: Path, raw: Path, cases: dict) -> list[dict[str, float]]:
    """Per lesion case: diameter, slice spacing, lesion and whole-gland Dice before and after postprocessing."""
    labels = label_values(json.loads((model / "dataset.json").read_text(encoding="utf-8"))["labels"])
    steps = (
        read_postprocessing(model / POSTPROCESSING_FILE, labels) if (model / POSTPROCESSING_FILE).is_file() else None
    )
    rows = []
    for path in sorted(model.glob("fold_*/validation/*.nii.gz")):
        case = cases[path.name.removesuffix(".nii.gz")]
        truth = sitk.GetArrayFromImage(sitk.ReadImage(str(raw / "labelsTr" / path.name)))
        if case["normal"] or not (truth == 2).any():
            continue
        image = sitk.ReadImage(str(path))
        network = sitk.GetArrayFromImage(image)
        spacing = image.GetSpacing()[::-1]
        row = {"diameter_mm": case["lesion"]["diameter_mm"], "slice_mm": case["spacing_mm"][2]}
        for when, labels_ in (("network", network), ("postprocessed", steps.apply(network) if steps else network)):
            metrics = segmentation_metrics(labels_, truth, spacing)
            row[f"lesion_{when}"], row[f"gland_{when}"] = metrics["lesion"]["dice"], metrics["pancreas"]["dice"]
        rows.append(row)
    return rows


def line(name: str, rows: list[dict[str, float]]) -> str:
    if not rows:
        return f"| {name} | 0 | | | |"
    mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
    return (
        f"| {name} | {len(rows)} | {mean['lesion_network']:.3f} | {mean['lesion_postprocessed']:.3f}"
        f" | {mean['gland_network']:.3f} -> {mean['gland_postprocessed']:.3f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path, help="trained model folder with fold_N/validation/")
    parser.add_argument("--raw", type=Path, required=True, help="the nnU-Net raw dataset it was trained on")
    parser.add_argument("--phantoms", type=Path, required=True, help="phantoms.json of its training phantoms")
    args = parser.parse_args()
    rows = dice_rows(args.model, args.raw, json.loads(args.phantoms.read_text(encoding="utf-8"))["cases"])
    print("| lesion cases | n | lesion Dice, network | after postprocessing | whole gland Dice |")
    print("|---|---|---|---|---|")
    print(line("all", rows))
    for low, high in DIAMETERS_MM:
        print(line(f"diameter {low}-{high} mm", [r for r in rows if low <= r["diameter_mm"] < high]))
    print(line("diameter 10 mm or more", [r for r in rows if r["diameter_mm"] >= 10]))
    for low, high in SLICES_MM:
        print(line(f"slices {low}-{high} mm", [r for r in rows if low <= r["slice_mm"] < high]))


if __name__ == "__main__":
    main()
