"""``pancreas-mt``: predict pancreas, lesion and lesion subtype for CT volumes from the command line.

``predict`` runs a model folder over files, DICOM series folders, or folders of them; each case gets
``OUTDIR/<case_id>/segmentation.nii.gz`` and ``result.json`` (written last, so its presence means the
case is complete); several cases also give ``OUTDIR/summary.csv``. ``--progress json`` prints one
JSON object a line on stdout for programs such as the Slicer module. Failures print a one-line
reason and give a non-zero exit code; other cases still run.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
SEGMENTATION_FILE = "segmentation.nii.gz"
PROBABILITY_FILE = "lesion_probability.nii.gz"
RESULT_FILE = "result.json"
SUMMARY_FILE = "summary.csv"


class Reporter:
    """Progress for people (stderr) or for programs (JSON lines on stdout)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self._last_bar = ""

    def event(self, event: str, **fields: object) -> None:
        if self.mode == "json":
            print(json.dumps({"event": event, **fields}), flush=True)
        elif self.mode == "bar":
            if event == "progress":
                bar = f"\r{fields['case']}: {fields['stage']:<10} [{'#' * int(20 * float(fields['fraction'])):<20}]"
                if bar != self._last_bar:  # redraw only when it changes
                    self._last_bar = bar
                    print(bar, end="", file=sys.stderr, flush=True)
            elif event == "case_done":
                print(f"\r{fields['case']}: {fields['verdict']}  -> {fields['result']}", file=sys.stderr, flush=True)
            elif event == "error":
                print(f"\r{fields['case']}: error: {fields['message']}", file=sys.stderr, flush=True)


def expand_inputs(items: Sequence[str]) -> list[Path]:
    """Image files and DICOM series folders named directly or found one level inside given folders."""
    from .io import InputError, is_dicom_folder, is_image_file

    cases: list[Path] = []
    for item in items:
        path = Path(item)
        if not path.exists():
            raise InputError(f"{path}: no such file or folder")
        if path.is_file() or is_dicom_folder(path):
            cases.append(path)
            continue
        found = sorted(p for p in path.iterdir() if is_image_file(p) or (p.is_dir() and is_dicom_folder(p)))
        if not found:
            raise InputError(f"{path}: folder holds no images (.nii.gz, .nii, .nrrd, .mha) or DICOM series")
        cases.extend(found)
    return cases


def _parse_folds(values: Sequence[str] | None) -> list[str] | None:
    if not values:
        return None
    return [f.strip() for v in values for f in v.split(",") if f.strip()]


def _summary_row(case_id: str, result, error: str = "") -> dict[str, object]:
    row: dict[str, object] = {"case_id": case_id, "status": "failed" if error else "ok", "error": error}
    if result is not None:
        m = result.measurements
        row.update(
            pancreas_volume_ml=m.pancreas_volume_ml,
            lesion_volume_ml=m.lesion_volume_ml,
            lesion_max_axial_diameter_mm=m.lesion_max_axial_diameter_mm,
        )
        if result.subtype is not None:
            s = result.subtype
            row.update(subtype=s.predicted, probability=round(s.probability, 4), uncertain=s.uncertainty.uncertain)
            row.update({f"p_{name}": round(p, 4) for name, p in s.probabilities.items()})
    return row


def write_summary(path: Path, rows: list[dict[str, object]]) -> None:
    from .io import atomic_path

    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def predict_cases(args: argparse.Namespace, reporter: Reporter) -> int:
    """Run every case; returns the number of failed cases."""
    from .io import InputError, case_id_from_path, check_writable_folder, read_image, write_image
    from .model_folder import ModelFolderError
    from .predictor import PredictionOptions, Predictor

    cases = expand_inputs(args.input)
    if args.num_parts > 1:
        cases = cases[args.part_id :: args.num_parts]
    ids = [case_id_from_path(c) for c in cases]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise InputError(f"several inputs share the case id {duplicates[0]!r}; give them distinct names")
    out = check_writable_folder(args.output)
    options = PredictionOptions(
        folds=_parse_folds(args.folds),
        use_mirroring=not args.no_tta,
        device=args.device,
        pooling=args.pooling,
        roi=args.roi,
        save_probabilities=args.save_probabilities,
        checkpoint_name=f"checkpoint_{args.checkpoint}.pth",
        batch_size=args.batch_size,
        backend=args.backend,
        precision=args.precision,
    )
    model_path = args.model or default_model()
    predictor = Predictor(model_path, options)
    reporter.event("start", cases=len(cases), model=str(model_path), device=str(predictor.device))
    rows, failed = [], 0
    for path, case_id in zip(cases, ids, strict=True):
        started = time.perf_counter()
        try:
            image = read_image(path)

            def progress(stage: str, fraction: float, case_id: str = case_id) -> None:
                reporter.event("progress", case=case_id, stage=stage, fraction=round(fraction, 3))

            prediction = predictor.predict(image, case_id=case_id, input_path=str(path), progress=progress)
            case_dir = out / case_id
            result = prediction.result
            write_image(prediction.segmentation, case_dir / SEGMENTATION_FILE)
            result.segmentation_file = SEGMENTATION_FILE
            if prediction.lesion_probability is not None:
                write_image(prediction.lesion_probability, case_dir / PROBABILITY_FILE)
                result.probabilities_file = PROBABILITY_FILE
            result.timings_s["total"] = round(time.perf_counter() - started, 3)
            result.write_json(case_dir / RESULT_FILE)
            rows.append(_summary_row(case_id, result))
            reporter.event("case_done", case=case_id, result=str(case_dir / RESULT_FILE), verdict=result.verdict())
        except (InputError, ModelFolderError, OSError, ValueError, RuntimeError) as error:
            failed += 1
            message = str(error).splitlines()[0] if str(error) else type(error).__name__
            rows.append(_summary_row(case_id, None, message))
            reporter.event("error", case=case_id, message=message)
            if reporter.mode != "json":
                print(f"pancreas-mt: {case_id}: {message}", file=sys.stderr)
    if len(cases) > 1 or any(Path(i).is_dir() and not _is_dicom(Path(i)) for i in args.input):
        write_summary(out / SUMMARY_FILE, rows)
    reporter.event("done", ok=len(cases) - failed, failed=failed, output=str(out))
    return failed


