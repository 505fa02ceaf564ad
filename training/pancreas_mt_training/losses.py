"""Subtype classification losses and the training presets that choose them.

* ``paper``: Dice + BCE on the one-hot subtype as the released code computes it: BCE with logits
  plus one global soft Dice over all entries of the batch's (B, 3) sigmoid outputs
  (``dice_bce_global``), weight 3, on every tile (a tile without lesion is trained as its case's
  subtype); deep supervision off; nnU-Net's patch sampling unchanged. The paper itself calls Dice on a
  single output improper; it is kept to reproduce the paper. Its dataset is region-based
  (pancreas = (1, 2), lesion = 2), which is why nnU-Net's segmentation loss is Dice + BCE too.
* ``default``: cross-entropy on the class logits (optional label smoothing and class weights),
  weight 1, only on tiles that show at least ``class_min_pixels`` lesion pixels (a tile without
  lesion carries no class loss: it has nothing to classify); deep supervision on; half the batch
  forced to hold foreground, half of those the lesion, placed off-centre (``tile_jitter``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from nnunetv2.training.loss.compound_losses import DC_and_BCE_loss
from nnunetv2.training.loss.dice import MemoryEfficientSoftDiceLoss
from torch import nn

CLASS_LOSSES = ("ce", "dice_bce", "dice_bce_global")
CLASS_SLICES = ("all", "foreground", "lesion")
#: ``nnunet``: nnU-Net's full augmentation; ``spatial``: without its intensity transforms (brightness,
#: contrast, gamma, blur, simulated low resolution), which blur the HU and texture cues of the subtype;
#: ``hu-shift``: ``spatial`` plus a global HU offset (Gaussian, :data:`HU_SHIFT_SIGMA`), the way contrast
#: phases and scanners move a whole scan without blurring its texture.
AUGMENTATIONS = ("nnunet", "spatial", "hu-shift")
#: Standard deviation (HU) of the ``hu-shift`` offset: offsets of +-100 HU are two sigma.
HU_SHIFT_SIGMA = 50.0
#: ``sgd``: nnU-Net's (momentum 0.99, Nesterov); ``adamw``: ``torch.optim.AdamW``; both on the poly schedule.
OPTIMIZERS = ("sgd", "adamw")
#: Share of training tiles that get a ``hu-shift`` offset.
HU_SHIFT_PROBABILITY = 0.8


@dataclass
class TrainingOptions:
    """What the multi-task trainer does besides nnU-Net's defaults; stored in the plans' ``multitask_training``."""

    preset: str = "default"
    class_loss: str = "ce"
    class_loss_weight: float = 1.0
    label_smoothing: float = 0.1
    class_weights: list[float] | None = None
    class_slices: str = "lesion"
    deep_supervision: bool = True
    num_epochs: int = 100
    num_iterations_per_epoch: int = 250
    num_val_iterations_per_epoch: int = 50
    initial_lr: float = 1e-2
    weight_decay: float = 3e-5
    ablation: str = "proposed"
    augmentation: str = "nnunet"
    #: Mirroring in the fold's final validation (off saves three quarters of it on a CPU).
    validation_mirroring: bool = True
    #: Fewest lesion pixels a tile needs to carry the class loss (``class_slices: lesion``).
    class_min_pixels: int = 16
    #: Share of each batch forced to hold foreground (nnU-Net: 0.33).
    oversample_foreground: float = 0.5
    #: Share of the forced tiles centred on the lesion rather than on a random foreground class.
    lesion_oversampling: float = 0.5
    #: Forced tiles are shifted by up to this fraction of the patch, so the lesion sits anywhere.
    tile_jitter: float = 0.25
    #: Epochs between ``checkpoint_latest.pth`` saves, what an interrupted training resumes from (nnU-Net: 50).
    save_every: int = 50
    #: SGD momentum of the classifier head's parameters (``None``: nnU-Net's 0.99, as every other parameter).
    classifier_momentum: float | None = None
    #: One of :data:`OPTIMIZERS`, for the whole network, at ``initial_lr`` and ``weight_decay``.
    optimizer: str = "sgd"
    #: Iterations of a stage after the last epoch that trains the head anew, alone, on the frozen network
    #: (``trainer.nnUNetTrainerMultiTask.refit_head``); 0: none, the jointly trained head stays.
    head_refit_iterations: int = 0
    #: AdamW's learning rate in that stage (constant).
    head_refit_lr: float = 3e-3

    def __post_init__(self) -> None:
        if self.class_loss not in CLASS_LOSSES:
            raise ValueError(f"multitask_training.class_loss must be one of {CLASS_LOSSES}, got {self.class_loss!r}")
        if self.class_slices not in CLASS_SLICES:
            raise ValueError(
                f"multitask_training.class_slices must be one of {CLASS_SLICES}, got {self.class_slices!r}"
            )
        if self.augmentation not in AUGMENTATIONS:
            raise ValueError(
                f"multitask_training.augmentation must be one of {AUGMENTATIONS}, got {self.augmentation!r}"
            )
        for name in ("oversample_foreground", "lesion_oversampling"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"multitask_training.{name} must be in [0, 1], got {getattr(self, name)}")
        if not 0 <= self.tile_jitter <= 0.5:
            raise ValueError(f"multitask_training.tile_jitter must be in [0, 0.5], got {self.tile_jitter}")
        if self.save_every < 1:
            raise ValueError(f"multitask_training.save_every must be >= 1, got {self.save_every}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"multitask_training.optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.optimizer != "sgd" and self.classifier_momentum is not None:
            raise ValueError("multitask_training.classifier_momentum is an SGD setting: unset it for optimizer adamw")
        if self.classifier_momentum is not None and not 0 < self.classifier_momentum < 1:
            raise ValueError(
                f"multitask_training.classifier_momentum must be in (0, 1), got {self.classifier_momentum}"
            )
        iterations, lr = self.head_refit_iterations, self.head_refit_lr
        if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 0:
            raise ValueError(
                f"multitask_training.head_refit_iterations must be a whole number >= 0, got {iterations!r}"
            )
        if isinstance(lr, bool) or not isinstance(lr, int | float) or not lr > 0:
            raise ValueError(f"multitask_training.head_refit_lr must be a number > 0, got {lr!r}")
        if self.class_loss_weight < 0:
            raise ValueError(f"multitask_training.class_loss_weight must be >= 0, got {self.class_loss_weight}")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainingOptions:
        """Preset defaults, then the given values; unknown keys are an error naming them."""
        values = dict(values)
        preset = values.get("preset", "default")
        if preset not in PRESETS:
            raise ValueError(f"multitask_training.preset must be one of {sorted(PRESETS)}, got {preset!r}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"multitask_training: unknown option(s) {unknown}")
        return cls(**{**PRESETS[preset], **values})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


PRESETS: dict[str, dict[str, Any]] = {
    "paper": {
        "preset": "paper",
        "class_loss": "dice_bce_global",
        "class_loss_weight": 3.0,
        "label_smoothing": 0.0,
        "class_slices": "all",
        "class_min_pixels": 1,
        "oversample_foreground": 0.33,
        "lesion_oversampling": 0.0,
        "tile_jitter": 0.0,
        "deep_supervision": False,
        "num_epochs": 100,
        "initial_lr": 1e-2,
        "weight_decay": 3e-5,
    },
    "default": {"preset": "default"},
}


def check_preset_labels(options: TrainingOptions, dataset_json: dict) -> None:
    """The paper preset trains on the released code's region-based labels; a clear error otherwise."""
    if options.preset == "paper" and "regions_class_order" not in dataset_json:
        raise ValueError(
            "multitask_training.preset 'paper' trains on region-based labels (pancreas = [1, 2], lesion = 2,"
            " as the paper's released code); convert the dataset with --regions"
        )


