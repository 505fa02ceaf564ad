"""Bring a volume into the orientation a model was trained in, and a result back to the input's.

Axis permutations and flips only (SimpleITK's ``DICOMOrient``): voxels are moved, never
interpolated, so the way back is exact and the output shares the input's geometry.
"""

from __future__ import annotations

import SimpleITK as sitk


def orientation_code(image: sitk.Image) -> str:
    """The three-letter code (SimpleITK/DICOM convention, e.g. ``LPS``) closest to the image's axes."""
    return sitk.DICOMOrientImageFilter.GetOrientationFromDirectionCosines(image.GetDirection())


def to_model_orientation(image: sitk.Image, code: str) -> sitk.Image:
    """The same voxels with axes permuted and flipped so that the image is stored as ``code``."""
    return sitk.DICOMOrient(image, code)


def to_input_orientation(image: sitk.Image, reference: sitk.Image) -> sitk.Image:
    """Undo ``to_model_orientation``: ``image`` stored as ``reference`` is, with its exact geometry."""
    back = sitk.DICOMOrient(image, orientation_code(reference))
    if back.GetSize() != reference.GetSize():
        raise ValueError(f"reoriented size {back.GetSize()} differs from the input's {reference.GetSize()}")
    back.CopyInformation(reference)
    return back


def axial_axis(code: str) -> int:
    """Index, in a SimpleITK numpy array (z, y, x) of an image stored as ``code``, of the S-I axis."""
    position = next(i for i, letter in enumerate(code.upper()) if letter in "SI")
    return 2 - position
