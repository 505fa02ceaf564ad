"""Outputs stay where they belong whatever the inputs are named: one summary schema, cells no spreadsheet runs,
case folders that never replace OUTDIR, an input or another run's work, unreadable entries reported, and
previews that draw any name literally and never end the batch.

Each hostile input in ``HOSTILE`` runs through the real CLI and writes its row of the second table of
``Testing/bad_inputs_table.md`` (rerun with ``PMT_WRITE_BAD_INPUTS_TABLE=1`` after a change, and commit it).
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
import SimpleITK as sitk
from bad_input_cases import table_section, write_table_section
from dicom_factory import write_series
from model_factory import ct_volume
from PancreasMultiTaskLib.cli import main as cli
from PancreasMultiTaskLib.cli import preview

FAST = ["--device", "cpu", "--no-tta", "--folds", "0", "--progress", "none"]
WRITER = Path(__file__).name
SCHEMA = [
    "case_id",
    "folder",
    "status",
    "assessment",
    "subtype",
    "probability",
    "uncertain",
    "pancreas_volume_ml",
    "lesion_volume_ml",
    "lesion_max_axial_diameter_mm",
    "feature_distance",
    "feature_limit",
    "p_solid",
    "p_rim-enhancing",
    "p_cystic",
    "reasons",
    "notice",
    "message",
]


def write_case(path: Path, seed: int = 3) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(ct_volume((6, 40, 48), seed=seed)[0], str(path))
    return path


def predict(model: Path, out: Path, *inputs: Path | str, extra: tuple[str, ...] = ()) -> int:
    return cli.main(["predict", "-o", str(out), "-m", str(model), *FAST, *extra, "--", *map(str, inputs)])


def summary(out: Path) -> tuple[list[str], list[dict[str, str]]]:
    """The header and the rows of ``out/summary.csv`` as a spreadsheet would read the text."""
    with (out / "summary.csv").open(newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle))
        handle.seek(0)
        return header, list(csv.DictReader(handle))


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def shown(text: str) -> str:
    """A cell or name as the table shows it: tabs and carriage returns visible."""
    return text.replace("\t", "\\t").replace("\r", "\\r")


# ---------------------------------------------------------------------------------------------------------
# Hostile inputs: each returns (what happened, exit code) for its table row, asserting on the way.
Outcome = tuple[str, int]


def empty_case_id(tmp: Path, model: Path, capsys, monkeypatch) -> Outcome:
    out = tmp / "out"
    out.mkdir()
    (out / "precious.txt").write_text("an earlier file of OUTDIR")
    code = predict(model, out, write_case(tmp / "in" / ".nii.gz"))
    folders = [p.name for p in out.iterdir() if p.is_dir()]
    assert code == 0 and (out / "precious.txt").is_file(), capsys.readouterr().err
    assert len(folders) == 1 and (out / folders[0] / "result.json").is_file() and not folders[0].startswith(".")
    return f"case `.nii.gz` written to `{folders[0]}/`; OUTDIR's other files kept", code


def dotdot_case_id(tmp: Path, model: Path, capsys, monkeypatch) -> Outcome:
    sandbox = tmp / "sandbox"
    out = sandbox / "out"
    sandbox.mkdir()
    (sandbox / "keep.txt").write_text("beside OUTDIR")
    code = predict(model, out, write_case(tmp / "in" / "...nii.gz"))
    assert code == 0, capsys.readouterr().err
    assert listing(sandbox)[:2] == ["keep.txt", "out"] and len(listing(out)) == 3  # folder, result, segmentation
    folder = next(out.iterdir()).name
    return f"case `...nii.gz` written to `{folder}/`; nothing outside OUTDIR touched", code


def reserved_names(tmp: Path, model: Path, capsys, monkeypatch) -> Outcome:
    names = ("summary.csv", "index.html", "previews.png")
    for i, name in enumerate(names):
        write_case(tmp / "in" / f"{name}.nii.gz", seed=i)
    out = tmp / "out"
    code = predict(model, out, tmp / "in", extra=("--preview",))
    assert code == 0, capsys.readouterr().err
    assert all((out / name).is_file() for name in names)
    _, rows = summary(out)
    assert [r["case_id"] for r in rows] == sorted(names) and all(r["status"] == "ok" for r in rows)
    assert all((out / r["folder"] / "result.json").is_file() and r["folder"] not in names for r in rows)
    folders = ", ".join(f"`{r['folder']}/`" for r in rows)
    return f"cases written to {folders}; the run's own files intact", code


def long_name(tmp: Path, model: Path, capsys, monkeypatch) -> Outcome:
    name = "n" * 240
    image = write_case(tmp / "in" / f"{name}.nii.gz")
    out = tmp / "out"
    codes = [predict(model, out, image), predict(model, out, image)]  # the rerun swaps the old folder out
    assert codes == [0, 0], capsys.readouterr().err
    assert listing(out) == [name, f"{name}/result.json", f"{name}/segmentation.nii.gz"]
    return "written (and rewritten) to the 240-character folder; temporary names stay under 255 bytes", codes[-1]


def output_is_the_input_folder(tmp: Path, model: Path, capsys, monkeypatch) -> Outcome:
    folder = tmp / "D"
    write_series(ct_volume((6, 40, 48), seed=4)[0], folder / "p1", "1.2.3.7")
    write_case(folder / "p2.nii.gz")
    before = listing(folder)
    code = predict(model, folder, folder)
    err = capsys.readouterr().err.strip()
    assert code == 1 and "the output folder is this input folder" in err and len(err.splitlines()) == 1
    assert listing(folder) == before
    return f"`{err.replace(str(tmp) + os.sep, '')}`", code


def foreign_folder(tmp: Path, model: Path, capsys, monkeypatch) -> Outcome:
    out = tmp / "out"
    (out / "a").mkdir(parents=True)
    (out / "a" / "notes.txt").write_text("not a case folder")
    code = predict(model, out, write_case(tmp / "in" / "a.nii.gz"))
    err = capsys.readouterr().err.strip()
    assert code == 1 and "is no case folder of an earlier run" in err
    assert listing(out) == ["a", "a/notes.txt"]
    return f"`{err.replace(str(tmp) + os.sep, '')}`; the folder kept", code


HOLD_A_TEMPORARY = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from PancreasMultiTaskLib.engine.io import atomic_folder
    with atomic_folder(Path(sys.argv[1])) as tmp:
        (tmp / "result.json").write_text("{}")
        print(tmp, flush=True)
        sys.stdin.readline()  # a live run, still writing
    print("swapped", flush=True)
    """
)


