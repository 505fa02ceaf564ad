"""The device-resident sliding window: nnU-Net's tiling, mirroring and fold ensembling in plain torch ops.

What nnU-Net does one tile at a time runs here as one pipeline, so the CPU runs (and tests cover) the
code a GPU runs: the preprocessed volume is uploaded once; tiles are cut, mirrored, Gaussian-weighted
and accumulated on the device in large batches (all mirrorings of a tile in one batch, mirroring
applied to the segmentation and the class logits); every tile batch, the guided classification's too,
reaches the network through :class:`Network`, in the one precision decided for the run.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from .backends import ExportedGraphBackend, TorchBackend
from .model_folder import ModelFolderError
from .precision import autocast_dtype

#: A stage's progress as a fraction in [0, 1].
FractionCallback = Callable[[float], None]
Mirrorings = list[tuple[int, ...]]


class CancelToken(Protocol):
    def is_set(self) -> bool: ...


class PredictionCancelled(RuntimeError):
    """Raised between slice batches when the cancel token is set."""


class StageClock:
    """Seconds spent per stage; on CUDA timed by events, so that timing never stalls the device queue."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self.host: dict[str, float] = defaultdict(float)
        self.events: dict[str, list] = defaultdict(list)

    @contextlib.contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        if self.cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            yield
            end.record()
            self.events[stage].append((start, end))
        else:
            clock = time.perf_counter()
            yield
            self.host[stage] += time.perf_counter() - clock

    def totals(self) -> dict[str, float]:
        """Seconds per stage (waits for the device on CUDA)."""
        if self.cuda:
            torch.cuda.synchronize()
            for stage, pairs in self.events.items():
                self.host[stage] += sum(a.elapsed_time(b) for a, b in pairs) / 1000
            self.events.clear()
        return dict(self.host)


def mirrorings(mirror_axes: Sequence[int] | None) -> Mirrorings:
    """Flip dims of each mirroring of a (batch, channel, y, x) tensor over ``mirror_axes``; ``()``: the plain pass."""
    if not mirror_axes:
        return [()]
    dims = [a + 2 for a in mirror_axes]
    return [()] + [c for n in range(1, len(dims) + 1) for c in itertools.combinations(dims, n)]


def mirror(tiles: torch.Tensor, flips: Mirrorings) -> torch.Tensor:
    """All mirrored copies of a tile batch, stacked into one network batch."""
    return torch.cat([torch.flip(tiles, axes) if axes else tiles for axes in flips])


