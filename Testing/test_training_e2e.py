"""A tiny end-to-end run through nnU-Net's real plan, preprocess and train path on phantoms.

Six 12x48x48 phantoms and two normal glands (subtype -1; one trains, fold 0 validates the other),
a 3-stage network with a 32x32 patch, 2 epochs of 3 iterations: the point is that every step runs
for real (nnU-Net's fingerprint, ResEnc M planner, preprocessing, data loader, trainer found through
``nnUNet_extTrainer``, checkpointing, final validation) and that the engine then loads the model
folder and predicts with it.
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import json
import os
import pickle
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from model_factory import centred_phantoms

pytestmark = pytest.mark.slow

DATASET_ID = 971
PLANS = "nnUNetResEncUNetMPlans_MultiTask"
#: Normal glands (no lesion): the first trains in fold 0, the second is validated by it.
NORMAL_TRAIN, NORMAL_VAL = "normal_000", "normal_001"


def add_normal_cases(src: Path) -> list[str]:
    """Two normal glands beside the phantoms: a phantom with its lesion filled with gland tissue, subtype -1.

    Returns the lesion cases' ids.
    """
    from pancreas_mt_training.labels import NO_SUBTYPE, read_subtypes_csv
    from PancreasMultiTaskLib.engine.io import write_image

    lesion_ids = sorted(read_subtypes_csv(src / "subtypes.csv"))
    rng = np.random.default_rng(0)
    for case_id, source in zip((NORMAL_TRAIN, NORMAL_VAL), lesion_ids, strict=False):
        image = sitk.ReadImage(str(src / "images" / f"{source}_0000.nii.gz"))
        label = sitk.ReadImage(str(src / "labels" / f"{source}.nii.gz"))
        hu, labels = sitk.GetArrayFromImage(image), sitk.GetArrayFromImage(label)
        lesion = labels == 2
        hu[lesion] = rng.choice(hu[labels == 1], int(lesion.sum()))
        labels[lesion] = 1
        for array, reference, path in (
            (hu, image, src / "images" / f"{case_id}_0000.nii.gz"),
            (labels, label, src / "labels" / f"{case_id}.nii.gz"),
        ):
            written = sitk.GetImageFromArray(array)
            written.CopyInformation(reference)
            write_image(written, path)
    with (src / "subtypes.csv").open("a", newline="") as handle:
        csv.writer(handle).writerows([(NORMAL_TRAIN, NO_SUBTYPE), (NORMAL_VAL, NO_SUBTYPE)])
    return lesion_ids


def write_splits(preprocessed: Path, lesion_ids: list[str]) -> None:
    """Five folds; fold 0 validates the normal ``NORMAL_VAL`` and a lesion case and trains on ``NORMAL_TRAIN``."""
    everything = sorted([*lesion_ids, NORMAL_TRAIN, NORMAL_VAL])
    held = [[NORMAL_VAL, lesion_ids[0]], lesion_ids[1:3], lesion_ids[3:4], lesion_ids[4:5], lesion_ids[5:]]
    splits = [{"train": [c for c in everything if c not in val], "val": sorted(val)} for val in held]
    (preprocessed / "splits_final.json").write_text(json.dumps(splits, indent=1), encoding="utf-8")


@pytest.fixture(scope="module")
def single_thread():
    """One torch thread here and in nnU-Net's workers: on a small shared CPU, more threads thrash."""
    threads, env = torch.get_num_threads(), os.environ.get("OMP_NUM_THREADS")
    torch.set_num_threads(1)
    os.environ["OMP_NUM_THREADS"] = "1"
    yield
    torch.set_num_threads(threads)
    if env is None:
        os.environ.pop("OMP_NUM_THREADS", None)
    else:
        os.environ["OMP_NUM_THREADS"] = env


@pytest.fixture(scope="module")
def trained(tmp_path_factory, single_thread) -> dict:
    from nnunetv2.paths import nnUNet_preprocessed, nnUNet_raw, nnUNet_results
    from pancreas_mt_training.cli import main
    from pancreas_mt_training.trainer import external_trainer_folder

    os.environ["nnUNet_extTrainer"] = str(external_trainer_folder())
    src = tmp_path_factory.mktemp("phantoms")
    centred_phantoms(src, 11, 6, (12, 48, 48))
    lesion_ids = add_normal_cases(src)
    argv = ["convert", "--dataset-id", str(DATASET_ID), "--name", "E2E", "--images", str(src / "images")]
    argv += ["--labels", str(src / "labels"), "--subtypes", str(src / "subtypes.csv"), "--subtype-names", "a,b,c"]
    assert main(argv) == 0
    argv = ["plan", str(DATASET_ID), "--features", "8", "16", "32", "--blocks", "1", "1", "1"]
    argv += ["--patch-size", "32", "32", "--batch-size", "4", "--epochs", "2", "--iterations", "3"]
    argv += ["--val-iterations", "2", "--head-refit-iterations", "2"]
    assert main(argv) == 0
    name = f"Dataset{DATASET_ID:03d}_E2E"
    write_splits(Path(nnUNet_preprocessed.get()) / name, lesion_ids)
    assert main(["train", str(DATASET_ID), "0", "--device", "cpu"]) == 0
    return {
        "raw": Path(nnUNet_raw.get()) / name,
        "preprocessed": Path(nnUNet_preprocessed.get()) / name,
        "model": Path(nnUNet_results.get()) / name / f"nnUNetTrainerMultiTask__{PLANS}__2d",
        "src": src,
    }


