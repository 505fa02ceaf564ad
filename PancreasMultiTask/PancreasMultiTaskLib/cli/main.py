"""``pancreas-mt``: predict pancreas, lesion and lesion subtype for CT volumes from the command line.

``predict`` runs a model folder over files, DICOM series folders, or folders of them; each case gets
``OUTDIR/<case folder>/segmentation.nii.gz`` and ``result.json`` (written last, so its presence means the
case is complete; the folder is the case id, or a safe name for it: ``engine.io.case_folder_name``); a folder
or several inputs also give ``OUTDIR/summary.csv`` (``cli.summary`` holds its schema). ``--progress json`` prints one
JSON object a line on stdout for programs such as the Slicer module. Failures print a one-line
reason and give a non-zero exit code; other cases still run.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from .. import __version__
from ..engine.options import BY_NAME, CLI, add_arguments, parse_values, prediction_options
from . import models_command
from .summary import case_row, summary_name, write_summary

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
SEGMENTATION_FILE = "segmentation.nii.gz"
PROBABILITY_FILE = "lesion_probability.nii.gz"
RESULT_FILE = "result.json"


#: In a log (stderr not a terminal), a stage that runs this long gets a line with its progress this often.
LOG_INTERVAL_S = 5.0

# Where each stage's 0..1 fraction lies within a case's share of the overall bar (network passes dominate).
STAGE_SPANS = {"preprocess": (0.0, 0.1), "predict": (0.1, 0.9), "export": (0.9, 1.0)}


class Reporter:
    """Progress for people (stderr) or for programs (JSON lines on stdout), with one overall fraction.

    ``progress`` events carry the stage's own ``fraction`` and an ``overall`` fraction across stages and
    cases that never goes back. On a terminal a bar is redrawn in place; in a log each stage of each
    case is one line. Verdicts and output paths go to stdout (except with ``json``, where stdout is the
    event stream).
    """

    def __init__(
        self,
        mode: str,
        stream: TextIO | None = None,
        verdicts: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.mode = mode
        self.clock = clock
        self._printed_at = 0.0
        self.stream = stream if stream is not None else sys.stderr
        self.verdicts = verdicts
        self.overall = 0.0
        self._cases = 1
        self._finished = 0
        self._case: object = None
        self._case_fraction = 0.0
        self._shown = ""
        self._bar_open = False
        self.outcomes: list[tuple[str, str | None, str]] = []  # (case, result.json or None, error)

    @property
    def terminal(self) -> bool:
        isatty = getattr(self.stream, "isatty", None)
        return bool(isatty and isatty())

    def _advance(self, event: str, fields: dict[str, object]) -> None:
        """Update the overall fraction from an event (max with the last, so the bar never jumps back)."""
        if event == "start":
            self._cases = max(int(fields.get("cases", 1) or 1), 1)
            return
        if event == "progress":
            if fields.get("case") != self._case:
                self._case, self._case_fraction = fields.get("case"), 0.0
            low, high = STAGE_SPANS.get(str(fields.get("stage")), (0.0, 1.0))
            fraction = min(max(float(fields.get("fraction", 0.0)), 0.0), 1.0)
            self._case_fraction = max(self._case_fraction, low + (high - low) * fraction)
        elif event in ("case_done", "error") and fields.get("case") is not None:
            self._finished += 1
            self.outcomes.append((str(fields["case"]), fields.get("result"), str(fields.get("message", ""))))
            self._case, self._case_fraction = None, 0.0
        else:
            return
        overall = min((self._finished + self._case_fraction) / self._cases, 1.0)
        self.overall = max(self.overall, round(overall, 4))
        fields["overall"] = self.overall

    def event(self, event: str, **fields: object) -> None:
        self._advance(event, fields)
        if self.mode == "json":
            print(json.dumps({"event": event, **fields}), flush=True)
        elif event == "progress" and self.mode == "bar":
            self._show_progress(fields)
        elif event in ("case_done", "error", "done"):
            self._close_bar()
            if event == "case_done" and self.verdicts:
                result = Path(str(fields["result"]))
                outputs = ", ".join(sorted(p.name for p in result.parent.iterdir() if not p.name.startswith(".")))
                print(f"{fields['case']}: {fields['verdict']}", flush=True)
                print(f"  {result.parent}{os.sep} ({outputs})", flush=True)
        elif event == "preview" and self.verdicts:
            print(f"{fields['case'] or 'all cases'}: preview {fields['path']}", flush=True)

    def _show_progress(self, fields: dict[str, object]) -> None:
        case, stage = fields["case"], fields["stage"]
        position = f"{min(self._finished + 1, self._cases)}/{self._cases}"
        if not self.terminal:  # a log: a line when a stage starts, then one every few seconds; no carriage return
            line = f"pancreas-mt: {case} ({position}): {stage}"
            now = self.clock()
            if line != self._shown:
                self._shown, self._printed_at = line, now
                print(line, file=self.stream, flush=True)
            elif now - self._printed_at >= LOG_INTERVAL_S:
                self._printed_at = now
                fraction = min(max(float(fields.get("fraction", 0.0)), 0.0), 1.0)
                print(f"{line} {100 * fraction:.0f}% (run {100 * self.overall:.0f}%)", file=self.stream, flush=True)
            return
        filled = int(30 * self.overall)
        bar = f"\r{case} ({position}) {stage:<10} [{'#' * filled:<30}] {100 * self.overall:3.0f}%"
        if bar != self._shown:  # redraw only when it changes
            self._shown = bar
            self._bar_open = True
            print(bar, end="", file=self.stream, flush=True)

    def _close_bar(self) -> None:
        if self._bar_open:
            print("\r\033[K", end="", file=self.stream, flush=True)
            self._bar_open = False
            self._shown = ""


def expand_inputs(items: Sequence[str]) -> list[Path]:
    """Image files and DICOM series folders named directly or found one level inside given folders.

    Inside a folder, every entry named like an image (whatever it is: a FIFO or a broken link included) and
    every sub-folder that cannot be read is a case too, so that it fails with its reason instead of vanishing.
    """
    from ..engine.io import InputError, is_dicom_folder

    cases: list[Path] = []
    for item in items:
        path = Path(os.path.abspath(item))  # `.` and `..` get their real names; symlinks keep theirs
        if not path.exists() and not path.is_symlink():
            raise InputError(f"{item}: no such file or folder")
        if not path.is_dir() or is_dicom_folder(path):
            cases.append(path)
            continue
        found = _folder_cases(item, path)
        if not found:
            raise InputError(f"{item}: folder holds no images (.nii.gz, .nii, .nrrd, .mha) or DICOM series")
        cases.extend(found)
    return cases


def _folder_cases(item: str, folder: Path) -> list[Path]:
    """The cases one level inside ``folder``: image names, DICOM series folders, and folders that cannot be read."""
    from ..engine.io import IMAGE_SUFFIXES, InputError, is_dicom_folder

    try:
        entries = sorted(folder.iterdir())
    except OSError as error:
        raise InputError(f"{item}: cannot read folder ({error.strerror or error})") from error
    return [
        p
        for p in entries
        if p.name.lower().endswith(IMAGE_SUFFIXES) or (p.is_dir() and (not _listable(p) or is_dicom_folder(p)))
    ]


def _listable(folder: Path) -> bool:
    """Whether ``folder`` can be listed (GDCM says nothing when it cannot, and the case would vanish)."""
    try:
        with os.scandir(folder) as entries:
            next(entries, None)
    except OSError:
        return False
    return True


def shard(cases: Sequence[Path], part_id: int, num_parts: int) -> list[Path]:
    """This part's cases: every ``num_parts``-th from ``part_id``, so parts are disjoint and cover all."""
    return list(cases[part_id::num_parts])


