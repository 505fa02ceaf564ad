"""The batch script (``PancreasMultiTask/Scripts/batch_predict.py``): several cases, a bad file, exit code, outputs."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from model_factory import ct_volume
from PancreasMultiTaskLib.slicer.logic import DEMO_SAMPLE_MIN_DICE
from test_scene import oblique_direction
from test_slicer_module import FAKE_CLI

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "PancreasMultiTask" / "Scripts" / "batch_predict.py"


def write_cases(folder: Path, shape_zyx: tuple[int, int, int] = (6, 40, 48)) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, name in enumerate(("caseA", "caseB")):
        image, _ = ct_volume(shape_zyx=shape_zyx, direction=oblique_direction(), seed=index)
        path = folder / f"{name}.nrrd"
        sitk.WriteImage(image, str(path))
        paths.append(path)
    bad = folder / "broken.nii.gz"
    bad.write_bytes(b"this is not an image")
    return [*paths, bad]


def run_batch(args: list[str], extra_path: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if extra_path is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(extra_path), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--", *args], capture_output=True, text=True, env=env, timeout=timeout
    )


def test_batch_two_cases_and_a_bad_file(tmp_path: Path) -> None:
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "fake_pmt_cli.py").write_text(FAKE_CLI)
    a, b, bad = write_cases(tmp_path / "in")
    out = tmp_path / "out"
    done = run_batch(
        [
            "--input",
            str(a),
            str(bad),
            str(b),
            "--output",
            str(out),
            "--device",
            "cpu",
            "--save-scene",
            "--cli-module",
            "fake_pmt_cli",
        ],
        extra_path=fake,
    )
    assert done.returncode == 1, done.stderr
    assert "broken" in done.stderr and "cannot read image" in done.stderr
    for case in ("caseA", "caseB"):
        folder = out / case
        assert (folder / "result.json").is_file() and (folder / "segmentation.nii.gz").is_file()
        seg = folder / "segmentation.seg.nrrd"
        assert seg.is_file()
        header = sitk.ReadImage(str(seg))
        names = {header.GetMetaData(k) for k in header.GetMetaDataKeys() if k.endswith("_Name")}
        assert names == {"Pancreas", "Lesion"}
        tags = [header.GetMetaData(k) for k in header.GetMetaDataKeys() if k.endswith("_Tags")]
        assert any("TerminologyEntry:" in t and "SCT^15776009^Pancreas" in t for t in tags)
        assert (folder / "scene.mrb").is_file()
    with open(out / "summary.csv", encoding="utf-8") as handle:
        rows = {r["case_id"]: r for r in csv.DictReader(handle)}
    assert rows["caseA"]["status"] == "ok" and rows["caseA"]["subtype"] == "solid"
    assert rows["broken"]["status"] == "failed" and "cannot read image" in rows["broken"]["message"]


def test_batch_all_good_exits_zero(tmp_path: Path) -> None:
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "fake_pmt_cli.py").write_text(FAKE_CLI)
    a, _, _ = write_cases(tmp_path / "in")
    done = run_batch(["--input", str(a), "--output", str(tmp_path / "out"), "--cli-module", "fake_pmt_cli"], fake)
    assert done.returncode == 0, done.stderr
    assert "1 case(s) done, 0 failed" in done.stdout


def test_batch_usage_error(tmp_path: Path) -> None:
    done = run_batch(["--output", str(tmp_path)])
    assert done.returncode == 2 and "--input" in done.stderr


@pytest.mark.slow
def test_batch_with_the_real_engine(tmp_path: Path) -> None:
    from model_factory import make_tiny_multitask_model

    model = make_tiny_multitask_model(tmp_path / "models", folds=(0,))
    a, b, bad = write_cases(tmp_path / "in", shape_zyx=(8, 56, 72))
    out = tmp_path / "out"
    done = run_batch(
        [
            "--input",
            str(a),
            str(bad),
            str(b),
            "--output",
            str(out),
            "--model",
            str(model),
            "--device",
            "cpu",
            "--folds",
            "0",
            "--no-tta",
        ],
        timeout=900,
    )
    assert done.returncode != 0
    assert "broken" in done.stderr
    for case in ("caseA", "caseB"):
        assert (out / case / "result.json").is_file()
        assert (out / case / "segmentation.seg.nrrd").is_file()
    assert (out / "summary.csv").is_file()


@pytest.mark.slow
def test_batch_sample_case_with_the_demo_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the Slicer ctest runs: the bundled sample case, the CLI's default (demo) model, on CPU."""
    import json

    monkeypatch.setenv("PANCREAS_MT_HOME", str(tmp_path / "home"))
    sample = json.loads((REPO / "Resources" / "SampleData" / "sample.json").read_text())
    image = REPO / "Resources" / "SampleData" / sample["image"]
    out = tmp_path / "out"
    done = run_batch(["--input", str(image), "--output", str(out), "--device", "cpu"], timeout=900)
    assert done.returncode == 0, done.stderr
    folder = out / sample["case_id"]
    assert (folder / "segmentation.seg.nrrd").is_file() and (folder / "result.json").is_file()
    with open(out / "summary.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["case_id"] for r in rows] == [sample["case_id"]]
    assert rows[0]["subtype"] == sample["subtype_name"]
    predicted = sitk.GetArrayFromImage(sitk.ReadImage(str(folder / "segmentation.nii.gz")))
    truth = sitk.GetArrayFromImage(sitk.ReadImage(str(REPO / "Resources" / "SampleData" / sample["truth"])))
    for name, labels in (("Pancreas", (1, 2)), ("Lesion", (2,))):
        a, b = np.isin(predicted, labels), np.isin(truth, labels)
        dice = 2 * float((a & b).sum()) / float(a.sum() + b.sum())
        assert dice >= DEMO_SAMPLE_MIN_DICE[name], f"Dice of {name} is {dice:.3f}"


def test_batch_exits_1_on_an_unexpected_error(tmp_path: Path) -> None:
    """An uncaught exception (here: the output is a file) ends the script with code 1 and one last line, so that
    ``Slicer --no-main-window`` does not stay open."""
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "fake_pmt_cli.py").write_text(FAKE_CLI)
    a, _, _ = write_cases(tmp_path / "in")
    output = tmp_path / "output-is-a-file"
    output.write_text("")
    done = run_batch(["--input", str(a), "--output", str(output), "--cli-module", "fake_pmt_cli"], fake)
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("error: ")


