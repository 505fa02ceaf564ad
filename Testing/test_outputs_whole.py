"""Outputs are whole and belong together: checked writes, whole case folders, failed rows, shards, case names."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import SimpleITK as sitk
from dicom_factory import write_series
from model_factory import ct_volume
from PancreasMultiTaskLib.cli import main as cli
from PancreasMultiTaskLib.engine.io import PARTIAL_MARK, STALE_S, atomic_path, temporary_prefix
from PancreasMultiTaskLib.engine.predictor import Predictor
from PancreasMultiTaskLib.engine.result import CaseResult

FAST = ["--device", "cpu", "--no-tta", "--folds", "0", "--progress", "none"]


def predict(model: Path, out: Path, *inputs: str, extra: tuple[str, ...] = ()) -> int:
    return cli.main(["predict", "-o", str(out), "-m", str(model), *FAST, *extra, "-i", *inputs])


def files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


@pytest.fixture
def three_cases(tmp_path) -> Path:
    folder = tmp_path / "cases"
    folder.mkdir()
    for i, name in enumerate("abc"):
        sitk.WriteImage(ct_volume((6, 40, 48), seed=30 + i)[0], str(folder / f"{name}_0000.nii.gz"))
    return folder


def test_failed_atomic_write_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "out" / "result.json"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("failed while writing")
    assert files(tmp_path / "out") == []


WRITE_UNDER_LIMIT = textwrap.dedent(
    """
    import resource, signal, sys
    import numpy as np, SimpleITK as sitk
    from PancreasMultiTaskLib.engine.io import WriteError, write_image
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    image = sitk.GetImageFromArray(np.random.default_rng(0).random((20, 64, 64)).astype(np.float32))
    resource.setrlimit(resource.RLIMIT_FSIZE, (60000, 60000))  # the compressed image is ~300 KB
    try:
        write_image(image, sys.argv[1])
    except WriteError as error:
        print(error)
        sys.exit(3)
    """
)


def test_a_short_write_is_caught_and_nothing_is_left(tmp_path):
    """ITK does not report a failed write; the read-back does, and the probe names the cause."""
    target = tmp_path / "out" / "probability.nii.gz"
    done = subprocess.run([sys.executable, "-c", WRITE_UNDER_LIMIT, str(target)], capture_output=True, text=True)
    assert done.returncode == 3, done.stderr[-2000:]
    assert "probability.nii.gz: cannot write the image: file size limit reached; nothing written" in done.stdout
    assert files(tmp_path / "out") == []


def _tmpfs_available() -> bool:
    probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True) if shutil.which("unshare") else None
    return probe is not None and probe.returncode == 0


@pytest.mark.skipif(not _tmpfs_available(), reason="no user namespaces here to mount a small tmpfs")
def test_disk_full_fails_the_case_with_a_clear_message(multitask_model, three_cases, tmp_path):
    out = tmp_path / "full"
    out.mkdir()
    script = (
        f"mount -t tmpfs -o size=24k tmpfs {out} && exec {sys.executable} -m PancreasMultiTaskLib.cli.main predict "
        f"-o {out} -m {multitask_model} {' '.join(FAST)} --save-probabilities -i {three_cases / 'a_0000.nii.gz'}"
    )
    done = subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True)
    assert done.returncode == 1, done.stderr[-2000:]
    assert "disk full" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_failed_rerun_keeps_the_old_case_whole_and_leftovers_are_cleared(
    multitask_model, three_cases, tmp_path, monkeypatch
):
    out = tmp_path / "out"
    image = str(three_cases / "a_0000.nii.gz")
    assert predict(multitask_model, out, image) == 0
    before = {name: (out / "a" / name).read_bytes() for name in ("segmentation.nii.gz", "result.json")}

    def fail(self, path):
        raise OSError(28, "No space left on device")  # the last write of the case fails

    monkeypatch.setattr(CaseResult, "write_json", fail)
    assert predict(multitask_model, out, image, extra=("--save-probabilities",)) == 1
    assert files(out) == ["a", "a/result.json", "a/segmentation.nii.gz"]  # no probability map of the new run
    assert {name: (out / "a" / name).read_bytes() for name in before} == before
    monkeypatch.undo()

    leftover = out / f"{temporary_prefix('a', PARTIAL_MARK)}0123abcd"  # what a run killed while writing leaves
    leftover.mkdir()
    (leftover / "segmentation.nii.gz").write_bytes(b"half")
    os.utime(leftover, (time.time() - 2 * STALE_S,) * 2)
    assert predict(multitask_model, out, image, extra=("--save-probabilities",)) == 0
    assert files(out) == ["a", "a/lesion_probability.nii.gz", "a/result.json", "a/segmentation.nii.gz"]


@pytest.mark.parametrize("error", [IndexError("index 7 is out of bounds"), KeyError("spacing"), MemoryError()])
def test_an_unexpected_error_in_one_case_is_a_failed_row(multitask_model, three_cases, tmp_path, monkeypatch, error):
    original = Predictor.predict

    def flaky(self, image, case_id="case", **kwargs):
        if case_id == "b":
            raise error
        return original(self, image, case_id=case_id, **kwargs)

    monkeypatch.setattr(Predictor, "predict", flaky)
    out = tmp_path / "out"
    assert predict(multitask_model, out, str(three_cases)) == 1
    with (out / "summary.csv").open() as handle:
        rows = {row["case_id"]: row for row in csv.DictReader(handle)}
    assert [rows[c]["status"] for c in "abc"] == ["ok", "failed", "ok"]
    assert type(error).__name__ in rows["b"]["message"] or "out of memory" in rows["b"]["message"]
    assert (out / "a" / "result.json").is_file() and (out / "c" / "result.json").is_file()
    assert not (out / "b").exists()


def test_shards_are_disjoint_cover_every_case_and_keep_their_own_summary(multitask_model, three_cases, tmp_path):
    cases = [Path(f"case{i}") for i in range(11)]
    for parts in (1, 2, 3, 4):
        shards = [cli.shard(cases, p, parts) for p in range(parts)]
        assert sorted(c for s in shards for c in s) == sorted(cases)  # cover
        assert sum(len(s) for s in shards) == len(cases)  # disjoint
    out = tmp_path / "out"
    for part in (0, 1):
        code = predict(multitask_model, out, str(three_cases), extra=("--part-id", str(part), "--num-parts", "2"))
        assert code == 0
    summaries = {}
    for part in (0, 1):
        with (out / f"summary_part{part}of2.csv").open() as handle:
            summaries[part] = [row["case_id"] for row in csv.DictReader(handle)]
    assert summaries == {0: ["a", "c"], 1: ["b"]}
    assert not (out / "summary.csv").exists()


def test_part_id_out_of_range_is_refused(multitask_model, three_cases, tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        predict(multitask_model, tmp_path / "out", str(three_cases), extra=("--part-id", "2", "--num-parts", "2"))
    assert exited.value.code == 2 and "--part-id must be in 0..1" in capsys.readouterr().err


def test_duplicate_case_ids_are_refused(multitask_model, tmp_path, capsys):
    image = ct_volume((6, 40, 48), seed=3)[0]
    sitk.WriteImage(image, str(tmp_path / "p1_0000.nii.gz"))
    sitk.WriteImage(image, str(tmp_path / "p1.nrrd"))
    code = predict(multitask_model, tmp_path / "out", str(tmp_path / "p1_0000.nii.gz"), str(tmp_path / "p1.nrrd"))
    assert code == 1 and "several inputs share the case id 'p1'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_dot_dotdot_and_a_leading_dash_give_proper_case_names(multitask_model, tmp_path, monkeypatch):
    study = write_series(ct_volume((6, 40, 48), seed=5)[0], tmp_path / "study", "1.2.3.9")
    (study / "sub").mkdir()
    out = tmp_path / "out"
    monkeypatch.chdir(study)
    assert predict(multitask_model, out, ".") == 0
    monkeypatch.chdir(study / "sub")
    assert predict(multitask_model, tmp_path / "out2", "..") == 0
    assert (out / "study" / "result.json").is_file() and (tmp_path / "out2" / "study" / "result.json").is_file()
    monkeypatch.chdir(tmp_path)
    sitk.WriteImage(ct_volume((6, 40, 48), seed=6)[0], "-dash_0000.nii.gz")
    code = cli.main(["predict", "-o", "out3", "-m", str(multitask_model), *FAST, "--", "-dash_0000.nii.gz"])
    assert code == 0 and (tmp_path / "out3" / "-dash" / "result.json").is_file()


def test_model_zip_is_verified_installed_and_used(multitask_model, three_cases, tmp_path):
    from pancreas_mt_training.export import export_model

    archive = export_model(multitask_model, tmp_path / "tiny.zip", folds=["0"])
    out = tmp_path / "out"
    assert predict(multitask_model.parent / "missing", out, str(three_cases / "a_0000.nii.gz")) == 1
    assert (
        cli.main(["predict", "-o", str(out), "-m", str(archive), *FAST, "-i", str(three_cases / "a_0000.nii.gz")]) == 0
    )
    result = json.loads((out / "a" / "result.json").read_text())
    assert Path(result["provenance"]["model_path"]).name == "tiny"
    archive.write_bytes(archive.read_bytes()[:-10])  # no longer matches its .sha256
    assert (
        cli.main(["predict", "-o", str(out), "-m", str(archive), *FAST, "-i", str(three_cases / "a_0000.nii.gz")]) == 1
    )


def test_model_zip_without_its_hash_needs_the_publishers_checksum(multitask_model, three_cases, tmp_path, capsys):
    import hashlib

    from pancreas_mt_training.export import export_model

    archive = export_model(multitask_model, tmp_path / "tiny.zip", folds=["0"])
    archive.with_name(archive.name + ".sha256").unlink()
    out, case = tmp_path / "out", str(three_cases / "a_0000.nii.gz")
    assert cli.main(["predict", "-o", str(out), "-m", str(archive), *FAST, "-i", case]) != 0
    assert "tiny.zip: no SHA-256" in capsys.readouterr().err
    assert not (out / "a" / "result.json").exists()
    wrong = "0" * 64
    assert cli.main(["predict", "-o", str(out), "-m", str(archive), "--sha256", wrong, *FAST, "-i", case]) != 0
    right = hashlib.sha256(archive.read_bytes()).hexdigest()
    assert cli.main(["predict", "-o", str(out), "-m", str(archive), "--sha256", right, *FAST, "-i", case]) == 0
    assert (out / "a" / "result.json").is_file()