def resolve_model(value: str | None, sha256: str | None = None) -> Path:
    """The model folder for ``-m``: a folder, a model zip (verified and installed as the Slicer module does), or
    an installed model's name; see :func:`~PancreasMultiTaskLib.engine.models.resolve_model`."""
    from ..engine.models import resolve_model as resolve

    return resolve(value, sha256)


def predict_cases(args: argparse.Namespace, reporter: Reporter) -> int:
    """Run every case; returns the number of failed cases."""
    from ..engine.io import InputError, check_writable_folder
    from ..engine.orientation import check_code
    from ..engine.predictor import Predictor

    values = parse_values(args, CLI)  # bad options fail before any input is looked at
    if values["orientation"]:
        values["orientation"] = check_code(values["orientation"])
    options = prediction_options(values)
    inputs = [*(args.input or []), *(args.inputs or [])]
    if not inputs:
        raise InputError("no input given: name image files, DICOM folders or folders with -i (or after --)")
    cases = shard(expand_inputs(inputs), args.part_id, args.num_parts)
    ids, folders = case_names(cases)
    check_output_apart(Path(args.output), inputs, cases, folders)
    out = check_writable_folder(args.output)
    model_path = resolve_model(args.model, args.sha256)
    predictor = Predictor(model_path, options)
    reporter.event("start", cases=len(cases), model=str(model_path), device=str(predictor.device))
    rows, failed = [], 0
    for path, case_id, folder in zip(cases, ids, folders, strict=True):
        try:
            result = _predict_case(predictor, path, case_id, out / folder, args, reporter)
            rows.append(case_row(case_id, result, folder))
            reporter.event("case_done", case=case_id, result=str(out / folder / RESULT_FILE), verdict=result.verdict())
        except Exception as error:  # one case's failure (even MemoryError) must not end the batch
            failed += 1
            message = _one_line(error)
            rows.append(case_row(case_id, None, message=message))
            reporter.event("error", case=case_id, message=message)
            if reporter.mode != "json":
                print(f"pancreas-mt: {case_id}: {message}", file=sys.stderr)
    if len(cases) > 1 or args.num_parts > 1 or any(Path(i).is_dir() and not _is_dicom(Path(i)) for i in inputs):
        write_summary(out / summary_name(args.part_id, args.num_parts), rows)
    reporter.event("done", ok=len(cases) - failed, failed=failed, output=str(out))
    return failed


