"""Output folders follow the user's umask, and a ``summary.csv`` link never leads the write out of OUTDIR."""

from __future__ import annotations

import os
import stat

from test_outputs_safe import predict, write_case


def test_case_folders_follow_the_umask_and_a_summary_link_is_replaced_not_followed(multitask_model, tmp_path):
    inputs = tmp_path / "in"
    for seed, name in ((3, "a"), (4, "b")):
        write_case(inputs / f"{name}_0000.nii.gz", seed)
    out = tmp_path / "out"
    out.mkdir()
    outside = tmp_path / "elsewhere.csv"
    (out / "summary.csv").symlink_to(outside)  # dangling: a write through it would create a file outside OUTDIR
    previous = os.umask(0o022)
    try:
        assert predict(multitask_model, out, inputs) == 0
    finally:
        os.umask(previous)
    assert not outside.exists() and not (out / "summary.csv").is_symlink()
    assert (out / "summary.csv").read_text(encoding="utf-8").startswith("case_id,")
    for case in ("a", "b"):
        assert stat.S_IMODE((out / case).stat().st_mode) == 0o755, oct((out / case).stat().st_mode)


def test_batch_mode_replaces_a_dangling_summary_link_instead_of_writing_through_it(tmp_path):
    """Batch mode once wrote ``summary.csv`` with ``open(..., "w")`` when none existed: a dangling link there
    made it create a file wherever the link pointed."""
    from test_slicer_module import FAKE_CLI
    from test_slicer_module_batch import run_batch

    case = write_case(tmp_path / "in" / "a.nii.gz")
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "fake_pmt_cli.py").write_text(FAKE_CLI)
    out = tmp_path / "batch"
    out.mkdir()
    outside = tmp_path / "elsewhere.csv"
    (out / "summary.csv").symlink_to(outside)
    done = run_batch(["-i", str(case), "-o", str(out), "--cli-module", "fake_pmt_cli"], fake)
    assert done.returncode == 0, done.stderr
    assert not outside.exists() and not (out / "summary.csv").is_symlink()
