"""``nnUNetTrainerMultiTask``: nnU-Net's trainer, also training the subtype classifier head.

Runs on stock nnunetv2 2.8 with no edits to nnU-Net's files:

* the network comes from the plans (``PancreasMultiTaskLib.engine.network.MultiTaskResEncUNet``, written by
  :mod:`pancreas_mt_training.plans`), built by nnU-Net's own ``build_network_architecture``;
* subtype labels come from ``subtypes.csv`` (in ``nnUNet_preprocessed/<dataset>/``, else
  ``nnUNet_raw/<dataset>/``), looked up by the case keys every nnU-Net batch carries;
* the loss is nnU-Net's segmentation loss plus a weighted subtype loss (:mod:`.losses`);
* class loss and accuracy are logged per epoch in nnU-Net's logger (and in the checkpoint) and
  drawn in ``progress_subtype.png`` beside nnU-Net's ``progress.png``;
* the fold's final validation also writes ``validation/subtypes.json`` with case-level subtype
  probabilities, pooled uniformly (the paper) and lesion-weighted;
* ``augmentation: spatial`` leaves out nnU-Net's intensity augmentations (see :mod:`.losses`);
* tiles are nnU-Net's patch samples (random positions in the slice, some forced onto foreground);
  the default preset forces half the batch, half of those onto the lesion, and shifts forced tiles
  by up to a quarter patch (:class:`LesionAwareDataLoader`), so the lesion appears anywhere in a tile.
  Which tiles carry the class loss is ``class_slices`` (default: tiles showing lesion; a tile
  without lesion has nothing to classify and trains the segmentation only), and the head runs on
  those tiles alone, so its BatchNorm statistics are those of the tiles it is trained to classify;
  a network with a ``classifier_view`` (plans ``arch_kwargs``) classifies a view of that size cut from each
  such augmented tile around its lesion (:func:`lesion_views`), while the segmentation trains on the patch;
* :meth:`nnUNetTrainerMultiTask.build_network_architecture` (what nnU-Net's own predictor calls)
  gives a network that returns the segmentation alone, so ``nnUNetv2_predict`` runs these models;
  the trainer switches the class output back on for itself.

``nnUNetv2_train DATASET 2d FOLD -tr nnUNetTrainerMultiTask -p nnUNetResEncUNetMPlans_MultiTask``
finds this class when ``nnUNet_extTrainer`` names :func:`external_trainer_folder` (nnunetv2 2.8.1
searches that folder with ``recursive_find_python_class`` when a trainer is not one of its own).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor
from nnunetv2.paths import nnUNet_raw
from nnunetv2.training.dataloading.data_loader import nnUNetDataLoader
from nnunetv2.training.lr_scheduler.polylr import PolyLRScheduler
from nnunetv2.training.nnUNetTrainer import nnUNetTrainer as nnunet_trainer_module
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer
from nnunetv2.utilities.plans_handling.plans_handler import ConfigurationManager, PlansManager
from PancreasMultiTaskLib.engine.classify import guided_tiles
from PancreasMultiTaskLib.engine.io import atomic_path
from PancreasMultiTaskLib.engine.labels import LESION_LABEL, output_channels
from PancreasMultiTaskLib.engine.subtype import pool_slices
from torch import nn

from .labels import NO_SUBTYPE, SUBTYPES_CSV, SubtypeLabelError, SubtypeLookup, subtype_names
from .losses import HU_SHIFT_PROBABILITY, HU_SHIFT_SIGMA, SubtypeLoss, TrainingOptions, check_preset_labels
from .train_precision import training_autocast, training_log_line, training_precision

CLASS_LOG_KEYS = ("train_class_losses", "train_class_accuracy", "val_class_losses", "val_class_accuracy")


def external_trainer_folder() -> Path:
    """The folder to put in ``nnUNet_extTrainer`` so that ``nnUNetv2_train -tr nnUNetTrainerMultiTask`` finds it."""
    return Path(__file__).resolve().parent / "nnunet_trainers"


class SegmentationView(nn.Module):
    """Shows nnU-Net's code a segmentation-only network; keeps the class logits of every call.

    Also records each tile's lesion and pancreas probability mass, used to weight its subtype
    probabilities when pooling a case.
    """

    def __init__(
        self,
        network: nn.Module,
        lesion_channel: int | None = None,
        pancreas_channels: tuple[int, ...] = (),
        regions: bool = False,
    ) -> None:
        super().__init__()
        self.network = network
        self.lesion_channel = lesion_channel
        self.pancreas_channels = pancreas_channels
        self.regions = regions
        self.class_logits: list[torch.Tensor] = []
        self.lesion_mass: list[torch.Tensor] = []
        self.pancreas_mass: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        segmentation, logits = self.network(x)
        self.class_logits.append(logits.detach().float().cpu())
        if self.lesion_channel is not None:
            top = segmentation[0] if isinstance(segmentation, list | tuple) else segmentation
            top = top.detach().float()
            probs = torch.sigmoid(top) if self.regions else torch.softmax(top, 1)
            spatial = tuple(range(1, probs.ndim - 1))
            self.lesion_mass.append(probs[:, self.lesion_channel].sum(spatial).cpu())
            pancreas = sum(probs[:, c] for c in self.pancreas_channels)
            self.pancreas_mass.append(pancreas.sum(spatial).cpu())
        return segmentation

    def reset(self) -> None:
        self.class_logits, self.lesion_mass, self.pancreas_mass = [], [], []


def class_loss_mask(
    target: torch.Tensor | list[torch.Tensor],
    class_slices: str,
    min_pixels: int,
    lesion_channel: int | None,
    subtypes: torch.Tensor | None = None,
) -> torch.Tensor:
    """Which tiles of a batch are trained as their case's subtype.

    ``all`` (the paper): every tile, even one that shows no lesion or no pancreas; ``foreground``:
    tiles showing pancreas or lesion; ``lesion`` (default): tiles showing at least ``min_pixels``
    lesion pixels. A tile left out trains the segmentation only: nothing in it tells the subtype.
    Tiles of a case without a subtype (``subtypes`` holds ``NO_SUBTYPE``: no lesion) are always left out.
    ``target`` is the (deep-supervision list of) label tiles, ``(B, 1, y, x)`` labels or, for
    region-based models, ``(B, regions, y, x)`` with the lesion in ``lesion_channel``.
    """
    target = target[0] if isinstance(target, list) else target
    batch = target.shape[0]
    labelled = torch.ones(batch, dtype=torch.bool, device=target.device)
    if subtypes is not None:
        labelled = subtypes.to(target.device) != NO_SUBTYPE
    if class_slices == "all":
        return labelled
    flat = target.reshape(batch, target.shape[1], -1)
    minimum = 1 if class_slices == "foreground" else min_pixels
    if lesion_channel is not None:
        channel = 0 if class_slices == "foreground" else lesion_channel
        return labelled & ((flat[:, channel] > 0).sum(-1) >= minimum)
    threshold = 0 if class_slices == "foreground" else 1
    return labelled & ((flat[:, 0] > threshold).sum(-1) >= minimum)


#: A class view's centre is the lesion's centroid shifted by up to this fraction of the view along each axis: the
#: engine centres its views on the predicted lesion, which is near but not on the true centroid.
VIEW_JITTER = 0.125
#: AdamW's weight decay in :meth:`nnUNetTrainerMultiTask.refit_head` (the head probe's).
HEAD_REFIT_WEIGHT_DECAY = 1e-3


def lesion_views(data: torch.Tensor, lesion: torch.Tensor, view: tuple[int, int], jitter: float = 0.0) -> torch.Tensor:
    """One ``view``-size crop of each tile (batch, channels, y, x), centred on its lesion pixels' centroid.

    ``lesion`` is the tiles' (batch, y, x) lesion mask; a tile without lesion pixels gives its central view.
    Centres are shifted by a random number of pixels up to ``jitter`` of the view; the tiles are padded with
    zeros (the normalized intensity the engine pads with) so a view never leaves them.
    """
    views = data.new_zeros((data.shape[0], data.shape[1], *view))
    height, width = data.shape[-2:]
    for i in range(data.shape[0]):
        ys, xs = torch.nonzero(lesion[i], as_tuple=True)
        centre = (
            [float(ys.float().mean()), float(xs.float().mean())] if len(ys) else [(height - 1) / 2, (width - 1) / 2]
        )
        corner = []
        for c, size in zip(centre, view, strict=True):
            reach = int(size * jitter)
            shift = int(np.random.randint(-reach, reach + 1)) if reach > 0 else 0
            corner.append(round(c - size / 2) + shift)  # as the engine places its guided tiles
        y0, x0 = corner
        ty0, tx0 = max(y0, 0), max(x0, 0)
        ty1, tx1 = min(y0 + view[0], height), min(x0 + view[1], width)
        if ty1 > ty0 and tx1 > tx0:
            views[i, :, ty0 - y0 : ty1 - y0, tx0 - x0 : tx1 - x0] = data[i, :, ty0:ty1, tx0:tx1]
    return views


class LesionAwareDataLoader(nnUNetDataLoader):
    """nnU-Net's loader whose forced-foreground tiles favour the lesion and sit off-centre.

    nnU-Net centres a forced tile on a random voxel of a random foreground class; here that class
    is the lesion with probability ``lesion_probability``, and the tile is then shifted by up to
    ``jitter`` of the patch along each in-plane axis (the slice is padded as nnU-Net pads).
    """

    def __init__(self, *args, lesion_probability: float = 0.0, jitter: float = 0.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.lesion_probability = lesion_probability
        self.jitter = jitter

    def get_bbox(self, data_shape, force_fg, class_locations, overwrite_class=None, verbose=False):
        if force_fg and overwrite_class is None and class_locations and np.random.uniform() < self.lesion_probability:
            overwrite_class = next(
                (k for k in class_locations if tuple(np.atleast_1d(k).tolist()) == (LESION_LABEL,)), None
            )
        lbs, ubs = super().get_bbox(data_shape, force_fg, class_locations, overwrite_class, verbose)
        if force_fg and self.jitter > 0:
            for axis, size in enumerate(self.final_patch_size):
                reach = int(size * self.jitter)
                if size > 1 and reach > 0:
                    shift = int(np.random.randint(-reach, reach + 1))
                    lbs[axis] += shift
                    ubs[axis] += shift
        return lbs, ubs


class nnUNetTrainerMultiTask(nnUNetTrainer):
    """nnU-Net trainer for segmentation + subtype classification (see the module docstring)."""

    preset_override: str | None = None

    def __init__(
        self,
        plans: dict,
        configuration: str,
        fold: int,
        dataset_json: dict,
        device: torch.device = torch.device("cuda"),  # noqa: B008 (nnU-Net's signature)
    ):
        super().__init__(plans, configuration, fold, dataset_json, device)
        values: dict[str, Any] = dict(self.configuration_manager.configuration.get("multitask_training", {}))
        if self.preset_override is not None:
            keep = ("ablation", "num_epochs", "num_iterations_per_epoch", "num_val_iterations_per_epoch")
            values = {"preset": self.preset_override, **{k: values[k] for k in keep if k in values}}
        self.options = TrainingOptions.from_dict(values)
        check_preset_labels(self.options, dataset_json)
        self.subtype_names = subtype_names(dataset_json)
        self.num_epochs = self.options.num_epochs
        self.num_iterations_per_epoch = self.options.num_iterations_per_epoch
        self.num_val_iterations_per_epoch = self.options.num_val_iterations_per_epoch
        self.initial_lr = self.options.initial_lr
        self.weight_decay = self.options.weight_decay
        self.enable_deep_supervision = self.options.deep_supervision
        self.subtype_loss = SubtypeLoss(self.options, len(self.subtype_names)).to(self.device)
        self.oversample_foreground_percent = self.options.oversample_foreground
        self.save_every = self.options.save_every
        self.subtype_lookup: SubtypeLookup | None = None
        #: Set by :meth:`load_checkpoint`: the weights came from an exported model (no training state).
        self.weights_only_checkpoint = False
        logging = self.logger.local_logger.my_fantastic_logging
        for key in CLASS_LOG_KEYS:
            logging.setdefault(key, [])
        self.training_precision = training_precision()
        self.print_to_log_file(f"Multi-task training options: {json.dumps(self.options.to_dict())}")
        self.print_to_log_file(training_log_line(self.device, self.training_precision))

    # ----- labels -----------------------------------------------------------------------------------
    def _load_subtype_lookup(self) -> SubtypeLookup:
        if self.subtype_lookup is None:
            candidates = []
            if self.preprocessed_dataset_folder_base is not None:
                candidates.append(Path(self.preprocessed_dataset_folder_base) / SUBTYPES_CSV)
            if nnUNet_raw.is_set():
                candidates.append(Path(nnUNet_raw.get()) / self.plans_manager.dataset_name / SUBTYPES_CSV)
            found = next((p for p in candidates if p.is_file()), None)
            if found is None:
                raise SubtypeLabelError(f"no {SUBTYPES_CSV} found in {', '.join(str(p) for p in candidates)}")
            self.subtype_lookup = SubtypeLookup.from_csv(found, len(self.subtype_names))
        return self.subtype_lookup

    def _class_mask(self, target: torch.Tensor | list[torch.Tensor], subtypes: torch.Tensor) -> torch.Tensor:
        """Which batch items carry the class loss (see :func:`class_loss_mask`)."""
        lesion_channel = self._region_channels()[0] if self.label_manager.has_regions else None
        options = self.options
        return class_loss_mask(target, options.class_slices, options.class_min_pixels, lesion_channel, subtypes)

    def _lesion_pixels(self, target: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
        """The (batch, y, x) lesion mask of the full-size label tiles."""
        target = target[0] if isinstance(target, list) else target
        if self.label_manager.has_regions:
            return target[:, self._region_channels()[0]] > 0
        return target[:, 0] == LESION_LABEL

    def _class_views(self, data: torch.Tensor, target, mask: torch.Tensor, jitter: float) -> torch.Tensor:
        """The masked tiles' lesion-centred views, for a network with a ``classifier_view``."""
        view = self._plain_network().classifier_view
        return lesion_views(data[mask], self._lesion_pixels(target)[mask], view, jitter)

    def _region_channels(self) -> tuple[int, tuple[int, ...]]:
        """Lesion output channel and the channels whose sum is the pancreas (lesion included)."""
        channels = output_channels(self.label_manager, self.dataset_json["labels"])
        return channels.lesion, channels.pancreas

    # ----- augmentation ------------------------------------------------------------------------------
    def get_dataloaders(self):
        """nnU-Net's loaders with :class:`LesionAwareDataLoader`'s sampling; with ``augmentation: spatial``
        its intensity transforms are left out.

        ``nnUNetTrainer.get_dataloaders`` names ``nnUNetDataLoader`` from its module, so the configured
        loader is put there for the duration of the call. It is the module-level class with its settings
        bound, so spawned augmentation workers (macOS, Windows, fold jobs) can pickle its instances.
        """
        loader = functools.partial(
            LesionAwareDataLoader, lesion_probability=self.options.lesion_oversampling, jitter=self.options.tile_jitter
        )
        saved = nnunet_trainer_module.nnUNetDataLoader
        nnunet_trainer_module.nnUNetDataLoader = loader
        try:
            if self.options.augmentation in ("spatial", "hu-shift"):
                original = self.get_training_transforms
                shift = self._hu_shift_sigma() if self.options.augmentation == "hu-shift" else None

                def spatial_only(*args, **kwargs):
                    return _without_intensity_transforms(original(*args, **kwargs), shift)

                self.get_training_transforms = spatial_only
                try:
                    return super().get_dataloaders()
                finally:
                    del self.get_training_transforms
            return super().get_dataloaders()
        finally:
            nnunet_trainer_module.nnUNetDataLoader = saved

    def _hu_shift_sigma(self) -> float:
        """:data:`HU_SHIFT_SIGMA` in the normalized units the network sees (HU / the foreground's std)."""
        properties = self.plans_manager.foreground_intensity_properties_per_channel["0"]
        return HU_SHIFT_SIGMA / max(float(properties["std"]), 1e-3)

    # ----- network and steps ------------------------------------------------------------------------
    def _plain_network(self) -> nn.Module:
        network = self.network.module if self.is_ddp else self.network
        if isinstance(network, SegmentationView):
            network = network.network
        return getattr(network, "_orig_mod", network)

    @staticmethod
    def build_network_architecture(
        plans_manager: PlansManager,
        configuration_manager: ConfigurationManager,
        num_input_channels: int,
        num_output_channels: int,
        enable_deep_supervision: bool = True,
    ) -> nn.Module:
        """nnU-Net's network builder; the network returns the segmentation alone (for nnU-Net's predictor)."""
        network = nnUNetTrainer.build_network_architecture(
            plans_manager, configuration_manager, num_input_channels, num_output_channels, enable_deep_supervision
        )
        return network.segmentation_only() if hasattr(network, "segmentation_only") else network

    def initialize(self) -> None:
        super().initialize()
        self._plain_network().class_outputs = True

    def set_deep_supervision_enabled(self, enabled: bool) -> None:
        self._plain_network().decoder.deep_supervision = enabled

    def configure_optimizers(self):
        """nnU-Net's SGD and poly schedule; with ``classifier_momentum`` the head's parameters are a second
        group with that momentum (same learning rate and schedule); ``optimizer: adamw`` trains the whole
        network with AdamW on the same schedule."""
        if self.options.optimizer == "adamw":
            optimizer = torch.optim.AdamW(self.network.parameters(), self.initial_lr, weight_decay=self.weight_decay)
            return optimizer, PolyLRScheduler(optimizer, self.initial_lr, self.num_epochs)
        momentum = self.options.classifier_momentum
        if momentum is None:
            return super().configure_optimizers()
        head = {id(p) for p in self._plain_network().classifier.parameters()}
        groups = [
            {"params": [p for p in self.network.parameters() if id(p) not in head]},
            {"params": [p for p in self.network.parameters() if id(p) in head], "momentum": momentum},
        ]
        optimizer = torch.optim.SGD(
            groups, self.initial_lr, weight_decay=self.weight_decay, momentum=0.99, nesterov=True
        )
        return optimizer, PolyLRScheduler(optimizer, self.initial_lr, self.num_epochs)

    def run_training(self) -> None:
        if self.weights_only_checkpoint:
            raise RuntimeError(
                f"{self.output_folder}: its checkpoint holds weights only (an exported model), without the optimizer"
                " and logs a training resumes from; run its validation (--validation-only) or train the fold anew"
            )
        super().run_training()

    def on_train_start(self) -> None:
        super().on_train_start()
        tr_keys, val_keys = self.do_split()
        self._load_subtype_lookup().require(list(tr_keys) + list(val_keys))

    def _subtypes(self, batch: dict) -> torch.Tensor:
        return torch.from_numpy(self._load_subtype_lookup()(batch["keys"])).to(self.device)

    def train_step(self, batch: dict) -> dict:
        data = batch["data"].to(self.device, non_blocking=True)
        target = batch["target"]
        target = [t.to(self.device) for t in target] if isinstance(target, list) else target.to(self.device)
        subtypes = self._subtypes(batch)
        mask = self._class_mask(target, subtypes)
        # The head runs on the tiles that carry the class loss only, so its BatchNorm statistics are
        # those of lesion tiles (what guided classification shows it); BatchNorm needs two of them.
        if int(mask.sum()) < 2:
            mask = torch.zeros_like(mask)
        subtypes = subtypes[mask]
        self.optimizer.zero_grad(set_to_none=True)
        with training_autocast(self.device, self.training_precision):
            if self._plain_network().classifier_view is None:
                segmentation, logits = self.network(data, mask)
            else:
                views = self._class_views(data, target, mask, VIEW_JITTER)
                segmentation, logits = self.network(data, class_views=views)
            # The losses in float32 whatever the network computed in (autocast's outputs are float16 or bfloat16).
            segmentation, logits = _float32(segmentation), logits.float()
            seg_loss = self.loss(segmentation, target)
            class_loss = self.subtype_loss(logits, subtypes)
            loss = seg_loss + self.options.class_loss_weight * class_loss
        if self.grad_scaler is not None:
            self.grad_scaler.scale(loss).backward()
            self.grad_scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.network.parameters(), 12)
            self.grad_scaler.step(self.optimizer)
            self.grad_scaler.update()
        else:
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.network.parameters(), 12)
            self.optimizer.step()
        return self._step_outputs(loss, class_loss, logits, subtypes)

    @staticmethod
    def _step_outputs(loss, class_loss, logits, subtypes) -> dict:
        """Losses and the class accuracy over the tiles that carried the class loss (``logits``' rows)."""
        correct = logits.detach().argmax(1) == subtypes
        return {
            "loss": loss.detach().cpu().numpy(),
            "class_loss": class_loss.detach().cpu().numpy(),
            "class_correct": np.array(int(correct.sum())),
            "class_count": np.array(len(subtypes)),
        }

    def validation_step(self, batch: dict) -> dict:
        subtypes = self._subtypes(batch)
        mask = self._class_mask(batch["target"], subtypes).to(self.device)
        network = self.network
        view = SegmentationView(network)
        self.network = view
        try:
            with training_autocast(self.device, self.training_precision):
                outputs = super().validation_step(batch)
        finally:
            self.network = network
        if self._plain_network().classifier_view is None:
            logits = view.class_logits[0].to(self.device).float()[mask]
        else:
            views = self._class_views(batch["data"], batch["target"], mask.cpu(), 0.0).to(self.device)
            with torch.no_grad(), training_autocast(self.device, self.training_precision):
                logits = self._plain_network().classify(views).float()
        subtypes = subtypes[mask]
        class_loss = self.subtype_loss(logits, subtypes)
        outputs["loss"] = outputs["loss"] + self.options.class_loss_weight * class_loss.cpu().numpy()
        extra = self._step_outputs(torch.zeros(()), class_loss, logits, subtypes)
        outputs.update({k: v for k, v in extra.items() if k != "loss"})
        return outputs

    def _log_class_metrics(self, outputs: list[dict], split: str) -> None:
        losses = [float(o["class_loss"]) for o in outputs if int(o["class_count"]) > 0]
        count = sum(int(o["class_count"]) for o in outputs)
        correct = sum(int(o["class_correct"]) for o in outputs)
        self.logger.log(f"{split}_class_losses", float(np.mean(losses)) if losses else float("nan"), self.current_epoch)
        self.logger.log(f"{split}_class_accuracy", correct / count if count else float("nan"), self.current_epoch)

    def on_train_epoch_end(self, train_outputs: list[dict]) -> None:
        super().on_train_epoch_end(train_outputs)
        self._log_class_metrics(train_outputs, "train")

    def on_validation_epoch_end(self, val_outputs: list[dict]) -> None:
        super().on_validation_epoch_end(val_outputs)
        self._log_class_metrics(val_outputs, "val")

    def on_epoch_end(self) -> None:
        get = self.logger.get_value
        self.print_to_log_file(
            f"subtype loss train {get('train_class_losses', -1):.4f} val {get('val_class_losses', -1):.4f}, "
            f"accuracy train {get('train_class_accuracy', -1):.3f} val {get('val_class_accuracy', -1):.3f}"
        )
        super().on_epoch_end()
        if self.local_rank == 0:
            plot_class_progress(self.logger.local_logger.my_fantastic_logging, Path(self.output_folder))

    def save_checkpoint(self, filename: str) -> None:
        """nnU-Net's checkpoint, with numpy scalars in the logs made plain so ``weights_only`` loading works."""
        logging = self.logger.local_logger.my_fantastic_logging
        for key, values in logging.items():
            logging[key] = [_plain(v) for v in values]
        if self._best_ema is not None:
            self._best_ema = float(self._best_ema)
        super().save_checkpoint(filename)

    def load_checkpoint(self, filename_or_checkpoint: dict | str) -> None:
        """nnU-Net's resume (``--c``) and final validation (``--val``), with the file read by
        ``torch.load(weights_only=True)``.

        Written out rather than delegated: nnU-Net's own unpickles the file in full, and given a dict it
        fails (its ``checkpoint`` is only bound for a file name). The state restored is the same as its. An exported
        model's checkpoint (``export.strip_checkpoint``: weights, epoch and mirroring axes, no optimizer or logs) is
        read too, for its validation only: :meth:`run_training` then refuses to train on from it.
        """
        if not self.was_initialized:
            self.initialize()
        checkpoint = filename_or_checkpoint
        if isinstance(checkpoint, str):
            checkpoint = torch.load(checkpoint, map_location=self.device, weights_only=True)
        weights = {key.removeprefix("module."): value for key, value in checkpoint["network_weights"].items()}
        self._plain_network().load_state_dict(weights)
        self.weights_only_checkpoint = "optimizer_state" not in checkpoint
        if self.weights_only_checkpoint:
            self.current_epoch = checkpoint.get("current_epoch", self.current_epoch)
            self.inference_allowed_mirroring_axes = checkpoint.get(
                "inference_allowed_mirroring_axes", self.inference_allowed_mirroring_axes
            )
            self.print_to_log_file("Checkpoint holds weights only (an exported model): validated, not trained on")
            return
        self.my_init_kwargs = checkpoint["init_args"]
        self.current_epoch = checkpoint["current_epoch"]
        self.logger.load_checkpoint(checkpoint["logging"])
        self._best_ema = checkpoint["_best_ema"]
        self.inference_allowed_mirroring_axes = checkpoint.get(
            "inference_allowed_mirroring_axes", self.inference_allowed_mirroring_axes
        )
        self.optimizer.load_state_dict(checkpoint["optimizer_state"])
        if self.grad_scaler is not None and checkpoint.get("grad_scaler_state") is not None:
            self.grad_scaler.load_state_dict(checkpoint["grad_scaler_state"])

    # ----- head refit -------------------------------------------------------------------------------
    def on_train_end(self) -> None:
        """With ``head_refit_iterations``, :meth:`refit_head` before nnU-Net saves ``checkpoint_final.pth``."""
        if self.options.head_refit_iterations > 0:
            self.refit_head()
        super().on_train_end()

    def refit_head(self) -> None:
        """Train the head anew and alone on the frozen network: ``head_refit_iterations`` steps of AdamW at
        ``head_refit_lr`` on the training loader's class tiles, with the class loss only.

        The joint training's head learns while the encoder under it moves; this one learns the encoder's final
        features (training/README.md, the head probes). The encoder runs in eval mode and without gradients, and
        only the head's parameters are optimized, so the encoder and decoder stay as trained, and so does the
        segmentation. The log gives the class accuracy of both heads on the same validation batches."""
        network = self._plain_network()
        head = network.classifier
        options = self.options
        val_batches = [next(self.dataloader_val) for _ in range(self.num_val_iterations_per_epoch)]
        joint = self._head_accuracy(val_batches)
        for module in head.modules():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()  # BatchNorm's resets its running statistics too
        optimizer = torch.optim.AdamW(head.parameters(), options.head_refit_lr, weight_decay=HEAD_REFIT_WEIGHT_DECAY)
        network.eval()
        head.train()
        report_every = max(1, options.head_refit_iterations // 10)
        correct = count = 0
        for iteration in range(1, options.head_refit_iterations + 1):
            features, subtypes = self._head_inputs(next(self.dataloader_train), VIEW_JITTER)
            if len(subtypes) >= 2:  # BatchNorm needs two
                logits = head(features.float())
                loss = self.subtype_loss(logits, subtypes)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                correct += int((logits.detach().argmax(1) == subtypes).sum())
                count += len(subtypes)
            if iteration % report_every == 0:
                accuracy = correct / count if count else float("nan")
                self.print_to_log_file(
                    f"head refit {iteration}/{options.head_refit_iterations}: tile accuracy"
                    f" {accuracy:.3f} on {count} training tiles"
                )
                correct = count = 0
        network.train()
        refit = self._head_accuracy(val_batches)
        self.print_to_log_file(
            f"head refit done: validation tile accuracy {refit:.3f} (the jointly trained head's: {joint:.3f})"
        )

    def _head_inputs(self, batch: dict, jitter: float) -> tuple[torch.Tensor, torch.Tensor]:
        """The frozen encoder's deepest features of a batch's class tiles (their views for a view network), and
        their subtypes."""
        network = self._plain_network()
        data = batch["data"].to(self.device, non_blocking=True)
        target = batch["target"]
        target = [t.to(self.device) for t in target] if isinstance(target, list) else target.to(self.device)
        subtypes = self._subtypes(batch)
        mask = self._class_mask(target, subtypes)
        tiles = data[mask] if network.classifier_view is None else self._class_views(data, target, mask, jitter)
        with torch.no_grad(), training_autocast(self.device, self.training_precision):
            features = network.encoder(tiles)[-1] if len(tiles) else tiles
        return features.float(), subtypes[mask]

    def _head_accuracy(self, batches: list[dict]) -> float:
        """The head's class accuracy over the class tiles of ``batches`` (the network in eval mode)."""
        network = self._plain_network()
        was_training = network.training
        network.eval()
        correct = count = 0
        with torch.no_grad():
            for batch in batches:
                features, subtypes = self._head_inputs(batch, 0.0)
                if len(subtypes):
                    correct += int((network.classifier(features).argmax(1) == subtypes).sum())
                    count += len(subtypes)
        network.train(was_training)
        return correct / count if count else float("nan")

    # ----- final validation -------------------------------------------------------------------------
    def perform_actual_validation(self, save_probabilities: bool = False) -> None:
        network, mirror_axes = self.network, self.inference_allowed_mirroring_axes
        self.network = SegmentationView(network)
        if not self.options.validation_mirroring:
            self.inference_allowed_mirroring_axes = None
        try:
            super().perform_actual_validation(save_probabilities)
            if self.local_rank == 0:
                self.predict_validation_subtypes()
        finally:
            self.network, self.inference_allowed_mirroring_axes = network, mirror_axes

    def guided_inputs(self, data: torch.Tensor, logits: torch.Tensor) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
        """Per slice: the engine's guided tile (centred on the predicted lesion, else the gland), and the predicted
        lesion and pancreas masses, from a case's preprocessed ``data`` and its segmentation ``logits``."""
        lesion_channel, pancreas_channels = self._region_channels()
        with torch.no_grad():
            maps = self.label_manager.apply_inference_nonlin(logits.float().cpu())
            lesion, gland = maps[lesion_channel], maps[list(pancreas_channels)].sum(0)
            tiles = guided_tiles(data, lesion, gland, tuple(self.configuration_manager.patch_size), exact=True)
        return tiles, lesion.sum((1, 2)).double().numpy(), gland.sum((1, 2)).double().numpy()

    def _guided_slices(self, data: torch.Tensor, logits: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per slice: the subtype probabilities of the engine's guided tile, and the predicted lesion and pancreas
        masses (:meth:`guided_inputs`). A view network's classification of the case."""
        tiles, lesion_mass, pancreas_mass = self.guided_inputs(data, logits)
        batch = self.configuration_manager.batch_size
        with torch.no_grad():
            class_logits = [
                self._plain_network()(tiles[b : b + batch].to(self.device))[1] for b in range(0, len(tiles), batch)
            ]
        probs = torch.softmax(torch.cat(class_logits).float().cpu(), 1).numpy()
        return probs, lesion_mass, pancreas_mass

    def _validation_predictor(self) -> tuple[nnUNetPredictor, SegmentationView]:
        """nnU-Net's predictor on this trainer's network, as the final validation runs it (Gaussian, half overlap,
        mirrored unless ``validation_mirroring`` is off), and the :class:`SegmentationView` it predicts through;
        deep supervision is left off."""
        self.set_deep_supervision_enabled(False)
        lesion, pancreas = self._region_channels()
        view = SegmentationView(self._plain_network(), lesion, pancreas, self.label_manager.has_regions)
        view.eval()
        predictor = nnUNetPredictor(
            tile_step_size=0.5,
            use_gaussian=True,
            use_mirroring=True,
            perform_everything_on_device=True,
            device=self.device,
            verbose=False,
            verbose_preprocessing=False,
            allow_tqdm=False,
        )
        predictor.manual_initialization(
            view,
            self.plans_manager,
            self.configuration_manager,
            None,
            self.dataset_json,
            self.__class__.__name__,
            self.inference_allowed_mirroring_axes if self.options.validation_mirroring else None,
        )
        return predictor, view

    def validation_cases(self) -> Iterator[tuple[str, torch.Tensor, torch.Tensor, SegmentationView, int]]:
        """Each validation case's key, preprocessed data, segmentation logits (predicted as the final validation
        predicts them), the :class:`SegmentationView` holding its sliding window's class outputs, and its subtype."""
        predictor, view = self._validation_predictor()
        _, val_keys = self.do_split()
        dataset = self.dataset_class(self.preprocessed_dataset_folder, val_keys)
        truth = self._load_subtype_lookup()
        for key in dataset.identifiers:
            data = torch.from_numpy(np.asarray(dataset.load_case(key)[0][:]))
            view.reset()
            with torch.no_grad():
                logits = predictor.predict_sliding_window_return_logits(data)
            yield key, data, logits, view, int(truth([key])[0])

    def predict_validation_subtypes(self) -> Path:
        """Case-level subtype probabilities of this fold's validation cases -> ``validation/subtypes.json``.

        A whole-patch head's are its sliding-window tiles' (the paper's); a view network's are the engine's
        guided tiles' (its sliding-window tiles' central views mostly miss the lesion).
        """
        cases = {}
        for key, data, logits, view, subtype in self.validation_cases():
            if self._plain_network().classifier_view is None:
                probs = torch.softmax(torch.cat(view.class_logits), 1).numpy()
                lesion_mass = torch.cat(view.lesion_mass).numpy()
                pancreas_mass = torch.cat(view.pancreas_mass).numpy()
            else:
                probs, lesion_mass, pancreas_mass = self._guided_slices(data, logits)
            entry: dict[str, Any] = {"truth": subtype}
            for method in ("uniform", "lesion-weighted"):
                pooled = pool_slices(probs, lesion_mass, pancreas_mass, method)
                entry[method] = [float(p) for p in pooled.probabilities]
                entry[f"{method}_used"] = pooled.method
            entry["predicted"] = int(np.argmax(entry["lesion-weighted"]))
            cases[key] = entry
        self.set_deep_supervision_enabled(True)
        labelled = [c for c in cases.values() if c["truth"] != NO_SUBTYPE]
        correct = {m: sum(int(np.argmax(c[m]) == c["truth"]) for c in labelled) for m in ("uniform", "lesion-weighted")}
        summary = {
            "subtype_names": self.subtype_names,
            "fold": self.fold,
            "accuracy": {m: (n / len(labelled) if labelled else None) for m, n in correct.items()},
            "cases": cases,
        }
        path = Path(self.output_folder) / "validation" / "subtypes.json"
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        self.print_to_log_file(f"Validation subtype accuracy: {summary['accuracy']}")
        return path


class nnUNetTrainerMultiTaskPaper(nnUNetTrainerMultiTask):
    """The paper's loss settings whatever the plans say: Dice+BCE class loss, weight 3, all slices, no deep
    supervision (the plans' epoch and iteration counts still apply)."""

    preset_override = "paper"


INTENSITY_TRANSFORMS = (
    "GaussianBlurTransform",
    "MultiplicativeBrightnessTransform",
    "ContrastTransform",
    "SimulateLowResolutionTransform",
    "GammaTransform",
)


def _without_intensity_transforms(compose: Any, hu_shift_sigma: float | None = None) -> Any:
    """nnU-Net's training transforms minus the intensity ones (each wrapped in a ``RandomTransform``); with
    ``hu_shift_sigma`` (in normalized units) a global additive offset follows the spatial transforms."""
    from batchgeneratorsv2.transforms.intensity.brightness import BrightnessAdditiveTransform
    from batchgeneratorsv2.transforms.utils.random import RandomTransform

    kept = [t for t in compose.transforms if type(getattr(t, "transform", t)).__name__ not in INTENSITY_TRANSFORMS]
    if hu_shift_sigma is not None:
        names = [type(t).__name__ for t in kept]
        after = max(i for i, name in enumerate(names) if name in ("SpatialTransform", "Convert2DTo3DTransform")) + 1
        # Not ``synchronize_channels``: batchgeneratorsv2 2.x then draws uniformly from (mu, sigma), one-sided;
        # our CT has one channel, so per-channel is the same offset for the whole tile, from a Gaussian.
        shift = RandomTransform(
            BrightnessAdditiveTransform(0.0, hu_shift_sigma, synchronize_channels=False),
            apply_probability=HU_SHIFT_PROBABILITY,
        )
        kept.insert(after, shift)
    compose.transforms = kept
    return compose


def _float32(segmentation: torch.Tensor | list[torch.Tensor]) -> torch.Tensor | list[torch.Tensor]:
    """The segmentation output (a list under deep supervision) in float32."""
    return [s.float() for s in segmentation] if isinstance(segmentation, list) else segmentation.float()


def _plain(value: Any) -> Any:
    """Numpy scalars and arrays as Python numbers and lists."""
    if isinstance(value, np.ndarray | np.generic):
        return value.tolist()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def plot_class_progress(logging: dict[str, list], output_folder: Path) -> Path:
    """Per-epoch subtype loss and accuracy (train and validation) -> ``progress_subtype.png``."""
    fig, (ax_loss, ax_acc) = plt.subplots(2, 1, figsize=(8, 7), sharex=True)
    for split, color in (("train", "b"), ("val", "r")):
        values = logging.get(f"{split}_class_losses", [])
        ax_loss.plot(range(len(values)), values, color=color, label=f"{split} subtype loss")
        values = logging.get(f"{split}_class_accuracy", [])
        ax_acc.plot(range(len(values)), values, color=color, label=f"{split} subtype accuracy")
    ax_loss.set_ylabel("loss")
    ax_acc.set_ylabel("slice accuracy")
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylim(0, 1)
    ax_loss.legend()
    ax_acc.legend()
    fig.tight_layout()
    path = output_folder / "progress_subtype.png"
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path
