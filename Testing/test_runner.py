"""The background prediction process: JSON-lines events, blocking wait, failures, cancel of the process tree."""

from __future__ import annotations

import os
import sys
import textwrap
import time
from pathlib import Path

import pytest
from PancreasMultiTaskLib.slicer.runner import PredictionProcess, child_environment, predict_command

FAKE_CLI = textwrap.dedent(
    """
    import json, subprocess, sys, time
    mode, pid_file = sys.argv[1], sys.argv[2]
    def emit(**event):
        print(json.dumps(event), flush=True)
    emit(event="start", cases=2)
    print("a plain log line", flush=True)
    def stages(case, first):  # the real CLI's stages, each 0..1, with its overall fraction over 2 cases
        for stage, low, high in (("preprocess", 0.0, 0.1), ("predict", 0.1, 0.9), ("export", 0.9, 1.0)):
            for fraction in (0.0, 0.5, 1.0):
                overall = round((first + low + (high - low) * fraction) / 2, 4)
                emit(event="progress", case=case, stage=stage, fraction=fraction, overall=overall)
    stages("a", 0)
    emit(event="case_done", case="a", result="/out/a/result.json", overall=0.5)
    if mode == "fail":
        emit(event="error", case="b", message="b.nii.gz: cannot read image")
        emit(event="done", ok=1, failed=1)
        print("error: 1 of 2 cases failed", file=sys.stderr)
        sys.exit(1)
    if mode == "slow":
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        open(pid_file, "w").write(str(child.pid))
        time.sleep(120)
    stages("b", 1)
    emit(event="case_done", case="b", result="/out/b/result.json", overall=1.0)
    emit(event="done", ok=2, failed=0)
    """
)


@pytest.fixture
def fake_cli(tmp_path: Path) -> Path:
    path = tmp_path / "fake_cli.py"
    path.write_text(FAKE_CLI)
    return path


