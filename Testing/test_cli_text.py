"""The command lines' text for people: help on every option with its default, clean logs, verdicts on stdout."""

from __future__ import annotations

import argparse
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pancreas_mt_training import cli as train_cli
from PancreasMultiTaskLib.cli import main as cli


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def option_problems(parser: argparse.ArgumentParser) -> list[str]:
    """Options without help, or whose help does not say the default (required options and positionals excepted)."""
    problems = []
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        name = "/".join(action.option_strings) or action.dest
        text = (action.help or "").strip()
        if not text:
            problems.append(f"{parser.prog} {name}: no help")
        elif action.option_strings and not action.required and "default" not in text:
            problems.append(f"{parser.prog} {name}: help does not give the default")
    return problems


def test_every_predict_demo_and_models_option_has_help_with_its_default() -> None:
    commands = subcommands(cli.build_parser())
    assert set(commands) == {"predict", "demo", "models"}
    actions = subcommands(commands["models"])
    assert set(actions) == {"list", "add", "remove"}
    parsers = [commands["predict"], commands["demo"], commands["models"], *actions.values()]
    assert [p for parser in parsers for p in option_problems(parser)] == []


def test_every_training_subcommand_option_has_help_with_its_default() -> None:
    commands = subcommands(train_cli.build_parser())
    assert {"phantoms", "convert", "plan", "train", "evaluate", "export", "import", "demo-model"} <= set(commands)
    assert [p for parser in commands.values() for p in option_problems(parser)] == []


def test_help_checker_finds_a_missing_help() -> None:
    parser = argparse.ArgumentParser(prog="x")
    parser.add_argument("--bare", default=3)
    parser.add_argument("--said", default=3, help="something (default: %(default)s)")
    parser.add_argument("--unsaid", default=3, help="something")
    assert option_problems(parser) == ["x --bare: no help", "x --unsaid: help does not give the default"]


@pytest.mark.parametrize(
    "argv", [["--help"], ["predict", "--help"], ["demo", "--help"], ["models", "--help"], ["models", "add", "--help"]]
)
def test_help_has_no_markup(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        cli.main(argv)
    assert stop.value.code == 0
    text = capsys.readouterr().out
    assert "`" not in text and "%(" not in text
    assert "usage: pancreas-mt" in text


def test_predict_help_says_the_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["predict", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for said in ("(default: final)", "(default: auto)", "(default: lesion-weighted)", "(default: bar)"):
        assert said in text
    assert "(default: chosen from free memory)" in text


class Terminal(io.StringIO):
    """A text stream that says it is a terminal (the bar's only condition)."""

    def isatty(self) -> bool:
        return True


def run_reporter(mode: str, stream: io.StringIO) -> list[float]:
    """Feed a reporter the real CLI's event sequence for two cases (stages restarting at 0)."""
    reporter = cli.Reporter(mode, stream=stream, verdicts=False)
    overall = []
    reporter.event("start", cases=2)
    for case in ("a", "b"):
        for stage, fractions in (("preprocess", [0.0]), ("predict", [0.0, 0.5, 1.0]), ("export", [0.0, 1.0])):
            for fraction in fractions:
                reporter.event("progress", case=case, stage=stage, fraction=fraction)
                overall.append(reporter.overall)
        reporter.event("case_done", case=case, result=f"/out/{case}/result.json", verdict="Subtype: x")
    reporter.event("done", ok=2, failed=0)
    return overall


def test_reporter_overall_fraction_is_monotonic() -> None:
    overall = run_reporter("bar", io.StringIO())
    assert overall == sorted(overall) and overall[0] == 0.0 and overall[-1] == 1.0
    assert 0.45 <= overall[len(overall) // 2 - 1] <= 0.5  # the first case's end is half the bar


def test_reporter_log_has_a_line_per_stage_and_case() -> None:
    log = io.StringIO()
    run_reporter("bar", log)
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue()
    assert lines == [f"pancreas-mt: {c} ({i}/2): {s}" for i, c in ((1, "a"), (2, "b")) for s in cli.STAGE_SPANS]


def test_reporter_draws_a_bar_on_a_terminal() -> None:
    terminal = Terminal()
    run_reporter("bar", terminal)
    assert terminal.getvalue().count("\r") > 6 and "100%" in terminal.getvalue()
    quiet = Terminal()
    run_reporter("none", quiet)
    assert quiet.getvalue() == ""


@pytest.mark.slow
def test_log_without_terminal_has_no_carriage_return(tmp_path: Path) -> None:
    """The real CLI with stderr to a file: one line per stage and case; verdict and paths on stdout."""
    from PancreasMultiTaskLib.engine.demo import demo_model_folder, sample_case

    model = demo_model_folder(tmp_path / "models")
    out = tmp_path / "out"
    command = [
        sys.executable,
        "-m",
        "PancreasMultiTaskLib.cli",
        "predict",
        "-i",
        str(sample_case()),
        "-o",
        str(out),
    ]
    command += ["-m", str(model), "--folds", "0", "--no-tta", "--device", "cpu"]
    with (tmp_path / "stderr.log").open("w") as log, (tmp_path / "stdout.log").open("w") as stdout:
        code = subprocess.run(command, stdout=stdout, stderr=log, timeout=600).returncode
    err, outtext = (tmp_path / "stderr.log").read_text(), (tmp_path / "stdout.log").read_text()
    assert code == 0, err
    assert "\r" not in err and "\r" not in outtext
    case = sample_case().name.removesuffix("_0000.nii.gz")
    lines = [line for line in err.splitlines() if line.startswith(f"pancreas-mt: {case}")]
    # A stage longer than the log interval (a loaded machine) adds its progress lines between the stages.
    progress = [line for line in lines if re.fullmatch(rf"pancreas-mt: {case} \(1/1\): \w+ \d+% \(run \d+%\)", line)]
    assert [line for line in lines if line not in progress] == [
        f"pancreas-mt: {case} (1/1): {stage}" for stage in ("preprocess", "predict", "export")
    ]
    assert outtext.splitlines()[0].startswith(f"{case}: Subtype: ")
    assert str(out / case) in outtext and "segmentation.nii.gz" in outtext and "result.json" in outtext

    quiet = subprocess.run([*command, "--progress", "none"], capture_output=True, text=True, timeout=600)
    assert quiet.returncode == 0 and quiet.stderr == ""
    assert quiet.stdout == outtext  # the verdict and the output paths, nothing else


def test_a_long_stage_prints_its_progress_every_few_seconds_in_a_log() -> None:
    """A stage of minutes (the sliding window over a whole CT) must not leave a log silent."""
    now = [0.0]
    log = io.StringIO()
    reporter = cli.Reporter("bar", stream=log, verdicts=False, clock=lambda: now[0])
    reporter.event("start", cases=1)
    for second in range(13):
        now[0] = float(second)
        reporter.event("progress", case="ct", stage="predict", fraction=second / 12)
    lines = log.getvalue().splitlines()
    assert lines[0] == "pancreas-mt: ct (1/1): predict"
    assert lines[1:] == [
        "pancreas-mt: ct (1/1): predict 42% (run 43%)",
        "pancreas-mt: ct (1/1): predict 83% (run 77%)",
    ]
