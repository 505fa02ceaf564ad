"""The network's arithmetic, decided in one place: float32 as nnU-Net, bfloat16 only where the model earned it.

``auto`` is float16 autocast on CUDA (as nnU-Net); on a CPU it is bfloat16 only for a model whose own
competence record (``competence.json``) shows that a bfloat16 check on its validation data passed, on a
CPU with bfloat16 units (AMX or AVX512-BF16), through a backend that runs bfloat16; every other model
runs float32 as nnU-Net does (the bundled demo model's record shows a failed check, so it runs float32
under ``auto``). The precision chosen is recorded in ``result.json`` (``provenance.precision``).
"""

from __future__ import annotations

from pathlib import Path

import torch

from .io import InputError
from .model_folder import ModelFolder

#: The backends that can run bfloat16 (PyTorch autocast, OpenVINO's INFERENCE_PRECISION_HINT).
BF16_BACKENDS = ("torch", "openvino")
#: CPU flags of bfloat16 units (Intel AMX, AVX512-BF16); ``auto`` considers bfloat16 only with one.
BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")
#: Where the CPU's flags are read (tests point it at a stand-in).
CPUINFO = Path("/proc/cpuinfo")


def cpu_bf16_units(cpuinfo: str | None = None) -> bool:
    """Whether the CPU (``CPUINFO``'s flags, or the text given) has AMX or AVX512-BF16 units."""
    if cpuinfo is None:
        try:
            cpuinfo = CPUINFO.read_text()
        except OSError:
            return False
    flags = next((line.split(":", 1)[1].split() for line in cpuinfo.splitlines() if line.startswith("flags")), [])
    return any(flag in flags for flag in BF16_CPU_FLAGS)


def resolve_precision(requested: str, device_type: str, backend: str, bf16_units: bool, bf16_check_passed: bool) -> str:
    """The rule: ``requested`` (an already checked option) made ``float32``, ``bfloat16`` or ``float16``.

    ``auto`` is float16 on CUDA, bfloat16 on a CPU with bfloat16 units for a model whose bfloat16 check
    passed, float32 otherwise. A backend without bfloat16 runs float32 under ``auto`` and refuses an
    explicit ``bfloat16``.
    """
    if requested == "auto":
        if device_type == "cuda":
            return "float16"
        precision = "bfloat16" if device_type == "cpu" and bf16_units and bf16_check_passed else "float32"
    else:
        precision = requested
    if precision == "bfloat16" and backend not in BF16_BACKENDS:
        if requested == "bfloat16":
            raise InputError(
                f"--backend {backend} runs in float32 only: use --precision float32, or --backend openvino or torch"
            )
        return "float32"
    return precision


def decide_precision(
    requested: str, device_type: str, backend: str, model: ModelFolder, cpuinfo: str | None = None
) -> str:
    """The precision a model runs in on this machine: the rule fed with the CPU's units and the model's record."""
    units = cpu_bf16_units(cpuinfo) if requested == "auto" and device_type == "cpu" else False
    return resolve_precision(requested, device_type, backend, units, model.bfloat16_check_passed)


def autocast_dtype(precision: str) -> torch.dtype | None:
    """The autocast dtype of a resolved precision; ``None`` means no autocast (float32)."""
    return {"float32": None, "float16": torch.float16, "bfloat16": torch.bfloat16}[precision]
