"""Export: optimizer state stripped, plain types only, manifest and checksum; training options."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import torch
from pancreas_mt_training.export import export_model
from pancreas_mt_training.losses import PRESETS, SubtypeLoss, TrainingOptions
from PancreasMultiTaskLib.engine.model_zip import import_model_zip, sha256_file, verify_zip
from PancreasMultiTaskLib.engine.store_layout import ModelInstallError


def _model_folder(root):
    folder = root / "Trainer__Plans__2d"
    (folder / "fold_0").mkdir(parents=True)
    (folder / "dataset.json").write_text(json.dumps({"subtypes": {"0": "a", "1": "b"}}))
    (folder / "plans.json").write_text("{}")
    checkpoint = {
        "network_weights": {"w": torch.arange(4.0)},
        "optimizer_state": {"state": {0: {"momentum_buffer": torch.ones(4)}}, "param_groups": []},
        "grad_scaler_state": None,
        "logging": {"train_losses": [np.float32(1.5)]},
        "_best_ema": np.float64(0.5),
        "current_epoch": 3,
        "init_args": {"plans": {}, "configuration": "2d", "fold": 0, "dataset_json": {}, "device": torch.device("cpu")},
        "trainer_name": "nnUNetTrainerMultiTask",
        "inference_allowed_mirroring_axes": (0, 1),
    }
    torch.save(checkpoint, folder / "fold_0" / "checkpoint_final.pth")
    return folder


def test_export_strips_and_round_trips(tmp_path):
    folder = _model_folder(tmp_path)
    zip_path = export_model(folder, tmp_path / "out" / "Demo.zip")
    sidecar = (tmp_path / "out" / "Demo.zip.sha256").read_text().split()
    assert sidecar == [sha256_file(zip_path), "Demo.zip"]
    manifest = verify_zip(zip_path)
    assert manifest["name"] == "Demo" and manifest["folds"] == ["0"]
    with zipfile.ZipFile(zip_path) as archive:
        assert sorted(archive.namelist()) == sorted(
            ["manifest.json", "Demo/dataset.json", "Demo/plans.json", "Demo/fold_0/checkpoint_final.pth"]
        )
    installed = import_model_zip(zip_path, tmp_path / "models")
    stripped = torch.load(installed / "fold_0" / "checkpoint_final.pth", weights_only=True)
    assert set(stripped) == {
        "network_weights",
        "trainer_name",
        "inference_allowed_mirroring_axes",
        "current_epoch",
        "init_args",
    }
    assert stripped["init_args"] == {"configuration": "2d", "fold": 0}
    assert torch.equal(stripped["network_weights"]["w"], torch.arange(4.0))


def test_export_refuses_missing_folds(tmp_path):
    folder = _model_folder(tmp_path)
    with pytest.raises(ModelInstallError, match=r"fold\(s\) \['3'\]"):
        export_model(folder, tmp_path / "x.zip", folds=["0", "3"])
    assert not (tmp_path / "x.zip").exists()


def test_training_options_presets_and_errors():
    paper = TrainingOptions.from_dict({"preset": "paper"})
    assert (paper.class_loss, paper.class_loss_weight, paper.deep_supervision, paper.class_slices) == (
        "dice_bce_global",
        3.0,
        False,
        "all",
    )
    # the paper keeps nnU-Net's sampling; the default puts the lesion anywhere in the tile
    assert (paper.oversample_foreground, paper.lesion_oversampling, paper.tile_jitter) == (0.33, 0.0, 0.0)
    default = TrainingOptions.from_dict({})
    assert default.tile_jitter > 0 and default.lesion_oversampling > 0 and default.class_slices == "lesion"
    with pytest.raises(ValueError, match="tile_jitter"):
        TrainingOptions.from_dict({"tile_jitter": 0.9})
    with pytest.raises(ValueError, match="save_every must be >= 1"):
        TrainingOptions.from_dict({"save_every": 0})
    assert TrainingOptions.from_dict({}).head_refit_iterations == 0  # the jointly trained head stays
    for bad in (-1, "5", 2.5, True):  # plans.json is read as given: a string or a float is refused too
        with pytest.raises(ValueError, match="head_refit_iterations must be a whole number >= 0"):
            TrainingOptions.from_dict({"head_refit_iterations": bad})
    for bad in (0.0, float("nan"), "3e-3"):
        with pytest.raises(ValueError, match="head_refit_lr must be a number > 0"):
            TrainingOptions.from_dict({"head_refit_lr": bad})
    assert TrainingOptions.from_dict({"class_loss_weight": 2.0}).class_loss == "ce"
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['lr'\]"):
        TrainingOptions.from_dict({"lr": 1})
    with pytest.raises(ValueError, match="preset must be one of"):
        TrainingOptions.from_dict({"preset": "fast"})
    assert set(PRESETS) == {"paper", "default"}


def test_subtype_losses():
    logits = torch.tensor([[4.0, 0.0, 0.0], [0.0, 4.0, 0.0], [0.0, 0.0, 4.0]], requires_grad=True)
    truth = torch.tensor([0, 1, 0])
    mask = torch.tensor([True, True, False])
    ce = SubtypeLoss(TrainingOptions(label_smoothing=0.0), 3)
    expected = torch.nn.functional.cross_entropy(logits[:2], truth[:2])
    assert ce(logits, truth, mask).item() == pytest.approx(expected.item())
    none = ce(logits, truth, torch.zeros(3, dtype=torch.bool))
    none.backward()
    assert none.item() == 0.0 and logits.grad is not None
    # without a mask every row counts; no rows (the head ran on no tile) is a zero loss
    assert ce(logits[:2], truth[:2]).item() == pytest.approx(expected.item())
    assert ce(logits[:0], truth[:0]).item() == 0.0
    dice_bce = SubtypeLoss(TrainingOptions.from_dict({"preset": "paper"}), 3)
    good = dice_bce(logits, torch.tensor([0, 1, 2]), torch.ones(3, dtype=torch.bool))
    bad = dice_bce(logits, torch.tensor([1, 2, 0]), torch.ones(3, dtype=torch.bool))
    assert good.item() < bad.item()


def test_paper_class_dice_is_one_global_soft_dice_over_the_batch():
    """The released code's classifier Dice: one soft Dice over all (B, 3) sigmoid outputs, plus BCE."""
    from pancreas_mt_training.losses import global_dice_bce

    logits = torch.tensor([[2.0, -1.0, 0.5], [-0.5, 1.5, -2.0]])
    onehot = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    p = torch.sigmoid(logits)
    dice = (2 * (p * onehot).sum() + 1e-5) / (p.sum() + onehot.sum() + 1e-5)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, onehot)
    assert global_dice_bce(logits, onehot).item() == pytest.approx((bce + 1 - dice).item())
    paper = SubtypeLoss(TrainingOptions.from_dict({"preset": "paper"}), 3)
    assert paper(logits, torch.tensor([0, 1]), torch.ones(2, dtype=torch.bool)).item() == pytest.approx(
        (bce + 1 - dice).item()
    )
    # per-class (nnU-Net batch Dice) differs from the global one on the same batch
    per_class = SubtypeLoss(TrainingOptions(class_loss="dice_bce"), 3)
    assert per_class(logits, torch.tensor([0, 1]), torch.ones(2, dtype=torch.bool)).item() != pytest.approx(
        (bce + 1 - dice).item()
    )


def test_paper_preset_needs_region_based_labels():
    from pancreas_mt_training.losses import check_preset_labels

    paper = TrainingOptions.from_dict({"preset": "paper"})
    regions = {"labels": {"background": 0, "pancreas": [1, 2], "lesion": 2}, "regions_class_order": [1, 2]}
    check_preset_labels(paper, regions)
    check_preset_labels(TrainingOptions.from_dict({}), {"labels": {"background": 0, "pancreas": 1, "lesion": 2}})
    with pytest.raises(ValueError, match="region-based labels"):
        check_preset_labels(paper, {"labels": {"background": 0, "pancreas": 1, "lesion": 2}})