def test_plans_name_the_multitask_network(trained):
    from PancreasMultiTaskLib.engine.network import NETWORK_CLASS_NAME

    plans = json.loads((trained["model"] / "plans.json").read_text())
    architecture = plans["configurations"]["2d"]["architecture"]
    assert architecture["network_class_name"] == NETWORK_CLASS_NAME
    assert architecture["arch_kwargs"]["num_subtypes"] == 3
    assert architecture["arch_kwargs"]["patch_size"] == [32, 32]
    assert json.loads((trained["model"] / "dataset.json").read_text())["subtypes"] == {"0": "a", "1": "b", "2": "c"}


def test_checkpoint_loads_weights_only_and_logs_subtype_metrics(trained):
    fold = trained["model"] / "fold_0"
    checkpoint = torch.load(fold / "checkpoint_final.pth", map_location="cpu", weights_only=True)
    assert checkpoint["trainer_name"] == "nnUNetTrainerMultiTask"
    assert any(k.startswith("classifier.") for k in checkpoint["network_weights"])
    logging = checkpoint["logging"]
    for key in ("train_class_losses", "val_class_losses", "train_class_accuracy", "val_class_accuracy"):
        assert len(logging[key]) == 2, key
    assert (fold / "progress.png").is_file() and (fold / "progress_subtype.png").is_file()


def test_the_planned_head_refit_runs_at_the_end_of_nnunets_training(trained):
    """``plan --head-refit-iterations`` puts the refit in the plans, and ``train`` (nnU-Net's ``run_training``) runs
    it after the last epoch, before the final checkpoint and validation."""
    plans = json.loads((trained["model"] / "plans.json").read_text())
    assert plans["configurations"]["2d"]["multitask_training"]["head_refit_iterations"] == 2
    log = next((trained["model"] / "fold_0").glob("training_log_*.txt")).read_text()
    assert log.index("head refit 2/2: tile accuracy") < log.index("head refit done") < log.index("Training done.")


def test_validation_writes_case_subtypes(trained):
    from pancreas_mt_training.labels import NO_SUBTYPE

    summary = json.loads((trained["model"] / "fold_0" / "validation" / "subtypes.json").read_text())
    splits = json.loads((trained["preprocessed"] / "splits_final.json").read_text())
    assert sorted(summary["cases"]) == sorted(splits[0]["val"])
    assert summary["cases"][NORMAL_VAL]["truth"] == NO_SUBTYPE
    for entry in summary["cases"].values():
        assert entry["truth"] in (NO_SUBTYPE, 0, 1, 2)
        for method in ("uniform", "lesion-weighted"):
            assert len(entry[method]) == 3 and sum(entry[method]) == pytest.approx(1.0)
    # the normal case is left out of the accuracy
    labelled = [e for e in summary["cases"].values() if e["truth"] != NO_SUBTYPE]
    assert len(labelled) == len(summary["cases"]) - 1
    for method in ("uniform", "lesion-weighted"):
        expected = np.mean([np.argmax(e[method]) == e["truth"] for e in labelled])
        assert summary["accuracy"][method] == pytest.approx(expected)


def _trainer(trained: dict, log_folder: Path, monkeypatch: pytest.MonkeyPatch, **arch_kwargs):
    """A fresh trainer on the trained dataset's plans (``arch_kwargs`` added to its network's), its log in
    ``log_folder``, data loading in this process."""
    from pancreas_mt_training.trainer import nnUNetTrainerMultiTask

    monkeypatch.setenv("nnUNet_results", str(log_folder))
    monkeypatch.setenv("nnUNet_n_proc_DA", "0")
    plans = json.loads((trained["preprocessed"] / f"{PLANS}.json").read_text())
    plans["configurations"]["2d"]["architecture"]["arch_kwargs"].update(arch_kwargs)
    dataset = json.loads((trained["preprocessed"] / "dataset.json").read_text())
    trainer = nnUNetTrainerMultiTask({**plans, "continue_training": False}, "2d", 0, dataset, torch.device("cpu"))
    trainer.initialize()
    return trainer


