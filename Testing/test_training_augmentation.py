"""The trainer's augmentation presets on nnU-Net's real training transforms: ``spatial`` drops the intensity
transforms; ``hu-shift`` adds one global offset per tile right after the spatial ones."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from batchgeneratorsv2.transforms.intensity.brightness import BrightnessAdditiveTransform
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer
from pancreas_mt_training.losses import HU_SHIFT_PROBABILITY
from pancreas_mt_training.trainer import INTENSITY_TRANSFORMS, _without_intensity_transforms


def nnunet_transforms():
    return nnUNetTrainer.get_training_transforms(
        (32, 32), (-np.pi, np.pi), None, (0, 1), False, foreground_labels=[1, 2]
    )


def names(compose) -> list[str]:
    return [type(getattr(t, "transform", t)).__name__ for t in compose.transforms]


def test_spatial_keeps_no_intensity_transform_and_adds_no_shift() -> None:
    full = names(nnunet_transforms())
    assert set(full) & set(INTENSITY_TRANSFORMS)  # nnU-Net's own preset has them
    kept = names(_without_intensity_transforms(nnunet_transforms()))
    assert not set(kept) & set(INTENSITY_TRANSFORMS) and "BrightnessAdditiveTransform" not in kept
    assert kept == [n for n in full if n not in INTENSITY_TRANSFORMS]


def test_hu_shift_adds_one_global_offset_after_the_spatial_transform() -> None:
    compose = _without_intensity_transforms(nnunet_transforms(), 2.0)
    kept = names(compose)
    assert kept.index("BrightnessAdditiveTransform") == kept.index("SpatialTransform") + 1
    shift = compose.transforms[kept.index("BrightnessAdditiveTransform")]
    assert shift.apply_probability == HU_SHIFT_PROBABILITY
    assert isinstance(shift.transform, BrightnessAdditiveTransform) and shift.transform.sigma == 2.0
    torch.manual_seed(0)
    image = torch.randn(1, 32, 32)
    offsets = []
    for _ in range(200):
        shifted = shift.transform(image=image.clone())["image"]
        difference = shifted - image
        assert torch.allclose(difference, difference.flatten()[0].expand_as(difference), atol=1e-5)  # global
        offsets.append(float(difference.flatten()[0]))
    assert np.std(offsets) == pytest.approx(2.0, rel=0.2) and abs(np.mean(offsets)) < 0.5  # both signs
