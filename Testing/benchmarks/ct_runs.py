"""Shared by the whole-CT benchmarks: a CT-like volume, one ``pancreas-mt predict`` run in a child process with its
peak RSS, and the CPU's bfloat16 flags."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

#: In-plane spacing of the synthetic CT (a 384 mm field of view, as abdominal CTs often have) and slice spacing.
SPACING_MM = (0.75, 0.75, 2.5)


@dataclass
class Run:
    """One ``pancreas-mt predict`` of one case: wall seconds, the child's peak RSS, its result.json and labels."""

    seconds: float
    peak_rss_mb: float
    result: dict
    labels: np.ndarray


def cpu_flags() -> str:
    """The CPU's bfloat16 flags as ``lscpu`` lists them (AMX, AVX512-BF16), or ``none``."""
    try:
        flags = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (no lscpu)"
    found = sorted({f for f in flags if f.startswith("amx") or f == "avx512_bf16"})
    return " ".join(found) or "none"


def body_slices(size: int, slices: int, seed: int = 0) -> np.ndarray:
    """A CT-like (slices, size, size) int16 array: an elliptic body of ~40 HU soft tissue with noise in -1000 HU air."""
    rng = np.random.default_rng(seed)
    y, x = np.ogrid[:size, :size]
    centre = (size - 1) / 2
    body = ((y - centre * 1.05) / (0.33 * size)) ** 2 + ((x - centre) / (0.44 * size)) ** 2 <= 1
    volume = np.full((slices, size, size), -1000, dtype=np.int16)
    for z in range(slices):
        volume[z][body] = (40 + rng.normal(0, 20, int(body.sum()))).astype(np.int16)
    return volume


def write_image(array: np.ndarray, path: Path, spacing: tuple[float, float, float] = SPACING_MM) -> Path:
    """An int16 (slices, y, x) array as a NIfTI file with the given (x, y, z) spacing."""
    image = sitk.GetImageFromArray(array.astype(np.int16))
    image.SetSpacing(spacing)
    sitk.WriteImage(image, str(path))
    return path


#: The child: ``pancreas-mt predict`` in-process, then its own memory map's high-water mark (``VmHWM``) into the
#: file ``$PMT_BENCH_HWM``. Not ``wait4``'s ``ru_maxrss``: Linux carries the parent's RSS at fork over the child's
#: exec into it, so a benchmark holding a large phantom would be measured instead of the child.
CHILD = """
import os, sys
from PancreasMultiTaskLib.cli.main import main
code = main(sys.argv[1:])
with open("/proc/self/status") as status:
    kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
with open(os.environ["PMT_BENCH_HWM"], "w") as out:
    out.write(str(kb))
sys.exit(code)
"""


def predict(image: Path, out: Path, *args: str) -> Run:
    """``pancreas-mt predict -i IMAGE -o OUT ARGS`` in a child process; its own peak RSS (``VmHWM``, Linux)."""
    command = [sys.executable, "-c", CHILD, "predict", "-i", str(image), "-o", str(out)]
    start = time.perf_counter()
    with tempfile.TemporaryFile() as stderr, tempfile.TemporaryDirectory() as scratch:
        hwm = Path(scratch) / "vmhwm_kb"
        env = {**os.environ, "PMT_BENCH_HWM": str(hwm)}
        child = subprocess.Popen(
            [*command, "--progress", "none", *args], stdout=subprocess.DEVNULL, stderr=stderr, env=env
        )
        child.wait()
        seconds = time.perf_counter() - start
        if child.returncode != 0:
            stderr.seek(0)
            message = stderr.read().decode().strip()[-2000:]
            raise RuntimeError(f"pancreas-mt {' '.join(command[3:])} failed ({child.returncode}): {message}")
        peak_mb = int(hwm.read_text()) / 1024
    case = next(out.glob("*/result.json")).parent
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(next(case.glob("segmentation.*")))))
    result = json.loads((case / "result.json").read_text())
    return Run(seconds, peak_mb, result, labels)
