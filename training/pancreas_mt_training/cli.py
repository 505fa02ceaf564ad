"""``pancreas-mt-train``: phantoms, convert, plan, train, localizer, evaluate, baselines, ablation, competence,
calibrate, export, import, demo-model.

nnU-Net's folders come from its usual environment variables (``nnUNet_raw``,
``nnUNet_preprocessed``, ``nnUNet_results``). Errors end the command with a one-line reason and
exit status 1.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from PancreasMultiTaskLib.engine.network import ABLATIONS
from PancreasMultiTaskLib.engine.options import BACKENDS, CLASSIFICATION_MODES, DEVICES, POOLING_METHODS, default

from .losses import AUGMENTATIONS, PRESETS
from .phantoms import GENERATORS
from .phantoms_abdomen import STRESS, AbdomenParams, stress_params

EPILOG = "Each subcommand has its own --help."


def _shape(values: Sequence[int]) -> tuple[int, int, int]:
    if len(values) != 3:
        raise argparse.ArgumentTypeError("--shape needs three numbers: Z Y X")
    return tuple(values)  # type: ignore[return-value]


def _abdomen_params(args: argparse.Namespace) -> AbdomenParams:
    """The abdomen generator's ranges: defaults, then the stress set, then an explicit normal fraction."""
    params = AbdomenParams(slices=args.slices)
    if args.stress:
        params = stress_params(args.stress, params)
    if args.normal_fraction is not None:
        params = replace(params, normal_fraction=args.normal_fraction)
    return params


#: ``--shape``'s default for the centred generator (z, y, x voxels).
CENTRED_SHAPE = (16, 48, 48)


def _jobs(args: argparse.Namespace) -> int:
    """``--jobs``, else nnU-Net's worker count (:func:`~.parallel.default_jobs`)."""
    from .parallel import default_jobs

    if args.jobs is not None and args.jobs < 1:
        raise ValueError(f"--jobs must be at least 1, got {args.jobs}")
    return args.jobs if args.jobs is not None else default_jobs()


def _cmd_phantoms(args: argparse.Namespace) -> None:
    from .phantoms import FIELD_SIZE, write_phantoms

    for option, value, generator in (("--shape", args.shape, "centred"), ("--field-size", args.field_size, "field")):
        if value is not None and args.generator != generator:
            raise ValueError(f"{option} is for the {generator} generator, not {args.generator} (give --generator)")
    jobs = _jobs(args)
    out = write_phantoms(
        args.output,
        args.seed,
        args.count,
        _shape(args.shape or CENTRED_SHAPE),
        args.layout,
        generator=args.generator,
        orientation=args.orientation,
        field_size=tuple(args.field_size or FIELD_SIZE),
        abdomen=_abdomen_params(args),
        jobs=jobs,
    )
    print(
        f"Wrote {args.count} {args.generator} phantoms (seed {args.seed}, {args.layout} layout,"
        f" {jobs} process{'es' if jobs > 1 else ''}) to {out}"
    )


def _cmd_convert(args: argparse.Namespace) -> None:
    from nnunetv2.paths import nnUNet_raw

    from .convert import collect_generic, collect_paper, convert_cases, dataset_folder

    raw_root = args.raw_root or nnUNet_raw.require()
    target = dataset_folder(raw_root, args.dataset_id, args.name)
    names = args.subtype_names.split(",") if args.subtype_names else None
    test = []
    if args.paper_root:
        cases, default_names = collect_paper(args.paper_root, "train")
        if (Path(args.paper_root) / "validation").is_dir():
            test, _ = collect_paper(args.paper_root, "validation")
    else:
        if not (args.images and args.labels and args.subtypes):
            raise ValueError("convert needs --paper-root, or --images, --labels and --subtypes")
        cases, default_names = collect_generic(args.images, args.labels, args.subtypes, names)
    jobs = _jobs(args)
    convert_cases(cases, target, names or default_names, test, regions=args.regions, jobs=jobs)
    print(f"Wrote nnU-Net dataset {target} ({len(cases)} training, {len(test)} held-out cases)")


def _training_options(args: argparse.Namespace) -> dict:
    options = {"preset": args.preset}
    for key, value in (
        ("num_epochs", args.epochs),
        ("num_iterations_per_epoch", args.iterations),
        ("num_val_iterations_per_epoch", args.val_iterations),
        ("class_loss_weight", args.class_weight),
        ("class_slices", args.class_slices),
        ("augmentation", args.augmentation),
        ("head_refit_iterations", args.head_refit_iterations),
    ):
        if value is not None:
            options[key] = value
    return options


