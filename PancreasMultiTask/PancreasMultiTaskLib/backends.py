"""Where the network runs: PyTorch (any device), or on the CPU OpenVINO or ONNX Runtime.

Each backend takes a batch of tiles and returns ``(segmentation_logits, class_logits_or_None)`` as
float32 torch tensors, one fold at a time. On the CPUs we measured, OpenVINO's and ONNX Runtime's
float32 convolutions beat PyTorch's for these networks (``Testing/benchmarks/bench_predictor.py``).
Both run a graph exported once per fold from the same PyTorch network and cached on disk, so the
network is still defined only in ``network.py``.
"""

from __future__ import annotations

import abc
import contextlib
import hashlib
import importlib.util
import os
import platform
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .io import atomic_path
from .model_folder import ModelFolder

BACKENDS = ("auto", "torch", "openvino", "onnxruntime")


def _split(out: torch.Tensor | tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor | None]:
    seg, cls = out if isinstance(out, tuple) else (out, None)
    return seg.float(), (cls.float() if cls is not None else None)


class TorchBackend:
    """The PyTorch network; fold weights are swapped in with ``load_state_dict``, as nnU-Net does."""

    name = "torch"

    def __init__(self, network: nn.Module, weights: dict[str, dict], device: torch.device) -> None:
        self.network, self.weights, self.device = network.eval(), weights, device

    def select_fold(self, fold: str) -> None:
        self.network = self.network.to(self.device)
        self.network.load_state_dict(self.weights[fold])

    def __call__(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        return _split(self.network(batch))


def graph_cache_dir() -> Path:
    home = os.environ.get("PANCREAS_MT_HOME") or Path.home() / ".cache" / "pancreas-mt"
    return Path(home) / "graphs"


def _cpu_fingerprint() -> str:
    """What a graph optimized for this CPU depends on: architecture and instruction-set flags."""
    flags = ""
    with contextlib.suppress(OSError):
        flags = next((line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")), "")
    return f"{platform.machine()}|{platform.processor()}|{flags}"


class ExportedGraphBackend(abc.ABC):
    """A CPU runtime running each fold as a graph exported from the PyTorch network and cached.

    A fold is exported the first time it is used with a given checkpoint, PyTorch, runtime and CPU
    (all in the file name), then loaded from the cache; a new export of a checkpoint file replaces
    its older ones, so the cache does not grow with updates. One fold's graph is held at a time, so
    memory does not grow with the number of folds. Subclasses say how a raw ONNX export becomes
    their cached file (``_convert``), how it is loaded (``_load``) and how a batch runs (``_run``).
    """

    name = ""
    suffix = ""
    packages: tuple[str, ...] = ()  # its runtime, and onnx for PyTorch's ONNX exporter

    @classmethod
    def available(cls) -> bool:
        """Whether the packages this backend needs are installed."""
        return all(importlib.util.find_spec(package) is not None for package in cls.packages)

    def __init__(
        self, model: ModelFolder, build_network: Callable[[], nn.Module], threads: int, cache_dir: Path | None = None
    ) -> None:
        self.model, self.threads = model, threads
        self.cache_dir = cache_dir or graph_cache_dir()
        self.outputs = ["segmentation", "class_logits"] if model.is_multitask else ["segmentation"]
        # The PyTorch network is built only if a fold still needs exporting, and not kept.
        network = None
        self.files = {}
        for fold in model.folds:
            target = self._target(fold)
            if not target.is_file():
                network = network or build_network()
                network.load_state_dict(self.model.load_weights(fold))
                target.parent.mkdir(parents=True, exist_ok=True)
                with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
                    raw = Path(scratch) / "raw.onnx"
                    self._export_onnx(network, raw)
                    self._convert(raw, target)
                self._remove_stale(fold, target)
            self.files[fold] = target
        self.runner = None

    @abc.abstractmethod
    def runtime_version(self) -> str:
        """The runtime's version, part of the cache key."""

    @abc.abstractmethod
    def _convert(self, raw: Path, target: Path) -> None:
        """Turn the raw ONNX export into this runtime's cached file at ``target``, atomically."""

    @abc.abstractmethod
    def _load(self, path: Path) -> object:
        """Load a cached graph, ready to run batches."""

    @abc.abstractmethod
    def _run(self, tiles: np.ndarray) -> list[np.ndarray]:
        """Run one batch through the loaded graph; the outputs in ``self.outputs`` order."""

    def _key(self, fold: str) -> str:
        checkpoint = self.model.checkpoint_path(fold).resolve()
        stat = checkpoint.stat()
        identity = "|".join(
            (
                str(checkpoint),
                str(stat.st_size),
                str(stat.st_mtime_ns),
                torch.__version__,
                self.name,
                self.runtime_version(),
                self.model.configuration,
                _cpu_fingerprint(),
            )
        )
        return hashlib.sha256(identity.encode()).hexdigest()[:24]

    def _prefix(self, fold: str) -> str:
        """The part of the file name shared by every cached version of this checkpoint file's graph."""
        checkpoint = hashlib.sha256(str(self.model.checkpoint_path(fold).resolve()).encode()).hexdigest()[:8]
        return f"{self.model.name}-{checkpoint}-fold_{fold}-{self.name}-"

    def _target(self, fold: str) -> Path:
        return self.cache_dir / f"{self._prefix(fold)}{self._key(fold)}{self.suffix}"

    def _remove_stale(self, fold: str, current: Path) -> None:
        """Drop older exports of the same checkpoint file (it changed, or PyTorch or the runtime did)."""
        prefix = self._prefix(fold)
        for old in self.cache_dir.iterdir():  # not glob: model folder names may hold "[" or "*"
            if old.name.startswith(prefix) and old.stem != current.stem:
                with contextlib.suppress(OSError):  # another process may still have it open (Windows)
                    old.unlink()

    def _export_onnx(self, network: nn.Module, path: Path) -> None:
        patch = tuple(int(p) for p in self.model.configuration_manager.patch_size)
        example = torch.zeros((2, 1, *patch))
        # The exporter's warnings say nothing a user can act on: tracing fixes the tile-size check to
        # the exported patch size (as it should), instance norm always normalizes per sample (its
        # "train=True" note), and the TorchScript exporter is the one that needs no onnxscript.
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                network.cpu().eval(),
                (example,),
                str(path),
                dynamo=False,
                input_names=["tiles"],
                output_names=self.outputs,
                dynamic_axes={name: {0: "batch"} for name in ["tiles", *self.outputs]},
                opset_version=17,
            )

    def select_fold(self, fold: str) -> None:
        self.runner = None  # the previous fold's graph goes before the next one loads
        self.runner = self._load(self.files[fold])

    def __call__(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        outputs = self._run(batch.contiguous().numpy())
        seg = torch.from_numpy(outputs[0])
        return seg, torch.from_numpy(outputs[1]) if len(outputs) > 1 else None


class OpenVinoBackend(ExportedGraphBackend):
    """OpenVINO's CPU plugin, from OpenVINO IR (``.xml`` plus ``.bin``) converted once.

    Precision is pinned (``INFERENCE_PRECISION_HINT``): float32 unless bfloat16 is asked for.
    OpenVINO's own default on CPUs with bfloat16 units is bfloat16, which the predictor uses only
    where the held-out quality check allows it (``predictor.resolve_precision``).
    """

    name = "openvino"
    suffix = ".xml"
    packages = ("openvino", "onnx")

    def __init__(self, *args, precision: str = "float32", **kwargs) -> None:
        import openvino

        self.precision_hint = {"float32": "f32", "bfloat16": "bf16"}[precision]
        self._ov = openvino
        self._core = openvino.Core()
        super().__init__(*args, **kwargs)

    def runtime_version(self) -> str:
        return self._ov.__version__

    def _convert(self, raw: Path, target: Path) -> None:
        # The weights file goes into place first and the .xml last, so a present .xml means a complete pair.
        scratch = raw.parent / "model.xml"
        self._ov.save_model(self._core.read_model(str(raw)), str(scratch), compress_to_fp16=False)
        os.replace(scratch.with_suffix(".bin"), target.with_suffix(".bin"))
        os.replace(scratch, target)

    def _load(self, path: Path) -> object:
        config = {
            "INFERENCE_PRECISION_HINT": self.precision_hint,
            "INFERENCE_NUM_THREADS": self.threads,
            "PERFORMANCE_HINT": "LATENCY",
        }
        compiled = self._core.compile_model(self._core.read_model(str(path)), "CPU", config)
        return compiled.create_infer_request()

    def _run(self, tiles: np.ndarray) -> list[np.ndarray]:
        results = self.runner.infer({0: tiles})
        # The request's output buffers are reused by the next call: copy them out.
        return [np.array(results[port], copy=True) for port in self.runner.model_outputs]


class OnnxRuntimeBackend(ExportedGraphBackend):
    """ONNX Runtime's CPU provider, from a graph it optimized for this CPU once at export.

    Sessions load the saved graph with optimization off, which halves their memory (no second
    copy of the weights while optimizing).
    """

    name = "onnxruntime"
    suffix = ".onnx"
    packages = ("onnxruntime", "onnx")

    def __init__(self, *args, **kwargs) -> None:
        import onnxruntime

        self._ort = onnxruntime
        super().__init__(*args, **kwargs)

    def runtime_version(self) -> str:
        return self._ort.__version__

    def _convert(self, raw: Path, target: Path) -> None:
        with atomic_path(target) as tmp:
            options = self._ort.SessionOptions()
            options.optimized_model_filepath = str(tmp)
            options.log_severity_level = 3  # it warns that the result suits this CPU only: the cache key says so
            self._ort.InferenceSession(str(raw), options, providers=["CPUExecutionProvider"])

    def _load(self, path: Path) -> object:
        options = self._ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = self._ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # done at export
        return self._ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def _run(self, tiles: np.ndarray) -> list[np.ndarray]:
        return self.runner.run(None, {"tiles": tiles})


# The CPU graph backends, fastest first (the order ``auto`` tries them in).
GRAPH_BACKENDS: dict[str, type[ExportedGraphBackend]] = {"openvino": OpenVinoBackend, "onnxruntime": OnnxRuntimeBackend}
