"""The ``pancreas-mt predict`` CLI in a background process: JSON-lines progress, cancel, blocking wait.

No Qt: a GUI polls :meth:`PredictionProcess.poll` from a timer, so callbacks run in the GUI's thread;
batch code calls :meth:`PredictionProcess.wait`. Cancel ends the whole process tree (the CLI and any
worker processes it started).
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..engine.options import to_argv

LIB_PARENT = Path(__file__).resolve().parents[2]

EventCallback = Callable[[dict[str, Any]], None]
LogCallback = Callable[[str], None]


CLI_MODULE = "PancreasMultiTaskLib.cli"
RUN_ERROR = "(run)"  # key in ``RunOutcome.errors`` of an error that belongs to no case


def predict_command(
    inputs: Sequence[str | Path],
    output_dir: str | Path,
    options: Mapping[str, Any],
    python: str | None = None,
    module: str = CLI_MODULE,
) -> list[str]:
    """The full command line that runs the CLI ``module`` with ``python`` (default: this interpreter).

    ``options`` are option values by name (``engine/options.py``); those equal to their default are left
    to the CLI. Paths are made absolute, as the process runs from a safe working directory of its own.
    """
    if not inputs:
        raise ValueError("no input given")
    return [
        python or sys.executable,
        "-P",  # the working directory is not put on sys.path: an argparse.py there cannot run
        "-m",
        module,
        "predict",
        "-o",
        os.path.abspath(output_dir),
        *to_argv(options),
        "--progress",
        "json",
        "--",  # inputs are absolute, and after "--" none is taken for an option
        *[os.path.abspath(p) for p in inputs],
    ]


def child_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for the CLI process: unbuffered output, this package importable, ``extra`` on top."""
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONSAFEPATH"] = "1"  # as -P, for interpreters that start the CLI otherwise
    env["PYTHONIOENCODING"] = "utf-8"
    paths = [str(LIB_PARENT), *[p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    env.update(extra or {})
    return env


@dataclass
class RunOutcome:
    """How a run ended: exit code, cancel flag, finished cases and errors reported by the CLI."""

    returncode: int | None
    cancelled: bool
    results: dict[str, Path] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    stderr: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.cancelled and not self.errors

    def reason(self) -> str:
        """One line saying why the run failed ('' when it did not)."""
        if self.cancelled:
            return "Cancelled."
        if self.errors:
            return "; ".join(
                message if case == RUN_ERROR else f"{case}: {message}" for case, message in self.errors.items()
            )
        if self.returncode not in (0, None):
            lines = [line for line in self.stderr.strip().splitlines() if line.strip()]
            return lines[-1] if lines else f"the prediction process exited with code {self.returncode}"
        return ""


class PredictionProcess:
    """One run of the CLI in a child process, reporting its JSON-lines events to callbacks."""

    def __init__(
        self,
        command: Sequence[str],
        on_event: EventCallback | None = None,
        on_log: LogCallback | None = None,
        env: dict[str, str] | None = None,
        cwd: str | Path | None = None,
    ) -> None:
        self.command = [str(c) for c in command]
        self.on_event = on_event
        self.on_log = on_log
        self.env = env if env is not None else child_environment()
        self.cwd = str(cwd) if cwd is not None else str(LIB_PARENT)  # a folder of ours, not the user's
        self._process: subprocess.Popen[str] | None = None
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._stderr: deque[str] = deque(maxlen=200)
        self._threads: list[threading.Thread] = []
        self._cancelled = False
        self._results: dict[str, Path] = {}
        self._errors: dict[str, str] = {}
        self._fraction = 0.0
        self._cases = 1

    def start(self) -> None:
        """Start the process; returns at once."""
        if self._process is not None:
            raise RuntimeError("this process was already started")
        kwargs: dict[str, Any] = {}
        if os.name == "nt":
            kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP | getattr(subprocess, "CREATE_NO_WINDOW", 0)
        else:
            kwargs["start_new_session"] = True
        try:
            self._process = subprocess.Popen(
                self.command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                encoding="utf-8",
                errors="replace",
                bufsize=1,
                env=self.env,
                cwd=self.cwd,
                **kwargs,
            )
        except OSError as error:
            raise RuntimeError(f"cannot start {self.command[0]}: {error.strerror or error}") from error
        self._threads = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _read_stdout(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        for line in self._process.stdout:
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                event = None
            if isinstance(event, dict) and "event" in event:
                self._queue.put(("event", event))
            else:
                self._queue.put(("log", line))

    def _read_stderr(self) -> None:
        assert self._process is not None and self._process.stderr is not None
        for line in self._process.stderr:
            line = line.rstrip("\r\n")
            self._stderr.append(line)
            self._queue.put(("log", line))

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def fraction(self) -> float:
        """Overall progress 0..1 across cases, from the last progress event."""
        return self._fraction

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def poll(self) -> bool:
        """Deliver queued events and log lines to the callbacks; ``True`` while the process is still running."""
        running = self.running
        if not running:
            for thread in self._threads:
                thread.join(timeout=5)
        while True:
            try:
                kind, payload = self._queue.get_nowait()
            except queue.Empty:
                break
            if kind == "event":
                self._handle_event(payload)
            elif self.on_log is not None:
                self.on_log(payload)
        return running

    def _handle_event(self, event: dict[str, Any]) -> None:
        name = event.get("event")
        if name == "start":
            self._cases = max(int(event.get("cases", 1)), 1)
        elif name == "case_done" and event.get("result"):
            self._results[str(event.get("case"))] = Path(event["result"])
        elif name == "error":
            case = event.get("case")
            self._errors[str(case) if case else RUN_ERROR] = str(event.get("message", "failed"))
        elif name == "progress":
            done = len(self._results) + len(self._errors)
            fraction = event.get("overall", (done + float(event.get("fraction", 0.0))) / self._cases)
            self._fraction = min(1.0, float(fraction))
        if self.on_event is not None:
            self.on_event(event)

    def cancel(self, grace_s: float = 3.0) -> None:
        """End the process and all its children; returns once they are gone."""
        self._cancelled = True
        process = self._process
        if process is None or process.poll() is not None:
            return
        if os.name == "nt":
            subprocess.run(
                ["taskkill", "/F", "/T", "/PID", str(process.pid)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=False,
            )
        else:
            _signal_group(process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=grace_s)
            _signal_group(process.pid, signal.SIGKILL)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def wait(self, timeout: float | None = None, interval: float = 0.05) -> RunOutcome:
        """Block until the process ends (delivering events meanwhile); cancel it after ``timeout`` seconds."""
        if self._process is None:
            self.start()
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll():
            if deadline is not None and time.monotonic() > deadline:
                self.cancel()
                break
            time.sleep(interval)
        self.poll()
        return self.outcome()

    def outcome(self) -> RunOutcome:
        """The run's outcome so far (``returncode`` is ``None`` while it runs)."""
        return RunOutcome(
            returncode=self._process.poll() if self._process is not None else None,
            cancelled=self._cancelled,
            results=dict(self._results),
            errors=dict(self._errors),
            stderr="\n".join(self._stderr),
        )


def _signal_group(pid: int, sig: int) -> None:
    """Signal the process group the child leads (its group ID is its PID: it started a new session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