def _plan_options(args: argparse.Namespace) -> dict:
    return {
        "features": args.features,
        "blocks": args.blocks,
        "patch_size": args.patch_size,
        "batch_size": args.batch_size,
        "training": _training_options(args),
        "window_margin_hu": args.window_margin_hu,
        "spacing_mm": args.spacing_mm,
        "classifier_view": args.classifier_view,
        "num_processes": args.num_processes,
    }


def _cmd_plan(args: argparse.Namespace) -> None:
    from .plans import plan_dataset

    path = plan_dataset(
        args.dataset_id, args.plans, ablation=args.ablation, preprocess=not args.no_preprocess, **_plan_options(args)
    )
    print(f"Wrote multi-task plans {path}")


def _use_training_precision(args: argparse.Namespace) -> None:
    """``--precision`` for this process's trainers (refused where the device cannot take it; a warning where the
    CPU would emulate bfloat16)."""
    from PancreasMultiTaskLib.engine.precision import cpu_bf16_units

    from .train_precision import PRECISION_ENV, check_training_precision

    problem = check_training_precision(args.precision, args.device)
    if problem:
        raise ValueError(problem)
    if args.precision == "bfloat16" and not cpu_bf16_units():
        print(
            "pancreas-mt-train: warning: this CPU has no bfloat16 units (AMX or AVX512-BF16): bfloat16 is emulated "
            "and slower than float32 here",
            file=sys.stderr,
        )
    os.environ[PRECISION_ENV] = args.precision


def _add_precision_argument(parser: argparse.ArgumentParser) -> None:
    from .train_precision import TRAINING_PRECISIONS

    parser.add_argument(
        "--precision",
        choices=TRAINING_PRECISIONS,
        default="float32",
        help="arithmetic of training on a CPU: nnU-Net's float32, or bfloat16 autocast for a CPU with AMX or "
        "AVX512-BF16 units (weights and losses stay float32; CUDA keeps nnU-Net's float16 autocast) "
        "(default: %(default)s)",
    )


def _cmd_train(args: argparse.Namespace) -> None:
    import torch
    from nnunetv2.run.run_training import run_training

    from .trainer import external_trainer_folder

    _use_training_precision(args)
    os.environ.setdefault("nnUNet_extTrainer", str(external_trainer_folder()))
    fold = args.fold if args.fold == "all" else int(args.fold)
    run_training(
        str(args.dataset_id),
        "2d",
        fold,
        args.trainer,
        args.plans,
        continue_training=args.resume,
        only_run_validation=args.validation_only,
        device=torch.device(args.device),
    )


def _cmd_localizer(args: argparse.Namespace) -> None:
    from nnunetv2.paths import nnUNet_raw
    from nnunetv2.utilities.dataset_name_id_conversion import convert_id_to_dataset_name

    from .localizer import attach_localizer, train_localizer

    _use_training_precision(args)
    source = Path(nnUNet_raw.require()) / convert_id_to_dataset_name(args.source_id)
    training = {"num_epochs": args.epochs, "num_iterations_per_epoch": args.iterations}
    training["num_val_iterations_per_epoch"] = args.val_iterations
    trained = train_localizer(
        source,
        args.dataset_id,
        args.name,
        args.spacing,
        training=training,
        plan_options={"features": args.features, "blocks": args.blocks, "patch_size": args.patch_size},
        batch_size=args.batch_size,
        num_processes=args.num_processes,
        fold=args.fold,
        device=args.device,
    )
    print(f"Trained localizer {trained}")
    if args.attach:
        print(f"Attached it as {attach_localizer(trained, args.attach)}")


def _cmd_evaluate(args: argparse.Namespace) -> None:
    from .evaluate import cross_validation, evaluate_held_out, held_out_cases, write_report

    results = []
    if args.cv:
        if not args.gt:
            raise ValueError("--cv needs --gt (nnUNet_preprocessed/<dataset>/gt_segmentations)")
        results.append(cross_validation(args.model, args.gt))
    if args.held_out:
        cases = held_out_cases(args.held_out)
        results.append(evaluate_held_out(args.model, cases, args.output, args.folds, not args.no_tta))
    if not results:
        raise ValueError("evaluate needs --cv and/or --held-out")
    report = write_report(results, args.output, args.title)
    print(f"Wrote {report} and {Path(args.output) / 'metrics.json'}")


def _cmd_baselines(args: argparse.Namespace) -> None:
    import json

    from PancreasMultiTaskLib.engine.io import atomic_path

    from .baseline import baseline_table, run_baselines
    from .evaluate import generic_cases

    results = run_baselines(generic_cases(args.train, skip_normal=True), generic_cases(args.test, skip_normal=True))
    print("\n".join(baseline_table(results)))
    if args.json:
        with atomic_path(Path(args.json)) as tmp:
            tmp.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        print(f"Wrote {args.json}")


