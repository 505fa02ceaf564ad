"""The paper's region-based labels (pancreas = 1+2, lesion = 2, sigmoid outputs) through the trainer and engine."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from model_factory import centred_phantoms

pytestmark = pytest.mark.slow

DATASET_ID = 972


def test_region_based_training_and_prediction(tmp_path):
    from nnunetv2.paths import nnUNet_results
    from pancreas_mt_training.cli import main
    from pancreas_mt_training.trainer import external_trainer_folder
    from PancreasMultiTaskLib.engine.model_folder import open_model_folder
    from PancreasMultiTaskLib.engine.predictor import PredictionOptions, Predictor

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        os.environ["nnUNet_extTrainer"] = str(external_trainer_folder())
        src = tmp_path / "phantoms"
        centred_phantoms(src, 12, 5, (10, 40, 40))
        argv = ["convert", "--dataset-id", str(DATASET_ID), "--name", "Regions", "--regions"]
        argv += [
            "--images",
            str(src / "images"),
            "--labels",
            str(src / "labels"),
            "--subtypes",
            str(src / "subtypes.csv"),
        ]
        assert main(argv) == 0
        argv = ["plan", str(DATASET_ID), "--features", "8", "16", "32", "--blocks", "1", "1", "1"]
        argv += ["--patch-size", "32", "32", "--batch-size", "4", "--epochs", "1", "--iterations", "2"]
        argv += ["--val-iterations", "1", "--class-slices", "foreground"]
        assert main(argv) == 0
        # ours on region-based labels (the paper's preset trains on them in test_paper_method.py)
        assert main(["train", str(DATASET_ID), "0", "--device", "cpu"]) == 0
    finally:
        torch.set_num_threads(threads)
    model = (
        Path(nnUNet_results.get())
        / f"Dataset{DATASET_ID:03d}_Regions"
        / "nnUNetTrainerMultiTask__nnUNetResEncUNetMPlans_MultiTask__2d"
    )
    dataset = json.loads((model / "dataset.json").read_text())
    assert dataset["labels"]["pancreas"] == [1, 2] and dataset["regions_class_order"] == [1, 2]
    summary = json.loads((model / "fold_0" / "validation" / "subtypes.json").read_text())
    assert summary["cases"] and all(len(c["lesion-weighted"]) == 3 for c in summary["cases"].values())
    image = sitk.ReadImage(str(sorted((src / "images").glob("*_0000.nii.gz"))[0]))
    options = PredictionOptions(device="cpu", use_mirroring=False, save_probabilities=True)
    prediction = Predictor(open_model_folder(model), options).predict(image)
    seg = sitk.GetArrayFromImage(prediction.segmentation)
    assert set(np.unique(seg)) <= {0, 1, 2}
    # Region decoding (a model trained for two iterations finds no anatomy, so none is asserted here; the
    # demo model's Dice is checked in test_end_to_end.py): lesion exactly where its sigmoid exceeds 0.5.
    np.testing.assert_array_equal(seg == 2, sitk.GetArrayFromImage(prediction.lesion_probability) > 0.5)
    assert prediction.result.labels == {"background": 0, "pancreas": 1, "lesion": 2}
    assert len(prediction.result.subtype.slices) == image.GetDepth()
