"""Batched 2D prediction with nnU-Net's preprocessing, sliding window, mirroring and fold ensembling.

Preprocessing and export are nnU-Net's own functions, so results match ``nnUNetPredictor``. A case
runs as named stages, each timed in ``result.timings_s``:

    check -> roi -> orient -> nnunet_preprocess -> window -> classify -> familiarity -> segmentation
    -> postprocess -> measure -> assess -> result

(``stages.py``: check to preprocessing, export, nnU-Net's postprocessing, measurements; ``window.py``: the
device-resident sliding window over every fold with mirroring; ``classify.py``: per-slice subtypes and
pooling; ``feature_probe.py``: how familiar the image is to the model). The three phases kept from
earlier results sum their stages: ``preprocess`` (check to nnU-Net's preprocessing), ``predict`` (the
sliding window) and ``export`` (classify to result). The precision is decided once per device
(``precision.py``) and every network batch runs in it.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import os
import platform
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk
import torch

from .. import __version__
from .backends import GRAPH_BACKENDS, ExportedGraphBackend, TorchBackend
from .classify import Classification, SliceMaps, TileClassifier, classify, slice_maps
from .competence import assess_case, with_warning
from .familiarity import Familiarity
from .feature_probe import familiarity, probe_for
from .io import InputError, check_image
from .labels import output_labels
from .limits import check_resampled_size
from .localizer import Localizer, localizer_folder
from .model_folder import ModelFolder, available_folds, open_model_folder
from .options import CLASSIFICATION_MODES, PRECISIONS, PredictionOptions  # noqa: F401 (re-exported)
from .precision import BF16_BACKENDS, decide_precision
from .result import CaseResult, Provenance, SubtypeResult
from .roi import RoiChoice, choose_roi
from .stages import (
    Oriented,
    Preprocessed,
    crop_to_roi,
    export,
    measure,
    orient,
    postprocess,
    preprocess,
    timed,
    torch_threads,
)
from .window import (  # noqa: F401 (PredictionCancelled re-exported)
    CancelToken,
    Network,
    PredictionCancelled,
    SlidingWindow,
    WindowOutput,
    mirrorings,
)

log = logging.getLogger(__name__)

ProgressCallback = Callable[[str, float], None]

#: The per-case stages in order; each has its own entry in ``result.timings_s``.
STAGES = (
    "check",
    "roi",
    "orient",
    "nnunet_preprocess",
    "window",
    "classify",
    "familiarity",
    "segmentation",
    "postprocess",
    "measure",
    "assess",
    "result",
)
#: Phases of results before the stages were split out, kept with their meaning: the stages each sums.
PHASES = {
    "preprocess": ("check", "roi", "orient", "nnunet_preprocess"),
    "predict": ("window",),
    "export": ("classify", "familiarity", "segmentation", "postprocess", "measure", "assess", "result"),
}


@dataclass
class Prediction:
    """A case's label image (input geometry), optional lesion probability image, and its result."""

    segmentation: sitk.Image
    result: CaseResult
    lesion_probability: sitk.Image | None = None
    timings: dict[str, float] = field(default_factory=dict)
    #: Per-fold, per-slice subtype probabilities (folds x slices x subtypes) of each classification
    #: mode computed, and the released code's fold-logit sum of the tiles (``tiles-logit-sum``, one
    #: ensemble: 1 x slices x subtypes); slices in the result's order (for evaluations that compare them).
    slice_probabilities: dict[str, np.ndarray] = field(default_factory=dict)
    #: The classifier's subtype before the assessment (also for a withheld or no-lesion case, whose
    #: ``result.subtype`` is emptied): what evaluations score the network on.
    network_subtype: SubtypeResult | None = None
    #: The case's early encoder features and their distance from the training tiles' (``familiarity.py``).
    familiarity: Familiarity | None = None


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