def live_temporary(tmp: Path, model: Path, capsys, monkeypatch) -> Outcome:
    out = tmp / "out"
    out.mkdir()
    image = write_case(tmp / "in" / "a.nii.gz")
    live = subprocess.Popen(
        [sys.executable, "-c", HOLD_A_TEMPORARY, str(out / "a")], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        temporary = Path(live.stdout.readline().decode().strip())
        code = predict(model, out, image)  # clears case a's leftovers first
        assert code == 0 and temporary.is_dir(), capsys.readouterr().err
        finished, _ = live.communicate(b"\n", timeout=60)
    finally:
        live.kill()
    assert live.returncode == 0 and finished.decode().strip() == "swapped"
    assert (out / "a" / "result.json").read_text() == "{}"  # the live run's folder came through whole
    pattern = temporary.name[: -len("0123abcd")] + "<8 hex>"
    return f"another run's live `{pattern}` kept while this run cleared case `a`'s leftovers", code


def names_differing_in_case(tmp: Path, model: Path, capsys, monkeypatch) -> Outcome:
    a, b = write_case(tmp / "in" / "Case.nii.gz"), write_case(tmp / "in" / "case.nii.gz")
    code = predict(model, tmp / "out", a, b)
    err = capsys.readouterr().err.strip()
    assert code == 1 and "differing only in letter case" in err and not (tmp / "out").exists()
    return f"`{err}`", code


def formula_names(tmp: Path, model: Path, capsys, monkeypatch) -> Outcome:
    names = ["=cmd", "+cmd", "-cmd", "@cmd", "\tcmd", "\rcmd"]
    for i, name in enumerate(names):
        write_case(tmp / "in" / f"{name}.nii.gz", seed=i)
    out = tmp / "out"
    code = predict(model, out, tmp / "in")
    assert code == 0, capsys.readouterr().err
    _, rows = summary(out)
    assert sorted(r["case_id"] for r in rows) == sorted("'" + n for n in names)
    assert all(float(r["probability"]) > 0 and not r["probability"].startswith("'") for r in rows)
    cells = ", ".join(f"`{shown(r['case_id'])}`" for r in rows)
    return f"summary.csv cells {cells}; numbers stay numbers", code


def math_text_name(tmp: Path, model: Path, capsys, monkeypatch) -> Outcome:
    write_case(tmp / "in" / "p$\\foo$q.nii.gz")
    write_case(tmp / "in" / "plain.nii.gz", seed=4)
    out = tmp / "out"
    code = predict(model, out, tmp / "in", extra=("--preview",))
    err = capsys.readouterr().err
    assert code == 0 and "failed" not in err, err
    _, rows = summary(out)
    assert all((out / r["folder"] / preview.PREVIEW_FILE).is_file() for r in rows)
    assert (out / preview.SHEET_FILE).is_file() and "p$\\foo$q" in (out / preview.INDEX_FILE).read_text()
    return "previews, contact sheet and index.html drawn, the name shown literally", code


def unreadable_entries(tmp: Path, model: Path, capsys, monkeypatch) -> Outcome:
    """Root reads any folder whatever its mode, so for root the kernel's answer to other users (EACCES) is given
    at ``os.scandir``, the call through which the CLI looks into a folder; other users get a real mode 000."""
    folder = tmp / "in"
    write_case(folder / "good.nii.gz")
    (folder / "lost.nii.gz").symlink_to(folder / "gone.nii.gz")
    os.mkfifo(folder / "pipe.nii.gz")
    locked = folder / "series"
    locked.mkdir()
    if os.geteuid() == 0:
        scandir = os.scandir

        def refusing(path=".", *args, **kwargs):
            if isinstance(path, str | os.PathLike) and Path(path) == locked:
                raise PermissionError(13, "Permission denied", str(path))
            return scandir(path, *args, **kwargs)

        monkeypatch.setattr(os, "scandir", refusing)
    else:
        locked.chmod(0)
    try:
        code = predict(model, tmp / "out", folder)
    finally:
        locked.chmod(0o755)
        monkeypatch.undo()
    capsys.readouterr()
    _, rows = summary(tmp / "out")
    status = {r["case_id"]: (r["status"], r["message"].replace(str(folder) + os.sep, "")) for r in rows}
    assert status["good"][0] == "ok" and code == 1
    assert "broken symbolic link" in status["lost"][1] and "not a regular file (a FIFO)" in status["pipe"][1]
    assert status["series"] == ("failed", "series: cannot read folder (Permission denied)")
    failed = "; ".join(f"`{case}`: {message}" for case, (state, message) in status.items() if state == "failed")
    return f"failed rows of summary.csv: {failed.replace(str(tmp) + os.sep, '')}", code


HOSTILE: list[tuple[str, Callable[..., Outcome]]] = [
    ("a file named `.nii.gz` (empty case id)", empty_case_id),
    ("a file named `...nii.gz` (case id `..`)", dotdot_case_id),
    ("cases named `summary.csv`, `index.html`, `previews.png` (with `--preview`)", reserved_names),
    ("a 240-character name, run twice", long_name),
    ("`-i D -o D`, D holding a DICOM series folder", output_is_the_input_folder),
    ("OUTDIR holding someone's folder named like the case", foreign_folder),
    ("another run writing the same case at the same time", live_temporary),
    ("`Case.nii.gz` and `case.nii.gz`", names_differing_in_case),
    ("cases named `=cmd`, `+cmd`, `-cmd`, `@cmd`, `\\tcmd`, `\\rcmd`", formula_names),
    ("a case named `p$\\foo$q` (matplotlib math text), with `--preview`", math_text_name),
    ("a folder of cases holding a broken link, a FIFO and an unreadable folder", unreadable_entries),
]


@pytest.fixture(scope="module")
def table_rows():
    """Rows filled by the hostile-input tests; when all ran, the table section must be what they produced."""
    rows: dict[str, tuple[str, int]] = {}
    yield rows
    if len(rows) < len(HOSTILE):
        return  # a selection of the tests ran: the table is checked when they all do
    lines = [
        f"<!-- Written by Testing/{WRITER} ({len(rows)} cases); do not edit by hand. -->",
        "",
        "Hostile names and folders: handled, never a lost file.",
        "",
        "| Input | What happens | Exit code |",
        "|---|---|---|",
    ]
    lines += [f"| {what} | {rows[what][0].replace('|', '/')} | {rows[what][1]} |" for what, _ in HOSTILE]
    table = "\n".join(lines) + "\n"
    if os.environ.get("PMT_WRITE_BAD_INPUTS_TABLE"):
        write_table_section(WRITER, table)
    assert table_section(WRITER) == table, "rerun with PMT_WRITE_BAD_INPUTS_TABLE=1 and commit the table"


@pytest.mark.parametrize(("what", "attack"), HOSTILE, ids=[attack.__name__ for _, attack in HOSTILE])
def test_hostile_input_is_handled(what, attack, multitask_model, tmp_path, capsys, monkeypatch, table_rows):
    table_rows[what] = attack(tmp_path, multitask_model, capsys, monkeypatch)


# ---------------------------------------------------------------------------------------------------------
def test_summary_schema_is_one_for_the_cli_and_batch_mode(multitask_model, tmp_path, capsys):
    """The CLI over a folder (two cases and a broken file) and batch mode over one input give the same columns;
    batch mode replaces an older summary.csv rather than keeping it."""
    from test_slicer_module import FAKE_CLI
    from test_slicer_module_batch import run_batch

    folder = tmp_path / "in"
    write_case(folder / "a.nii.gz")
    write_case(folder / "b.nrrd", seed=4)
    (folder / "broken.nii.gz").write_bytes(b"not an image")
    out = tmp_path / "out"
    assert predict(multitask_model, out, folder) == 1
    header, rows = summary(out)
    assert header == SCHEMA
    expected = [("a", "a", "ok"), ("b", "b", "ok"), ("broken", "", "failed")]
    assert [(r["case_id"], r["folder"], r["status"]) for r in rows] == expected
    assert "cannot read image" in rows[2]["message"] and rows[2]["subtype"] == rows[0]["message"] == ""
    assert rows[0]["uncertain"] in ("true", "false")
    assert rows[0][f"p_{rows[0]['subtype']}"] == rows[0]["probability"]

    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "fake_pmt_cli.py").write_text(FAKE_CLI)
    batch_out = tmp_path / "batch"
    batch_out.mkdir()
    (batch_out / "summary.csv").write_text("case_id,predicted_subtype\nold,solid\n")
    done = run_batch(["-i", str(folder / "a.nii.gz"), "-o", str(batch_out), "--cli-module", "fake_pmt_cli"], fake)
    assert done.returncode == 0, done.stderr
    header, rows = summary(batch_out)
    assert header == SCHEMA and [(r["case_id"], r["folder"], r["status"], r["subtype"]) for r in rows] == [
        ("a", "a", "ok", "solid")
    ]


