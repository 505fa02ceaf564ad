"""Which statistic of the predicted lesion tells a normal gland's false lesion from a real one? Not a test.

``collect`` runs a demo work folder's cases through the engine with the lesion probability map kept and writes one
JSON line a case: the predicted lesion's volume (after nnU-Net's postprocessing), the mean and 90th percentile of
the lesion probability inside it, the truth (normal gland, lesion diameter from ``phantoms.json``) and whether the
network's subtype was right. ``--validation``: each fold's validation crops with that fold alone (as ``calibrate``
runs them: ROI full); otherwise the held-out whole fields with every fold (ROI auto, the product's default).
``compare`` fits each rule's threshold on the first file (the lowest at which at most 5% of normal glands keep a
lesion, as ``calibrate`` chooses ``min_lesion_ml``) and applies it to the others: normal glands with a lesion and
lesions of 5 mm or more found.

    python Testing/benchmarks/no_lesion_rules.py collect --workdir /work/demo-r14 --validation -o val.jsonl
    python Testing/benchmarks/no_lesion_rules.py collect --workdir /work/demo-r14 --mirroring -o held.jsonl
    python Testing/benchmarks/no_lesion_rules.py compare val.jsonl held.jsonl
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import SimpleITK as sitk

DATASET = "Dataset502_PancreasAbdomenPhantoms"
MODEL = "installed/PancreasPhantomsDemo"
NORMALS_KEPT = 0.05
RULES: dict[str, Callable[[dict], float]] = {
    "volume (mL)": lambda r: r["volume_ml"] if r["volume_ml"] > 0 else -1.0,
    "mean lesion probability": lambda r: r["p_mean"],
    "90th percentile of the lesion probability": lambda r: r["p90"],
    "p90, lesions over 1 mL only": lambda r: r["p90"] if r["volume_ml"] > 1.0 else -1.0,
}


def lesion_row(prediction, truth: sitk.Image, case_id: str, phantom: dict) -> dict:
    """The predicted lesion's volume and probability statistics beside the case's truth."""
    from PancreasMultiTaskLib.engine.competence import lesion_confidence

    seg = sitk.GetArrayFromImage(prediction.segmentation)
    full = sitk.GetArrayFromImage(prediction.lesion_probability).astype(np.float32)
    probability = full[seg == 2]
    voxel_ml = float(np.prod(prediction.segmentation.GetSpacing())) / 1000
    lesion = phantom["lesion"]
    said = prediction.network_subtype
    return {
        "case": case_id,
        "normal": bool(sitk.GetArrayViewFromImage(truth).max() < 2),
        "diameter_mm": lesion["diameter_mm"] if lesion else 0.0,
        "volume_ml": float(probability.size * voxel_ml),
        "p_mean": float(probability.mean()) if probability.size else 0.0,
        "p90": lesion_confidence(seg, full),  # the engine's statistic for min_lesion_p90
        "subtype_right": said.predicted == said.names[phantom["subtype"]] if lesion else None,
    }


def collect(workdir: Path, validation: bool, mirroring: bool, output: Path) -> None:
    from PancreasMultiTaskLib.engine.io import read_image
    from PancreasMultiTaskLib.engine.model_folder import open_model_folder
    from PancreasMultiTaskLib.engine.predictor import PredictionOptions, Predictor

    def predictor(folds: tuple[str, ...] | None, roi: str) -> Predictor:
        options = PredictionOptions(
            device="cpu", use_mirroring=mirroring, roi=roi, backend="torch", save_probabilities=True
        )
        return Predictor(open_model_folder(workdir / MODEL, folds=folds), options)

    if validation:
        raw = workdir / "nnUNet_raw" / DATASET
        splits = json.loads((workdir / "nnUNet_preprocessed" / DATASET / "splits_final.json").read_text())
        phantoms = json.loads((workdir / "phantoms_train" / "phantoms.json").read_text())["cases"]
        folds = sorted(p.name.removeprefix("fold_") for p in (workdir / MODEL).glob("fold_*"))
        runs = [
            (predictor((fold,), "full"), [(c, raw / "imagesTr" / f"{c}_0000.nii.gz") for c in splits[int(fold)]["val"]])
            for fold in folds
        ]
        labels = raw / "labelsTr"
    else:
        test = workdir / "phantoms_test"
        phantoms = json.loads((test / "phantoms.json").read_text())["cases"]
        images = sorted((test / "images").glob("*_0000.nii.gz"))
        runs = [(predictor(None, "auto"), [(p.name.removesuffix("_0000.nii.gz"), p) for p in images])]
        labels = test / "labels"
    with output.open("w") as out:
        for engine, cases in runs:
            for case_id, image in cases:
                prediction = engine.predict(read_image(image), case_id)
                truth = sitk.ReadImage(str(labels / f"{case_id}.nii.gz"))
                out.write(json.dumps(lesion_row(prediction, truth, case_id, phantoms[case_id])) + "\n")
                out.flush()


def threshold(values: list[float]) -> float:
    """The lowest threshold at which at most :data:`NORMALS_KEPT` of ``values`` lie above it."""
    array = np.array(values)
    return next(t for t in sorted({0.0, *values}) if (array > t).mean() <= NORMALS_KEPT)


def compare(fit: Path, others: list[Path]) -> None:
    sets = {path.name: [json.loads(line) for line in path.read_text().splitlines()] for path in [fit, *others]}
    fitted = sets[fit.name]
    for name, rule in RULES.items():
        cut = threshold([rule(r) for r in fitted if r["normal"]])
        print(f"{name}: threshold {cut:.4f} (fitted on {fit.name})")
        for set_name, rows in sets.items():
            normal = [r for r in rows if r["normal"]]
            lesions = [r for r in rows if not r["normal"] and r["diameter_mm"] >= 5]
            found = [r for r in lesions if rule(r) > cut]
            right = sum(bool(r["subtype_right"]) for r in found)
            print(
                f"  {set_name}: normal glands with a lesion {sum(rule(r) > cut for r in normal)}/{len(normal)};"
                f" lesions >= 5 mm found {len(found)}/{len(lesions)} ({len(found) / max(1, len(lesions)):.1%});"
                f" subtype right among them {right}/{len(found)}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("collect")
    run.add_argument("--workdir", type=Path, required=True, help="a finished demo-model work folder")
    run.add_argument("--validation", action="store_true", help="the folds' validation crops (else the held-out set)")
    run.add_argument("--mirroring", action="store_true", help="test-time mirroring (the product's default)")
    run.add_argument("-o", "--output", type=Path, required=True)
    rules = commands.add_parser("compare")
    rules.add_argument("fit", type=Path)
    rules.add_argument("others", type=Path, nargs="*")
    args = parser.parse_args()
    if args.command == "collect":
        collect(args.workdir, args.validation, args.mirroring, args.output)
    else:
        compare(args.fit, args.others)


if __name__ == "__main__":
    main()
