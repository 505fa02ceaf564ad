"""Batched 2D prediction with nnU-Net's preprocessing, sliding window, mirroring and fold ensembling.

Preprocessing and export are nnU-Net's own functions, so results match ``nnUNetPredictor``. What is
written here is the part nnU-Net does one tile at a time, as a device-resident pipeline in plain
torch ops (so the CPU runs, and tests cover, the same code as a GPU): the preprocessed volume is
uploaded once; tiles are cut, mirrored, Gaussian-weighted and accumulated on the device in large
batches (all mirrorings of a tile in one batch, mirroring applied to the segmentation and the class
logits); all folds' weights stay on the device; the argmax runs there where no resampling is
needed, so only uint8 labels and small per-slice tensors come back.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import platform
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import SimpleITK as sitk
import torch

from .. import __version__
from .backends import GRAPH_BACKENDS, ExportedGraphBackend, TorchBackend
from .io import InputError, check_image
from .labels import LESION_LABEL, output_channels, output_labels
from .limits import check_resampled_size
from .measurements import max_axial_diameter_mm, volume_ml
from .model_folder import ModelFolder, ModelFolderError, open_model_folder
from .options import CLASSIFICATION_MODES, PRECISIONS, PredictionOptions  # noqa: F401 (re-exported)
from .orientation import (
    axial_axis,
    input_slice_indices,
    orientation_code,
    to_input_orientation,
    to_model_orientation,
)
from .result import CaseResult, Measurements, Provenance, SliceEntry, SubtypeResult, Uncertainty
from .subtype import (
    MAX_FOLD_SPREAD,
    MAX_NORMALIZED_ENTROPY,
    fold_spread,
    is_uncertain,
    normalized_entropy,
    pool,
    slice_weights,
)

log = logging.getLogger(__name__)

ProgressCallback = Callable[[str, float], None]


class CancelToken(Protocol):
    def is_set(self) -> bool: ...


class PredictionCancelled(RuntimeError):
    """Raised between slice batches when the cancel token is set."""


#: The CPU graph backends that can run bfloat16 (OpenVINO's INFERENCE_PRECISION_HINT).
BF16_GRAPH_BACKENDS = ("openvino",)
#: CPU flags of bfloat16 units (Intel AMX, AVX512-BF16); ``auto`` considers bfloat16 only with one.
BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")
#: Whether bfloat16 kept the demo model's held-out quality (lesion and pancreas Dice within 0.005 of
#: float32, no subtype changed), measured by ``Testing/benchmarks/bf16_quality.py``; ``auto`` uses
#: bfloat16 on CPUs with bfloat16 units only if it did. It did (6 held-out phantoms: mean Dice moved
#: by 0.0002 and 0.0000, no subtype changed, case probabilities by at most 0.0006).
BF16_QUALITY_PASSED = True


def cpu_bf16_units(cpuinfo: str | None = None) -> bool:
    """Whether the CPU (``/proc/cpuinfo``'s flags, or the text given) has AMX or AVX512-BF16 units."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return False
    flags = next((line.split(":", 1)[1].split() for line in cpuinfo.splitlines() if line.startswith("flags")), [])
    return any(flag in flags for flag in BF16_CPU_FLAGS)


def resolve_precision(
    precision: str, device_type: str, bf16_units: bool, bf16_quality: bool = BF16_QUALITY_PASSED
) -> str:
    """The arithmetic the network runs in: ``float32``, ``bfloat16``, or on CUDA ``float16`` for ``auto``.

    ``auto`` is float16 autocast on CUDA (as nnU-Net), bfloat16 on a CPU with bfloat16 units when the
    held-out quality check passed, float32 otherwise.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision != "auto":
        return precision
    if device_type == "cuda":
        return "float16"
    if device_type == "cpu" and bf16_units and bf16_quality:
        return "bfloat16"
    return "float32"


def autocast_dtype(precision: str) -> torch.dtype | None:
    """The autocast dtype of a resolved precision; ``None`` means no autocast (float32)."""
    return {"float32": None, "float16": torch.float16, "bfloat16": torch.bfloat16}[precision]


class _StageClock:
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


@dataclass
class _Window:
    """A padded volume's tile grid: tile origins, the Gaussian weight, and the summed weight per pixel."""

    origins: list[tuple[int, int]]
    gaussian: torch.Tensor
    coverage: torch.Tensor


@dataclass
class Prediction:
    """A case's label image (input geometry), optional lesion probability image, and its result."""

    segmentation: sitk.Image
    result: CaseResult
    lesion_probability: sitk.Image | None = None
    timings: dict[str, float] = field(default_factory=dict)
    #: Per-fold, per-slice subtype probabilities (folds x slices x subtypes) of each classification
    #: mode computed, slices in the result's order (for evaluations that compare the modes).
    slice_probabilities: dict[str, np.ndarray] = field(default_factory=dict)


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA, then MPS, then CPU; an unavailable explicit choice is a clear error."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise InputError("--device cuda: no CUDA device is available (use --device cpu or auto)")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise InputError("--device mps: Apple MPS is not available (use --device cpu or auto)")
    return torch.device(name)


def _available_memory_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 4 << 30


class Predictor:
    """Runs a model folder on CT volumes; build once, call ``predict`` per case."""

    def __init__(self, model: ModelFolder | str | Path, options: PredictionOptions | None = None) -> None:
        self.options = options or PredictionOptions()
        if not isinstance(model, ModelFolder):
            model = open_model_folder(model, self.options.folds, self.options.checkpoint_name)
        self.model = model
        self.device = resolve_device(self.options.device)
        cm = model.configuration_manager
        self.patch_size = tuple(int(p) for p in cm.patch_size)
        with torch.device("meta"):  # sizes only: no memory for weights
            self._activations_per_sample = int(model.build_network().compute_conv_feature_map_size(self.patch_size))
        self.mirror_axes = model.mirror_axes if self.options.use_mirroring else None
        self.backend = self._make_backend()
        self.batch_size = self.options.batch_size or self._choose_batch_size()

    def _make_backend(self) -> TorchBackend | ExportedGraphBackend:
        """The requested backend; ``auto`` takes the fastest one installed for the device and precision.

        Also settles the precision for the device. PyTorch gets all folds' weights on the device, and
        on CUDA channels-last memory and cuDNN autotuning.
        """
        self.precision = resolve_precision(self.options.precision, self.device.type, cpu_bf16_units())
        asked_bf16 = self.options.precision == "bfloat16"
        choice = self.options.backend
        if choice == "auto":
            on_cpu = [
                name
                for name, backend in GRAPH_BACKENDS.items()
                if backend.available() and (not asked_bf16 or name in BF16_GRAPH_BACKENDS)
            ]
            choice = on_cpu[0] if self.device.type == "cpu" and on_cpu else "torch"
        if choice in GRAPH_BACKENDS:
            graph_backend = GRAPH_BACKENDS[choice]
            if self.device.type != "cpu":
                raise InputError(f"--backend {choice} runs on the CPU only, not on {self.device}")
            if not graph_backend.available():
                packages = " and ".join(graph_backend.packages)
                raise InputError(f"--backend {choice} needs the packages {packages} (pip install them)")
            if self.precision != "float32" and choice not in BF16_GRAPH_BACKENDS:
                if asked_bf16:
                    raise InputError(
                        f"--backend {choice} runs in float32 only: use --precision float32, or --backend openvino "
                        "or torch"
                    )
                self.precision = "float32"  # auto: this runtime has no bfloat16
            extra = {"precision": self.precision} if choice in BF16_GRAPH_BACKENDS else {}
            build = lambda: self.model.build_network().eval()  # noqa: E731
            return graph_backend(self.model, build, self._threads(), **extra)
        weights = {
            fold: {name: tensor.to(self.device) for name, tensor in self.model.load_weights(fold).items()}
            for fold in self.model.folds
        }
        network = self.model.build_network().eval()
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
            network = network.to(self.device, memory_format=torch.channels_last)
        return TorchBackend(network, weights, self.device)

    def _threads(self) -> int:
        return self.options.num_threads or os.cpu_count() or 1

    # ----------------------------------------------------------------------------------------------
    def _choose_batch_size(self) -> int:
        """Network samples per forward pass (tiles x mirrorings).

        On a GPU: what a quarter of the free memory (at most 4 GiB) holds, up to 256, so that a case
        stays within a few GB. On a CPU, larger batches stop paying off early (measured with
        Testing/benchmarks/bench_predictor.py): at most 4.
        """
        per_sample = self._activations_per_sample * 4 * 3
        if self.device.type == "cuda":
            if self.precision != "float32":
                per_sample //= 2  # autocast halves activations
            budget, limit = min(_available_memory_bytes(self.device) // 4, 4 << 30), 256
        else:
            budget, limit = _available_memory_bytes(self.device) // 4, 4
        return int(np.clip(budget // max(per_sample, 1), 1, limit))

    @property
    def _mirrorings(self) -> list[tuple[int, ...]]:
        """Flip axes of each test-time pass of a (batch, channel, y, x) tensor; ``()`` is the plain pass."""
        return _mirrorings(self.mirror_axes)

    def _mirror(self, tiles: torch.Tensor, mirrorings: list[tuple[int, ...]] | None = None) -> torch.Tensor:
        """All mirrored copies of a tile batch, stacked into one network batch."""
        mirrorings = self._mirrorings if mirrorings is None else mirrorings
        return torch.cat([torch.flip(tiles, axes) if axes else tiles for axes in mirrorings])

    def _network(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The backend on a batch; PyTorch under autocast (float16/bfloat16) where the precision asks."""
        dtype = autocast_dtype(self.precision)
        if dtype is None or not isinstance(self.backend, TorchBackend):
            return self.backend(batch)
        if self.device.type == "cuda":
            batch = batch.contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device.type, dtype=dtype):
            return self.backend(batch)

    def _merge_mirrorings(
        self,
        seg: torch.Tensor,
        cls: torch.Tensor | None,
        n_tiles: int,
        mirrorings: list[tuple[int, ...]] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The mean over mirrorings: segmentation flipped back, class logits (one vector a tile) as they are."""
        mirrorings = self._mirrorings if mirrorings is None else mirrorings
        seg = seg.unflatten(0, (len(mirrorings), n_tiles))
        seg = sum(torch.flip(seg[i], axes) if axes else seg[i] for i, axes in enumerate(mirrorings)) / len(mirrorings)
        if cls is not None:
            cls = cls.unflatten(0, (len(mirrorings), n_tiles)).mean(0)
        return seg, cls

    def _check_finite(self, *outputs: torch.Tensor | None) -> None:
        """A clear error when the network gave NaN or Inf (waits for the device: call once, not per batch)."""
        if not all(bool(torch.isfinite(t).all()) for t in outputs if t is not None):
            raise ModelFolderError(f"{self.model.path}: the network gave NaN or Inf outputs; this case has no result")

    def _forward(
        self, tiles: torch.Tensor, mirrorings: list[tuple[int, ...]] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Segmentation and class logits of a tile batch, averaged over mirrorings.

        All mirrored copies go through the network in one batch; the segmentation is flipped back,
        the class logits (one vector a tile) need no flip. nnU-Net drops the class logits of the
        mirrored passes; here they count.
        """
        seg, cls = self._network(self._mirror(tiles, mirrorings))
        self._check_finite(seg, cls)
        return self._merge_mirrorings(seg, cls, len(tiles), mirrorings)

    def _upload(self, data: torch.Tensor, clock: _StageClock) -> tuple[torch.Tensor, tuple[slice, ...]]:
        """The preprocessed volume on the device, zero-padded to at least a patch; and the crop undoing it."""
        from acvl_utils.cropping_and_padding.padding import pad_nd_image

        with clock("upload"):
            return pad_nd_image(data.to(self.device), self.patch_size, "constant", {"value": 0}, True, None)

    def _window(self, shape: Sequence[int]) -> _Window:
        """nnU-Net's tile origins and Gaussian for a padded slice shape, and their summed weight per pixel."""
        from nnunetv2.inference.sliding_window_prediction import compute_gaussian, compute_steps_for_sliding_window

        height, width = (int(n) for n in shape)
        steps = compute_steps_for_sliding_window((height, width), self.patch_size, self.options.tile_step_size)
        origins = list(itertools.product(*steps))
        gaussian = compute_gaussian(self.patch_size, 1.0 / 8, 10, dtype=torch.float32, device=self.device)
        coverage = torch.zeros((height, width), device=self.device)
        for y, x in origins:  # every slice has the same grid: one map for all
            coverage[y : y + self.patch_size[0], x : x + self.patch_size[1]] += gaussian
        return _Window(origins, gaussian, coverage)

    def _accumulate(
        self,
        padded: torch.Tensor,
        acc: torch.Tensor,
        class_sums: torch.Tensor | None,
        window: _Window,
        clock: _StageClock,
        report: Callable[[float], None],
        cancel: CancelToken | None,
    ) -> None:
        """Add one fold's Gaussian-weighted tile logits into ``acc`` and its tile class softmaxes into ``class_sums``.

        Everything stays on the device. Tiles are taken origin by origin over runs of consecutive
        slices, so a batch is a few strided views of the volume and is added back with one op per
        origin; nothing waits for the device inside the loop.
        """
        n_slices = padded.shape[1]
        ph, pw = self.patch_size
        per_batch = max(1, self.batch_size // len(self._mirrorings))
        total = n_slices * len(window.origins)
        for first in range(0, total, per_batch):
            if cancel is not None and cancel.is_set():
                raise PredictionCancelled("prediction cancelled")
            last = min(first + per_batch, total)
            groups = []  # (y, x, z0, z1): one origin over consecutive slices
            t = first
            while t < last:
                origin, z0 = divmod(t, n_slices)
                z1 = min(n_slices, z0 + last - t)
                groups.append((*window.origins[origin], z0, z1))
                t += z1 - z0
            with clock("tiles"):
                tiles = torch.cat([padded[:, z0:z1, y : y + ph, x : x + pw] for y, x, z0, z1 in groups], 1)
                batch = self._mirror(tiles.transpose(0, 1))
            with clock("network"):
                seg, cls = self._network(batch)
            with clock("accumulate"):
                seg, cls = self._merge_mirrorings(seg, cls, last - first)
                seg = seg * window.gaussian
                i = 0
                for y, x, z0, z1 in groups:
                    acc[:, z0:z1, y : y + ph, x : x + pw] += seg[i : i + z1 - z0].transpose(0, 1)
                    if class_sums is not None:
                        class_sums[z0:z1] += torch.softmax(cls[i : i + z1 - z0].float(), dim=1)
                    i += z1 - z0
            report(last / total)

    @staticmethod
    def _normalize(acc: torch.Tensor, window: _Window, revert: tuple[slice, ...], n_folds: int) -> torch.Tensor:
        """The fold-mean logits: the weighted sums over the summed weights, padding cropped off (in place)."""
        acc /= window.coverage * n_folds
        return acc[(slice(None), slice(None), *revert[-2:])]

    def _predict_fold(
        self,
        data: torch.Tensor,
        logits_out: torch.Tensor,
        class_out: np.ndarray | None,
        report: Callable[[float], None],
        cancel: CancelToken | None,
    ) -> None:
        """Add one fold's sliding-window logits to ``logits_out`` and its per-slice class probabilities."""
        clock = _StageClock(self.device)
        padded, revert = self._upload(data, clock)
        window = self._window(padded.shape[-2:])
        acc = torch.zeros((logits_out.shape[0], *padded.shape[1:]), device=self.device)
        class_sums = None if class_out is None else torch.zeros(class_out.shape, device=self.device)
        self._accumulate(padded, acc, class_sums, window, clock, report, cancel)
        self._check_finite(acc, class_sums)
        logits_out += self._normalize(acc, window, revert, 1).to(logits_out.device)
        if class_out is not None:
            # A slice's subtype probabilities: the mean softmax over its tiles.
            class_out[:] = (class_sums / len(window.origins)).cpu().numpy()

    def _export(self, logits: torch.Tensor, properties: dict) -> tuple[np.ndarray, np.ndarray | None]:
        """nnU-Net's export of the fold-mean logits: labels (and probabilities) in the input array's shape.

        Where the network's grid is the output grid (no resampling) and no probabilities are asked
        for, this is nnU-Net's own ``convert_logits_to_segmentation`` on the device, and only uint8
        labels come back; otherwise nnU-Net's whole export function runs on the CPU.
        """
        from acvl_utils.cropping_and_padding.bounding_boxes import insert_crop_into_image
        from nnunetv2.inference.export_prediction import convert_predicted_logits_to_segmentation_with_correct_shape

        model = self.model
        resample = tuple(properties["shape_after_cropping_and_before_resampling"]) != tuple(logits.shape[1:])
        if resample or self.options.save_probabilities:
            exported = convert_predicted_logits_to_segmentation_with_correct_shape(
                logits.cpu(),
                model.plans_manager,
                model.configuration_manager,
                model.label_manager,
                properties,
                return_probabilities=self.options.save_probabilities,
                num_threads_torch=torch.get_num_threads(),
            )
            return exported if self.options.save_probabilities else (exported, None)
        labels = model.label_manager.convert_logits_to_segmentation(logits).to(torch.uint8).cpu().numpy()
        full = np.zeros(properties["shape_before_cropping"], dtype=np.uint8)
        full = insert_crop_into_image(full, labels, properties["bbox_used_for_cropping"])
        return full.transpose(model.plans_manager.transpose_backward), None

    def _guided_tiles(self, data: torch.Tensor, lesion: torch.Tensor, gland: torch.Tensor) -> torch.Tensor:
        """One patch-size tile a slice, centred on the predicted lesion, else the gland, else the slice.

        ``lesion`` and ``gland`` are (slices, y, x) probabilities in the preprocessed space of ``data``
        (1, slices, y, x); centres are probability-weighted centroids of the pixels above 0.5.
        """
        from acvl_utils.cropping_and_padding.padding import pad_nd_image

        padded, revert = pad_nd_image(data, self.patch_size, "constant", {"value": 0}, True, None)
        offset = [s.start for s in revert[-2:]]
        height, width = padded.shape[-2:]
        py, px = self.patch_size
        tiles = []
        for z in range(data.shape[1]):
            centre = np.array([(data.shape[2] - 1) / 2, (data.shape[3] - 1) / 2])
            for probability in (lesion[z], gland[z]):
                mask = probability >= 0.5
                if bool(mask.any()):
                    weights = (probability * mask).double()
                    ys, xs = torch.meshgrid(
                        torch.arange(weights.shape[0], dtype=torch.float64),
                        torch.arange(weights.shape[1], dtype=torch.float64),
                        indexing="ij",
                    )
                    centre = np.array(
                        [float((weights * ys).sum() / weights.sum()), float((weights * xs).sum() / weights.sum())]
                    )
                    break
            y0 = int(np.clip(round(centre[0] + offset[0] - py / 2), 0, height - py))
            x0 = int(np.clip(round(centre[1] + offset[1] - px / 2), 0, width - px))
            tiles.append(padded[0, z, y0 : y0 + py, x0 : x0 + px])
        return torch.stack(tiles)[:, None]

    def _classify_tiles(self, tiles: torch.Tensor) -> np.ndarray:
        """Subtype probabilities (folds x tiles x subtypes) of the given tiles, with mirroring."""
        autocast = torch.autocast("cuda") if self.device.type == "cuda" else contextlib.nullcontext()
        mirror = self.options.classification_mirroring
        mirrorings = self._mirrorings if mirror is None else _mirrorings(self.model.mirror_axes if mirror else None)
        per_batch = max(1, self.batch_size // len(mirrorings))
        out = []
        for fold in self.model.folds:
            self.backend.select_fold(fold)
            probs = []
            for b in range(0, len(tiles), per_batch):
                with autocast:
                    _, cls = self._forward(tiles[b : b + per_batch].to(self.device), mirrorings)
                probs.append(torch.softmax(cls.float(), dim=1).cpu())
            out.append(torch.cat(probs).numpy())
        return np.stack(out)

    # ----------------------------------------------------------------------------------------------
    def predict(
        self,
        image: sitk.Image,
        case_id: str = "case",
        input_path: str = "",
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> Prediction:
        """Segment a CT volume and classify its lesion; outputs share the input's geometry."""
        try:
            return self._predict(image, case_id, input_path, progress, cancel)
        except torch.OutOfMemoryError:
            if self.device.type != "cuda":
                raise
        # Outside the except block, so that the traceback no longer holds the failed pass's GPU tensors.
        log.warning("CUDA ran out of memory; continuing on the CPU (slower)")
        self.backend = None  # the network's GPU weights go before the CPU backend loads
        torch.cuda.empty_cache()
        self.device = torch.device("cpu")
        self.backend = self._make_backend()
        self.batch_size = self.options.batch_size or self._choose_batch_size()
        return self._predict(image, case_id, input_path, progress, cancel)

    def _predict(
        self,
        image: sitk.Image,
        case_id: str,
        input_path: str,
        progress: ProgressCallback | None,
        cancel: CancelToken | None,
    ) -> Prediction:
        timings: dict[str, float] = {}
        clock = time.perf_counter()
        report_stage = progress or (lambda stage, fraction: None)
        check_image(image, input_path or case_id)
        model, cm = self.model, self.model.configuration_manager
        region = _roi_region(image, self.options.roi) if self.options.roi is not None else None
        work = image[region] if region is not None else image
        code = self.options.orientation or model.orientation
        oriented = to_model_orientation(work, code)
        check_resampled_size(oriented, model, input_path or case_id)

        report_stage("preprocess", 0.0)
        threads = torch.get_num_threads()
        torch.set_num_threads(self._threads())
        try:
            array = sitk.GetArrayFromImage(oriented)[None].astype(np.float32)
            properties = {"spacing": list(oriented.GetSpacing())[::-1]}
            preprocessor = cm.preprocessor_class(verbose=False)
            data, _, properties = preprocessor.run_case_npy(
                array, None, properties, model.plans_manager, cm, model.dataset_json
            )
            data = torch.from_numpy(np.ascontiguousarray(data))
            timings["preprocess"] = time.perf_counter() - clock

            n_classes = model.label_manager.num_segmentation_heads
            n_slices = data.shape[1]
            subtypes = model.subtypes
            clock = time.perf_counter()
            stages = _StageClock(self.device)
            with torch.inference_mode():
                padded, revert = self._upload(data, stages)
                window = self._window(padded.shape[-2:])
                acc = torch.zeros((n_classes, *padded.shape[1:]), dtype=torch.float32, device=self.device)
                class_sums = (
                    torch.zeros((len(model.folds), n_slices, len(subtypes)), device=self.device) if subtypes else None
                )
                for f, fold in enumerate(model.folds):
                    self.backend.select_fold(fold)

                    def report(fraction: float, f: int = f) -> None:
                        report_stage("predict", (f + fraction) / len(model.folds))

                    sums = class_sums[f] if subtypes else None
                    self._accumulate(padded, acc, sums, window, stages, report, cancel)
                del padded
                logits = self._normalize(acc, window, revert, len(model.folds))
                # A slice's subtype probabilities: the mean softmax over its tiles.
                fold_slice_probs = (class_sums / len(window.origins)).cpu().numpy() if subtypes else None
            timings.update(stages.totals())
            timings["predict"] = time.perf_counter() - clock

            clock = time.perf_counter()
            report_stage("export", 0.0)
            with torch.inference_mode():
                self._check_finite(logits, class_sums)  # a NaN or Inf of any tile reaches these sums
                probabilities = model.label_manager.apply_inference_nonlin(logits)
                channels = output_channels(model.label_manager, model.dataset_json["labels"])
                lesion_channel = channels.lesion
                lesion_mass = probabilities[lesion_channel].sum(dim=(1, 2)).double().cpu().numpy()
                gland = probabilities[list(channels.pancreas)].sum(0)
                gland_mass = gland.sum(dim=(1, 2)).double().cpu().numpy()
                slice_probabilities = {}
                if subtypes:
                    slice_probabilities["tiles"] = fold_slice_probs
                    if self.options.classification == "guided":
                        tiles = self._guided_tiles(data, probabilities[lesion_channel].cpu(), gland.cpu())
                        slice_probabilities["guided"] = self._classify_tiles(tiles)
                del probabilities, gland
                seg_array, prob_array = self._export(logits, properties)
                del logits, acc
        finally:
            torch.set_num_threads(threads)

        seg_oriented = sitk.GetImageFromArray(seg_array.astype(np.uint8))
        seg_oriented.CopyInformation(oriented)
        measurements = _measure(seg_array, oriented, code or orientation_code(work))
        segmentation = _place(to_input_orientation(seg_oriented, work, code), image, region, sitk.sitkUInt8)
        lesion_probability = None
        if prob_array is not None:
            prob = sitk.GetImageFromArray(prob_array[lesion_channel].astype(np.float32))
            prob.CopyInformation(oriented)
            lesion_probability = _place(to_input_orientation(prob, work, code), image, region, sitk.sitkFloat32)

        subtype = None
        if subtypes:
            slice_offset = properties["bbox_used_for_cropping"][0][0]
            indices, positions = input_slice_indices(oriented, image, slice_offset, n_slices)
            order = np.argsort(indices, kind="stable")
            slice_probabilities = {k: v[:, order] for k, v in slice_probabilities.items()}
            subtype = _subtype_result(
                subtypes,
                model.folds,
                slice_probabilities[self.options.classification],
                lesion_mass[order],
                gland_mass[order],
                self.options.pooling,
                [indices[i] for i in order],
                [positions[i] for i in order],
                self.options.classification,
            )
        timings["export"] = time.perf_counter() - clock
        report_stage("export", 1.0)

        result = CaseResult(
            case_id=case_id,
            input_path=str(input_path),
            labels=output_labels(model.dataset_json),
            measurements=measurements,
            provenance=self._provenance(),
            timings_s={k: round(timings[k], 3) for k in ("preprocess", "predict", "export")},
            subtype=subtype,
        )
        return Prediction(segmentation, result, lesion_probability, timings, slice_probabilities if subtypes else {})

    def _provenance(self) -> Provenance:
        from importlib.metadata import version

        return Provenance(
            model_name=self.model.name,
            model_path=str(self.model.path),
            configuration=self.model.configuration,
            checkpoint=self.model.checkpoint_name,
            folds=list(self.model.folds),
            tta=bool(self.mirror_axes),
            device=f"{self.device} ({self.backend.name})",
            versions={
                "PancreasMultiTaskLib": __version__,
                "nnunetv2": version("nnunetv2"),
                "torch": torch.__version__,
                "SimpleITK": sitk.Version_VersionString(),
                "numpy": np.__version__,
                "python": platform.python_version(),
            },
            roi=list(map(float, self.options.roi)) if self.options.roi is not None else None,
            backend=self.backend.name,
            torch_version=torch.__version__,
            nnunetv2_version=version("nnunetv2"),
            openvino_version=_installed_version("openvino"),
            onnxruntime_version=_installed_version("onnxruntime"),
        )


def _mirrorings(mirror_axes: Sequence[int] | None) -> list[tuple[int, ...]]:
    """Flip dims of each mirroring of a (batch, channel, y, x) tensor over ``mirror_axes``; ``()``: the plain pass."""
    if not mirror_axes:
        return [()]
    dims = [a + 2 for a in mirror_axes]
    return [()] + [c for n in range(1, len(dims) + 1) for c in itertools.combinations(dims, n)]


def _installed_version(distribution: str) -> str | None:
    """The installed version of a distribution, or ``None`` (without importing it)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


def _roi_region(image: sitk.Image, roi: Sequence[float]) -> tuple[slice, slice, slice]:
    """Index slices (x, y, z) of the voxels inside a physical box; a clear error if it misses the volume."""
    lo, hi = np.minimum(roi[:3], roi[3:]), np.maximum(roi[:3], roi[3:])
    corners = [
        image.TransformPhysicalPointToContinuousIndex(tuple(map(float, c)))
        for c in itertools.product(*zip(lo, hi, strict=True))
    ]
    first = np.maximum(np.floor(np.min(corners, axis=0) + 0.5), 0).astype(int)
    last = np.minimum(np.ceil(np.max(corners, axis=0) - 0.5), np.array(image.GetSize()) - 1).astype(int)
    if np.any(last < first):
        raise InputError(
            f"ROI {list(map(float, roi))} (LPS mm) lies outside the volume (size {image.GetSize()}, "
            f"origin {tuple(round(o, 1) for o in image.GetOrigin())})"
        )
    if last[2] == first[2]:
        raise InputError(f"ROI {list(map(float, roi))} covers a single slice; the engine needs a 3D region")
    return tuple(slice(int(a), int(b) + 1) for a, b in zip(first, last, strict=True))


def _place(part: sitk.Image, full: sitk.Image, region: tuple[slice, ...] | None, pixel: int) -> sitk.Image:
    """Put a result computed on an ROI crop back into an image of the full volume's geometry."""
    if region is None:
        return sitk.Cast(part, pixel)
    canvas = sitk.Image(full.GetSize(), pixel)
    canvas.CopyInformation(full)
    return sitk.Paste(canvas, sitk.Cast(part, pixel), part.GetSize(), [0, 0, 0], [s.start for s in region])


def _measure(seg: np.ndarray, oriented: sitk.Image, orientation: str) -> Measurements:
    spacing = oriented.GetSpacing()[::-1]
    lesion = seg == LESION_LABEL
    return Measurements(
        pancreas_volume_ml=round(volume_ml(seg > 0, spacing), 3),
        lesion_volume_ml=round(volume_ml(lesion, spacing), 3),
        lesion_max_axial_diameter_mm=round(max_axial_diameter_mm(lesion, spacing, axial_axis(orientation)), 2),
    )


def _subtype_result(
    names: list[str],
    folds: Sequence[str],
    fold_slice_probs: np.ndarray,
    lesion_mass: np.ndarray,
    gland_mass: np.ndarray,
    pooling: str,
    indices: Sequence[int],
    positions: Sequence[Sequence[float]],
    classification: str,
) -> SubtypeResult:
    slice_probs = fold_slice_probs.mean(axis=0)
    weights, used = slice_weights(lesion_mass, gland_mass, pooling)
    case = pool(slice_probs, weights)
    per_fold = np.stack([pool(p, weights) for p in fold_slice_probs])
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
            uncertain=is_uncertain(spread, entropy),
            max_fold_spread=MAX_FOLD_SPREAD,
            max_normalized_entropy=MAX_NORMALIZED_ENTROPY,
        ),
        classification=classification,
    )
