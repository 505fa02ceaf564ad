"""The host-side stages of a prediction, each a function with typed inputs and outputs.

check -> roi -> orient -> preprocess (nnU-Net's own) | sliding window (``window.py``), classify
(``classify.py``) | export (nnU-Net's own, back to the input's geometry) -> postprocess (nnU-Net's own, where
the model carries it) -> measure. The predictor runs
them in order and times each (``result.timings_s``).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np
import SimpleITK as sitk
import torch

from .labels import LESION_LABEL, output_channels
from .measurements import max_axial_diameter_mm, volume_ml
from .model_folder import ModelFolder
from .orientation import axial_axis, orientation_code, to_input_orientation, to_model_orientation
from .postprocessing import Postprocessing
from .result import Measurements
from .roi import Region, RoiChoice
from .slabs import SPLINE_HALO, slabs, slicewise


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
    """Labels on the oriented grid (for measuring); labels and lesion probability in the input's geometry;
    ``lesion_map``: the lesion probability on the oriented grid, where the assessment needs it."""

    labels: np.ndarray
    image: sitk.Image
    lesion_probability: sitk.Image | None
    lesion_map: np.ndarray | None = None


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
    logits: torch.Tensor,
    properties: dict,
    oriented: Oriented,
    model: ModelFolder,
    save_probabilities: bool,
    slab_slices: int,
    lesion_map: bool = False,
) -> Segmentation:
    """The export stage: the fold-mean logits as labels (and lesion probability) in the input's geometry, and
    the lesion probability on the oriented grid where ``lesion_map`` asks for it."""
    with torch.inference_mode():
        labels, lesion = export_labels(logits, properties, model, save_probabilities or lesion_map, slab_slices)
    image = oriented.to_input(labels.astype(np.uint8), sitk.sitkUInt8)
    lesion_probability = oriented.to_input(lesion, sitk.sitkFloat32) if save_probabilities else None
    return Segmentation(labels, image, lesion_probability, lesion if lesion_map else None)


def postprocess(segmentation: Segmentation, oriented: Oriented, steps: Postprocessing | None) -> Segmentation:
    """The postprocess stage: the model's postprocessing (``postprocessing.py``) on the labels; the lesion
    probability is the network's, as nnU-Net's postprocessing leaves probabilities alone."""
    if steps is None:
        return segmentation
    labels = steps.apply(segmentation.labels)
    return replace(segmentation, labels=labels, image=oriented.to_input(labels.astype(np.uint8), sitk.sitkUInt8))


def export_labels(
    logits: torch.Tensor,
    properties: dict,
    model: ModelFolder,
    save_probabilities: bool,
    slab_slices: int,
) -> tuple[np.ndarray, np.ndarray | None]:
    """nnU-Net's export of the fold-mean logits, slab by slab: labels (and P(lesion)) in the input array's shape.

    Each slab goes through nnU-Net's own steps of ``convert_predicted_logits_to_segmentation_with_correct_shape``
    (resampling to the shape before resampling where the grids differ, then the label manager's nonlinearity
    and labels); the slabs are put together, the crop reverted and the axes transposed back as there. Only
    the labels and the lesion channel are kept for the whole volume (``slabs.py``).
    """
    lm, cm = model.label_manager, model.configuration_manager
    shape = tuple(int(n) for n in properties["shape_after_cropping_and_before_resampling"])
    resample = shape != tuple(logits.shape[1:])
    dtype = np.uint8 if len(lm.foreground_labels) < 255 else np.uint16  # nnU-Net's choice
    labels = np.zeros(shape, dtype=dtype)
    lesion = np.zeros(shape, dtype=np.float32) if save_probabilities else None
    channel = output_channels(lm, model.dataset_json["labels"]).lesion
    current, spacing = _export_spacings(properties, model)
    halo = _resampling_halo(model, current, spacing, shape[0]) if resample else 0
    for slab in slabs(shape[0], slab_slices, halo):
        part = logits[:, slab.read_start : slab.read_stop]
        if resample or save_probabilities:  # nnU-Net's export function runs on the CPU
            part = part.cpu()
        if resample:
            part = cm.resampling_fn_probabilities(part, (len(part[0]), *shape[1:]), current, spacing)
        part = torch.as_tensor(part)[:, slab.keep]
        if save_probabilities:
            probabilities = slicewise(lm.apply_inference_nonlin, part)
            labels[slab.start : slab.stop] = np.asarray(lm.convert_probabilities_to_segmentation(probabilities))
            lesion[slab.start : slab.stop] = probabilities[channel].float().numpy()
        else:
            labels[slab.start : slab.stop] = slicewise(lm.convert_logits_to_segmentation, part).cpu().numpy()
        del part
    return _uncrop(labels, properties, model), None if lesion is None else _uncrop(lesion, properties, model)


def _uncrop(array: np.ndarray, properties: dict, model: ModelFolder) -> np.ndarray:
    """A cropped array put back into the shape before nnU-Net's crop (zeros around), axes transposed back."""
    from acvl_utils.cropping_and_padding.bounding_boxes import insert_crop_into_image

    full = np.zeros(properties["shape_before_cropping"], dtype=array.dtype)
    full = insert_crop_into_image(full, array, properties["bbox_used_for_cropping"])
    return full.transpose(model.plans_manager.transpose_backward)


def _export_spacings(properties: dict, model: ModelFolder) -> tuple[list[float], list[float]]:
    """The network grid's spacing and the spacing before resampling, as nnU-Net's export computes them."""
    spacing = [properties["spacing"][i] for i in model.plans_manager.transpose_forward]
    target = list(model.configuration_manager.spacing)
    return ([spacing[0], *target] if len(target) < len(spacing) else target), spacing


def _resampling_halo(model: ModelFolder, current: list[float], spacing: list[float], n_slices: int) -> int:
    """Slices each slab is read with around it: none where nnU-Net resamples slice by slice, ``SPLINE_HALO`` for
    its 3D spline, the whole volume for any other resampling function."""
    from nnunetv2.preprocessing.resampling.default_resampling import determine_do_sep_z_and_axis

    configuration = model.configuration_manager.configuration
    if configuration["resampling_fn_probabilities"] != "resample_data_or_seg_to_shape":
        return n_slices
    force = configuration["resampling_fn_probabilities_kwargs"].get("force_separate_z", False)
    separate, axis = determine_do_sep_z_and_axis(force, current, spacing)
    return 0 if separate and axis == 0 else SPLINE_HALO


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
