"""Entry for nnU-Net's trainer search: ``export nnUNet_extTrainer=<this folder>``.

nnunetv2 2.8 imports every module of the folders named in ``nnUNet_extTrainer`` as a top-level
module and takes the attribute named like the requested trainer, so this file only re-exports.
"""

from pancreas_mt_training.trainer import nnUNetTrainerMultiTask, nnUNetTrainerMultiTaskPaper

__all__ = ["nnUNetTrainerMultiTask", "nnUNetTrainerMultiTaskPaper"]