def case_names(cases: Sequence[Path]) -> tuple[list[str], list[str]]:
    """Each case's id and output folder; refused when two share an id or a folder (compared ignoring case,
    as macOS and Windows do, where one folder would replace the other)."""
    from ..engine.io import InputError, case_folder_name, case_id_from_path

    ids = [case_id_from_path(c) for c in cases]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise InputError(f"several inputs share the case id {duplicates[0]!r}; give them distinct names")
    folders = [case_folder_name(i) for i in ids]
    seen: dict[str, str] = {}
    for case_id, folder in zip(ids, folders, strict=True):
        other = seen.setdefault(folder.casefold(), case_id)
        if other != case_id:
            raise InputError(
                f"inputs {other!r} and {case_id!r} would write the same case folder {folder!r} (names differing "
                "only in letter case are one folder on macOS and Windows); rename one"
            )
    return ids, folders


def check_output_apart(output: Path, inputs: Sequence[str], cases: Sequence[Path], folders: Sequence[str]) -> None:
    """Refuse an OUTDIR that is an input folder, and any case folder that is, holds or lies in an input.

    A case's folder is replaced whole when it is written, so it must never be where inputs are: with
    ``-i D -o D`` a DICOM series folder ``D/x`` would be the output folder of case ``x``, and be replaced.
    """
    from ..engine.io import InputError

    out = Path(os.path.realpath(output))
    for item in inputs:
        if Path(os.path.realpath(item)) == out and Path(item).is_dir() and not _is_dicom(Path(item)):
            raise InputError(
                f"{item}: the output folder is this input folder; case folders written among the inputs could "
                "replace one (a DICOM series folder named like a case), so choose another -o (such as a sub-folder)"
            )
    sources = [Path(os.path.realpath(c)) for c in cases]
    for folder in folders:
        target = out / folder
        for source in sources:
            if target == source or target in source.parents or source in target.parents:
                raise InputError(f"{source}: this input lies where its case folder {target} would be written")


def _one_line(error: BaseException) -> str:
    """A failure as one line: its message, or its kind when it has none (``MemoryError``)."""
    text = str(error).strip()
    if isinstance(error, MemoryError):
        return f"out of memory{': ' + text if text else ''}"
    if isinstance(error, KeyError | IndexError) or not text:
        return f"internal error ({type(error).__name__}: {text}); rerun with --debug and report it"
    return _reason(error)