def alive(pid: int) -> bool:
    """A process exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def test_events_reach_callbacks_in_order(fake_cli: Path, tmp_path: Path) -> None:
    events, logs, bar = [], [], []
    process = PredictionProcess(
        [sys.executable, str(fake_cli), "ok", str(tmp_path / "pid")],
        on_event=lambda e: (events.append(e), bar.append(process.fraction)),
        on_log=logs.append,
    )
    outcome = process.wait(timeout=60)
    assert outcome.ok and outcome.returncode == 0
    per_case = ["progress"] * 9 + ["case_done"]
    assert [e["event"] for e in events] == ["start", *per_case, *per_case, "done"]
    assert [e["stage"] for e in events if e.get("case") == "b" and e["event"] == "progress"][::3] == [
        "preprocess",
        "predict",
        "export",
    ]
    assert bar == sorted(bar) and bar[-1] == pytest.approx(1.0)  # stages restart at 0; the bar does not
    assert outcome.results == {"a": Path("/out/a/result.json"), "b": Path("/out/b/result.json")}
    assert "a plain log line" in logs
    assert process.fraction == pytest.approx(1.0)


def test_failure_gives_reason_and_keeps_finished_cases(fake_cli: Path, tmp_path: Path) -> None:
    process = PredictionProcess([sys.executable, str(fake_cli), "fail", str(tmp_path / "pid")])
    outcome = process.wait(timeout=60)
    assert not outcome.ok and outcome.returncode == 1
    assert outcome.results == {"a": Path("/out/a/result.json")}
    assert outcome.errors == {"b": "b.nii.gz: cannot read image"}
    assert "cannot read image" in outcome.reason()
    assert "1 of 2 cases failed" in outcome.stderr


def test_exit_code_without_events_gives_last_stderr_line() -> None:
    code = "import sys; print('Traceback...', file=sys.stderr); print('error: no model', file=sys.stderr); sys.exit(2)"
    outcome = PredictionProcess([sys.executable, "-c", code]).wait(timeout=60)
    assert outcome.returncode == 2 and outcome.reason() == "error: no model"


def test_error_of_no_case_gives_its_message() -> None:
    code = (
        "import json, sys; print(json.dumps({'event': 'error', 'case': None, 'message': 'model folder not found'}));"
        " sys.exit(2)"
    )
    outcome = PredictionProcess([sys.executable, "-c", code]).wait(timeout=60)
    assert outcome.returncode == 2 and outcome.reason() == "model folder not found"


def test_missing_executable_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="cannot start"):
        PredictionProcess([str(tmp_path / "no-such-python")]).start()


@pytest.mark.skipif(os.name == "nt", reason="process liveness read from /proc")
def test_cancel_kills_the_process_tree(fake_cli: Path, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    events = []
    process = PredictionProcess([sys.executable, str(fake_cli), "slow", str(pid_file)], on_event=events.append)
    process.start()
    deadline = time.monotonic() + 60
    while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
        process.poll()
        time.sleep(0.05)
    grandchild = int(pid_file.read_text())
    assert process.running and alive(grandchild)
    started = time.monotonic()
    process.cancel()
    assert time.monotonic() - started < 20
    deadline = time.monotonic() + 10
    while alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not process.running
    assert not alive(grandchild)
    outcome = process.outcome()
    assert outcome.cancelled and not outcome.ok and outcome.reason() == "Cancelled."


def test_predict_command_arguments(tmp_path: Path) -> None:
    options = {
        "model": "/models/m",
        "folds": ["0", "2"],
        "use_mirroring": False,
        "device": "cpu",
        "roi": [-10, -20, 30, 10, 20, 60.5],
        "pooling": "uniform",
        "save_probabilities": True,
    }
    command = predict_command([tmp_path / "ct.nrrd"], tmp_path / "out", options, python="/x/PythonSlicer")
    assert command[:7] == [
        "/x/PythonSlicer",
        "-P",
        "-m",
        "PancreasMultiTaskLib.cli",
        "predict",
        "-o",
        str(tmp_path / "out"),
    ]
    assert command[-2:] == ["--", str(tmp_path / "ct.nrrd")]
    rest = command[7:-2]
    assert "--model=/models/m" in rest
    assert rest[rest.index("--folds") + 1 : rest.index("--folds") + 3] == ["0", "2"]
    assert "--no-tta" in rest and "--save-probabilities" in rest
    assert "--roi=-10.0,-20.0,30.0,10.0,20.0,60.5" in rest
    assert rest[-2:] == ["--progress", "json"]
    assert "--no-tta" not in predict_command(["a"], "o", {"use_mirroring": True})
    assert predict_command(["a"], "o", {"device": "auto", "pooling": "lesion-weighted"})[7:-2] == ["--progress", "json"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"device": "tpu"}, "device"),
        ({"pooling": "max"}, "pooling"),
        ({"precision": "float8"}, "precision"),
        ({"output": "x"}, "output"),
    ],
)
def test_bad_options_are_refused(options: dict, message: str) -> None:
    with pytest.raises((ValueError, KeyError), match=message):
        predict_command(["a"], "o", options)


def test_child_environment_makes_the_library_importable() -> None:
    env = child_environment({"EXTRA": "1"})
    assert env["EXTRA"] == "1" and env["PYTHONUNBUFFERED"] == "1"
    lib_parent = Path(__file__).resolve().parents[1] / "PancreasMultiTask"
    assert str(lib_parent) == env["PYTHONPATH"].split(os.pathsep)[0]


@pytest.mark.slow
def test_real_cli_events(tmp_path: Path) -> None:
    """The real ``pancreas-mt predict`` through the runner: its JSON lines parse into the expected events."""
    import SimpleITK as sitk
    from model_factory import ct_volume, make_tiny_multitask_model

    model = make_tiny_multitask_model(tmp_path / "models", folds=(0,))
    image, _ = ct_volume()
    good = tmp_path / "good.nrrd"
    sitk.WriteImage(image, str(good))
    bad = tmp_path / "bad.nii.gz"
    bad.write_bytes(b"not an image")
    events: list[dict] = []
    options = {"model": str(model), "use_mirroring": False, "device": "cpu"}
    process = PredictionProcess(predict_command([good, bad], tmp_path / "out", options), on_event=events.append)
    outcome = process.wait(timeout=900)
    kinds = [e["event"] for e in events]
    assert set(outcome.results) == {"good"}, (events, outcome.stderr[-3000:])
    assert kinds[0] == "start" and kinds[-1] == "done" and "progress" in kinds
    assert set(outcome.results) == {"good"} and outcome.results["good"].is_file()
    assert "bad" in outcome.errors and outcome.returncode != 0
