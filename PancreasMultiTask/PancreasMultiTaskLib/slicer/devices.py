"""The devices the panel offers, found before the run: CUDA with its name and memory, Apple MPS only on macOS, the
CPU always, and what ``auto`` resolves to (the engine's rule: CUDA, then MPS, then the CPU).

torch is asked in a child process (``python -m PancreasMultiTaskLib.slicer.devices`` prints JSON), so Slicer's own
process never imports torch or holds a CUDA context for it. No Qt.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from .runner import child_environment

GIB = 1024**3
PROBE_MODULE = "PancreasMultiTaskLib.slicer.devices"
PROBE_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class CudaDevice:
    """One CUDA device: its name and total memory."""

    name: str
    total_bytes: int

    def describe(self) -> str:
        return f"{self.name}, {self.total_bytes / GIB:.1f} GiB"


@dataclass(frozen=True)
class FoundDevices:
    """What torch reports here; ``problem`` says why nothing beyond the CPU could be asked (no torch, ...)."""

    cuda: list[CudaDevice] = field(default_factory=list)
    mps: bool = False
    torch_version: str | None = None
    problem: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> FoundDevices:
        data = json.loads(text)
        return cls(
            cuda=[CudaDevice(str(d["name"]), int(d["total_bytes"])) for d in data.get("cuda", [])],
            mps=bool(data.get("mps", False)),
            torch_version=data.get("torch_version"),
            problem=str(data.get("problem", "")),
        )


@dataclass(frozen=True)
class DeviceChoice:
    """One entry of the panel's device list: the option value (``engine/options.py``), its label and tooltip."""

    value: str
    label: str
    tooltip: str


def find_devices(torch: Any, system: str = sys.platform) -> FoundDevices:
    """Ask ``torch`` (or a stand-in) for its devices; MPS is looked for on macOS only."""
    cuda = []
    if torch.cuda.is_available():
        for index in range(torch.cuda.device_count()):
            properties = torch.cuda.get_device_properties(index)
            cuda.append(CudaDevice(str(properties.name), int(properties.total_memory)))
    mps_backend = getattr(getattr(torch, "backends", None), "mps", None)
    mps = system == "darwin" and mps_backend is not None and bool(mps_backend.is_available())
    return FoundDevices(cuda=cuda, mps=mps, torch_version=str(getattr(torch, "__version__", "")) or None)


def resolved_auto(found: FoundDevices) -> str:
    """What ``auto`` runs on, in words (the engine's ``resolve_device``: CUDA, then MPS, then the CPU)."""
    if found.cuda:
        return f"CUDA ({found.cuda[0].describe()})"
    if found.mps:
        return "Apple MPS"
    return "CPU"


def device_choices(found: FoundDevices | None) -> list[DeviceChoice]:
    """The panel's device list: ``auto`` saying what it resolves to, the CPU, then what was found.

    ``None`` (still looking) offers ``auto`` and the CPU only; ``mps`` is never offered off macOS.
    """
    if found is None:
        return [
            DeviceChoice("auto", "auto (looking for devices...)", "CUDA, else Apple MPS, else the CPU"),
            DeviceChoice("cpu", "cpu", "The computer's processor"),
        ]
    auto_tip = "CUDA, else Apple MPS, else the CPU" + (f". {found.problem}" if found.problem else "")
    choices = [
        DeviceChoice("auto", f"auto: {resolved_auto(found)}", auto_tip),
        DeviceChoice("cpu", "cpu", "The computer's processor"),
    ]
    if found.cuda:
        others = f" (GPU 0 of {len(found.cuda)})" if len(found.cuda) > 1 else ""
        first = found.cuda[0]
        choices.append(DeviceChoice("cuda", f"cuda: {first.describe()}{others}", "NVIDIA GPU through CUDA"))
    if found.mps:
        choices.append(DeviceChoice("mps", "mps: Apple GPU", "Apple's Metal Performance Shaders"))
    return choices


class DeviceProbe:
    """``find_devices`` run in a child process with the given Python; :meth:`poll` until it has an answer."""

    def __init__(self, python: str, timeout_s: float = PROBE_TIMEOUT_S) -> None:
        self._started = time.monotonic()
        self._timeout_s = timeout_s
        self._process = subprocess.Popen(
            [python, "-m", PROBE_MODULE], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=child_environment(),
        )  # fmt: skip
        self.found: FoundDevices | None = None

    def poll(self) -> FoundDevices | None:
        """The devices once the child is done (its problem when it failed or ran too long), else ``None``."""
        if self.found is not None:
            return self.found
        if self._process.poll() is None:
            if time.monotonic() - self._started < self._timeout_s:
                return None
            self._process.kill()
            self._process.communicate()
            self.found = FoundDevices(problem=f"Looking for devices took more than {self._timeout_s:.0f} s.")
            return self.found
        out, err = self._process.communicate()
        self.found = _parse_probe(self._process.returncode, out, err)
        return self.found

    def wait(self) -> FoundDevices:
        """Block until :meth:`poll` has an answer (batch mode, tests)."""
        while (found := self.poll()) is None:
            time.sleep(0.05)
        return found


def _parse_probe(returncode: int, out: str, err: str) -> FoundDevices:
    lines = [line for line in out.splitlines() if line.strip()]
    if returncode == 0 and lines:
        try:
            return FoundDevices.from_json(lines[-1])
        except (ValueError, KeyError, TypeError) as error:
            return FoundDevices(problem=f"Could not read the device list ({error}).")
    reason = (err.strip().splitlines() or [f"exit code {returncode}"])[-1]
    return FoundDevices(problem=f"Could not look for devices: {reason}")


def main() -> int:
    """Print what torch finds here as one JSON line (no torch: the CPU only, and why)."""
    try:
        import torch
    except ImportError as error:
        print(FoundDevices(problem=f"torch is not installed ({error}).").to_json())
        return 0
    print(find_devices(torch).to_json())
    return 0


if __name__ == "__main__":
    sys.exit(main())