def _cmd_ablation(args: argparse.Namespace) -> None:
    from .ablation import run_ablation

    options = _plan_options(args)
    table = run_ablation(args.dataset_id, args.names, args.output, args.fold, args.device, **options)
    print(table.read_text(encoding="utf-8"))


def _cmd_export(args: argparse.Namespace) -> None:
    from .export import export_model

    path = export_model(args.model, args.output, args.name, args.folds)
    print(f"Wrote {path} ({path.stat().st_size / 1e6:.1f} MB) and {path.name}.sha256")


def _cmd_import(args: argparse.Namespace) -> None:
    from PancreasMultiTaskLib.engine.model_zip import import_model_zip

    path = import_model_zip(args.zip, args.models_dir, args.sha256, overwrite=args.overwrite)
    print(f"Installed {path}")


def _cmd_competence(args: argparse.Namespace) -> None:
    import json

    from nnunetv2.paths import nnUNet_preprocessed

    from .competence import FINGERPRINT_FILE, build_record, write_record

    raw, model = Path(args.raw), Path(args.model)
    fingerprint = Path(args.fingerprint or Path(nnUNet_preprocessed.require()) / raw.name / FINGERPRINT_FILE)
    record = build_record(
        raw,
        json.loads(fingerprint.read_text(encoding="utf-8")),
        json.loads((model / "plans.json").read_text(encoding="utf-8")),
        synthetic=args.synthetic,
        min_lesion_ml=args.min_lesion_ml,
    )
    print(f"Wrote {write_record(record, model)}")


def _cmd_postprocessing(args: argparse.Namespace) -> None:
    from .postprocessing import determine_model_postprocessing

    summary = determine_model_postprocessing(args.model, args.raw, args.folds, args.processes)
    before, after = summary["input_folder"]["mean"], summary["postprocessed"]["mean"]
    steps = summary["postprocessing_kwargs"]
    print(
        f"Postprocessing chosen on the validation cases of folds {', '.join(summary['folds'])}: "
        + ("; ".join(f"keep the largest part of {s['labels_or_regions']}" for s in steps) or "none")
    )
    for key in sorted(before):
        print(f"  Dice of {key}: {before[key]['Dice']:.4f} -> {after[key]['Dice']:.4f}")
    print(f"Wrote {Path(args.model) / 'postprocessing.json'}")


def _cmd_calibrate(args: argparse.Namespace) -> None:
    from .calibration import calibrate_model
    from .calibration_report import no_lesion_summary

    fitted = calibrate_model(
        args.model,
        args.raw,
        args.target_error_rate,
        args.classification,
        args.pooling,
        args.report,
        device=args.device,
        backend=args.backend,
        use_mirroring=not args.no_tta,
    )
    print(
        f"Calibrated on {fitted['cases']} validation cases: temperature {fitted['temperature']:.3f}, uncertain below "
        f"{fitted['uncertain_below']:.3f}, ECE {fitted['before']['ece']:.3f} -> {fitted['after']['ece']:.3f}; "
        + no_lesion_summary(fitted["no_lesion"])
    )
    for fold, entry in sorted(fitted["familiarity"].items()):
        if "reason" in entry:
            print(f"Image familiarity of fold {fold} not fitted: {entry['reason']}")
        else:
            print(
                f"Image familiarity of fold {fold}: limit {entry['limit']:.3g} from {entry['validation_cases']}"
                f" validation cases; fitted on {entry['training_tiles']} tiles of {entry['training_cases']}"
                " training cases"
            )
    print(f"Wrote {fitted['competence']}" + (f" and {fitted['report']}" if "report" in fitted else ""))