def _predict_case(predictor, path: Path, case_id: str, case_dir: Path, args: argparse.Namespace, reporter: Reporter):
    """Predict one case and write its outputs into a fresh folder swapped in whole for ``case_dir``."""
    from ..engine.io import atomic_folder, read_case, remove_leftovers, write_image

    started = time.perf_counter()
    check_replaceable(case_dir)
    remove_leftovers(case_dir.parent, case_dir.name)
    image, source = read_case(path, args.series)
    if source.note:
        reporter.event("series", case=case_id, series_instance_uid=source.series_instance_uid, message=source.note)
        if reporter.mode != "json":
            print(f"pancreas-mt: {case_id}: {source.note}", file=sys.stderr)

    def progress(stage: str, fraction: float) -> None:
        reporter.event("progress", case=case_id, stage=stage, fraction=round(fraction, 3))

    prediction = predictor.predict(image, case_id=case_id, input_path=str(path), progress=progress)
    result = prediction.result
    result.source = {"file": source.file, "series_instance_uid": source.series_instance_uid}
    with atomic_folder(case_dir) as folder:
        write_image(prediction.segmentation, folder / SEGMENTATION_FILE)
        result.segmentation_file = SEGMENTATION_FILE
        if prediction.lesion_probability is not None:
            write_image(prediction.lesion_probability, folder / PROBABILITY_FILE)
            result.probabilities_file = PROBABILITY_FILE
        result.timings_s["total"] = round(time.perf_counter() - started, 3)
        result.write_json(folder / RESULT_FILE)
    return result


def check_replaceable(case_dir: Path) -> None:
    """Refuse to replace anything at ``case_dir`` but an earlier run's case folder (one holding ``result.json``).

    A case folder is replaced whole; a file or a folder of someone else's that happens to have the case's
    name in OUTDIR is left alone and the case fails, saying so.
    """
    from ..engine.io import InputError

    if case_dir.is_symlink() or (case_dir.exists() and not (case_dir / RESULT_FILE).is_file()):
        raise InputError(
            f"{case_dir} exists and is no case folder of an earlier run (it holds no {RESULT_FILE}); "
            "it is left alone: move it, or choose another -o"
        )


def _is_dicom(path: Path) -> bool:
    from ..engine.io import is_dicom_folder

    return is_dicom_folder(path)


DESCRIPTION = "Predict pancreas, lesion and lesion subtype for CT volumes with an nnU-Net v2 model."


