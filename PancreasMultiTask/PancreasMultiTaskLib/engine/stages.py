"""The host-side stages of a prediction, each a function with typed inputs and outputs.

check -> roi -> orient -> preprocess (nnU-Net's own) | sliding window (``window.py``), classify
(``classify.py``) | export (nnU-Net's own, back to the input's geometry) -> measure. The predictor runs
them in order and times each (``result.timings_s``).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
import torch

from .labels import LESION_LABEL, output_channels
from .measurements import max_axial_diameter_mm, volume_ml
from .model_folder import ModelFolder
from .orientation import axial_axis, orientation_code, to_input_orientation, to_model_orientation
from .result import Measurements
from .roi import Region, RoiChoice


@dataclass(frozen=True)
class Crop:
    """The input, and the part of it the engine predicts in (``region`` ``None``: the whole input)."""

    image: sitk.Image
    region: Region | None
    work: sitk.Image


@dataclass(frozen=True)
class Oriented:
    """An ROI crop brought to the model's orientation (``code`` ``None``: the array as stored, as nnU-Net does)."""

    crop: Crop
    image: sitk.Image
    code: str | None

    def to_input(self, array: np.ndarray, pixel: int) -> sitk.Image:
        """An array on this grid as an image in the input's geometry: orientation restored, ROI placed back."""
        oriented = sitk.GetImageFromArray(array)
        oriented.CopyInformation(self.image)
        crop = self.crop
        return place(to_input_orientation(oriented, crop.work, self.code), crop.image, crop.region, pixel)


@dataclass
class Preprocessed:
    """nnU-Net's preprocessed volume (1, slices, y, x) on the host, and its record of crop and resampling."""

    data: torch.Tensor
    properties: dict


@dataclass
class Segmentation:
    """Labels on the oriented grid (for measuring); labels and lesion probability in the input's geometry."""

    labels: np.ndarray
    image: sitk.Image
    lesion_probability: sitk.Image | None


@contextlib.contextmanager
def timed(timings: dict[str, float], stage: str) -> Iterator[None]:
    """Add the wall seconds of the block to ``timings[stage]``."""
    clock = time.perf_counter()
    try:
        yield
    finally:
        timings[stage] = timings.get(stage, 0.0) + time.perf_counter() - clock


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """PyTorch's intra-op threads set to ``count`` for the block, then restored."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def crop_to_roi(image: sitk.Image, choice: RoiChoice) -> Crop:
    """The roi stage: the voxels of the chosen region (``roi.py``; the whole input without one)."""
    if choice.region is None:
        return Crop(image, None, image)
    return Crop(image, choice.region, image[choice.region])


def place(part: sitk.Image, full: sitk.Image, region: Region | None, pixel: int) -> sitk.Image:
    """Put a result computed on an ROI crop back into an image of the full volume's geometry."""
    if region is None:
        return sitk.Cast(part, pixel)
    canvas = sitk.Image(full.GetSize(), pixel)
    canvas.CopyInformation(full)
    return sitk.Paste(canvas, sitk.Cast(part, pixel), part.GetSize(), [0, 0, 0], [s.start for s in region])


def orient(crop: Crop, code: str | None) -> Oriented:
    """The orient stage: the crop in the model's orientation (a model without one runs on the array as stored)."""
    oriented = to_model_orientation(crop.work, code)
    return Oriented(crop, oriented, code)


def preprocess(oriented: Oriented, model: ModelFolder) -> Preprocessed:
    """The preprocess stage: nnU-Net's own preprocessing (transpose, crop to non-zero, normalize, resample)."""
    cm = model.configuration_manager
    array = sitk.GetArrayFromImage(oriented.image)[None].astype(np.float32)
    properties = {"spacing": list(oriented.image.GetSpacing())[::-1]}
    preprocessor = cm.preprocessor_class(verbose=False)
    data, _, properties = preprocessor.run_case_npy(
        array, None, properties, model.plans_manager, cm, model.dataset_json
    )
    return Preprocessed(torch.from_numpy(np.ascontiguousarray(data)), properties)


def export(
    logits: torch.Tensor, properties: dict, oriented: Oriented, model: ModelFolder, save_probabilities: bool
) -> Segmentation:
    """The export stage: the fold-mean logits as labels (and lesion probability) in the input's geometry."""
    with torch.inference_mode():
        labels, probabilities = export_labels(logits, properties, model, save_probabilities)
    lesion_probability = None
    if probabilities is not None:
        lesion = output_channels(model.label_manager, model.dataset_json["labels"]).lesion
        lesion_probability = oriented.to_input(probabilities[lesion].astype(np.float32), sitk.sitkFloat32)
    return Segmentation(labels, oriented.to_input(labels.astype(np.uint8), sitk.sitkUInt8), lesion_probability)


def export_labels(
    logits: torch.Tensor, properties: dict, model: ModelFolder, save_probabilities: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """nnU-Net's export of the fold-mean logits: labels (and probabilities) in the input array's shape.

    Where the network's grid is the output grid (no resampling) and no probabilities are asked
    for, this is nnU-Net's own ``convert_logits_to_segmentation`` on the device, and only uint8
    labels come back; otherwise nnU-Net's whole export function runs on the CPU.
    """
    from acvl_utils.cropping_and_padding.bounding_boxes import insert_crop_into_image
    from nnunetv2.inference.export_prediction import convert_predicted_logits_to_segmentation_with_correct_shape

    resample = tuple(properties["shape_after_cropping_and_before_resampling"]) != tuple(logits.shape[1:])
    if resample or save_probabilities:
        exported = convert_predicted_logits_to_segmentation_with_correct_shape(
            logits.cpu(),
            model.plans_manager,
            model.configuration_manager,
            model.label_manager,
            properties,
            return_probabilities=save_probabilities,
            num_threads_torch=torch.get_num_threads(),
        )
        return exported if save_probabilities else (exported, None)
    labels = model.label_manager.convert_logits_to_segmentation(logits).to(torch.uint8).cpu().numpy()
    full = np.zeros(properties["shape_before_cropping"], dtype=np.uint8)
    full = insert_crop_into_image(full, labels, properties["bbox_used_for_cropping"])
    return full.transpose(model.plans_manager.transpose_backward), None


def measure(labels: np.ndarray, oriented: Oriented) -> Measurements:
    """The measure stage: gland and lesion volumes, and the largest lesion diameter in the axial plane."""
    spacing = oriented.image.GetSpacing()[::-1]
    lesion = labels == LESION_LABEL
    code = oriented.code or orientation_code(oriented.crop.work)
    return Measurements(
        pancreas_volume_ml=round(volume_ml(labels > 0, spacing), 3),
        lesion_volume_ml=round(volume_ml(lesion, spacing), 3),
        lesion_max_axial_diameter_mm=round(max_axial_diameter_mm(lesion, spacing, axial_axis(code)), 2),
    )