def _cmd_bf16_check(args: argparse.Namespace) -> None:
    import json

    from PancreasMultiTaskLib.engine.competence import COMPETENCE_FILE
    from PancreasMultiTaskLib.engine.io import atomic_path

    from .bf16_check import bfloat16_check, record_bfloat16_check
    from .calibration import training_raw

    model = Path(args.model)
    if not (model / COMPETENCE_FILE).is_file():
        raise ValueError(f"{model / COMPETENCE_FILE}: missing; write it first (pancreas-mt-train competence)")
    engine = {"device": args.device, "use_mirroring": not args.no_tta, "num_threads": args.threads}
    result = bfloat16_check(model, training_raw(model, args.raw), args.cases_per_fold, **engine)
    dice, change = result["dice"], result["dice_change"]
    print(
        f"bfloat16 check on {result['cases']} validation cases: lesion Dice {dice['lesion']['float32']:.4f} -> "
        f"{dice['lesion']['bfloat16']:.4f}, gland Dice {dice['pancreas']['float32']:.4f} -> "
        f"{dice['pancreas']['bfloat16']:.4f} (changes {change['lesion']:.4f}, {change['pancreas']:.4f}); "
        f"{len(result['subtype_changes'])} subtype changes; label agreement {result['label_agreement']:.4%}: "
        + ("PASSED" if result["passed"] else "FAILED")
        + f" ({result['rule']})"
    )
    if args.report:
        with atomic_path(Path(args.report)) as tmp:
            tmp.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"Wrote {record_bfloat16_check(model, result)}")


def _cmd_demo_model(args: argparse.Namespace) -> None:
    from .demo import DemoConfig, build_demo_model

    _use_training_precision(args)
    config = DemoConfig(training_precision=args.precision)
    for name, value in (
        ("num_epochs", args.epochs),
        ("folds", tuple(args.folds) if args.folds else None),
        ("train_cases", args.train_cases),
        ("test_cases", args.test_cases),
        ("stress_cases", args.stress_cases),
        ("stress_sets", tuple(args.stress_sets) if args.stress_sets is not None else None),
        ("head_refit_iterations", args.head_refit_iterations),
    ):
        if value is not None:
            setattr(config, name, value)
    weights = Path(args.weights) if args.weights else None
    if weights is not None and config.head_refit_iterations:
        raise ValueError(
            "--head-refit-iterations refits the heads of folds this run trains; --weights reuses folds as"
            " they are: give one of them"
        )
    result = build_demo_model(
        config, Path(args.workdir), Path(args.resources), device=args.device, fold_jobs=args.fold_jobs, weights=weights
    )
    print(f"Demo model: {result}")


def _cmd_demo_report(args: argparse.Namespace) -> None:
    from .demo import rewrite_demo_report

    print(f"Report: {rewrite_demo_report(Path(args.report))}")


def _cmd_paper_method(args: argparse.Namespace) -> None:
    from .demo import DemoConfig
    from .paper_method import measure_paper_method

    _use_training_precision(args)
    report = measure_paper_method(
        DemoConfig(training_precision=args.precision), Path(args.workdir), args.fold, device=args.device
    )
    print(f"The paper's method beside ours: {report}")


def _add_jobs_argument(parser: argparse.ArgumentParser, work: str) -> None:
    parser.add_argument(
        "--jobs",
        type=int,
        help=f"processes {work}, the same files as one writes (default: nnU-Net's nnUNet_def_n_proc, else 8,"
        " at most the machine's cores)",
    )


def _add_plan_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("network and training (defaults: ResEnc M as planned, paper batch 16)")
    group.add_argument(
        "--features", type=int, nargs="+", help="reduced configuration: features per stage (default: as planned)"
    )
    group.add_argument(
        "--blocks",
        type=int,
        nargs="+",
        help="reduced configuration: residual blocks per stage (default: as planned)",
    )
    group.add_argument("--patch-size", type=int, nargs=2, help="2D patch size (Y X) (default: as planned)")
    group.add_argument(
        "--classifier-view",
        type=int,
        nargs=2,
        metavar=("Y", "X"),
        help="the subtype head reads a lesion-centred view of this many pixels (default: the whole patch, the paper)",
    )
    group.add_argument("--batch-size", type=int, default=16, help="training batch size (default: %(default)s)")
    group.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default="default",
        help="loss preset (see losses.py) (default: %(default)s)",
    )
    group.add_argument("--epochs", type=int, help="training epochs (default: 100, both presets)")
    group.add_argument("--iterations", type=int, help="training iterations per epoch (default: nnU-Net's 250)")
    group.add_argument("--val-iterations", type=int, help="validation iterations per epoch (default: nnU-Net's 50)")
    group.add_argument("--class-weight", type=float, help="weight of the subtype loss (default: 1, preset paper: 3)")
    group.add_argument(
        "--class-slices",
        choices=("all", "foreground", "lesion"),
        help="which training slices the subtype loss sees (default: lesion, preset paper: all)",
    )
    group.add_argument(
        "--augmentation",
        choices=AUGMENTATIONS,
        help="spatial: without intensity augmentation; hu-shift: spatial plus a global HU offset (default: nnunet)",
    )
    group.add_argument(
        "--head-refit-iterations",
        type=int,
        help="after the last epoch, train the subtype head anew, alone, on the frozen network for this many"
        " iterations (default: 0, the jointly trained head stays)",
    )
    group.add_argument(
        "--window-margin-hu",
        type=float,
        default=0.0,
        help="widen nnU-Net's CT window (foreground 0.5-99.5 percentiles) by this many HU each side (default: 0)",
    )
    group.add_argument(
        "--spacing-mm",
        type=float,
        help="coarsen the in-plane target spacing to at least this many mm (default: nnU-Net's, the median)",
    )
    group.add_argument(
        "-np",
        "--num-processes",
        type=int,
        default=1,
        help="processes for planning and preprocessing (default: %(default)s)",
    )


