"""Inputs read in a child process: a reader that crashes on a stranger's file fails one case, never the batch.

The decision. ``file_checks`` and ``dicom`` refuse what is known to mislead or crash ITK before it
sees a file (MetaIO's file-pattern form is a segmentation fault), but ITK's and GDCM's parsers are
large C++ code reading strangers' bytes, and no check proves them safe. So every read runs in a
fresh Python process (``python -m PancreasMultiTaskLib.engine.isolation PATH [SERIES]``), which
checks and reads the input as ``io.read_case_here`` does and answers on its stdout with one JSON
line (the refusal, or the volume's shape, type and geometry and what was read) and then the voxels.
A crash, a kill (out of memory), no answer within ``READ_TIMEOUT_S`` or a garbled answer becomes an
``InputError`` naming the input. Only numbers and strings come back; nothing is unpickled. The cost
is a Python start (about 0.4 s) and one copy of the volume through a pipe, per case.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import asdict
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np
import SimpleITK as sitk

from .file_checks import MAX_VOXELS

if TYPE_CHECKING:
    from .io import ImageSource

#: Longest a read may take (a 2 GiB ``.nii.gz`` is checked and read in well under a minute).
READ_TIMEOUT_S = 600
#: Voxel types a volume may come back in: what ITK's readers give for a scalar CT.
VOXEL_TYPES = ("uint8", "int8", "uint16", "int16", "uint32", "int32", "uint64", "int64", "float32", "float64")
_ANSWER_LIMIT = 1 << 20
_PACKAGE_ROOT = Path(__file__).resolve().parents[2]


def read_isolated(path: str | Path, series: str | None = None) -> tuple[sitk.Image, ImageSource]:
    """``io.read_case_here(path, series)`` run in a child process; whatever goes wrong there is an ``InputError``."""
    from .io import ImageSource, InputError  # here: io imports this module

    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(
            _child_command(path, series), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors, env=_env()
        )
        expired = threading.Event()
        timer = threading.Timer(READ_TIMEOUT_S, lambda: (expired.set(), process.kill()))
        timer.start()
        try:
            answer = _receive(process.stdout)
        finally:
            timer.cancel()
            code = _finish(process)
        errors.seek(0)
        last = ([line for line in errors.read().decode("utf-8", "replace").splitlines() if line.strip()] or [""])[-1]
    if answer is not None and "error" in answer:
        raise InputError(str(answer["error"]))
    if answer is not None and isinstance(answer.get("source"), dict):
        try:
            return answer["image"], ImageSource(**answer["source"])
        except (KeyError, TypeError):
            pass
    raise InputError(f"{path}: {_failure(code, expired.is_set(), last)}")


def _child_command(path: str | Path, series: str | None) -> list[str]:
    """The command of the reading child."""
    return [sys.executable, "-m", __name__, str(path), *([series] if series is not None else [])]


def _env() -> dict[str, str]:
    """The child's environment: this one, with this package importable however it was found here."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_PACKAGE_ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def _finish(process: subprocess.Popen) -> int:
    """The child's exit code, killing it if it lingers after its answer (or after a garbled one)."""
    process.stdout.close()
    try:
        return process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


def _failure(code: int, expired: bool, last: str) -> str:
    """Why the child gave no usable answer, in words."""
    if expired:
        return f"reading took longer than {READ_TIMEOUT_S} s; refusing it"
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.valid_signals() else f"signal {-code}"
        hint = ", perhaps out of memory" if -code == getattr(signal, "SIGKILL", 9) else ""
        return f"the image reader crashed on it ({name}{hint}); refusing it (other inputs are not affected)"
    return f"the image reader stopped without an answer (exit code {code}{': ' + last[:200] if last else ''})"


def _receive(stream: IO[bytes]) -> dict[str, Any] | None:
    """The child's answer: a dict with ``error``, or with ``image`` (a SimpleITK image) and ``source``; else None."""
    try:
        answer = json.loads(stream.readline(_ANSWER_LIMIT))
        if isinstance(answer, dict) and isinstance(answer.get("image"), dict):
            answer["image"] = _receive_image(stream, answer["image"])
    except (ValueError, TypeError, KeyError):
        return None
    if not isinstance(answer, dict) or answer.get("image", True) is None:
        return None
    return answer


def _receive_image(stream: IO[bytes], meta: dict[str, Any]) -> sitk.Image | None:
    """The volume the child sends after its answer line, checked against the bounds before any allocation."""
    shape = tuple(int(n) for n in meta["shape"])
    if meta["dtype"] not in VOXEL_TYPES or len(shape) != 3 or min(shape) < 1 or math.prod(shape) > MAX_VOXELS:
        return None
    array = np.empty(shape, np.dtype(meta["dtype"]))
    view, got = memoryview(array).cast("B"), 0
    while got < len(view):
        n = stream.readinto(view[got:])
        if not n:
            return None
        got += n
    image = sitk.GetImageFromArray(array)
    image.SetSpacing([float(v) for v in meta["spacing"]])
    image.SetOrigin([float(v) for v in meta["origin"]])
    image.SetDirection([float(v) for v in meta["direction"]])
    return image


# --------------------------------------------------------------------------------------------------
def serve(argv: list[str]) -> int:
    """The child's side: read ``argv[0]`` (DICOM series ``argv[1]``) and answer on stdout."""
    from .io import InputError, read_case_here

    answer = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # whatever ITK or GDCM print goes to stderr, never into the answer
    path, series = argv[0], argv[1] if len(argv) > 1 else None
    try:
        image, source = read_case_here(path, series)
    except InputError as error:
        return _send(answer, {"error": str(error)})
    except MemoryError:
        return _send(answer, {"error": f"{path}: out of memory reading it"})
    except Exception as error:  # an unexpected failure is this input's refusal, in one line
        reason = (str(error).splitlines() or [""])[0][:200]
        return _send(answer, {"error": f"{path}: cannot read image ({type(error).__name__}: {reason})"})
    array = sitk.GetArrayViewFromImage(image)
    meta = {"shape": list(array.shape), "dtype": array.dtype.name, "spacing": list(image.GetSpacing())}
    meta.update(origin=list(image.GetOrigin()), direction=list(image.GetDirection()))
    return _send(answer, {"image": meta, "source": asdict(source)}, np.ascontiguousarray(array))


def _send(stream: IO[bytes], answer: dict[str, Any], array: np.ndarray | None = None) -> int:
    stream.write(json.dumps(answer).encode("utf-8") + b"\n")
    if array is not None:
        stream.write(memoryview(array).cast("B"))
    stream.flush()
    return 0


if __name__ == "__main__":
    sys.exit(serve(sys.argv[1:]))