def merge_mirrorings(
    seg: torch.Tensor, cls: torch.Tensor | None, n_tiles: int, mirrorings: Mirrorings
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The mean over mirrorings: segmentation flipped back, class logits (one vector a tile) as they are."""
    seg = seg.unflatten(0, (len(mirrorings), n_tiles))
    seg = sum(torch.flip(seg[i], axes) if axes else seg[i] for i, axes in enumerate(mirrorings)) / len(mirrorings)
    if cls is not None:
        cls = cls.unflatten(0, (len(mirrorings), n_tiles)).mean(0)
    return seg, cls


def check_finite(model_path: Path, *outputs: torch.Tensor | None) -> None:
    """A clear error when the network gave NaN or Inf (waits for the device: call once, not per batch)."""
    if not all(bool(torch.isfinite(t).all()) for t in outputs if t is not None):
        raise ModelFolderError(f"{model_path}: the network gave NaN or Inf outputs; this case has no result")


@dataclass
class Network:
    """A backend in the run's precision: the one path by which every tile batch reaches the network.

    PyTorch runs under autocast where the precision asks for float16 or bfloat16 (channels-last on
    CUDA); the graph backends carry their precision in their compiled graph.
    """

    backend: TorchBackend | ExportedGraphBackend
    device_type: str
    precision: str
    model_path: Path

    def select_fold(self, fold: str) -> None:
        """Swap in one fold's weights (or graph)."""
        self.backend.select_fold(fold)

    def __call__(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Segmentation and class logits (float32) of one network batch."""
        dtype = autocast_dtype(self.precision)
        if dtype is None or not isinstance(self.backend, TorchBackend):
            return self.backend(batch)
        if self.device_type == "cuda":
            batch = batch.contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device_type, dtype=dtype):
            return self.backend(batch)

    def forward(self, tiles: torch.Tensor, flips: Mirrorings) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Segmentation and class logits of a tile batch, averaged over mirrorings.

        All mirrored copies go through the network in one batch; the segmentation is flipped back,
        the class logits (one vector a tile) need no flip. nnU-Net drops the class logits of the
        mirrored passes; here they count.
        """
        seg, cls = self(mirror(tiles, flips))
        check_finite(self.model_path, seg, cls)
        return merge_mirrorings(seg, cls, len(tiles), flips)


@dataclass
class Grid:
    """A padded volume's tile grid: tile origins, the Gaussian weight, and the summed weight per pixel."""

    origins: list[tuple[int, int]]
    gaussian: torch.Tensor
    coverage: torch.Tensor


@dataclass
class WindowOutput:
    """The sliding window's result: its segmentation logits on the device where it ran, the class logits on the host.

    ``logits``: the fold-mean segmentation logits (classes, slices, y, x) of the preprocessed volume;
    ``tile_logits``: every fold's class logits of every tile (folds x slices x tile origins x subtypes,
    mirrorings averaged), ``None`` for a segmentation-only model; ``times``: seconds per device stage
    (upload, tiles, network, accumulate). The per-slice subtype probabilities are derived from the tile
    logits two ways (:func:`tile_softmax_mean`, :func:`fold_logit_sum`).
    """

    logits: torch.Tensor
    tile_logits: np.ndarray | None
    times: dict[str, float]

    @property
    def slice_probabilities(self) -> np.ndarray | None:
        """Per fold and slice the mean subtype softmax over the slice's tiles (folds x slices x subtypes)."""
        return None if self.tile_logits is None else tile_softmax_mean(self.tile_logits)

    @property
    def logit_sum_probabilities(self) -> np.ndarray | None:
        """The released code's fold ensemble per slice (1 x slices x subtypes): see :func:`fold_logit_sum`."""
        return None if self.tile_logits is None else fold_logit_sum(self.tile_logits)


def tile_softmax_mean(tile_logits: np.ndarray) -> np.ndarray:
    """Per fold and slice, the mean over the slice's tiles of each tile's softmax (folds x slices x subtypes)."""
    return torch.softmax(torch.as_tensor(tile_logits, dtype=torch.float32), dim=-1).mean(2).numpy()


def fold_logit_sum(tile_logits: np.ndarray) -> np.ndarray:
    """The paper's released code: per slice, the mean over its tiles of the softmax of the folds' summed class
    logits (1 x slices x subtypes).

    Summing logits is not averaging the folds' probabilities (the arg-max can differ). The raw logits are
    summed, the simplest: softmax(sum_f z_f) equals softmax(sum_f log softmax(z_f)), since each log-softmax
    differs from its logits by a constant per tile.
    """
    summed = torch.as_tensor(tile_logits, dtype=torch.float32).sum(0)
    return torch.softmax(summed, dim=-1).mean(1)[None].numpy()


@dataclass
class SlidingWindow:
    """nnU-Net's sliding window over a preprocessed volume, every fold, in batches of ``batch_size`` samples."""

    patch_size: tuple[int, int]
    tile_step_size: float
    batch_size: int
    mirrorings: Mirrorings
    device: torch.device

    def run(
        self,
        data: torch.Tensor,
        network: Network,
        folds: Sequence[str],
        n_classes: int,
        n_subtypes: int,
        report: FractionCallback,
        cancel: CancelToken | None,
    ) -> WindowOutput:
        """Every fold over the whole volume ``data`` (1, slices, y, x): fold-mean logits and per-slice subtypes."""
        clock = StageClock(self.device)
        with torch.inference_mode():
            padded, revert = self.upload(data, clock)
            grid = self.grid(padded.shape[-2:])
            acc = torch.zeros((n_classes, *padded.shape[1:]), dtype=torch.float32, device=self.device)
            shape = (len(folds), data.shape[1], len(grid.origins), n_subtypes)
            tile_logits = torch.zeros(shape, device=self.device) if n_subtypes else None
            for f, fold in enumerate(folds):

                def fold_report(fraction: float, f: int = f) -> None:
                    report((f + fraction) / len(folds))

                network.select_fold(fold)
                fold_logits = tile_logits[f] if tile_logits is not None else None
                self.accumulate_fold(network, padded, acc, fold_logits, grid, clock, fold_report, cancel)
            del padded
            logits = self.normalize(acc, grid, revert, len(folds))
            check_finite(network.model_path, logits, tile_logits)
            tile_logits = tile_logits.cpu().numpy() if tile_logits is not None else None
        return WindowOutput(logits, tile_logits, clock.totals())

    def upload(self, data: torch.Tensor, clock: StageClock) -> tuple[torch.Tensor, tuple[slice, ...]]:
        """The preprocessed volume on the device, zero-padded to at least a patch; and the crop undoing it."""
        from acvl_utils.cropping_and_padding.padding import pad_nd_image

        with clock("upload"):
            return pad_nd_image(data.to(self.device), self.patch_size, "constant", {"value": 0}, True, None)

    def grid(self, shape: Sequence[int]) -> Grid:
        """nnU-Net's tile origins and Gaussian for a padded slice shape, and their summed weight per pixel."""
        from nnunetv2.inference.sliding_window_prediction import compute_gaussian, compute_steps_for_sliding_window

        height, width = (int(n) for n in shape)
        steps = compute_steps_for_sliding_window((height, width), self.patch_size, self.tile_step_size)
        origins = list(itertools.product(*steps))
        gaussian = compute_gaussian(self.patch_size, 1.0 / 8, 10, dtype=torch.float32, device=self.device)
        coverage = torch.zeros((height, width), device=self.device)
        for y, x in origins:  # every slice has the same grid: one map for all
            coverage[y : y + self.patch_size[0], x : x + self.patch_size[1]] += gaussian
        return Grid(origins, gaussian, coverage)

    def accumulate_fold(
        self,
        network: Network,
        padded: torch.Tensor,
        acc: torch.Tensor,
        tile_logits: torch.Tensor | None,
        grid: Grid,
        clock: StageClock,
        report: FractionCallback,
        cancel: CancelToken | None,
    ) -> None:
        """Add one fold's Gaussian-weighted tile logits into ``acc``; store its tile class logits in ``tile_logits``
        (slices x tile origins x subtypes).

        Everything stays on the device. Tiles are taken origin by origin over runs of consecutive
        slices, so a batch is a few strided views of the volume and is added back with one op per
        origin; nothing waits for the device inside the loop.
        """
        n_slices = padded.shape[1]
        ph, pw = self.patch_size
        per_batch = max(1, self.batch_size // len(self.mirrorings))
        total = n_slices * len(grid.origins)
        for first in range(0, total, per_batch):
            if cancel is not None and cancel.is_set():
                raise PredictionCancelled("prediction cancelled")
            last = min(first + per_batch, total)
            groups = _origin_runs(first, last, n_slices, grid.origins)
            with clock("tiles"):
                tiles = torch.cat([padded[:, z0:z1, y : y + ph, x : x + pw] for _, y, x, z0, z1 in groups], 1)
                batch = mirror(tiles.transpose(0, 1), self.mirrorings)
            with clock("network"):
                seg, cls = network(batch)
            with clock("accumulate"):
                seg, cls = merge_mirrorings(seg, cls, last - first, self.mirrorings)
                seg = seg * grid.gaussian
                i = 0
                for origin, y, x, z0, z1 in groups:
                    acc[:, z0:z1, y : y + ph, x : x + pw] += seg[i : i + z1 - z0].transpose(0, 1)
                    if tile_logits is not None:
                        tile_logits[z0:z1, origin] = cls[i : i + z1 - z0].float()
                    i += z1 - z0
            report(last / total)

    @staticmethod
    def normalize(acc: torch.Tensor, grid: Grid, revert: tuple[slice, ...], n_folds: int) -> torch.Tensor:
        """The fold-mean logits: the weighted sums over the summed weights, padding cropped off (in place)."""
        acc /= grid.coverage * n_folds
        return acc[(slice(None), slice(None), *revert[-2:])]


def _origin_runs(
    first: int, last: int, n_slices: int, origins: list[tuple[int, int]]
) -> list[tuple[int, int, int, int, int]]:
    """Tiles ``first`` to ``last`` (origin-major order) as (origin index, y, x, z0, z1): one origin over consecutive
    slices."""
    groups = []
    t = first
    while t < last:
        origin, z0 = divmod(t, n_slices)
        z1 = min(n_slices, z0 + last - t)
        groups.append((origin, *origins[origin], z0, z1))
        t += z1 - z0
    return groups