def _add_localizer_arguments(parser: argparse.ArgumentParser) -> None:
    from .localizer import BATCH_SIZE, BLOCKS, FEATURES, PATCH_SIZE, SPACING_MM, TRAINING

    parser.add_argument("source_id", type=int, help="the multi-task nnU-Net raw dataset (labels 0/1/2) to learn from")
    parser.add_argument("--dataset-id", type=int, required=True, help="nnU-Net number of the new dataset; required")
    parser.add_argument("--name", default="Localizer", help="its name (DatasetNNN_<name>) (default: %(default)s)")
    parser.add_argument(
        "--spacing",
        type=float,
        default=SPACING_MM,
        help="mm: axes finer than this are resampled to it, coarser slices are kept (default: %(default)s)",
    )
    parser.add_argument(
        "--features", type=int, nargs="+", default=list(FEATURES), help="features per stage (default: %(default)s)"
    )
    parser.add_argument(
        "--blocks", type=int, nargs="+", default=list(BLOCKS), help="residual blocks per stage (default: %(default)s)"
    )
    parser.add_argument(
        "--patch-size", type=int, nargs=2, default=list(PATCH_SIZE), help="2D patch (Y X) (default: %(default)s)"
    )
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE, help="batch size (default: %(default)s)")
    parser.add_argument(
        "--epochs", type=int, default=TRAINING["num_epochs"], help="training epochs (default: %(default)s)"
    )
    parser.add_argument(
        "--iterations",
        type=int,
        default=TRAINING["num_iterations_per_epoch"],
        help="training iterations per epoch (default: %(default)s)",
    )
    parser.add_argument(
        "--val-iterations",
        type=int,
        default=TRAINING["num_val_iterations_per_epoch"],
        help="validation iterations per epoch (default: %(default)s)",
    )
    parser.add_argument("--fold", default="all", help="fold to train, or all (every case) (default: %(default)s)")
    parser.add_argument(
        "--device", default="cuda" if _cuda() else "cpu", help="torch device (default: cuda when available, else cpu)"
    )
    parser.add_argument(
        "-np", "--num-processes", type=int, default=1, help="processes for planning (default: %(default)s)"
    )
    parser.add_argument(
        "--attach", help="multi-task model folder to copy the localizer into, as localizer/ (default: none)"
    )
    _add_precision_argument(parser)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pancreas-mt-train",
        description="Train, evaluate and export PancreasMultiTask models on nnU-Net v2.",
        epilog=EPILOG,
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("phantoms", help="write synthetic pancreas phantoms with three lesion subtypes")
    p.add_argument("-o", "--output", required=True, help="folder to write the phantoms to; required")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    p.add_argument("-n", "--count", type=int, default=30, help="number of phantoms (default: %(default)s)")
    p.add_argument(
        "--generator",
        choices=GENERATORS,
        default="abdomen",
        help="abdomen: whole 512x512 abdominal CT fields with organs, normal cases and overlapping subtype cues"
        " (see phantoms_abdomen.py); field: smaller fields of fat and bowel, subtypes differ by morphology only"
        " (the demo model's); centred: the earlier lesion-centred crops (default: %(default)s)",
    )
    p.add_argument(
        "--slices",
        type=int,
        default=AbdomenParams.slices,
        help="abdomen only: slices per case, each 1-5 mm thick (default: %(default)s, a z-extent of 32-160 mm)",
    )
    p.add_argument(
        "--normal-fraction",
        type=float,
        help=f"abdomen only: fraction of cases without a lesion, subtype -1 in subtypes.csv"
        f" (default: {AbdomenParams.normal_fraction}; 0 for the stress sets about lesions)",
    )
    p.add_argument(
        "--stress",
        choices=sorted(STRESS),
        help="abdomen only: a stress set: small (3-5 mm) or large (25-40 mm) lesions, edge lesions, global HU"
        " offset +-60 or +-100, noise2 (noise x2), thick5 (5 mm slices), inplane05 (0.5 mm in-plane)"
        " (default: none)",
    )
    p.add_argument(
        "--shape",
        type=int,
        nargs=3,
        metavar=("Z", "Y", "X"),
        help="centred only: volume size in voxels (default: 16 48 48)",
    )
    p.add_argument(
        "--field-size",
        type=int,
        nargs=2,
        metavar=("MIN", "MAX"),
        help="field only: in-plane size range in voxels (default: 96 160)",
    )
    p.add_argument(
        "--orientation",
        choices=("LPS", "random"),
        default="LPS",
        help="how each case is stored: LPS, or one of the 48 axis-aligned orientations at random (default: LPS)",
    )
    p.add_argument(
        "--layout",
        choices=("generic", "paper"),
        default="generic",
        help="generic: images/, labels/, subtypes.csv; paper: train/subtype{0,1,2}/ (default: %(default)s)",
    )
    _add_jobs_argument(p, "making and writing the cases")
    p.set_defaults(func=_cmd_phantoms)

    p = sub.add_parser("convert", help="convert a generic folder or the paper's layout to an nnU-Net raw dataset")
    p.add_argument("--dataset-id", type=int, required=True, help="nnU-Net dataset number; required")
    p.add_argument("--name", required=True, help="dataset name (DatasetNNN_<name>); required")
    p.add_argument("--raw-root", help="nnU-Net raw folder (default: $nnUNet_raw)")
    p.add_argument("--images", help="folder of CT images (generic layout; default: none)")
    p.add_argument("--labels", help="folder of label images (generic layout; default: none)")
    p.add_argument("--subtypes", help="CSV case_id,subtype (index or name) (generic layout; default: none)")
    p.add_argument(
        "--subtype-names", help="comma-separated names in index order (default: from --subtypes or the paper)"
    )
    p.add_argument("--paper-root", help="folder with train/subtype{0,1,2}/ (and validation/) (default: generic layout)")
    p.add_argument(
        "--regions",
        action="store_true",
        help="region-based labels as in the paper (pancreas = 1+2) (default: plain labels)",
    )
    _add_jobs_argument(p, "checking and writing the cases")
    p.set_defaults(func=_cmd_convert)

    p = sub.add_parser("plan", help="nnU-Net fingerprint + ResEnc M plans -> multi-task plans, and preprocessing")
    p.add_argument("dataset_id", type=int, help="nnU-Net dataset number")
    p.add_argument(
        "-p", "--plans", default="nnUNetResEncUNetMPlans_MultiTask", help="plans name to write (default: %(default)s)"
    )
    p.add_argument(
        "--ablation", choices=sorted(ABLATIONS), default="proposed", help="architecture variant (default: %(default)s)"
    )
    p.add_argument("--no-preprocess", action="store_true", help="plan only, do not preprocess (default: preprocess)")
    _add_plan_arguments(p)
    p.set_defaults(func=_cmd_plan)

    p = sub.add_parser("train", help="train one fold through nnU-Net's run_training")
    p.add_argument("dataset_id", type=int, help="nnU-Net dataset number")
    p.add_argument("fold", help="fold number, or all")
    p.add_argument(
        "-p", "--plans", default="nnUNetResEncUNetMPlans_MultiTask", help="plans name (default: %(default)s)"
    )
    p.add_argument("-tr", "--trainer", default="nnUNetTrainerMultiTask", help="trainer class (default: %(default)s)")
    p.add_argument(
        "--device", default="cuda" if _cuda() else "cpu", help="torch device (default: cuda when available, else cpu)"
    )
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint (default: start anew)")
    p.add_argument(
        "--validation-only", action="store_true", help="only run the validation of a trained fold (default: train)"
    )
    _add_precision_argument(p)
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser(
        "localizer",
        help="train the coarse localizer --roi auto uses (a plain nnU-Net 2D model) and attach it to a model folder",
    )
    _add_localizer_arguments(p)
    p.set_defaults(func=_cmd_localizer)

    p = sub.add_parser("evaluate", help="cross-validation and/or held-out ensemble evaluation with a report")
    p.add_argument("--model", required=True, help="model folder (<Trainer>__<Plans>__2d); required")
    p.add_argument("--cv", action="store_true", help="evaluate the folds' validation predictions (default: off)")
    p.add_argument("--gt", help="gt_segmentations folder for --cv (default: none)")
    p.add_argument("--held-out", help="raw dataset folder with imagesTs/labelsTs and subtypes.csv (default: none)")
    p.add_argument("--folds", nargs="+", help="folds to ensemble for --held-out (default: all present)")
    p.add_argument("--no-tta", action="store_true", help="no mirroring test-time augmentation (default: mirror)")
    p.add_argument("--title", default="PancreasMultiTask evaluation", help="report title (default: %(default)s)")
    p.add_argument("-o", "--output", required=True, help="folder for report.md, metrics.json and figures; required")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser(
        "baselines", help="HU and radiomics baselines on the true lesion masks (logistic regression), held-out"
    )
    p.add_argument(
        "--train", required=True, help="phantoms folder (images/, labels/, subtypes.csv) to fit on; required"
    )
    p.add_argument("--test", required=True, help="phantoms folder to score on; required")
    p.add_argument("--json", help="also write the results to this JSON file (default: print only)")
    p.set_defaults(func=_cmd_baselines)

    p = sub.add_parser("ablation", help="the paper's ablation table on one fold")
    p.add_argument("dataset_id", type=int, help="nnU-Net dataset number")
    p.add_argument(
        "--names",
        nargs="+",
        choices=sorted(ABLATIONS),
        default=list(ABLATIONS),
        help="variants to train and compare (default: all)",
    )
    p.add_argument("--fold", type=int, default=0, help="fold to train each variant on (default: %(default)s)")
    p.add_argument(
        "--device", default="cuda" if _cuda() else "cpu", help="torch device (default: cuda when available, else cpu)"
    )
    p.add_argument("-o", "--output", required=True, help="folder for the ablation table; required")
    _add_plan_arguments(p)
    p.set_defaults(func=_cmd_ablation)

    p = sub.add_parser("export", help="write a distributable model zip with a SHA-256 manifest")
    p.add_argument("model", help="model folder (<Trainer>__<Plans>__2d)")
    p.add_argument("-o", "--output", required=True, help="<name>.zip to write; required")
    p.add_argument("--name", help="model name in the manifest (default: the zip's name)")
    p.add_argument("--folds", nargs="+", help="folds to include (default: all present)")
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser("import", help="verify and install a model zip")
    p.add_argument("zip", help="model zip")
    p.add_argument("--models-dir", required=True, help="folder of installed models; required")
    p.add_argument("--sha256", help="expected SHA-256 of the zip (default: the .sha256 file beside it)")
    p.add_argument(
        "--overwrite", action="store_true", help="replace an installed model of the same name (default: refuse)"
    )
    p.set_defaults(func=_cmd_import)

    p = sub.add_parser("competence", help="write a trained model's competence.json from its training data")
    p.add_argument("--raw", required=True, help="the nnU-Net raw dataset folder the model was trained on; required")
    p.add_argument("--model", required=True, help="the trained model folder (gets competence.json); required")
    p.add_argument(
        "--fingerprint",
        help="nnU-Net's dataset_fingerprint.json (default: the one in $nnUNet_preprocessed/<raw folder name>/)",
    )
    p.add_argument("--synthetic", action="store_true", help="the training data are synthetic (default: off)")
    p.add_argument(
        "--min-lesion-ml",
        type=float,
        help="predicted lesions below this volume are 'no lesion found'; choose on validation data (default: none)",
    )
    p.set_defaults(func=_cmd_competence)

    p = sub.add_parser(
        "calibrate", help="fit the subtype calibration and the no-lesion rule on validation cases into competence.json"
    )
    p.add_argument("model", help="the trained model folder with competence.json and fold_N/validation/")
    p.add_argument(
        "--raw", help="the nnU-Net raw dataset it was trained on (default: $nnUNet_raw/<dataset name in plans.json>)"
    )
    p.add_argument(
        "--target-error-rate",
        type=float,
        default=0.05,
        help="validation error rate allowed among cases not flagged uncertain (default: %(default)s)",
    )
    p.add_argument(
        "--classification",
        choices=CLASSIFICATION_MODES,
        default=default("classification"),
        help="the engine's classification to calibrate (default: %(default)s, the engine's)",
    )
    p.add_argument(
        "--pooling",
        choices=POOLING_METHODS,
        default=default("pooling"),
        help="the engine's slice pooling to calibrate (default: %(default)s, the engine's)",
    )
    p.add_argument("--report", help="folder for calibration.md, calibration.json and the diagram (default: none)")
    p.add_argument("--device", choices=DEVICES, default="auto", help="engine device (default: %(default)s)")
    p.add_argument("--backend", choices=BACKENDS, default="auto", help="engine backend (default: %(default)s)")
    p.add_argument("--no-tta", action="store_true", help="no mirroring test-time augmentation (default: mirror)")
    p.set_defaults(func=_cmd_calibrate)

    p = sub.add_parser(
        "postprocessing",
        help="choose nnU-Net's postprocessing on the folds' validation cases into the model's postprocessing.json",
    )
    p.add_argument("model", help="the trained model folder with fold_N/validation/")
    p.add_argument(
        "--raw", help="the nnU-Net raw dataset it was trained on (default: $nnUNet_raw/<dataset name in plans.json>)"
    )
    p.add_argument("--folds", nargs="+", help="folds whose validation cases are used (default: all that have them)")
    p.add_argument("--processes", type=int, default=1, help="nnU-Net's worker processes (default: %(default)s)")
    p.set_defaults(func=_cmd_postprocessing)

    p = sub.add_parser(
        "bf16-check",
        help="run the model's validation cases in float32 and bfloat16 and record in competence.json whether "
        "bfloat16 may be used (what --precision auto reads)",
    )
    p.add_argument("model", help="the trained model folder with competence.json and fold_N/validation/")
    p.add_argument(
        "--raw", help="the nnU-Net raw dataset it was trained on (default: $nnUNet_raw/<dataset name in plans.json>)"
    )
    p.add_argument("--cases-per-fold", type=int, help="the first N validation cases of each fold (default: all)")
    p.add_argument("--report", help="JSON file for the check's figures (default: none)")
    p.add_argument("--device", choices=DEVICES, default="cpu", help="engine device (default: %(default)s)")
    p.add_argument("--threads", type=int, help="CPU threads (default: the engine's)")
    p.add_argument("--no-tta", action="store_true", help="no mirroring test-time augmentation (default: mirror)")
    p.set_defaults(func=_cmd_bf16_check)

    p = sub.add_parser(
        "demo-model", help="reproduce the bundled demo model (abdomen phantoms, folds, localizer, report)"
    )
    p.add_argument("--workdir", required=True, help="scratch folder (nnU-Net folders default inside it); required")
    p.add_argument(
        "--resources", default="Resources", help="where DemoModel/ and SampleData/ are written (default: %(default)s)"
    )
    p.add_argument("--device", default="cpu", help="torch device (default: %(default)s)")
    p.add_argument("--epochs", type=int, help="training epochs per fold (default: the demo configuration's)")
    p.add_argument("--folds", type=int, nargs="+", help="folds to train (default: the demo configuration's)")
    p.add_argument(
        "--fold-jobs", type=int, default=1, help="folds trained at once, each on its share of the cores (default: 1)"
    )
    p.add_argument("--train-cases", type=int, help="training phantoms (default: the demo configuration's)")
    p.add_argument("--test-cases", type=int, help="held-out phantoms (default: the demo configuration's)")
    p.add_argument("--stress-cases", type=int, help="phantoms per stress set (default: the demo configuration's)")
    p.add_argument("--stress-sets", nargs="*", choices=sorted(STRESS), help="stress sets (default: all)")
    p.add_argument(
        "--head-refit-iterations",
        type=int,
        help="after each fold's last epoch, train its head anew on the frozen network for this many iterations"
        " (default: the demo configuration's)",
    )
    p.add_argument(
        "--weights",
        help="an exported model zip of this configuration (with its .sha256) whose folds and localizer are reused"
        " instead of trained: their validation is run again and everything after it fitted again (give the"
        " --precision that trained them, which is recorded) (default: train the folds)",
    )
    _add_precision_argument(p)
    p.set_defaults(func=_cmd_demo_model)

    p = sub.add_parser(
        "demo-report",
        help="write the demo model's report.md and figures again from its metrics.json (nothing is predicted)",
    )
    p.add_argument("--report", default="Resources/DemoModel/report", help="the report folder (default: %(default)s)")
    p.set_defaults(func=_cmd_demo_report)

    p = sub.add_parser(
        "paper-method",
        help="train the paper's preset on the demo's gland crops (one fold) and evaluate it beside the demo's fold",
    )
    p.add_argument("--workdir", required=True, help="a demo-model scratch folder with its localizer trained; required")
    p.add_argument("--fold", type=int, default=0, help="the fold trained and compared (default: %(default)s)")
    p.add_argument("--device", default="cpu", help="torch device (default: %(default)s)")
    _add_precision_argument(p)
    p.set_defaults(func=_cmd_paper_method)
    return parser


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def main(argv: Sequence[str] | None = None) -> int:
    from .parallel import env_jobs

    try:
        env_jobs()  # before the parser imports nnU-Net, which reads it with a traceback
    except ValueError as error:
        print(f"pancreas-mt-train: error: {error}", file=sys.stderr)
        return 1
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (ValueError, OSError, RuntimeError) as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        print(f"pancreas-mt-train {args.command}: error: {message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