def test_cells_are_neutralized_and_numbers_stay_numbers(tmp_path):
    from PancreasMultiTaskLib.cli.summary import case_row, neutralized, write_summary

    assert neutralized(-1.5) == -1.5 and neutralized(0) == 0
    assert [neutralized(t) for t in ("-1.5", "=1+1", "@x", "+x", "\tx", "\rx", "a=b")] == [
        "'-1.5",
        "'=1+1",
        "'@x",
        "'+x",
        "'\tx",
        "'\rx",
        "a=b",
    ]
    path = write_summary(tmp_path / "summary.csv", [case_row("=HYPERLINK(1)", None, message="-cmd \udcff")])
    header, rows = summary(tmp_path)
    assert rows == [
        {c: "" for c in header} | {"case_id": "'=HYPERLINK(1)", "status": "failed", "message": "'-cmd \\udcff"}
    ]
    assert path.read_text(encoding="utf-8").count("'") == 2


def test_case_ids_and_folders_are_never_empty_hidden_or_reserved():
    from PancreasMultiTaskLib.engine.io import case_folder_name, case_id_from_path

    assert [case_id_from_path(n) for n in (".nii.gz", "...nii.gz", "..nrrd", "a_0000.nii.gz", "/")] == [
        ".nii.gz",
        "...nii.gz",
        "..nrrd",
        "a",
        "unnamed",
    ]
    # Only nnU-Net's tag of the CT channel is dropped: other trailing digits are the name's own (a year, a case
    # number), so ct_2023 and ct_2024 stay two cases.
    assert [case_id_from_path(n) for n in ("ct_2023.nii.gz", "ct_2024_0000.nii.gz", "case_1000.nrrd")] == [
        "ct_2023",
        "ct_2024",
        "case_1000",
    ]
    kept = ["a", "-dash", "patient 1", "é" * 127, "n" * 255, "p$foo$q", "summary", "x.csv"]
    assert [case_folder_name(i) for i in kept] == kept
    hostile = [".nii.gz", "..", ".", "a/b", "a\\b", "c:d", "trail.", "Summary.CSV", "summary_part0of2.csv"]
    hostile += ["INDEX.html", "previews.png", "con", "nul.txt", "n" * 256, "\udcff", "tab\tname"]
    folders = [case_folder_name(i) for i in hostile]
    assert len(set(folders)) == len(folders) and not set(folders) & set(hostile)
    for folder in folders:
        assert case_folder_name(folder) == folder and len(folder.encode()) <= 120, folder
    assert case_folder_name("..") == case_folder_name("..")  # the same id, the same folder


