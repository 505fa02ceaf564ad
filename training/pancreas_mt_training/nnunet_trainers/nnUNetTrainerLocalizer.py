"""Entry for nnU-Net's trainer search (``nnUNet_extTrainer``): the localizer's trainer, re-exported."""

from pancreas_mt_training.localizer import nnUNetTrainerLocalizer

__all__ = ["nnUNetTrainerLocalizer"]
