"""Bring a volume into the orientation a model was trained in, and a result back to the input's.

Axis permutations and flips only (SimpleITK's ``DICOMOrient``): voxels are moved, never
interpolated, so the way back is exact and the output shares the input's geometry.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk


def orientation_code(image: sitk.Image) -> str:
    """The three-letter code (SimpleITK/DICOM convention, e.g. ``LPS``) closest to the image's axes."""
    return sitk.DICOMOrientImageFilter.GetOrientationFromDirectionCosines(image.GetDirection())


def check_code(code: str) -> str:
    """``code`` in upper case if it is an orientation code (one letter of each of LR, AP, SI), else ValueError."""
    upper = str(code).upper()
    if len(upper) != 3 or any(sum(c in pair for c in upper) != 1 for pair in ("LR", "AP", "SI")):
        raise ValueError(f"orientation {code!r} is not a code such as LPS or RAS (one letter each of L/R, A/P, S/I)")
    return upper


def to_model_orientation(image: sitk.Image, code: str | None) -> sitk.Image:
    """The same voxels with axes permuted and flipped so that the image is stored as ``code``
    (``None``: as stored, as nnU-Net runs a model)."""
    return image if code is None else sitk.DICOMOrient(image, code)


def to_input_orientation(image: sitk.Image, reference: sitk.Image, code: str | None) -> sitk.Image:
    """Undo ``to_model_orientation(reference, code)``: ``image`` stored as ``reference`` is, with its exact geometry."""
    if code is None:
        back = sitk.Image(image)
        back.CopyInformation(reference)
        return back
    back = sitk.DICOMOrient(image, orientation_code(reference))
    if back.GetSize() != reference.GetSize():
        raise ValueError(f"reoriented size {back.GetSize()} differs from the input's {reference.GetSize()}")
    back.CopyInformation(reference)
    return back


def axial_axis(code: str) -> int:
    """Index, in a SimpleITK numpy array (z, y, x) of an image stored as ``code``, of the S-I axis."""
    position = next(i for i, letter in enumerate(code.upper()) if letter in "SI")
    return 2 - position


def input_slice_indices(
    oriented: sitk.Image, image: sitk.Image, first: int, count: int
) -> tuple[list[int], list[list[float]]]:
    """Each model slice's index k along the input's own slice axis, and its centre's LPS point (mm).

    Model slice ``first + z`` is axial slice z of ``oriented`` (the ROI crop brought to the model's
    orientation); the input axis is the one that index moves along from slice to slice.
    """
    cx, cy = (oriented.GetSize()[0] - 1) / 2, (oriented.GetSize()[1] - 1) / 2
    points = [oriented.TransformContinuousIndexToPhysicalPoint((cx, cy, float(first + z))) for z in range(count)]
    index = np.array([image.TransformPhysicalPointToContinuousIndex(p) for p in points])
    step = np.array(oriented.TransformContinuousIndexToPhysicalPoint((cx, cy, float(first + 1)))) - np.array(points[0])
    moved = np.abs(
        np.array(image.TransformPhysicalPointToContinuousIndex(tuple(np.array(points[0]) + step))) - index[0]
    )
    axis = int(np.argmax(moved))
    return [int(np.rint(v)) for v in index[:, axis]], [[round(float(c), 3) for c in p] for p in points]