def test_literal_text_draws_as_plain_text():
    """A name drawn through ``literal`` gives the same pixels as the raw name with math text turned off."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    def pixels(text: str, **kwargs) -> np.ndarray:
        fig = Figure(figsize=(3, 0.5), dpi=50)
        fig.text(0.05, 0.3, text, **kwargs)
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        return np.asarray(canvas.buffer_rgba()).copy()

    for name in ("p$\\foo$q", "$x^2$", "a\\$b$c$"):
        np.testing.assert_array_equal(pixels(preview.literal(name)), pixels(name, parse_math=False, usetex=False))


def test_a_failed_preview_or_sheet_says_why_and_the_batch_goes_on(multitask_model, tmp_path, capsys, monkeypatch):
    """matplotlib's parse errors start with a blank line: the reason must still be said, and index.html written."""
    folder = tmp_path / "in"
    write_case(folder / "a.nii.gz")
    write_case(folder / "b.nii.gz", seed=4)
    drawn = preview.case_figure

    def failing_case(image, segmentation, result):
        if result.case_id == "a":
            raise ValueError("\nUnknown symbol: \\foo, found '\\'")
        return drawn(image, segmentation, result)

    saved = preview.save_figure

    def failing_sheet(fig, path):
        if path.name == preview.SHEET_FILE:
            raise ValueError("\n")
        return saved(fig, path)

    monkeypatch.setattr(preview, "case_figure", failing_case)
    monkeypatch.setattr(preview, "save_figure", failing_sheet)
    out = tmp_path / "out"
    assert predict(multitask_model, out, folder, extra=("--preview",)) == 0
    err = capsys.readouterr().err
    assert "pancreas-mt: a: preview failed: Unknown symbol: \\foo" in err
    assert "pancreas-mt: contact sheet failed: ValueError" in err
    index = (out / preview.INDEX_FILE).read_text(encoding="utf-8")
    assert "a: FAILED" in index and "Unknown symbol" in index and 'src="b/preview.png"' in index


def test_a_failed_swap_puts_the_earlier_case_folder_back(tmp_path, monkeypatch):
    """The last step (renaming the new folder into place) failing leaves the earlier output where it was."""
    from PancreasMultiTaskLib.engine import io

    case = tmp_path / "a"
    case.mkdir()
    (case / "result.json").write_text("earlier")
    rename = os.replace

    def failing(source, target):
        if Path(source).name.startswith(".a.partial-"):
            raise OSError(5, "Input/output error")
        return rename(source, target)

    monkeypatch.setattr(os, "replace", failing)
    with pytest.raises(OSError), io.atomic_folder(case) as tmp:
        (tmp / "result.json").write_text("new")
    assert listing(tmp_path) == ["a", "a/result.json"] and (case / "result.json").read_text() == "earlier"
