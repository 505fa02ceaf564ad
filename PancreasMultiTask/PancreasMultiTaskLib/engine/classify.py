"""The classify stage: per-slice subtype probabilities (sliding-window tiles or guided tiles) pooled into the case's.

The guided tiles (one patch-size tile a slice, centred on the predicted lesion) reach the network
through the same :class:`~.window.Network` as the sliding window, so they run in the run's precision.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .competence import Calibration
from .labels import output_channels
from .model_folder import ModelFolder
from .orientation import input_slice_indices
from .result import SliceEntry, SubtypeResult, Uncertainty
from .slabs import slicewise
from .stages import Oriented, Preprocessed
from .subtype import (
    MAX_FOLD_SPREAD,
    MAX_NORMALIZED_ENTROPY,
    calibrate,
    fold_spread,
    is_uncertain,
    normalized_entropy,
    pool,
    slice_weights,
)
from .window import Mirrorings, Network, WindowOutput

#: The sliding window's tiles ensembled as the paper's released code does (folds' class logits summed per tile
#: before the softmax): per-slice probabilities kept beside the modes, for evaluations.
TILES_LOGIT_SUM = "tiles-logit-sum"


@dataclass
class Classification:
    """The case's subtype, and per mode computed the per-fold, per-slice probabilities (folds x slices x subtypes).

    Slices are in the result's order (the input's slice index k), for evaluations that compare the modes;
    ``TILES_LOGIT_SUM`` holds the folds' ensemble already (1 x slices x subtypes).
    """

    subtype: SubtypeResult
    slice_probabilities: dict[str, np.ndarray]


@dataclass
class SliceMaps:
    """P(lesion) and P(gland, lesion included) per pixel of the preprocessed volume (slices, y, x), and per slice."""

    lesion: torch.Tensor
    gland: torch.Tensor

    @property
    def lesion_mass(self) -> np.ndarray:
        return self.lesion.sum(dim=(1, 2)).double().cpu().numpy()

    @property
    def gland_mass(self) -> np.ndarray:
        return self.gland.sum(dim=(1, 2)).double().cpu().numpy()


@dataclass
class TileClassifier:
    """Subtype probabilities of given tiles for every fold: the guided tiles' way through the network."""

    network: Network
    folds: Sequence[str]
    mirrorings: Mirrorings
    batch_size: int
    device: torch.device
    patch_size: tuple[int, int]
    #: Tiles centred exactly on the lesion, past the slice's edge (a network with a ``classifier_view``).
    exact: bool = False

    def __call__(self, tiles: torch.Tensor) -> np.ndarray:
        """Subtype probabilities (folds x tiles x subtypes) of (tiles, 1, y, x), with mirroring."""
        per_batch = max(1, self.batch_size // len(self.mirrorings))
        out = []
        for fold in self.folds:
            self.network.select_fold(fold)
            probs = []
            for b in range(0, len(tiles), per_batch):
                _, cls = self.network.forward(tiles[b : b + per_batch].to(self.device), self.mirrorings)
                probs.append(torch.softmax(cls.float(), dim=1).cpu())
            out.append(torch.cat(probs).numpy())
        return np.stack(out)


def classify(
    case: Preprocessed,
    window: WindowOutput,
    oriented: Oriented,
    model: ModelFolder,
    mode: str,
    pooling: str,
    classifier: TileClassifier,
    maps: SliceMaps,
) -> Classification:
    """The classify stage: per-slice probabilities of the sliding window's tiles and (``guided``) of guided tiles,
    ordered by the input's slice index and pooled with weights from the segmentation's lesion mass
    (``maps``: :func:`slice_maps` of the window's logits)."""
    with torch.inference_mode():
        slice_probabilities = {"tiles": window.slice_probabilities, TILES_LOGIT_SUM: window.logit_sum_probabilities}
        if mode == "guided":
            tiles = guided_tiles(
                case.data, maps.lesion.cpu(), maps.gland.cpu(), classifier.patch_size, classifier.exact
            )
            slice_probabilities["guided"] = classifier(tiles)
        lesion_mass, gland_mass = maps.lesion_mass, maps.gland_mass
    offset, n_slices = case.properties["bbox_used_for_cropping"][0][0], case.data.shape[1]
    indices, positions = input_slice_indices(oriented.image, oriented.crop.image, offset, n_slices)
    order = np.argsort(indices, kind="stable")
    slice_probabilities = {k: v[:, order] for k, v in slice_probabilities.items()}
    subtype = subtype_result(
        model.subtypes,
        model.folds,
        slice_probabilities[mode],
        lesion_mass[order],
        gland_mass[order],
        pooling,
        [indices[i] for i in order],
        [positions[i] for i in order],
        mode,
        model.competence.calibration,
    )
    return Classification(subtype, slice_probabilities)


def slice_maps(logits: torch.Tensor, model: ModelFolder) -> SliceMaps:
    """The lesion and gland probabilities of the fold-mean logits (through the model's own nonlinearity).

    Slice by slice (``slabs.slicewise``): only these two maps, never every class's probabilities, are held for
    the whole volume.
    """
    channels = output_channels(model.label_manager, model.dataset_json["labels"])

    def maps(logits_slice: torch.Tensor) -> torch.Tensor:
        probabilities = model.label_manager.apply_inference_nonlin(logits_slice)
        return torch.stack([probabilities[channels.lesion], probabilities[list(channels.pancreas)].sum(0)])

    lesion, gland = slicewise(maps, logits)
    return SliceMaps(lesion, gland)


def guided_tiles(
    data: torch.Tensor, lesion: torch.Tensor, gland: torch.Tensor, patch_size: tuple[int, int], exact: bool = False
) -> torch.Tensor:
    """One patch-size tile a slice, centred on the predicted lesion, else the gland, else the slice.

    ``lesion`` and ``gland`` are (slices, y, x) probabilities in the preprocessed space of ``data``
    (1, slices, y, x); centres are probability-weighted centroids of the pixels above 0.5. A tile stays
    within the slice (padded to the patch as nnU-Net pads), as the sliding window's do, so near an edge
    its centre is off the lesion; ``exact`` centres it on the point whatever the edge, padding with 0
    past the slice: a network with a ``classifier_view`` classifies the tile's centre.
    """
    from acvl_utils.cropping_and_padding.padding import pad_nd_image

    if exact:
        py, px = patch_size
        offset = [py // 2 + 1, px // 2 + 1]
        padded = torch.nn.functional.pad(data, (offset[1], offset[1], offset[0], offset[0]))
    else:
        padded, revert = pad_nd_image(data, patch_size, "constant", {"value": 0}, True, None)
        offset = [s.start for s in revert[-2:]]
    height, width = padded.shape[-2:]
    py, px = patch_size
    tiles = []
    for z in range(data.shape[1]):
        centre = np.array([(data.shape[2] - 1) / 2, (data.shape[3] - 1) / 2])
        for probability in (lesion[z], gland[z]):
            mask = probability >= 0.5
            if bool(mask.any()):
                centre = _centroid(probability * mask)
                break
        y0 = int(np.clip(round(centre[0] + offset[0] - py / 2), 0, height - py))
        x0 = int(np.clip(round(centre[1] + offset[1] - px / 2), 0, width - px))
        tiles.append(padded[0, z, y0 : y0 + py, x0 : x0 + px])
    return torch.stack(tiles)[:, None]


def _centroid(weights: torch.Tensor) -> np.ndarray:
    """The weighted centroid (y, x) of a 2D map, in float64."""
    weights = weights.double()
    ys, xs = torch.meshgrid(
        torch.arange(weights.shape[0], dtype=torch.float64),
        torch.arange(weights.shape[1], dtype=torch.float64),
        indexing="ij",
    )
    return np.array([float((weights * ys).sum() / weights.sum()), float((weights * xs).sum() / weights.sum())])


def subtype_result(
    names: list[str],
    folds: Sequence[str],
    fold_slice_probs: np.ndarray,
    lesion_mass: np.ndarray,
    gland_mass: np.ndarray,
    pooling: str,
    indices: Sequence[int],
    positions: Sequence[Sequence[float]],
    classification: str,
    calibration: Calibration | None = None,
) -> SubtypeResult:
    """Slices pooled into the case's subtype, per fold and over folds, with the per-slice record and uncertainty.

    A calibrated model's case and fold probabilities are temperature-scaled, and its ``uncertain`` flag is
    its calibrated threshold; the per-slice probabilities stay as the network gave them.
    """
    slice_probs = fold_slice_probs.mean(axis=0)
    weights, used = slice_weights(lesion_mass, gland_mass, pooling)
    case = pool(slice_probs, weights)
    per_fold = np.stack([pool(p, weights) for p in fold_slice_probs])
    threshold = None
    if calibration is not None:
        case, per_fold = calibrate(case, calibration.temperature), calibrate(per_fold, calibration.temperature)
        threshold = calibration.uncertain_below
    spread, entropy = fold_spread(per_fold), normalized_entropy(case)
    best = int(np.argmax(case))
    return SubtypeResult(
        names=list(names),
        predicted=names[best],
        probability=float(case[best]),
        probabilities={n: float(p) for n, p in zip(names, case, strict=True)},
        fold_probabilities={
            str(f): {n: float(p) for n, p in zip(names, row, strict=True)}
            for f, row in zip(folds, per_fold, strict=True)
        },
        pooling_requested=pooling,
        pooling_used=used,
        slices=[
            SliceEntry(
                index=int(indices[z]),
                probabilities=[float(p) for p in slice_probs[z]],
                weight=float(weights[z]),
                lesion_mass=float(lesion_mass[z]),
                pancreas_mass=float(gland_mass[z]),
                position_mm=list(positions[z]),
            )
            for z in range(len(slice_probs))
        ],
        uncertainty=Uncertainty(
            fold_spread=spread,
            normalized_entropy=entropy,
            uncertain=is_uncertain(spread, entropy, float(case[best]), threshold),
            max_fold_spread=MAX_FOLD_SPREAD,
            max_normalized_entropy=MAX_NORMALIZED_ENTROPY,
            uncertain_below=threshold,
        ),
        classification=classification,
    )