def choose_backend(requested: str, device_type: str, precision: str) -> str:
    """The backend's name; ``auto`` takes the fastest one installed for the device (and for an explicit bfloat16).

    A CPU graph backend on another device, or one whose packages are missing, is a clear error.
    """
    choice = requested
    if choice == "auto":
        on_cpu = [
            name
            for name, backend in GRAPH_BACKENDS.items()
            if backend.available() and (precision != "bfloat16" or name in BF16_BACKENDS)
        ]
        choice = on_cpu[0] if device_type == "cpu" and on_cpu else "torch"
    if choice in GRAPH_BACKENDS:
        graph_backend = GRAPH_BACKENDS[choice]
        if device_type != "cpu":
            raise InputError(f"--backend {choice} runs on the CPU only, not on {device_type}")
        if not graph_backend.available():
            packages = " and ".join(graph_backend.packages)
            raise InputError(f"--backend {choice} needs the packages {packages} (pip install them)")
    return choice


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
        if self.options.fast:  # the fast preset: one fold
            model = dataclasses.replace(model, folds=model.folds[:1])
        self.model = model
        self.patch_size = tuple(int(p) for p in model.configuration_manager.patch_size)
        with torch.device("meta"):  # sizes only: no memory for weights
            self._activations_per_sample = int(model.build_network().compute_conv_feature_map_size(self.patch_size))
        self.mirror_axes = model.mirror_axes if self.options.mirroring else None
        self._set_device(resolve_device(self.options.device))

    def _set_device(self, device: torch.device) -> None:
        """Settle everything that depends on the device, in order: backend, precision (once), network, batches."""
        self.device = device
        backend_name = choose_backend(self.options.backend, device.type, self.options.precision)
        self.precision = decide_precision(self.options.precision, device.type, backend_name, self.model)
        self.backend = self._make_backend(backend_name)
        self.network = Network(self.backend, device.type, self.precision, self.model.path)
        self.batch_size = self.options.batch_size or self._choose_batch_size()
        self.window = SlidingWindow(
            self.patch_size, self.options.tile_step_size, self.batch_size, mirrorings(self.mirror_axes), device
        )
        self.localizer = self._open_localizer()
        # The familiarity guards the subtype's verdict: a segmentation-only model (such as a localizer) has none.
        self.probe, self._probe_note = probe_for(self.model, device) if self.model.subtypes else (None, None)

    def _open_localizer(self) -> Localizer | None:
        """For ``--roi auto``, the model folder's localizer on this device: its first fold, no mirroring, float32,
        PyTorch (a small network on a coarse grid); ``None`` for other ROI modes or a folder without one."""
        folder = localizer_folder(self.model.path)
        if self.options.roi != "auto" or folder is None:
            return None
        options = PredictionOptions(
            device=str(self.device),
            folds=available_folds(folder)[:1] or None,
            use_mirroring=False,
            precision="float32",
            backend="torch",
            num_threads=self.options.num_threads,
            roi="full",
        )
        return Localizer(Predictor(folder, options))

    def _make_backend(self, name: str) -> TorchBackend | ExportedGraphBackend:
        """The named backend in the decided precision.

        A graph backend exports (or loads cached) graphs; PyTorch gets all folds' weights on the device,
        and on CUDA channels-last memory and cuDNN autotuning.
        """
        if name in GRAPH_BACKENDS:
            extra = {"precision": self.precision} if name in BF16_BACKENDS else {}
            build = lambda: self.model.build_network().eval()  # noqa: E731
            return GRAPH_BACKENDS[name](self.model, build, self._threads(), **extra)
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

    def tile_classifier(self) -> TileClassifier:
        """The guided tiles' classifier: every fold, through the same network (and precision) as the window."""
        mirror = self.options.tile_mirroring
        flips = self.window.mirrorings if mirror is None else mirrorings(self.model.mirror_axes if mirror else None)
        return TileClassifier(
            self.network, self.model.folds, flips, self.batch_size, self.device, self.patch_size, self._exact_tiles
        )

    @property
    def _exact_tiles(self) -> bool:
        """Guided tiles centred exactly on the lesion (a network with a ``classifier_view``, see ``guided_tiles``)."""
        return self.model.configuration_manager.network_arch_init_kwargs.get("classifier_view") is not None

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
        self.backend = self.network = None  # the network's GPU weights go before the CPU backend loads
        torch.cuda.empty_cache()
        self._set_device(torch.device("cpu"))
        return self._predict(image, case_id, input_path, progress, cancel)

    def sliding_window(
        self, data: torch.Tensor, report: Callable[[float], None] | None = None, cancel: CancelToken | None = None
    ) -> WindowOutput:
        """The window stage: every fold's sliding window over a preprocessed volume (1, slices, y, x)."""
        subtypes = self.model.subtypes or []
        n_classes = self.model.label_manager.num_segmentation_heads
        report = report or (lambda fraction: None)
        return self.window.run(data, self.network, self.model.folds, n_classes, len(subtypes), report, cancel)

    def _predict(
        self,
        image: sitk.Image,
        case_id: str,
        input_path: str,
        progress: ProgressCallback | None,
        cancel: CancelToken | None,
    ) -> Prediction:
        """The stages in order, each timed; see the module's docstring."""
        timings: dict[str, float] = {}
        report = progress or (lambda stage, fraction: None)
        with timed(timings, "check"):
            check_image(image, input_path or case_id)
        with timed(timings, "roi"):
            o = self.options
            roi = choose_roi(image, o.roi, o.roi_ras, o.roi_mask, o.roi_label, o.roi_margin, self.localizer)
            crop = crop_to_roi(image, roi)
        with timed(timings, "orient"):
            oriented = orient(crop, self.options.orientation or self.model.orientation)
            check_resampled_size(oriented.image, self.model, input_path or case_id)  # before any allocation
        report("preprocess", 0.0)
        with torch_threads(self._threads()):
            with timed(timings, "nnunet_preprocess"):
                case = preprocess(oriented, self.model)
            with timed(timings, "window"):
                window = self.sliding_window(case.data, lambda fraction: report("predict", fraction), cancel)
            timings.update(window.times)
            report("export", 0.0)
            with timed(timings, "classify"):
                maps = self._slice_maps(window)
                classification = self._classify(case, window, oriented, maps)
            with timed(timings, "familiarity"):
                familiar = None
                if maps is not None:
                    familiar = familiarity(self.probe, self._probe_note, self.model, case.data, maps, self._exact_tiles)
                del maps  # two maps of the whole volume on the device: freed before the export
            with timed(timings, "segmentation"):
                segmentation = export(
                    window.logits,
                    case.properties,
                    oriented,
                    self.model,
                    o.save_probabilities,
                    o.slab_slices,
                    lesion_map=self.model.competence.min_lesion_p90 is not None,
                )
            del window  # its logits hold the device's memory
        with timed(timings, "postprocess"):
            network_labels = segmentation.labels
            segmentation = postprocess(segmentation, oriented, self.model.postprocessing)
        with timed(timings, "measure"):
            measurements = measure(segmentation.labels, oriented)
        with timed(timings, "assess"):
            assessment = assess_case(
                self.model.competence,
                sitk.GetArrayViewFromImage(oriented.image),
                oriented.image.GetSpacing(),
                segmentation.labels,
                measurements.pancreas_volume_ml,
                measurements.lesion_volume_ml,
                classification is not None,
                familiar,
                network_labels,
                segmentation.lesion_map,
            )
            assessment = with_warning(assessment, roi.warning)
            segmentation = dataclasses.replace(segmentation, lesion_map=None)
        report("export", 1.0)
        with timed(timings, "result"):
            result = CaseResult(
                case_id=case_id,
                input_path=str(input_path),
                labels=output_labels(self.model.dataset_json),
                measurements=measurements,
                provenance=self._provenance(roi),
                timings_s={},
                subtype=classification.subtype if classification else None,
                assessment=assessment,
            )
            network_subtype = copy.deepcopy(result.subtype)
            if assessment.withheld or not assessment.lesion_found:
                result.withhold_subtype()  # the segmentation is still written; the subtype is not an answer
        timings.update({phase: sum(timings[s] for s in stages) for phase, stages in PHASES.items()})
        result.timings_s.update({key: round(timings[key], 3) for key in (*STAGES, *PHASES)})
        slice_probabilities = classification.slice_probabilities if classification else {}
        return Prediction(
            segmentation.image,
            result,
            segmentation.lesion_probability,
            timings,
            slice_probabilities,
            network_subtype,
            familiar,
        )

    def _slice_maps(self, window: WindowOutput) -> SliceMaps | None:
        """P(lesion) and P(gland) of the window's logits (multi-task model); ``None`` for a segmentation-only one."""
        if not self.model.subtypes:
            return None
        with torch.inference_mode():
            return slice_maps(window.logits, self.model)

    def _classify(
        self, case: Preprocessed, window: WindowOutput, oriented: Oriented, maps: SliceMaps | None
    ) -> Classification | None:
        """The classify stage for a multi-task model; ``None`` for a segmentation-only one."""
        if maps is None:
            return None
        options = self.options
        return classify(
            case,
            window,
            oriented,
            self.model,
            options.classification,
            options.pooling,
            self.tile_classifier(),
            maps,
        )

    def _provenance(self, roi: RoiChoice) -> Provenance:
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
            roi=roi.box_lps,
            roi_how=roi.how,
            backend=self.backend.name,
            torch_version=torch.__version__,
            nnunetv2_version=version("nnunetv2"),
            openvino_version=_installed_version("openvino"),
            onnxruntime_version=_installed_version("onnxruntime"),
            precision=self.precision,
            fast=bool(self.options.fast),
            postprocessing=self.model.postprocessing.describe() if self.model.postprocessing else None,
        )


def _installed_version(distribution: str) -> str | None:
    """The installed version of a distribution, or ``None`` (without importing it)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return None