def test_batch_exit_in_slicer_calls_slicer_exit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Inside Slicer the script leaves through ``slicer.util.exit(code)`` (the application is a stand-in here)."""
    import runpy

    import slicer
    import slicer_stubs

    slicer_stubs.install(monkeypatch, tmp_path / "app")
    exits: list[int] = []
    monkeypatch.setattr(slicer.util, "exit", exits.append)
    monkeypatch.setattr(sys, "argv", [str(SCRIPT), "--", "--input", str(tmp_path / "none.nrrd")])  # no --output
    runpy.run_path(str(SCRIPT), run_name="__main__")
    assert exits == [2]


def test_batch_runs_a_model_from_the_shared_store_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A model added through the module's logic (the GUI's store) is usable by name in batch mode."""
    from PancreasMultiTaskLib.slicer.logic import PredictionLogic
    from test_slicer_module import model_folder

    monkeypatch.setenv("PANCREAS_MT_HOME", str(tmp_path / "store"))
    PredictionLogic().addModel(model_folder(tmp_path / "trained", "MyModel"))
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "fake_pmt_cli.py").write_text(FAKE_CLI)
    a, _, _ = write_cases(tmp_path / "in")
    out = tmp_path / "out"
    done = run_batch(
        ["--input", str(a), "--output", str(out), "--model", "MyModel", "--cli-module", "fake_pmt_cli"], fake
    )
    assert done.returncode == 0, done.stderr
    assert str(tmp_path / "trained" / "MyModel") in (out / "args.json").read_text()
    done = run_batch(["--input", str(a), "--output", str(out), "--model", "NoSuchModel"], fake)
    assert done.returncode == 2 and "No installed model named 'NoSuchModel'" in done.stderr
