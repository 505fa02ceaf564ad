"""The training arithmetic on a CPU: float32 as nnU-Net, or bfloat16 autocast where the CPU has the units.

nnU-Net trains under float16 autocast on CUDA and in plain float32 on a CPU. On a CPU with bfloat16 units
(Intel AMX, AVX512-BF16) PyTorch's bfloat16 autocast runs the convolutions and dense layers in bfloat16 while
the weights, optimizer and losses stay float32 (bfloat16 keeps float32's range, so no gradient scaler);
``Testing/benchmarks/bench_training_precision.py`` measures what it saves. The choice is the machine's, not the
model's, so it travels as an environment variable, like nnU-Net's own ``nnUNet_compile``: the ``train``,
``localizer`` and ``demo-model`` commands set it from ``--precision`` and every trainer of the process reads it.
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager, nullcontext

import torch

#: The environment variable the trainers read (``float32`` when unset).
PRECISION_ENV = "PANCREAS_MT_TRAIN_PRECISION"
TRAINING_PRECISIONS = ("float32", "bfloat16")


def training_precision() -> str:
    """The CPU training precision that ``PRECISION_ENV`` asks for; a value that is not one is an error naming it."""
    value = os.environ.get(PRECISION_ENV, "float32")
    if value not in TRAINING_PRECISIONS:
        raise ValueError(f"{PRECISION_ENV}={value!r}: must be one of {', '.join(TRAINING_PRECISIONS)}")
    return value


def check_training_precision(precision: str, device: str) -> str | None:
    """Refuse a precision the device cannot take (an error message), or ``None``.

    bfloat16 is for a CPU: on CUDA nnU-Net's float16 autocast already runs.
    """
    if precision == "bfloat16" and torch.device(device).type != "cpu":
        return f"--precision bfloat16 is for training on a CPU; on {device} nnU-Net trains under float16 autocast"
    return None


def training_autocast(device: torch.device, precision: str) -> AbstractContextManager:
    """The autocast a training or validation step runs under: nnU-Net's float16 on CUDA, bfloat16 on a CPU that
    was asked for it, none otherwise (nnU-Net's float32)."""
    if device.type == "cuda":
        return torch.autocast("cuda", enabled=True)
    if device.type == "cpu" and precision == "bfloat16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return nullcontext()


def training_log_line(device: torch.device, precision: str) -> str:
    """The line a trainer writes into its log: what its steps compute in."""
    arithmetic = "float16 autocast (nnU-Net's)" if device.type == "cuda" else precision
    return f"Training precision on {device.type}: {arithmetic}"
