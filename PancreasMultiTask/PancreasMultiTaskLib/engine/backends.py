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
import json
import os
import platform
import re
import shutil
import tempfile
import time
import warnings
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .filelock import locked
from .io import atomic_path
from .model_folder import ModelFolder

#: A cached graph superseded by a newer export of the same model and fold is deleted once unused this long
#: (another process may still be running on it); any other graph once unused for GRAPH_MAX_UNUSED_S.
GRAPH_GRACE_S = 24 * 3600
GRAPH_MAX_UNUSED_S = 30 * 24 * 3600
#: Scratch folders of exports older than this were left by a killed process and are deleted.
EXPORT_LEFTOVER_S = 3600
_EXPORT_PREFIX = ".export-"


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
    """Exported graphs live in the store's ``graphs/`` folder (``$PANCREAS_MT_HOME/graphs`` when set)."""
    from .model_store import store_home

    return store_home() / "graphs"


def _cpu_fingerprint() -> str:
    """What a graph optimized for this CPU depends on: architecture and instruction-set flags."""
    flags = ""
    with contextlib.suppress(OSError):
        flags = next((line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")), "")
    return f"{platform.machine()}|{platform.processor()}|{flags}"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _entry(path: Path) -> str:
    """The cache entry a file belongs to: its name up to the first dot (graph, weights, record, lock)."""
    return path.name.split(".", 1)[0]


class ExportedGraphBackend(abc.ABC):
    """A CPU runtime running each fold as a graph exported from the PyTorch network and cached.

    A fold's graph is keyed by the SHA-256 of its checkpoint's bytes, of ``plans.json`` and
    ``dataset.json``, and by the backend, runtime, PyTorch and CPU. Beside each graph a record
    (``<entry>.json``) holds the key and the SHA-256 of the graph's files; both are checked before
    every load, and a graph that fails is exported again. Exports run under a per-entry lock. A
    graph superseded by a newer export of the same fold is deleted only once unused for
    ``GRAPH_GRACE_S`` (another process may hold it), and scratch folders of killed exports once
    older than ``EXPORT_LEFTOVER_S``. One fold's graph is held at a time, so memory does not grow
    with the number of folds. Subclasses say how a raw ONNX export becomes their cached file
    (``_convert``), how it is loaded (``_load``) and how a batch runs (``_run``).
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
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self.outputs = ["segmentation", "class_logits"] if model.is_multitask else ["segmentation"]
        self._build, self._network = build_network, None  # built only if a fold needs exporting
        self._remove_leftovers()
        self.keys = {fold: self._key(fold) for fold in model.folds}
        self.files = {fold: self._ensure(fold) for fold in model.folds}
        self._network = None  # not kept
        self._remove_stale()
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
        """What the graph depends on: the bytes of the checkpoint, plans and dataset, and the software."""
        parts = (
            _sha256(self.model.checkpoint_path(fold)),
            _sha256(self.model.path / "plans.json"),
            _sha256(self.model.path / "dataset.json"),
            self.model.configuration,
            torch.__version__,
            self.name,
            self.runtime_version(),
            _cpu_fingerprint(),
        )
        return hashlib.sha256("|".join(parts).encode()).hexdigest()

    def _prefix(self, fold: str) -> str:
        """The start of the file names of every cached graph of this model's fold on this backend."""
        return f"{re.sub(r'[^A-Za-z0-9_-]', '_', self.model.name)}-fold_{fold}-{self.name}-"

    def _target(self, fold: str) -> Path:
        return self.cache_dir / f"{self._prefix(fold)}{self.keys[fold][:32]}{self.suffix}"

    def _graph_files(self, target: Path) -> list[Path]:
        """The files that make up one cached graph (OpenVINO adds the weights file)."""
        return [target]

    @staticmethod
    def _record(target: Path) -> Path:
        return target.with_suffix(".json")

    def _verified(self, target: Path, key: str) -> bool:
        """Whether ``target`` holds the graph exported for ``key``, byte for byte as recorded."""
        try:
            record = json.loads(self._record(target).read_text(encoding="utf-8"))
            files = {f.name: _sha256(f) for f in self._graph_files(target)}
        except (OSError, UnicodeDecodeError, ValueError):
            return False
        return isinstance(record, dict) and record.get("key") == key and record.get("files") == files

    def _ensure(self, fold: str) -> Path:
        """The fold's verified cached graph, exported (again) under a lock if missing or not as recorded."""
        target, key = self._target(fold), self.keys[fold]
        if not self._verified(target, key):
            with locked(target.with_suffix(".lock")):
                if not self._verified(target, key):  # another process may have exported it meanwhile
                    self._export(fold, target, key)
        self._touch(target)
        return target

    def _export(self, fold: str, target: Path, key: str) -> None:
        self._network = self._network or self._build()
        self._network.load_state_dict(self.model.load_weights(fold))
        with tempfile.TemporaryDirectory(prefix=_EXPORT_PREFIX, dir=self.cache_dir) as scratch:
            raw = Path(scratch) / "raw.onnx"
            self._export_onnx(self._network, raw)
            self._convert(raw, target)
        record = {"key": key, "files": {f.name: _sha256(f) for f in self._graph_files(target)}}
        with atomic_path(self._record(target)) as tmp:
            tmp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")

    def _touch(self, target: Path) -> None:
        """Mark the graph as in use now, so no other process's clean-up deletes it."""
        with contextlib.suppress(OSError):
            os.utime(self._record(target))

    def _remove_leftovers(self) -> None:
        """Delete scratch folders of exports killed midway (older than ``EXPORT_LEFTOVER_S``)."""
        now = time.time()
        for path in self.cache_dir.iterdir():
            if path.is_dir() and path.name.startswith((_EXPORT_PREFIX, "tmp")):
                with contextlib.suppress(OSError):
                    if now - path.stat().st_mtime > EXPORT_LEFTOVER_S:
                        shutil.rmtree(path, ignore_errors=True)

    def _remove_stale(self) -> None:
        """Delete graphs nobody used lately: superseded ones of these folds after ``GRAPH_GRACE_S``, others later."""
        now, current = time.time(), {_entry(p) for p in self.files.values()}
        prefixes = tuple(self._prefix(fold) for fold in self.files)
        entries: dict[str, list[Path]] = defaultdict(list)
        for path in self.cache_dir.iterdir():  # not glob: model folder names may hold "[" or "*"
            if path.is_file() and not path.name.startswith("."):
                entries[_entry(path)].append(path)
        for entry, paths in entries.items():
            if entry in current:
                continue
            with contextlib.suppress(OSError):
                unused = now - max(p.stat().st_mtime for p in paths)
                if unused > (GRAPH_GRACE_S if entry.startswith(prefixes) else GRAPH_MAX_UNUSED_S):
                    for path in paths:
                        path.unlink(missing_ok=True)

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
        """Load the fold's graph, checked against its record first (and exported again if it fails)."""
        self.runner = None  # the previous fold's graph goes before the next one loads
        self.files[fold] = self._ensure(fold)
        self._network = None
        self.runner = self._load(self.files[fold])

    def __call__(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        outputs = self._run(batch.contiguous().numpy())
        seg = torch.from_numpy(outputs[0])
        return seg, torch.from_numpy(outputs[1]) if len(outputs) > 1 else None


class OpenVinoBackend(ExportedGraphBackend):
    """OpenVINO's CPU plugin, from OpenVINO IR (``.xml`` plus ``.bin``) converted once.

    Precision is pinned (``INFERENCE_PRECISION_HINT``): float32 unless bfloat16 is asked for.
    OpenVINO's own default on CPUs with bfloat16 units is bfloat16, which the predictor uses only
    for a model whose own record shows a passed bfloat16 check (``precision.resolve_precision``).
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

    def _graph_files(self, target: Path) -> list[Path]:
        return [target, target.with_suffix(".bin")]

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