def test_the_head_can_have_its_own_sgd_momentum_and_the_network_adamw(trained, tmp_path, monkeypatch):
    """``classifier_momentum`` puts exactly the head's parameters into a second SGD group with that momentum,
    on the same learning rate and poly schedule; unset, nnU-Net's single group (momentum 0.99) stays;
    ``optimizer: adamw`` is AdamW on the whole network and the same schedule."""
    from pancreas_mt_training.losses import TrainingOptions

    trainer = _trainer(trained, tmp_path, monkeypatch)
    assert [g["momentum"] for g in trainer.optimizer.param_groups] == [0.99]
    trainer.options.classifier_momentum = 0.9
    optimizer, scheduler = trainer.configure_optimizers()
    rest, head = optimizer.param_groups
    assert (rest["momentum"], head["momentum"]) == (0.99, 0.9) and rest["nesterov"] and head["nesterov"]
    assert {id(p) for p in head["params"]} == {id(p) for p in trainer._plain_network().classifier.parameters()}
    assert len(rest["params"]) + len(head["params"]) == len(list(trainer.network.parameters()))
    scheduler.step(trainer.num_epochs // 2)
    assert rest["lr"] == head["lr"] < trainer.initial_lr
    with pytest.raises(ValueError, match="classifier_momentum must be in"):
        TrainingOptions.from_dict({"classifier_momentum": 1.0})
    trainer.options.classifier_momentum, trainer.options.optimizer = None, "adamw"
    optimizer, scheduler = trainer.configure_optimizers()
    assert isinstance(optimizer, torch.optim.AdamW) and len(optimizer.param_groups) == 1
    assert optimizer.param_groups[0]["weight_decay"] == trainer.weight_decay
    scheduler.step(trainer.num_epochs // 2)
    assert optimizer.param_groups[0]["lr"] < trainer.initial_lr
    with pytest.raises(ValueError, match="an SGD setting"):
        TrainingOptions.from_dict({"optimizer": "adamw", "classifier_momentum": 0.9})
    with pytest.raises(ValueError, match="optimizer must be one of"):
        TrainingOptions.from_dict({"optimizer": "adam"})


def test_train_step_runs_the_head_on_lesion_tiles_only(trained, tmp_path, monkeypatch):
    """A training step's head sees only the tiles that carry the class loss: the BatchNorm right after
    the head's first convolution (before any dropout) ends with the statistics of those tiles alone.
    The batch is drawn from lesion cases only: a normal gland's tiles never carry the class loss."""
    trainer = _trainer(trained, tmp_path, monkeypatch)
    loader = trainer.get_dataloaders()[0]
    loader.data_loader.indices = [k for k in loader.data_loader.indices if k != NORMAL_TRAIN]
    batch = next(loader)
    assert NORMAL_TRAIN not in batch["keys"]
    for level in batch["target"]:  # lesion (16 px or more at full size) on tiles 1 and 2 only
        level.zero_()
        side = level.shape[-1] // 4
        level[1:3, :, :side, :side] = 2
    network = trainer._plain_network()
    reference = copy.deepcopy(network).train()
    trainer.train_step(batch)
    with torch.no_grad():
        reference.classifier.layers[:2](reference.encoder(batch["data"])[-1][1:3])
    mine, theirs = network.classifier.layers[1], reference.classifier.layers[1]
    assert isinstance(mine, torch.nn.BatchNorm2d)
    torch.testing.assert_close(mine.running_mean, theirs.running_mean)
    torch.testing.assert_close(mine.running_var, theirs.running_var)


def test_a_classifier_view_network_trains_its_head_on_lesion_centred_views(trained, tmp_path, monkeypatch):
    """With ``classifier_view`` in the plans the head's BatchNorm ends with the statistics of the lesion tiles'
    views around their lesions (cut from the augmented batch), and validation classifies the same views."""
    from pancreas_mt_training.trainer import VIEW_JITTER, lesion_views

    trainer = _trainer(trained, tmp_path, monkeypatch, classifier_view=[16, 16])
    network = trainer._plain_network()
    assert network.classifier_view == (16, 16)
    loader = trainer.get_dataloaders()[0]
    loader.data_loader.indices = [k for k in loader.data_loader.indices if k != NORMAL_TRAIN]
    batch = next(loader)
    for level in batch["target"]:  # a lesion in the far corner of tiles 1 and 2 only
        level.zero_()
        side = level.shape[-1] // 4
        level[1:3, :, -side:, -side:] = 2
    reference = copy.deepcopy(network).train()
    np.random.seed(5)
    outputs = trainer.train_step(batch)
    assert int(outputs["class_count"]) == 2
    np.random.seed(5)
    views = lesion_views(batch["data"][1:3], batch["target"][0][1:3, 0] == 2, (16, 16), VIEW_JITTER)
    assert views.abs().sum() > 0 and not torch.equal(views, batch["data"][1:3, :, 8:24, 8:24])
    with torch.no_grad():
        reference.classifier.layers[:2](reference.encoder(views)[-1])
    mine, theirs = network.classifier.layers[1], reference.classifier.layers[1]
    torch.testing.assert_close(mine.running_mean, theirs.running_mean)
    torch.testing.assert_close(mine.running_var, theirs.running_var)
    network.eval()
    validated = trainer.validation_step(batch)
    assert int(validated["class_count"]) == 2 and np.isfinite(validated["class_loss"])


def test_a_classifier_view_networks_validation_classifies_the_engines_guided_tiles(trained, tmp_path, monkeypatch):
    """The fold's ``validation/subtypes.json`` of a view network comes from one guided tile a slice, centred on the
    predicted lesion as the engine centres it, so its central view is the lesion's (a sliding-window tile's central
    view mostly misses it)."""
    from pancreas_mt_training.trainer import lesion_views
    from PancreasMultiTaskLib.engine.labels import LESION_LABEL

    trainer = _trainer(trained, tmp_path, monkeypatch, classifier_view=[16, 16])
    network = trainer._plain_network().eval()
    trainer.set_deep_supervision_enabled(False)
    data = torch.randn(1, 3, 40, 50)
    logits = torch.zeros(3, 3, 40, 50)  # background, pancreas, lesion
    logits[0] = 10.0
    logits[LESION_LABEL, 1, 2:7, 42:47] = 20.0  # a lesion on slice 1 only, at the corner: centroid (4, 44)
    probs, lesion_mass, pancreas_mass = trainer._guided_slices(data, logits)
    assert probs.shape == (3, 3) and np.allclose(probs.sum(1), 1.0, atol=1e-5)
    assert lesion_mass[1] > 20 and lesion_mass[0] < 1 and pancreas_mass[1] >= lesion_mass[1]
    lesion = torch.zeros(1, 40, 50, dtype=torch.bool)
    lesion[0, 2:7, 42:47] = True
    view = lesion_views(data[:, 1:2], lesion, (16, 16))  # centred on the lesion, zeros past the slice's edge
    assert not view[0, 0, :4].any() and not view[0, 0, :, 14:].any()
    with torch.no_grad():
        expected = torch.softmax(network.classify(view), 1)[0].numpy()
    np.testing.assert_allclose(probs[1], expected, atol=1e-5)
    path = trainer.predict_validation_subtypes()
    summary = json.loads(path.read_text())
    assert sorted(summary["cases"]) == sorted(
        json.loads((trained["preprocessed"] / "splits_final.json").read_text())[0]["val"]
    )
    assert all(sum(e["lesion-weighted"]) == pytest.approx(1.0) for e in summary["cases"].values())


def _loaders_in_process(trainer) -> None:
    """The trainer's data loaders as ``on_train_start`` makes them, lesion cases only (augmentation in this process)."""
    trainer.dataloader_train, trainer.dataloader_val = trainer.get_dataloaders()
    for loader in (trainer.dataloader_train, trainer.dataloader_val):
        loader.data_loader.indices = [k for k in loader.data_loader.indices if k != NORMAL_TRAIN]


def _fresh(head: torch.nn.Module, seed: int) -> torch.nn.Module:
    """A copy of ``head`` initialized anew from torch's ``seed``, as the refit initializes it."""
    fresh = copy.deepcopy(head)
    torch.manual_seed(seed)
    for module in fresh.modules():
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
    return fresh


def test_a_head_refit_trains_a_new_head_alone_before_the_final_checkpoint(trained, tmp_path, monkeypatch):
    """With ``head_refit_iterations`` the end of training trains the head anew on the frozen network before nnU-Net
    writes ``checkpoint_final.pth``: every weight and BatchNorm statistic outside the head is the joint training's,
    the head has learned away from its fresh start, and the log compares the two heads."""
    trainer = _trainer(trained, tmp_path, monkeypatch, classifier_view=[16, 16])
    trainer.options.head_refit_iterations = 4
    trainer.oversample_foreground_percent, trainer.options.lesion_oversampling = 1.0, 1.0  # lesion tiles every batch
    _loaders_in_process(trainer)
    network = trainer._plain_network()
    trainer.current_epoch = trainer.num_epochs  # as run_training leaves it
    before = {k: v.clone() for k, v in network.state_dict().items()}
    fresh = _fresh(network.classifier, 3)
    torch.manual_seed(3)
    trainer.on_train_end()
    saved = torch.load(Path(trainer.output_folder) / "checkpoint_final.pth", map_location="cpu", weights_only=True)
    weights = saved["network_weights"]
    assert weights.keys() == before.keys()
    head = [k for k in weights if k.startswith("classifier.")]
    assert head and all(torch.equal(weights[k], before[k]) for k in weights if k not in head)
    for name, start in fresh.named_parameters():
        assert not torch.allclose(weights[f"classifier.{name}"], start, atol=1e-4), name
    assert network.training
    log = Path(trainer.log_file).read_text()
    assert re.search(r"head refit 4/4: tile accuracy \d\.\d{3} on [1-9]\d* training tiles", log)
    assert re.search(r"head refit done: validation tile accuracy \d\.\d{3} \(the jointly trained head's", log)


def test_a_head_refit_starts_from_a_fresh_head(trained, tmp_path, monkeypatch):
    """The refit head starts from newly initialized weights, not the jointly trained ones: with a vanishing
    learning rate it ends where a fresh head of the same seed starts."""
    trainer = _trainer(trained, tmp_path, monkeypatch)
    trainer.load_checkpoint(str(trained["model"] / "fold_0" / "checkpoint_final.pth"))
    trainer.options.head_refit_iterations, trainer.options.head_refit_lr = 2, 1e-12
    _loaders_in_process(trainer)
    head = trainer._plain_network().classifier
    fresh = _fresh(head, 3)
    torch.manual_seed(3)
    trainer.refit_head()
    for (name, mine), theirs in zip(head.named_parameters(), fresh.parameters(), strict=True):
        torch.testing.assert_close(mine, theirs, atol=1e-6, rtol=0, msg=name)


def test_the_training_loader_pickles_for_spawned_augmentation_workers(trained, tmp_path, monkeypatch):
    """Under the spawn start method (macOS, Windows, ``demo-model --fold-jobs``) nnU-Net's augmentation
    workers receive the data loader pickled; its lesion sampling settings go with it."""
    trainer = _trainer(trained, tmp_path, monkeypatch)
    loader = trainer.get_dataloaders()[0].data_loader
    copy_ = pickle.loads(pickle.dumps(loader))
    assert (copy_.lesion_probability, copy_.jitter) == (
        trainer.options.lesion_oversampling,
        trainer.options.tile_jitter,
    )
    assert copy_.lesion_probability > 0


class _Payload:
    """An object a checkpoint from a stranger could carry; unpickling it may run code."""


def test_a_training_resumes_from_its_checkpoint_read_weights_only(trained, tmp_path, monkeypatch):
    """Resuming (``--c``, a rerun of ``demo-model``) restores the epoch and logs of the trainer's own checkpoint,
    and reads checkpoints with ``weights_only=True``: one carrying an arbitrary object is refused, not unpickled."""
    trainer = _trainer(trained, tmp_path, monkeypatch)
    assert trainer.save_every == 50  # nnU-Net's, as the plans set none
    final = trained["model"] / "fold_0" / "checkpoint_final.pth"
    trainer.load_checkpoint(str(final))
    assert trainer.current_epoch == 2
    saved = torch.load(final, map_location="cpu", weights_only=True)
    for key, value in trainer._plain_network().state_dict().items():
        torch.testing.assert_close(value, saved["network_weights"][key])
    momentum = trainer.optimizer.state_dict()["state"]  # SGD's buffers: empty in a fresh optimizer
    assert momentum and len(momentum) == len(saved["optimizer_state"]["state"])
    assert len(trainer.logger.local_logger.my_fantastic_logging["train_class_losses"]) == 2
    evil = tmp_path / "checkpoint_latest.pth"
    torch.save({"network_weights": {}, "payload": _Payload()}, evil)
    with pytest.raises(pickle.UnpicklingError):
        trainer.load_checkpoint(str(evil))


def test_normal_cases_carry_no_class_loss(trained, tmp_path, monkeypatch):
    """Tiles of a normal gland (subtype -1) never carry the class loss, even where every tile of a case
    with a subtype does (``class_slices: all``): the training step counts only the lesion cases' tiles."""
    from pancreas_mt_training.labels import NO_SUBTYPE

    trainer = _trainer(trained, tmp_path, monkeypatch)
    trainer.options = dataclasses.replace(trainer.options, class_slices="all")
    loader = trainer.get_dataloaders()[0]
    lesion_case = next(k for k in loader.data_loader.indices if not k.startswith("normal"))
    loader.data_loader.indices = [NORMAL_TRAIN, lesion_case]
    np.random.seed(3)
    batch = next(loader)
    normal = np.array([key == NORMAL_TRAIN for key in batch["keys"]])
    assert normal.any() and (~normal).sum() >= 2  # BatchNorm needs two tiles to run the head
    subtypes = trainer._subtypes(batch)
    assert (subtypes.cpu().numpy()[normal] == NO_SUBTYPE).all()
    assert trainer._class_mask(batch["target"], subtypes).tolist() == (~normal).tolist()
    outputs = trainer.train_step(batch)
    assert int(outputs["class_count"]) == int((~normal).sum()) and np.isfinite(outputs["class_loss"])


def record_compute_dtypes(network: torch.nn.Module) -> set:
    """The dtypes that the network's convolutions and dense layers compute in from now on (what autocast decides)."""
    seen: set = set()
    for module in network.modules():
        if isinstance(module, torch.nn.Conv2d | torch.nn.Linear):
            module.register_forward_hook(lambda module, inputs, output: seen.add(output.dtype))
    return seen


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_cpu_training_computes_in_the_precision_asked_and_keeps_float32_weights(
    trained, tmp_path, monkeypatch, precision
):
    """``train --precision bfloat16`` (its environment variable): the training and validation steps' convolutions
    and dense layers compute in bfloat16 on the CPU, the weights stay float32 and learn, the losses are finite, and
    the log says which; unset (nnU-Net's float32), everything computes in float32."""
    from pancreas_mt_training.train_precision import PRECISION_ENV

    if precision == "bfloat16":
        monkeypatch.setenv(PRECISION_ENV, precision)
    else:
        monkeypatch.delenv(PRECISION_ENV, raising=False)
    trainer = _trainer(trained, tmp_path, monkeypatch)
    assert trainer.training_precision == precision
    loader = trainer.get_dataloaders()[0]
    loader.data_loader.indices = [k for k in loader.data_loader.indices if k != NORMAL_TRAIN]
    np.random.seed(1)
    batch = next(loader)
    for level in batch["target"]:  # a lesion on tiles 1 and 2 only, so the head runs and learns too
        level.zero_()
        side = level.shape[-1] // 4
        level[1:3, :, :side, :side] = 2
    network = trainer._plain_network()
    before = {name: p.detach().clone() for name, p in network.named_parameters()}
    seen = record_compute_dtypes(network)
    outputs = trainer.train_step(batch)
    assert seen == {getattr(torch, precision)}
    assert np.isfinite(outputs["loss"]) and np.isfinite(outputs["class_loss"]) and int(outputs["class_count"]) == 2
    assert {p.dtype for p in network.parameters()} == {torch.float32}
    assert not torch.equal(network.classifier.layers[0].weight, before["classifier.layers.0.weight"])
    assert not torch.equal(network.encoder.stem.convs[0].conv.weight, before["encoder.stem.convs.0.conv.weight"])
    seen.clear()
    network.eval()
    validated = trainer.validation_step(batch)
    assert seen == {getattr(torch, precision)} and np.isfinite(validated["class_loss"])
    log = "".join(path.read_text() for path in Path(trainer.output_folder).glob("training_log_*.txt"))
    assert f"Training precision on cpu: {precision}" in log


def test_the_precision_variable_is_checked_and_cuda_keeps_nnunets_float16(trained, tmp_path, monkeypatch, capsys):
    """A wrong ``PANCREAS_MT_TRAIN_PRECISION`` stops the trainer naming the variable; ``--precision bfloat16`` on
    CUDA is refused before anything is trained or set (nnU-Net's float16 autocast runs there)."""
    from pancreas_mt_training.cli import main
    from pancreas_mt_training.train_precision import PRECISION_ENV

    monkeypatch.setenv(PRECISION_ENV, "float16")
    with pytest.raises(ValueError, match=f"{PRECISION_ENV}='float16': must be one of float32, bfloat16"):
        _trainer(trained, tmp_path, monkeypatch)
    monkeypatch.delenv(PRECISION_ENV)
    assert main(["train", str(DATASET_ID), "0", "--device", "cuda", "--precision", "bfloat16"]) == 1
    assert "--precision bfloat16 is for training on a CPU" in capsys.readouterr().err
    assert PRECISION_ENV not in os.environ


def test_the_train_command_passes_its_precision_to_nnunets_trainer(trained, tmp_path, monkeypatch):
    """``pancreas-mt-train train --precision bfloat16`` reaches the trainer that nnU-Net's ``run_training`` builds
    (here its final validation of a copy of the trained fold, which logs the precision as training does)."""
    import shutil

    from pancreas_mt_training.cli import main
    from pancreas_mt_training.train_precision import PRECISION_ENV

    monkeypatch.delenv(PRECISION_ENV, raising=False)  # restored after the command sets it
    results = tmp_path / "results"
    copy_ = results / trained["model"].parent.name / trained["model"].name
    shutil.copytree(trained["model"], copy_)
    monkeypatch.setenv("nnUNet_results", str(results))
    argv = ["train", str(DATASET_ID), "0", "--device", "cpu", "--precision", "bfloat16", "--validation-only"]
    assert main(argv) == 0
    logs = sorted((copy_ / "fold_0").glob("training_log_*.txt"), key=lambda path: path.stat().st_mtime)
    assert "Training precision on cpu: bfloat16" in logs[-1].read_text()


def test_nnunet_finds_the_trainer_by_name(trained):
    from nnunetv2.utilities.find_objects import recursive_find_trainer_class_by_name
    from pancreas_mt_training.trainer import nnUNetTrainerMultiTask

    found = recursive_find_trainer_class_by_name("nnUNetTrainerMultiTask")
    assert found.__name__ == nnUNetTrainerMultiTask.__name__
    assert issubclass(found, nnUNetTrainerMultiTask.__mro__[1])


def test_engine_predicts_with_the_trained_folder(trained):
    from PancreasMultiTaskLib.engine.model_folder import open_model_folder
    from PancreasMultiTaskLib.engine.predictor import PredictionOptions, Predictor

    image_path = sorted((trained["src"] / "images").glob("phantom_*_0000.nii.gz"))[0]
    image = sitk.ReadImage(str(image_path))
    options = PredictionOptions(device="cpu", use_mirroring=False, save_probabilities=True)
    prediction = Predictor(open_model_folder(trained["model"]), options).predict(image, "case")
    assert prediction.segmentation.GetSize() == image.GetSize()
    seg = sitk.GetArrayFromImage(prediction.segmentation)
    assert set(np.unique(seg)) <= {0, 1, 2}
    # Softmax decoding (the briefly trained model finds no anatomy; the demo model's Dice is checked in
    # test_end_to_end.py): wherever the lesion holds most of the probability, the label is lesion.
    assert (seg[sitk.GetArrayFromImage(prediction.lesion_probability) > 0.5] == 2).all()
    subtype = prediction.result.subtype
    assert subtype.names == ["a", "b", "c"]
    assert sum(subtype.probabilities.values()) == pytest.approx(1.0, abs=1e-6)


def test_export_import_round_trip(trained, tmp_path):
    from pancreas_mt_training.cli import main
    from PancreasMultiTaskLib.engine.model_folder import open_model_folder
    from PancreasMultiTaskLib.engine.model_zip import import_model_zip
    from PancreasMultiTaskLib.engine.models import list_models

    zip_path = tmp_path / "E2E.zip"
    assert main(["export", str(trained["model"]), "-o", str(zip_path)]) == 0
    assert (tmp_path / "E2E.zip.sha256").is_file()
    installed = import_model_zip(zip_path, tmp_path / "models")
    checkpoint = torch.load(installed / "fold_0" / "checkpoint_final.pth", map_location="cpu", weights_only=True)
    assert "optimizer_state" not in checkpoint and "logging" not in checkpoint
    original = torch.load(trained["model"] / "fold_0" / "checkpoint_final.pth", map_location="cpu", weights_only=True)
    for key, value in original["network_weights"].items():
        assert torch.equal(value, checkpoint["network_weights"][key]), key
    assert zip_path.stat().st_size < (trained["model"] / "fold_0" / "checkpoint_final.pth").stat().st_size
    assert [m.name for m in list_models(tmp_path / "models")] == ["E2E"]
    assert open_model_folder(installed).subtypes == ["a", "b", "c"]
    # Reproducible: exported again, the same bytes (no time stamps), so the same SHA-256 for the same model.
    again = tmp_path / "again" / "E2E.zip"
    assert main(["export", str(trained["model"]), "-o", str(again)]) == 0
    assert again.read_bytes() == zip_path.read_bytes()
    with zipfile.ZipFile(zip_path) as archive:
        for info in archive.infolist():
            assert info.date_time == (1980, 1, 1, 0, 0, 0) and info.compress_type == zipfile.ZIP_DEFLATED
            assert (info.external_attr >> 16) & 0o644 == 0o644, info.filename  # readable where unzipped by hand


def test_an_exported_models_folds_are_validated_again_and_never_trained_on(trained, tmp_path, monkeypatch, capsys):
    """``demo-model --weights``: an exported zip's folds placed as the trained folds (``reuse_folds``), and nnU-Net's
    final validation (``--val``) run again from their weights alone gives the trained run's validation. Resuming
    (``--c``) from such a checkpoint is refused in one line, the file left as it was; a zip of other plans, one
    without the fold, and a training folder holding another fold's weights are refused before anything is placed."""
    from pancreas_mt_training.cli import main
    from pancreas_mt_training.demo import DemoConfig, reuse_folds
    from pancreas_mt_training.export import export_model, place_exported_folds
    from PancreasMultiTaskLib.engine.model_zip import sha256_file
    from PancreasMultiTaskLib.engine.store_layout import ModelInstallError

    zip_path = export_model(trained["model"], tmp_path / "E2E.zip", folds=["0"])
    monkeypatch.setenv("nnUNet_results", str(tmp_path / "results"))
    config = DemoConfig(dataset_id=DATASET_ID, dataset_name="E2E", folds=(0,))
    config, folder = reuse_folds(config, zip_path, tmp_path / "work", trained["raw"])
    assert config.weights_sha256 == sha256_file(zip_path)
    assert folder == tmp_path / "results" / trained["model"].parent.name / trained["model"].name
    validation, trained_validation = folder / "fold_0" / "validation", trained["model"] / "fold_0" / "validation"
    again, before = (json.loads((v / "subtypes.json").read_text())["cases"] for v in (validation, trained_validation))
    assert sorted(again) == sorted(before)
    for case, entry in again.items():
        assert entry["lesion-weighted"] == pytest.approx(before[case]["lesion-weighted"], abs=1e-5), case
    dice = [
        json.loads((v / "summary.json").read_text())["foreground_mean"]["Dice"]
        for v in (validation, trained_validation)
    ]
    assert dice[0] == pytest.approx(dice[1], abs=1e-6)

    checkpoint = folder / "fold_0" / "checkpoint_final.pth"
    placed = checkpoint.read_bytes()
    assert main(["train", str(DATASET_ID), "0", "--device", "cpu", "--resume"]) == 1
    assert "its checkpoint holds weights only (an exported model)" in capsys.readouterr().err
    assert checkpoint.read_bytes() == placed

    plans = trained["preprocessed"] / f"{PLANS}.json"
    other_plans = tmp_path / "other_plans.json"
    changed = json.loads(plans.read_text())
    changed["configurations"]["2d"]["batch_size"] += 1
    other_plans.write_text(json.dumps(changed))
    place = (zip_path, tmp_path / "elsewhere", tmp_path / "staging")
    with pytest.raises(ModelInstallError, match=r"its plans\.json is not .*other_plans\.json"):
        place_exported_folds(*place, other_plans, trained["raw"] / "dataset.json", ["0"])
    with pytest.raises(ModelInstallError, match="no fold 1 \\(it holds fold_0\\)"):
        place_exported_folds(*place, plans, trained["raw"] / "dataset.json", ["0", "1"])
    assert not (tmp_path / "elsewhere").exists()
    other = torch.load(checkpoint, map_location="cpu", weights_only=True)
    other["network_weights"] = {k: torch.zeros_like(v) for k, v in other["network_weights"].items()}
    torch.save(other, checkpoint)
    with pytest.raises(ModelInstallError, match=r"holds fold_0/checkpoint_final\.pth unlike"):
        place_exported_folds(zip_path, folder, tmp_path / "staging", plans, trained["raw"] / "dataset.json", ["0"])
    kept = torch.load(checkpoint, map_location="cpu", weights_only=True)["network_weights"]
    assert all(not value.any() for value in kept.values())


def test_evaluation_report(trained, tmp_path):
    from pancreas_mt_training.evaluate import EvalCase, cross_validation, evaluate_held_out, write_report
    from pancreas_mt_training.labels import NO_SUBTYPE, read_subtypes_csv
    from pancreas_mt_training.metrics import segmentation_metrics

    labels = read_subtypes_csv(trained["src"] / "subtypes.csv")
    cases = [
        EvalCase(
            case_id,
            trained["src"] / "images" / f"{case_id}_0000.nii.gz",
            trained["src"] / "labels" / f"{case_id}.nii.gz",
            s,
        )
        for case_id, s in [*sorted((c, s) for c, s in labels.items() if s != NO_SUBTYPE)[:1], (NORMAL_VAL, NO_SUBTYPE)]
    ]
    held_out = evaluate_held_out(trained["model"], cases, tmp_path / "eval", use_mirroring=False)
    cv = cross_validation(trained["model"], trained["preprocessed"] / "gt_segmentations")
    # the normal case is in the cross-validation with truth -1 (segmentation metrics), out of its classification
    assert {r["case_id"]: r["truth"] for r in cv["cases"]}[NORMAL_VAL] == NO_SUBTYPE
    labelled = [r for r in cv["cases"] if r["truth"] != NO_SUBTYPE]
    assert len(labelled) == len(cv["cases"]) - 1
    for method, m in cv["classification"].items():
        expected = np.mean([np.argmax(r["probabilities"][method]) == r["truth"] for r in labelled])
        assert m["accuracy"] == pytest.approx(expected)
    report = write_report([cv, held_out], tmp_path / "report", "E2E")
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    # one fold trained: the title says which, not "5-fold"
    cv_title = "cross-validation, fold 0 of nnU-Net's 5-fold split"
    assert [m["title"] for m in metrics] == [cv_title, "held-out ensemble"]
    assert metrics[0]["folds"] == ["0"]
    # cross-validation has the tile poolings; the held-out ensemble also the guided classification and the
    # released code's fold-logit sum
    assert set(metrics[0]["classification"]) == {"lesion-weighted", "uniform"}
    assert set(metrics[1]["classification"]) == {"guided", "lesion-weighted", "uniform", "uniform-logit-sum"}
    for row in metrics[1]["cases"]:  # one fold: summing its logits is its softmax, the paper's uniform tile mean
        np.testing.assert_allclose(
            row["probabilities"]["uniform-logit-sum"], row["probabilities"]["uniform"], atol=1e-6
        )
    for result in metrics:
        assert set(result["segmentation"]) == {"pancreas", "lesion"}
        for m in result["classification"].values():
            assert m["accuracy_ci95"][0] <= m["accuracy"] <= m["accuracy_ci95"][1]
    assert [r["truth"] for r in metrics[1]["cases"]] == [cases[0].subtype, NO_SUBTYPE]
    row = metrics[1]["cases"][0]
    prediction = sitk.ReadImage(str(tmp_path / "eval" / "predictions" / f"{row['case_id']}.nii.gz"))
    truth = sitk.ReadImage(str(cases[0].label))
    direct = segmentation_metrics(sitk.GetArrayFromImage(prediction), sitk.GetArrayFromImage(truth), (2.0, 0.7, 0.7))
    assert row["segmentation"]["lesion"]["dice"] == pytest.approx(direct["lesion"]["dice"])
    voxel_ml = np.prod(prediction.GetSpacing()) / 1000  # the predicted lesion's volume, as the sample rule reads it
    lesion_ml = (sitk.GetArrayFromImage(prediction) == 2).sum() * voxel_ml
    assert row["lesion_volume_ml"] == pytest.approx(lesion_ml, abs=1e-3)
    text = report.read_text()
    assert f"| {NORMAL_VAL} | normal |" in text
    assert "| accuracy |" in text and "NSD" in text and "accuracy 95% CI" in text and "predicted (guided)" in text
    assert "| metric | guided | lesion-weighted | uniform | uniform-logit-sum |" in text
    assert "predicted (uniform-logit-sum)" in text and "released code" in text
    cv_slug = "0_" + "".join(c if c.isalnum() else "_" for c in cv_title.lower())
    for png in (f"{cv_slug}_confusion.png", "1_held_out_ensemble_reliability.png"):
        assert (tmp_path / "report" / png).stat().st_size > 1000
    assert (tmp_path / "report" / f"{cv_slug}_loss_curves.png").is_file()


def test_an_evaluation_rerun_reuses_each_case_made_by_the_same_model_and_redoes_the_rest(trained, tmp_path):
    """``demo-model`` evaluates hundreds of whole fields; rerun after an interruption, each case already evaluated
    by the same model files, options, case files and code comes back unchanged without running the engine, while
    a changed model or other options run it again."""
    import shutil

    from pancreas_mt_training.evaluate import EvalCase, evaluate_held_out
    from pancreas_mt_training.labels import read_subtypes_csv

    model = tmp_path / "model"
    shutil.copytree(trained["model"], model)
    labels = read_subtypes_csv(trained["src"] / "subtypes.csv")
    cases = [
        EvalCase(c, trained["src"] / "images" / f"{c}_0000.nii.gz", trained["src"] / "labels" / f"{c}.nii.gz", s)
        for c, s in sorted(labels.items())[:2]
    ]
    output = tmp_path / "eval"
    first = evaluate_held_out(model, cases, output, use_mirroring=False)
    predicted = output / "predictions" / f"{cases[0].case_id}.nii.gz"
    stamp = predicted.stat().st_mtime_ns
    (output / "rows" / f"{cases[1].case_id}.json").unlink()  # as if interrupted before the second case
    again = evaluate_held_out(model, cases, output, use_mirroring=False)
    assert predicted.stat().st_mtime_ns == stamp  # the first case was not predicted again
    assert (output / "rows" / f"{cases[1].case_id}.json").is_file()
    timeless = [[{k: v for k, v in row.items() if k != "seconds"} for row in r["cases"]] for r in (first, again)]
    assert json.loads(json.dumps(timeless[1])) == json.loads(json.dumps(timeless[0]))
    assert again["cases"][0]["seconds"] == first["cases"][0]["seconds"]  # the stored row itself
    assert again["classification"] == first["classification"]
    evaluate_held_out(model, cases, output, use_mirroring=True)  # other options: every case again
    assert predicted.stat().st_mtime_ns != stamp
    stamp = predicted.stat().st_mtime_ns
    evaluate_held_out(model, cases, output, use_mirroring=True)
    assert predicted.stat().st_mtime_ns == stamp
    (model / "notes.txt").write_text("retrained")  # another model folder (a file added): every case again
    evaluate_held_out(model, cases, output, use_mirroring=True)
    assert predicted.stat().st_mtime_ns != stamp


def test_ablation_table_by_name(trained, tmp_path):
    from pancreas_mt_training.cli import main

    argv = ["ablation", str(DATASET_ID), "--names", "dense1", "--fold", "0", "--device", "cpu", "-o", str(tmp_path)]
    argv += ["--features", "8", "16", "32", "--blocks", "1", "1", "1", "--patch-size", "32", "32"]
    argv += ["--batch-size", "4", "--epochs", "1", "--iterations", "2", "--val-iterations", "1"]
    assert main(argv) == 0
    table = json.loads((tmp_path / "ablation.json").read_text())
    assert [r["name"] for r in table["rows"]] == ["dense1"]
    plans = json.loads((trained["preprocessed"] / f"{PLANS}_dense1.json").read_text())
    assert plans["configurations"]["2d"]["architecture"]["arch_kwargs"]["classifier_dense_layers"] == 1
    assert "1 dense layer" in (tmp_path / "ablation.md").read_text()


def test_paper_trainer_refuses_label_based_data(trained, capsys):
    """The paper preset trains on region-based labels (as its released code); this dataset has plain labels."""
    from pancreas_mt_training.cli import main

    assert main(["train", str(DATASET_ID), "1", "-tr", "nnUNetTrainerMultiTaskPaper", "--device", "cpu"]) == 1
    assert "region-based labels" in capsys.readouterr().err
