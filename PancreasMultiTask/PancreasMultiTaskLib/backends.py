"""Where the network runs: PyTorch (any device) or ONNX Runtime (CPU).

Both take a batch of tiles and return ``(segmentation_logits, class_logits_or_None)`` as float32
torch tensors, one fold at a time. ONNX Runtime's CPU kernels are faster than PyTorch's for these
networks on the CPUs we measured (``Testing/benchmarks/bench_predictor.py``); each fold is exported
once from the same PyTorch network and cached on disk.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import platform
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from .io import atomic_path
from .model_folder import ModelFolder

BACKENDS = ("auto", "torch", "onnxruntime")


def onnxruntime_available() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in ("onnxruntime", "onnx"))


def _split(out: torch.Tensor | tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor | None]:
    seg, cls = out if isinstance(out, tuple) else (out, None)
    return seg.float(), (cls.float() if cls is not None else None)


class TorchBackend:
    """The PyTorch network; fold weights are swapped in with ``load_state_dict``, as nnU-Net does."""

    name = "torch"

    def __init__(self, network: nn.Module, weights: dict[str, dict], device: torch.device) -> None:
        self.network, self.weights, self.device = network.eval(), weights, device

    def to(self, device: torch.device) -> None:
        self.device = device
        self.network = self.network.to(device)

    def select_fold(self, fold: str) -> None:
        self.network = self.network.to(self.device)
        self.network.load_state_dict(self.weights[fold])

    def __call__(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        return _split(self.network(batch))


def onnx_cache_dir() -> Path:
    home = os.environ.get("PANCREAS_MT_HOME") or Path.home() / ".cache" / "pancreas-mt"
    return Path(home) / "onnx"


def _cpu_fingerprint() -> str:
    """What a graph optimized for this CPU depends on: architecture and instruction-set flags."""
    flags = ""
    with contextlib.suppress(OSError):
        flags = next((line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")), "")
    return f"{platform.machine()}|{platform.processor()}|{flags}"


class OnnxRuntimeBackend:
    """Each fold exported to ONNX, optimized by ONNX Runtime for this CPU, cached, and run on the CPU.

    The graph is optimized once at export and saved; sessions then load it with optimization off,
    which halves their memory (no second copy of the weights while optimizing). One session is held
    at a time, so memory does not grow with the number of folds.
    """

    name = "onnxruntime"

    def __init__(
        self, model: ModelFolder, build_network: Callable[[], nn.Module], threads: int, cache_dir: Path | None = None
    ) -> None:
        import onnxruntime

        self.model, self.threads, self._ort = model, threads, onnxruntime
        self.cache_dir = cache_dir or onnx_cache_dir()
        self.outputs = ["segmentation", "class_logits"] if model.is_multitask else ["segmentation"]
        # The PyTorch network is built only if a fold still needs exporting, and not kept.
        network = None
        self.files = {}
        for fold in model.folds:
            if not self._target(fold).is_file():
                network = network or build_network()
                self._export(fold, network)
            self.files[fold] = self._target(fold)
        self.session = None

    def _key(self, fold: str) -> str:
        checkpoint = self.model.checkpoint_path(fold).resolve()
        stat = checkpoint.stat()
        identity = "|".join(
            (
                str(checkpoint),
                str(stat.st_size),
                str(stat.st_mtime_ns),
                torch.__version__,
                self._ort.__version__,
                self.model.configuration,
                _cpu_fingerprint(),
            )
        )
        return hashlib.sha256(identity.encode()).hexdigest()[:24]

    def _target(self, fold: str) -> Path:
        return self.cache_dir / f"{self.model.name}-fold_{fold}-{self._key(fold)}.onnx"

    def _export(self, fold: str, network: nn.Module) -> None:
        network.load_state_dict(self.model.load_weights(fold))
        target = self._target(fold)
        with atomic_path(target) as tmp, tempfile.TemporaryDirectory(dir=target.parent) as scratch:
            raw = Path(scratch) / "raw.onnx"
            self._export_raw(network, raw)
            options = self._ort.SessionOptions()
            options.optimized_model_filepath = str(tmp)
            options.log_severity_level = 3  # it warns that the result suits this CPU only: the cache key says so
            self._ort.InferenceSession(str(raw), options, providers=["CPUExecutionProvider"])

    def _export_raw(self, network: nn.Module, path: Path) -> None:
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

    def to(self, device: torch.device) -> None:
        if device.type != "cpu":
            raise ValueError("the onnxruntime backend runs on the CPU only")

    def select_fold(self, fold: str) -> None:
        options = self._ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = self._ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # done at export
        self.session = None
        self.session = self._ort.InferenceSession(str(self.files[fold]), options, providers=["CPUExecutionProvider"])

    def __call__(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        outputs = self.session.run(None, {"tiles": batch.contiguous().numpy()})
        seg = torch.from_numpy(outputs[0])
        return seg, torch.from_numpy(outputs[1]) if len(outputs) > 1 else None
