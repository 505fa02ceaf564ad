"""Batch prediction without the GUI.

In Slicer::

    Slicer --no-main-window --python-script <module folder>/Scripts/batch_predict.py -- \\
        --input CT1.nrrd CT2.nii.gz dicom_folder/ --output results/ [--model NAME_OR_FOLDER] [--device cpu]

or with any Python that has the engine installed (``python batch_predict.py --input ... --output ...``).
Per case it writes ``<output>/<case>/result.json``, ``segmentation.nii.gz`` (labels 0/1/2) and, where the
MRML libraries are importable (Slicer, or slicer-core), ``segmentation.seg.nrrd`` with named segments and
standard terminology; ``--save-scene`` adds ``scene.mrb``. ``summary.csv`` lists every case, in the CLI's
schema (``PancreasMultiTaskLib.cli.summary``), whatever the number of inputs. The exit code is non-zero when any
case failed; the other cases are still done. ``--model`` takes a model folder or
the name of a model in the store the Slicer module uses (so a model added in the GUI runs here by name).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Any

MODULE_DIR = Path(__file__).resolve().parents[1]
if str(MODULE_DIR) not in sys.path:
    sys.path.insert(0, str(MODULE_DIR))

from PancreasMultiTaskLib.cli.summary import Row, case_row, summary_name, write_summary  # noqa: E402
from PancreasMultiTaskLib.engine.options import BATCH, add_arguments, parse_values  # noqa: E402
from PancreasMultiTaskLib.engine.result import CaseResult  # noqa: E402
from PancreasMultiTaskLib.slicer import dependencies  # noqa: E402
from PancreasMultiTaskLib.slicer.logic import PredictionLogic  # noqa: E402
from PancreasMultiTaskLib.slicer.runner import CLI_MODULE, PredictionProcess, predict_command  # noqa: E402

MISSING_ENGINE_EXIT = 77  # ctest's SKIP_RETURN_CODE of the batch test


def parse_args(argv: list[str]) -> argparse.Namespace:
    if argv and argv[0] == "--":
        argv = argv[1:]
    parser = argparse.ArgumentParser(prog="batch_predict.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", "-i", nargs="+", required=True, help="image files, DICOM folders or folders")
    parser.add_argument("--output", "-o", required=True, help="output folder")
    add_arguments(parser, BATCH)
    parser.add_argument("--save-scene", action="store_true", help="also write <case>/scene.mrb (needs MRML)")
    parser.add_argument("--cli-module", default=CLI_MODULE, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def store_logic() -> PredictionLogic:
    """The model store the Slicer module and the CLI use; inside Slicer, models earlier releases kept in Slicer's
    cache folder are moved into it first."""
    cache = None
    if _in_slicer():
        import slicer

        cache = getattr(slicer.app, "cachePath", None)
    return PredictionLogic(cachePath=cache)


def python_executable() -> str:
    """``PythonSlicer`` inside Slicer, this interpreter elsewhere."""
    found = shutil.which("PythonSlicer") if _in_slicer() else None
    return found or sys.executable


def _in_slicer() -> bool:
    try:
        import slicer

        return getattr(slicer, "app", None) is not None
    except ImportError:
        return False


def _mrml_available() -> bool:
    try:
        import slicer

        return hasattr(slicer, "vtkMRMLScene")
    except ImportError:
        return False


def write_seg_nrrd(result: CaseResult, result_dir: Path, save_scene: bool) -> list[Path]:
    """Load the case into a fresh MRML scene; write ``segmentation.seg.nrrd`` (and ``scene.mrb``)."""
    import slicer
    from PancreasMultiTaskLib.slicer import scene as pmt_scene

    scene = slicer.vtkMRMLScene()
    slicer.vtkMRMLSubjectHierarchyNode.ResolveSubjectHierarchy(scene)
    volume = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", result.case_id)
    storage = scene.AddNewNodeByClass("vtkMRMLVolumeArchetypeStorageNode")
    storage.SetFileName(str(result.input_path))
    if not Path(result.input_path).is_file() or not storage.ReadData(volume):
        raise ValueError(f"{result.input_path}: cannot be read back to build the .seg.nrrd (DICOM folder?)")
    volume.SetAndObserveStorageNodeID(storage.GetID())
    volume.CreateDefaultDisplayNodes()
    nodes = pmt_scene.load_result_into_scene(scene, volume, result, result_dir)
    segmentation = scene.GetNodeByID(nodes.segmentation_id)
    seg_path = result_dir / "segmentation.seg.nrrd"
    seg_storage = scene.AddNewNodeByClass("vtkMRMLSegmentationStorageNode")
    seg_storage.SetFileName(str(seg_path))
    if not seg_storage.WriteData(segmentation):
        raise RuntimeError(f"{seg_path}: writing the segmentation failed")
    written = [seg_path]
    if save_scene:
        written.append(pmt_scene.save_scene_bundle(scene, result_dir / "scene.mrb"))
    return written


def summary_rows(outcome, order: list[str], args: argparse.Namespace) -> tuple[list[Row], dict[str, str]]:
    """The summary's rows in the order the CLI reported the cases (writing each ``.seg.nrrd`` on the way), and
    the failed cases with their reasons."""
    failures = dict(outcome.errors)
    mrml = _mrml_available()
    rows: dict[str, Row] = {}
    for case, result_path in outcome.results.items():
        try:
            result = CaseResult.read_json(result_path)
        except ValueError as error:
            failures[case] = str(error)
            continue
        message = ""
        if mrml:
            try:
                write_seg_nrrd(result, Path(result_path).parent, args.save_scene)
            except Exception as error:
                message = f"segmentation.seg.nrrd not written: {error}"
                print(f"[{case}] {message}", file=sys.stderr)
        rows[case] = case_row(case, result, Path(result_path).parent.name, message)
    rows.update({case: case_row(case, None, message=message) for case, message in failures.items()})
    ranked = {case: i for i, case in enumerate(order)}
    return sorted(rows.values(), key=lambda row: ranked.get(str(row["case_id"]), len(ranked))), failures


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    output = Path(args.output)
    missing = [name for name in ("torch", "nnunetv2") if dependencies.installed_version(name) is None]
    if missing:
        print(f"error: {', '.join(missing)} not installed; install them from the module panel", file=sys.stderr)
        return MISSING_ENGINE_EXIT
    logic = store_logic()
    try:
        options = parse_values(args, BATCH)
        options["model"] = str(logic.modelPath(args.model) if args.model else logic.demoModelPath())
    except (ValueError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    command = predict_command(args.input, output, options, python=python_executable(), module=args.cli_module)

    order: list[str] = []

    def on_event(event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind in ("case_done", "error") and event.get("case") is not None:
            order.append(str(event["case"]))
        if kind == "progress":
            print(
                f"[{event.get('case')}] {event.get('stage')} {100 * float(event.get('fraction', 0)):.0f}%", flush=True
            )
        elif kind == "case_done":
            print(f"[{event.get('case')}] done: {event.get('result')}", flush=True)
        elif kind == "error":
            print(f"[{event.get('case')}] FAILED: {event.get('message')}", file=sys.stderr, flush=True)

    process = PredictionProcess(
        command, on_event=on_event, on_log=lambda line: print(line, file=sys.stderr), env=logic.childEnvironment()
    )
    try:
        process.start()
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    outcome = process.wait()

    rows, failures = summary_rows(outcome, order, args)
    if rows:  # replaces the CLI's, so that one schema results whatever the number of inputs
        write_summary(output / summary_name(), rows)

    done = len(outcome.results)
    print(f"{done} case(s) done, {len(failures)} failed; results in {output}", flush=True)
    if outcome.ok and not failures:
        return 0
    reason = outcome.reason() or "; ".join(f"{c}: {m}" for c, m in failures.items())
    print(f"error: {reason}", file=sys.stderr)
    return 1


def _exit(code: int) -> None:
    """Leave Slicer (when run with --python-script) or Python with ``code``."""
    if _in_slicer():
        import slicer

        slicer.util.exit(code)
    else:
        sys.exit(code)


def run(argv: list[str] | None = None) -> int:
    """``main`` with any unexpected error turned into a one-line message and exit code 1: inside
    ``Slicer --no-main-window`` an uncaught exception would leave Slicer running forever."""
    try:
        return main(argv)
    except SystemExit as done:  # argparse: usage errors (2) and --help (0)
        return done.code if isinstance(done.code, int) else 1
    except BaseException as error:
        import traceback

        traceback.print_exc()
        print(f"error: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    _exit(run())