def _add_preview_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--preview",
        action="store_true",
        help="also write OUTDIR/<case>/preview.png (largest-lesion axial slice, coronal view, subtype bars, "
        "per-slice curve) and, for several cases, the contact sheet OUTDIR/previews.png (default: off)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pancreas-mt", description=DESCRIPTION)
    parser.add_argument(
        "--debug", action="store_true", help="show tracebacks instead of one-line errors (default: off)"
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{predict,demo,models}")

    predict = sub.add_parser(
        "predict",
        help="segment and classify CT volumes",
        description="Segment pancreas and lesion and classify the lesion subtype. Each case gets "
        "OUTDIR/<case>/segmentation.nii.gz and result.json (written last); a folder or several inputs "
        "also give OUTDIR/summary.csv. Failed cases print a one-line reason; the exit code is then 1.",
    )
    predict.add_argument(
        "-i",
        "--input",
        nargs="+",
        metavar="IN",
        help="image files (.nii.gz .nii .nrrd .mha), DICOM series folders, "
        "or folders of them (read one level deep); required unless inputs follow -- (default: none)",
    )
    predict.add_argument(
        "inputs",
        nargs="*",
        metavar="IN",
        help="more inputs; after -- a name may start with '-' (-o OUT -- -x.nii.gz) (default: none)",
    )
    predict.add_argument(
        "-o", "--output", required=True, metavar="OUTDIR", help="output folder, created if missing; required"
    )
    predict.add_argument(
        "--sha256",
        metavar="HEX",
        help="the publisher's SHA-256 of the -m model zip (default: read from <zip>.sha256 beside it; "
        "a zip with neither is refused)",
    )
    add_arguments(predict, CLI)
    predict.add_argument(
        "--progress",
        default="bar",
        choices=("bar", "json", "none"),
        help="bar: a bar on stderr when it is a terminal, else one line per stage and case; json: one JSON event "
        "a line on stdout, for programs; none: only verdicts and output paths (default: %(default)s)",
    )
    predict.add_argument(
        "--part-id",
        type=int,
        default=0,
        metavar="K",
        help="this shard's index, 0..N-1 with --num-parts N (default: %(default)s)",
    )
    predict.add_argument(
        "--num-parts",
        type=int,
        default=1,
        metavar="N",
        help="split the case list across this many runs (default: %(default)s)",
    )
    _add_preview_argument(predict)

    demo = sub.add_parser(
        "demo",
        help="run the bundled demo model on the bundled sample case",
        description="Run the bundled demo model on the bundled sample case and print the verdict and output paths.",
    )
    demo.add_argument(
        "-o", "--output", default="pancreas-mt-demo", metavar="OUTDIR", help="output folder (default: %(default)s)"
    )
    device = BY_NAME["device"]
    demo.add_argument(
        "--device", default=device.default, choices=device.choices, help=f"{device.help} (default: %(default)s)"
    )
    _add_preview_argument(demo)
    models_command.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="pancreas-mt: %(message)s")
    if args.command == "predict" and not 0 <= args.part_id < args.num_parts:
        parser.error(f"--part-id must be in 0..{args.num_parts - 1}")
    try:
        from ..engine.model_store import open_store

        open_store()  # models of the old default store (~/.cache/pancreas-mt) move in on first use
        if args.command == "demo":
            return run_demo(args)
        if args.command == "models":
            return models_command.run(args)
        reporter = Reporter(args.progress)
        failed = predict_cases(args, reporter)
        if args.preview:
            write_previews(Path(args.output), reporter)
        return EXIT_FAILED if failed else EXIT_OK
    except KeyboardInterrupt:
        print("pancreas-mt: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # one line for people; --debug for the traceback
        if args.debug:
            raise
        message = _reason(error)
        if getattr(args, "progress", "") == "json":
            print(json.dumps({"event": "error", "case": None, "message": message}), flush=True)
        print(f"pancreas-mt: error: {message}", file=sys.stderr)
        return EXIT_FAILED


def write_previews(output_dir: Path, reporter: Reporter) -> None:
    """``preview.png`` for each finished case and, for several cases, the contact sheet and ``index.html``; a
    preview that cannot be drawn is reported with its reason and fails neither its case nor the batch."""
    from ..engine.result import CaseResult
    from .preview import SheetRow, write_case_preview, write_contact_sheet

    rows = []
    for case, result, error in reporter.outcomes:
        preview, verdict = None, ""
        if result is not None:
            try:
                verdict = CaseResult.read_json(Path(str(result))).verdict()
                preview = write_case_preview(Path(str(result)).parent)
                reporter.event("preview", case=case, path=str(preview))
            except Exception as failure:  # a picture must never end the batch
                error = f"preview failed: {_reason(failure)}"
                print(f"pancreas-mt: {case}: {error}", file=sys.stderr)
        rows.append(SheetRow(case, preview, error, verdict))
    if len(rows) > 1:
        try:
            sheet = write_contact_sheet(output_dir, rows)
            reporter.event("preview", case=None, path=str(sheet))
        except Exception as failure:  # index.html is written first and stays
            print(f"pancreas-mt: contact sheet failed: {_reason(failure)}", file=sys.stderr)


def _reason(error: BaseException) -> str:
    """An error's first non-empty line, or its kind (matplotlib's parse errors start with a blank line)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def run_demo(args: argparse.Namespace) -> int:
    from ..engine.demo import demo_model_folder, sample_case

    image = sample_case()
    ns = build_parser().parse_args(
        ["predict", "-i", str(image), "-o", args.output, "-m", str(demo_model_folder()), "--device", args.device]
    )
    reporter = Reporter("bar", verdicts=False)
    failed = predict_cases(ns, reporter)
    if args.preview:
        write_previews(Path(args.output), reporter)
    if failed:
        return EXIT_FAILED
    from ..engine.io import case_folder_name, case_id_from_path
    from ..engine.result import CaseResult

    case_dir = Path(args.output) / case_folder_name(case_id_from_path(image))
    result = CaseResult.read_json(case_dir / RESULT_FILE)
    print(result.verdict())
    m = result.measurements
    print(f"Lesion {m.lesion_volume_ml:.1f} mL, largest axial diameter {m.lesion_max_axial_diameter_mm:.1f} mm")
    outputs = [case_dir / SEGMENTATION_FILE, case_dir / RESULT_FILE]
    if args.preview:
        from .preview import PREVIEW_FILE

        outputs.append(case_dir / PREVIEW_FILE)
    print(f"Outputs: {', '.join(map(str, outputs))}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