def _is_dicom(path: Path) -> bool:
    from .io import is_dicom_folder

    return is_dicom_folder(path)


def default_model() -> Path:
    """The model used when ``-m`` is not given: ``$PANCREAS_MT_MODEL``, else the bundled demo model."""
    if os.environ.get("PANCREAS_MT_MODEL"):
        return Path(os.environ["PANCREAS_MT_MODEL"])
    from .demo import demo_model_folder

    return demo_model_folder()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pancreas-mt", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)

    predict = sub.add_parser("predict", help="segment and classify CT volumes")
    predict.add_argument("-i", "--input", nargs="+", required=True, help="image files, DICOM folders, or folders")
    predict.add_argument("-o", "--output", required=True, help="output folder")
    predict.add_argument("-m", "--model", help="model folder <Trainer>__<Plans>__2d (default: bundled demo)")
    predict.add_argument("--folds", nargs="+", help="folds to ensemble (default: all present)")
    predict.add_argument("--checkpoint", choices=("final", "best"), default="final")
    predict.add_argument("--no-tta", action="store_true", help="no mirroring test-time augmentation")
    predict.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    predict.add_argument(
        "--roi",
        nargs=6,
        type=float,
        metavar=("X0", "Y0", "Z0", "X1", "Y1", "Z1"),
        help="box in physical LPS millimetres to predict in (default: whole volume)",
    )
    predict.add_argument("--pooling", default="lesion-weighted", choices=("lesion-weighted", "uniform"))
    predict.add_argument("--save-probabilities", action="store_true", help="also write the lesion probability map")
    predict.add_argument("--progress", default="bar", choices=("bar", "json", "none"))
    predict.add_argument("--batch-size", type=int, help="network samples per forward (default: from free memory)")
    predict.add_argument(
        "--backend",
        default="auto",
        choices=("auto", "torch", "openvino", "onnxruntime"),  # backends.BACKENDS, without importing torch for --help
        help="auto: on the CPU OpenVINO, else ONNX Runtime, when installed; otherwise PyTorch",
    )
    predict.add_argument(
        "--precision",
        default="auto",
        choices=("auto", "float32", "bfloat16"),  # predictor.PRECISIONS, without importing torch for --help
        help="the network's arithmetic; auto: float16 on CUDA, bfloat16 on CPUs with bfloat16 units where the "
        "held-out quality check allowed it, else float32",
    )
    predict.add_argument("--part-id", type=int, default=0, help="this shard's index (with --num-parts)")
    predict.add_argument("--num-parts", type=int, default=1, help="split the case list across this many runs")

    demo = sub.add_parser("demo", help="run the bundled demo model on the bundled sample case")
    demo.add_argument("-o", "--output", default="pancreas-mt-demo", help="output folder (default: %(default)s)")
    demo.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="pancreas-mt: %(message)s")
    if args.command == "predict" and not 0 <= args.part_id < args.num_parts:
        parser.error(f"--part-id must be in 0..{args.num_parts - 1}")
    try:
        if args.command == "demo":
            return run_demo(args)
        reporter = Reporter(args.progress)
        failed = predict_cases(args, reporter)
        return EXIT_FAILED if failed else EXIT_OK
    except KeyboardInterrupt:
        print("pancreas-mt: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # one line for people; --debug for the traceback
        if args.debug:
            raise
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        if getattr(args, "progress", "") == "json":
            print(json.dumps({"event": "error", "case": None, "message": message}), flush=True)
        print(f"pancreas-mt: error: {message}", file=sys.stderr)
        return EXIT_FAILED


def run_demo(args: argparse.Namespace) -> int:
    from .demo import demo_model_folder, sample_case

    image = sample_case()
    ns = build_parser().parse_args(
        ["predict", "-i", str(image), "-o", args.output, "-m", str(demo_model_folder()), "--device", args.device]
    )
    failed = predict_cases(ns, Reporter("bar"))
    if failed:
        return EXIT_FAILED
    from .io import case_id_from_path
    from .result import CaseResult

    case_dir = Path(args.output) / case_id_from_path(image)
    result = CaseResult.read_json(case_dir / RESULT_FILE)
    print(result.verdict())
    m = result.measurements
    print(f"Lesion {m.lesion_volume_ml:.1f} mL, largest axial diameter {m.lesion_max_axial_diameter_mm:.1f} mm")
    print(f"Outputs: {case_dir / SEGMENTATION_FILE}, {case_dir / RESULT_FILE}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
