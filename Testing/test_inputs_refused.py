"""Every input of the bad-input suite is refused with one line naming it, exit code 1 and no output;
the README's table (``Testing/bad_inputs_table.md``) is what this suite produces."""

from __future__ import annotations

import os
from pathlib import Path

from bad_input_cases import CASES, table_section, write_table_section
from PancreasMultiTaskLib.cli.main import main

WRITER = Path(__file__).name


def refuse(path: Path, out: Path, model: Path, capsys) -> tuple[int, str]:
    argv = ["predict", "-i", str(path), "-o", str(out), "-m", str(model), "--device", "cpu", "--progress", "none"]
    code = main(argv)
    return code, capsys.readouterr().err.strip()


def render(rows: list[tuple[str, str, int]]) -> str:
    lines = [
        f"<!-- Written by Testing/test_inputs_refused.py ({len(rows)} cases); do not edit by hand. -->",
        "",
        "| Input | Message | Exit code |",
        "|---|---|---|",
    ]
    lines += [f"| {what} | `{message.replace('|', '/')}` | {code} |" for what, message, code in rows]
    return "\n".join(lines) + "\n"


def test_every_bad_input_is_refused_and_the_table_matches(multitask_model, tmp_path, capsys):
    rows = []
    for what, make, phrase in CASES:
        folder = tmp_path / make.__name__
        folder.mkdir()
        path = make(folder)
        out = folder / "out"
        code, err = refuse(path, out, multitask_model, capsys)
        assert code == 1, (what, err)
        assert len(err.splitlines()) == 1 and "Traceback" not in err, (what, err)
        assert phrase in err and path.name in err, (what, err)
        assert not [p for p in out.rglob("*") if p.is_file()] if out.exists() else True, what
        rows.append((what, err.replace(str(folder) + os.sep, ""), code))
    table = render(rows)
    if os.environ.get("PMT_WRITE_BAD_INPUTS_TABLE"):
        write_table_section(WRITER, table)
    assert table_section(WRITER) == table, "rerun with PMT_WRITE_BAD_INPUTS_TABLE=1 and commit the table"