class SubtypeLoss(nn.Module):
    """Class loss over the selected slices of a batch; zero (with a graph) when none is selected."""

    def __init__(self, options: TrainingOptions, num_subtypes: int) -> None:
        super().__init__()
        self.kind = options.class_loss
        self.num_subtypes = num_subtypes
        if self.kind == "ce":
            weights = None
            if options.class_weights is not None:
                if len(options.class_weights) != num_subtypes:
                    raise ValueError(
                        f"multitask_training.class_weights needs {num_subtypes} values, got {options.class_weights}"
                    )
                weights = torch.tensor(options.class_weights, dtype=torch.float32)
            self.register_buffer("weights", weights)
            self.smoothing = options.label_smoothing
        elif self.kind == "dice_bce":
            self.dice_bce = DC_and_BCE_loss(
                {},
                {"batch_dice": True, "do_bg": True, "smooth": 1e-5, "ddp": False},
                dice_class=MemoryEfficientSoftDiceLoss,
            )

    def forward(self, logits: torch.Tensor, subtypes: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Loss over the rows of ``logits`` selected by ``mask`` (all rows without one)."""
        if mask is not None:
            logits, subtypes = logits[mask], subtypes[mask]
        if len(subtypes) == 0:
            return logits.sum() * 0.0
        logits = logits.float()
        if self.kind == "ce":
            return nn.functional.cross_entropy(logits, subtypes, weight=self.weights, label_smoothing=self.smoothing)
        onehot = nn.functional.one_hot(subtypes, self.num_subtypes).float()
        if self.kind == "dice_bce_global":
            return global_dice_bce(logits, onehot)
        return self.dice_bce(logits[:, :, None, None], onehot[:, :, None, None])


def global_dice_bce(logits: torch.Tensor, onehot: torch.Tensor, smooth: float = 1e-5) -> torch.Tensor:
    """BCE with logits plus ``1 - soft Dice`` where the Dice is one number over every (B, K) entry."""
    probs = torch.sigmoid(logits)
    dice = (2 * (probs * onehot).sum() + smooth) / (probs.sum() + onehot.sum() + smooth)
    return nn.functional.binary_cross_entropy_with_logits(logits, onehot) + (1 - dice)
