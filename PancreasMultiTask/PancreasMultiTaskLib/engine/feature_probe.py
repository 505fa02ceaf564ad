"""The familiarity stage: the first encoder stages of one fold run on a case's guided tiles (``familiarity.py``
says what is compared and why)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from .classify import SliceMaps, guided_tiles
from .familiarity import FEATURE_STAGES, Familiarity, distance
from .model_folder import ModelFolder

#: Tiles through the probe at once (a 512 x 512 tile's first stage output is 32 MB).
PROBE_BATCH = 8


def tile_features(stage_outputs: Sequence[torch.Tensor]) -> np.ndarray:
    """Per tile, each channel's mean and standard deviation over the pixels of each stage output (tiles x D)."""
    parts = [torch.cat([s.mean(dim=(2, 3)), s.std(dim=(2, 3))], dim=1) for s in stage_outputs]
    return torch.cat(parts, dim=1).double().cpu().numpy()


class FeatureProbe:
    """The first encoder stages of one fold's network, float32 on the predictor's device."""

    def __init__(self, model: ModelFolder, fold: str, device: torch.device) -> None:
        network = model.build_network()
        network.load_state_dict(model.load_weights(fold))
        encoder = network.encoder
        self.fold = fold
        self.device = device
        self.stem = getattr(encoder, "stem", None)  # nnU-Net's residual encoder has one, the plain one none
        self.stages = encoder.stages[: max(FEATURE_STAGES) + 1]
        for module in (self.stem, self.stages):
            if module is not None:
                module.to(device).eval()

    def __call__(self, tiles: torch.Tensor) -> np.ndarray:
        """Features (tiles x D) of (tiles, channels, y, x), :data:`PROBE_BATCH` tiles at a time."""
        out = []
        with torch.inference_mode():
            for start in range(0, len(tiles), PROBE_BATCH):
                x = tiles[start : start + PROBE_BATCH].to(self.device, torch.float32)
                if self.stem is not None:
                    x = self.stem(x)
                outputs = []
                for index, stage in enumerate(self.stages):
                    x = stage(x)
                    if index in FEATURE_STAGES:
                        outputs.append(x)
                out.append(tile_features(outputs))
        return np.concatenate(out)


def probe_for(model: ModelFolder, device: torch.device) -> tuple[FeatureProbe | None, str | None]:
    """The probe of the first fold of the run that has a reference (without references: the run's first fold,
    whose features training fits one on); ``None`` and why when the references name none of the run's folds."""
    references = {r.fold for r in model.competence.feature_references}
    if not references:
        return FeatureProbe(model, model.folds[0], device), None
    fold = next((f for f in model.folds if f in references), None)
    if fold is None:
        named = ", ".join(sorted(references))
        return None, f"image familiarity not checked: the model's feature references are of folds {named}, not used"
    return FeatureProbe(model, fold, device), None


def familiarity(
    probe: FeatureProbe | None, note: str | None, model: ModelFolder, data: torch.Tensor, maps: SliceMaps, exact: bool
) -> Familiarity:
    """The familiarity stage: the probe's features of the guided tiles of the slices with gland, and their
    distance where the record has a reference for the probe's fold."""
    if probe is None:
        return Familiarity(note=note)
    keep = torch.nonzero((maps.gland >= 0.5).flatten(1).any(1)).flatten().cpu()
    if len(keep) == 0:
        return Familiarity(fold=probe.fold, note="image familiarity not checked: no gland found")
    patch = tuple(int(p) for p in model.configuration_manager.patch_size)
    tiles = guided_tiles(data, maps.lesion.cpu(), maps.gland.cpu(), patch, exact)[keep]
    features = probe(tiles)
    reference = next((r for r in model.competence.feature_references if r.fold == probe.fold), None)
    if reference is None:
        return Familiarity(fold=probe.fold, features=features)
    return Familiarity(distance(reference, features), reference.limit, probe.fold, features=features)
