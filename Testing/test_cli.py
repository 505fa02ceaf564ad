"""``pancreas-mt predict``: files, DICOM series, folders, summary.csv, JSON progress, sharding."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from model_factory import ct_volume
from PancreasMultiTaskLib.cli.main import main
from PancreasMultiTaskLib.engine.result import CaseResult


@pytest.fixture(scope="module")
def cases(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("cases")
    for i, ext in enumerate(("nii.gz", "nrrd")):
        image, _ = ct_volume(seed=20 + i)
        sitk.WriteImage(image, str(folder / f"patient{i}_0000.{ext}"))
    return folder


def write_dicom_series(image: sitk.Image, folder: Path) -> None:
    folder.mkdir(parents=True)
    image = sitk.Cast(image, sitk.sitkInt16)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for z in range(image.GetDepth()):
        plane = image[:, :, z]
        for key, value in {
            "0008|0060": "CT",
            "0020|000d": "1.2.826.0.1.3680043.2.1125.1",
            "0020|000e": "1.2.826.0.1.3680043.2.1125.2",
            "0020|0013": str(z + 1),
            "0020|0032": "\\".join(map(str, image.TransformIndexToPhysicalPoint((0, 0, z)))),
            "0020|0037": "1\\0\\0\\0\\1\\0",
            "0028|0030": f"{image.GetSpacing()[1]}\\{image.GetSpacing()[0]}",
            "0018|0050": str(image.GetSpacing()[2]),
        }.items():
            plane.SetMetaData(key, value)
        writer.SetFileName(str(folder / f"slice{z:03d}.dcm"))
        writer.Execute(plane)


def test_folder_of_cases_gives_results_and_summary(multitask_model, cases, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(
        [
            "predict",
            "-i",
            str(cases),
            "-o",
            str(out),
            "-m",
            str(multitask_model),
            "--device",
            "cpu",
            "--progress",
            "none",
            "--save-probabilities",
            "--pooling",
            "uniform",
        ]
    )
    assert code == 0, capsys.readouterr().err
    for i, ext in enumerate(("nii.gz", "nrrd")):
        case = out / f"patient{i}"
        result = CaseResult.read_json(case / "result.json")
        image = sitk.ReadImage(str(cases / f"patient{i}_0000.{ext}"))
        seg = sitk.ReadImage(str(case / result.segmentation_file))
        assert seg.GetSize() == image.GetSize() and seg.GetOrigin() == pytest.approx(image.GetOrigin())
        probability = sitk.ReadImage(str(case / result.probabilities_file))
        assert (
            0.0 <= sitk.GetArrayViewFromImage(probability).min() <= sitk.GetArrayViewFromImage(probability).max() <= 1
        )
        assert result.subtype.pooling_used == "uniform"
        assert sum(result.subtype.probabilities.values()) == pytest.approx(1.0)
        assert set(result.subtype.fold_probabilities) == {"0", "1"}
        assert result.provenance.tta and result.provenance.folds == ["0", "1"]
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert [r["case_id"] for r in rows] == ["patient0", "patient1"]
    assert all(r["status"] == "ok" and r["subtype"] for r in rows)
    assert not list(out.rglob("*.partial*"))
    umask = os.umask(0)
    os.umask(umask)
    assert (out / "patient0" / "result.json").stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600


def test_dicom_series_folder_is_one_case(multitask_model, tmp_path, capsys):
    image, _ = ct_volume(seed=30)
    write_dicom_series(image, tmp_path / "series")
    out = tmp_path / "out"
    code = main(
        [
            "predict",
            "-i",
            str(tmp_path / "series"),
            "-o",
            str(out),
            "-m",
            str(multitask_model),
            "--device",
            "cpu",
            "--no-tta",
            "--progress",
            "none",
        ]
    )
    assert code == 0, capsys.readouterr().err
    seg = sitk.ReadImage(str(out / "series" / "segmentation.nii.gz"))
    assert seg.GetSize() == image.GetSize()
    np.testing.assert_allclose(seg.GetOrigin(), image.GetOrigin(), atol=1e-3)
    assert not (out / "summary.csv").exists()


def test_sharding_splits_the_case_list(multitask_model, cases, tmp_path, capsys):
    out = tmp_path / "out"
    args = [
        "predict",
        "-i",
        str(cases),
        "-o",
        str(out),
        "-m",
        str(multitask_model),
        "--device",
        "cpu",
        "--no-tta",
        "--progress",
        "none",
        "--num-parts",
        "2",
    ]
    assert main([*args, "--part-id", "1"]) == 0
    assert not (out / "patient0").exists() and (out / "patient1" / "result.json").exists()
    assert main([*args, "--part-id", "0"]) == 0
    assert (out / "patient0" / "result.json").exists()


def test_json_progress_in_a_real_process_and_failure_exit_code(multitask_model, cases, tmp_path):
    bad = tmp_path / "broken.nii.gz"
    bad.write_bytes(b"garbage")
    out = tmp_path / "out"
    process = subprocess.run(
        [
            sys.executable,
            "-m",
            "PancreasMultiTaskLib.cli",
            "predict",
            "-i",
            str(cases / "patient0_0000.nii.gz"),
            str(bad),
            "-o",
            str(out),
            "-m",
            str(multitask_model),
            "--device",
            "cpu",
            "--no-tta",
            "--progress",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert process.returncode == 1
    events = [json.loads(line) for line in process.stdout.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done" and "progress" in kinds
    fractions = [e["fraction"] for e in events if e["event"] == "progress" and e["stage"] == "predict"]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any(e["event"] == "case_done" and e["case"] == "patient0" for e in events)
    error = next(e for e in events if e["event"] == "error")
    assert error["case"] == "broken" and "cannot read" in error["message"]
    assert events[-1]["ok"] == 1 and events[-1]["failed"] == 1
    rows = {r["case_id"]: r for r in csv.DictReader((out / "summary.csv").open())}
    assert rows["broken"]["status"] == "failed" and rows["patient0"]["status"] == "ok"


def test_result_json_round_trip_and_version_check(multitask_model, cases, tmp_path):
    assert (
        main(
            [
                "predict",
                "-i",
                str(cases / "patient0_0000.nii.gz"),
                "-o",
                str(tmp_path),
                "-m",
                str(multitask_model),
                "--device",
                "cpu",
                "--no-tta",
                "--progress",
                "none",
            ]
        )
        == 0
    )
    path = tmp_path / "patient0" / "result.json"
    result = CaseResult.read_json(path)
    assert CaseResult.from_dict(result.to_dict()) == result
    data = json.loads(path.read_text())
    assert data["schema_version"] == "1.6" and data["assessment"]["status"] == "answered-with-warnings"
    assert "the model has no competence record" in data["assessment"]["reasons"][-1]
    assert "image familiarity" in data["assessment"]["reasons"][-1]  # said, not silently skipped
    assert data["assessment"]["feature_distance"] is None and data["assessment"]["feature_limit"] is None
    assert data["provenance"]["precision"] == "float32"  # auto, and the model has no passed bfloat16 check
    older = {k: v for k, v in data.items() if k != "assessment"} | {"schema_version": "1.1"}
    assert CaseResult.from_dict(older).assessment.status == "answered"  # files of 1.1 read as they were
    weights = [s["weight"] for s in data["subtype"]["slices"]]
    assert sum(weights) == pytest.approx(1.0)
    data["schema_version"] = "9.0"
    with pytest.raises(ValueError, match="schema_version"):
        CaseResult.from_dict(data)
