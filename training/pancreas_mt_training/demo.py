"""The bundled demo model: abdomen phantoms -> gland crops -> reduced multi-task plans -> folds, localizer.

The paper's ResEnc M 2D network has 72M parameters (about 290 MB a fold). The demo keeps the same architecture
(residual encoder U-Net + the paper's classifier head, built from the same plans format) in a reduced configuration
(:class:`DemoConfig`): 5 stages of 8-64 features, blocks 1,1,2,2,2, a 96 x 128 patch at 1.25 mm, batch 12, so that
the folds ship in a few MB and train on a CPU. Training uses the ``abdomen`` phantoms (whole 512 x 512 fields, a
fifth of them normal glands, lesions 3-40 mm whose subtype cue is shown with probability 0.92): the main model
trains on crops around the gland (:mod:`.crops`: what ``--roi auto``'s localizer gives it at prediction, with a
random margin), with a global HU-offset augmentation and a CT window widened by ``window_margin_hu``; the localizer
trains on the whole fields at about 3 mm. ``folds`` of nnU-Net's 5-fold split are trained (each on 80% of the
training cases) and ensembled; nnU-Net's postprocessing is chosen and the bfloat16 check run, then the calibration
and the no-lesion size are fitted, on their validation cases. The held-out
set (another seed, random orientations, whole fields) and the stress sets (:data:`~.phantoms_abdomen.STRESS`) run
through the engine with its default settings, beside the HU and radiomics baselines on the true lesion masks
(:mod:`.baseline`). Each stage is skipped when its output already exists, so an interrupted run resumes.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import SimpleITK as sitk
from PancreasMultiTaskLib.engine.competence import ANSWERED
from PancreasMultiTaskLib.engine.io import atomic_path, write_image
from PancreasMultiTaskLib.engine.model_zip import sha256_file
from PancreasMultiTaskLib.engine.store_layout import LOCALIZER_FOLDER

from .baseline import baseline_table, run_baselines
from .calibration import calibrate_model
from .convert import collect_generic, convert_cases, dataset_folder
from .crops import crop_folder, gland_crop, slice_axis
from .evaluate import (
    EvalCase,
    confidence_summary,
    cross_validation,
    evaluate_held_out,
    generic_cases,
    outcome_summary,
    write_report,
)
from .parallel import default_jobs
from .phantoms import SUBTYPE_NAMES, write_phantoms
from .phantoms_abdomen import STRESS, AbdomenParams, stress_params
from .plans import MULTITASK_PLANS, check_training_options, plan_dataset
from .resume import code_digest, files_digest, machine, mark_stage, settings_digest, stages_done, stages_to_run
from .train_precision import PRECISION_ENV

TRAINER = "nnUNetTrainerMultiTask"
#: Whole slices kept around the sample case's gland (mm along the head-foot axis).
SAMPLE_MARGIN_MM = 10.0
#: The sample's predicted lesion is at least this many times the model's min_lesion_ml: the fourteenth run's median
#: case had 5.07 mL against 4.72 mL, and 4.84 mL once cropped in z to the bundled 32 slices.
SAMPLE_LESION_MARGIN = 1.5
#: Where the model's no-lesion rule also asks for the lesion probability's 90th percentile (``min_lesion_p90``), the
#: sample's is at least this far from that threshold towards 1 (0.5: halfway).
SAMPLE_P90_MARGIN = 0.5
#: The sample's answer holds more than this share of the probability (a majority over the other subtypes together):
#: the recalibrated folds' median case answered right with p 0.43 against 0.28, and the fast preset (one fold, no
#: mirroring) turned its crop into another subtype.
SAMPLE_MIN_PROBABILITY = 0.5
MODEL_NAME = "PancreasPhantomsDemo"


@dataclass
class DemoConfig:
    """Everything that defines the demo model; ``Resources/DemoModel/demo_config.json`` records what built the zip."""

    dataset_id: int = 502
    dataset_name: str = "PancreasAbdomenPhantoms"
    train_seed: int = 1
    #: About 380 lesions a fold: the idealized classifier of ``Testing/benchmarks/subtype_cue.py`` reads the subtype
    #: at 74% from 150 lesions and 81% from 450, and the twelfth run (about 190 a fold) stopped at 59%; the training's
    #: time is set by its iterations, not its cases.
    train_cases: int = 600
    test_seed: int = 2
    test_cases: int = 60
    stress_seed: int = 3
    stress_cases: int = 30
    stress_sets: tuple[str, ...] = tuple(STRESS)
    slices: int = 32
    normal_fraction: float = 0.2
    test_orientation: str = "random"
    #: Margin (mm) around the gland of the main model's training crops, drawn per case.
    crop_margin_mm: tuple[float, float] = (15.0, 45.0)
    #: In-plane grid of the main model (mm): the training crops are 0.6-0.9 mm, so this is 2-4x fewer pixels for
    #: the same context, what three folds on two CPU cores in one sitting need (5 mm lesions are 4 pixels). The
    #: fourth run (training/README.md) segmented better than the native grid. The idealized classifier reads the
    #: subtype as well at this grid as at 0.75 mm (training/README.md), so the grid does not limit the subtype.
    spacing_mm: float = 1.25
    #: Five stages of few features; the bottom sees 6 x 8 of the patch.
    features: list[int] = field(default_factory=lambda: [8, 16, 32, 64, 64])
    blocks: list[int] = field(default_factory=lambda: [1, 1, 2, 2, 2])
    #: 120 x 160 mm at 1.25 mm: most of a gland crop in view (a 96 x 96 patch of 72 mm left the first abdomen
    #: runs calling kidneys, bowel and vertebrae pancreas: soft tissues of one HU told apart by context alone).
    patch_size: list[int] = field(default_factory=lambda: [96, 128])
    #: The subtype head's lesion-centred view (pixels; ``None``: the whole patch, the paper's): 60 mm. The head
    #: learned from such a view but not from the 120 x 160 mm patch (head probes, runs 5-12 in training/README.md).
    classifier_view: list[int] | None = field(default_factory=lambda: [48, 48])
    #: With every tile forced onto foreground (below), about ten lesion views a batch for the head.
    batch_size: int = 12
    num_epochs: int = 80
    iterations: int = 100
    val_iterations: int = 10
    augmentation: str = "hu-shift"
    window_margin_hu: float = 150.0
    class_loss_weight: float = 5.0
    #: 24 pixels at 1.25 mm: about a 5.5 mm disc of lesion in the tile.
    class_min_pixels: int = 24
    #: Every tile forced onto foreground, 80% of them onto the lesion: the head needs batches of lesions (the ninth
    #: and twelfth runs learned with them, the eighth with a third of the batch forced did not; training/README.md).
    oversample_foreground: float = 1.0
    lesion_oversampling: float = 0.8
    tile_jitter: float = 0.15
    save_every: int = 5
    #: SGD momentum of the classifier head (``None``: nnU-Net's 0.99, as the rest of the network).
    classifier_momentum: float | None = None
    #: ``TrainingOptions.optimizer`` and its learning rate: AdamW, with which the head learns (nnU-Net's SGD with
    #: momentum 0.99 left it at chance with everything else equal: the eleventh run).
    optimizer: str = "adamw"
    initial_lr: float = 3e-3
    #: ``TrainingOptions.head_refit_iterations``: after the last epoch the head is trained anew, alone, on the frozen
    #: network (0: the jointly trained head stays, as in the bundled model).
    head_refit_iterations: int = 0
    folds: tuple[int, ...] = (0, 1, 2)
    #: Test-time mirroring of the segmentation in the calibration, the bfloat16 check and the evaluations: on, as
    #: the product runs by default, so that the no-lesion rule is fitted and measured on the probabilities users get
    #: (its p90 threshold sits near 1, where mirroring moves them most: ``Testing/benchmarks/held_out_mirroring.py``).
    #: The bundled model's were run with it off (its ``demo_config.json``). The guided tiles are always mirrored.
    eval_segmentation_mirroring: bool = True
    #: Validation cases of each fold that the bfloat16 check (``bf16_check.py``) runs in both precisions.
    bfloat16_cases_per_fold: int = 6
    #: The folds' and the localizer's arithmetic on a CPU (``train_precision.py``): nnU-Net's float32, or bfloat16
    #: autocast (``demo-model --precision``); recorded here because it shapes the weights.
    training_precision: str = "float32"
    #: SHA-256 of the exported model whose folds and localizer were reused (``demo-model --weights``) instead of
    #: trained by this run; ``None``: trained by it.
    weights_sha256: str | None = None

    def abdomen(self) -> AbdomenParams:
        """The generator's parameters of the training and held-out sets."""
        return AbdomenParams(slices=self.slices, normal_fraction=self.normal_fraction)


def prepare(config: DemoConfig, workdir: Path) -> Path:
    """Phantoms, the main model's gland crops, conversion and planning; returns the raw dataset folder.

    Phantoms, crops, conversion and nnU-Net's preprocessing run in nnU-Net's worker count (``nnUNet_def_n_proc``, at
    most the cores: :func:`~.parallel.default_jobs`), as do the held-out and stress sets."""
    from nnunetv2.paths import nnUNet_raw

    raw = dataset_folder(nnUNet_raw.require(), config.dataset_id, config.dataset_name)
    if not (raw / "dataset.json").is_file():
        full = train_phantoms(config, workdir)
        crops = crop_folder(
            full, workdir / "phantoms_train_crops", config.crop_margin_mm, seed=config.train_seed, jobs=default_jobs()
        )
        cases, _ = collect_generic(crops / "images", crops / "labels", crops / "subtypes.csv")
        description = "PancreasMultiTask abdomen phantoms, gland crops"
        convert_cases(cases, raw, list(SUBTYPE_NAMES), description=description, jobs=default_jobs())
    plan_dataset(
        config.dataset_id,
        MULTITASK_PLANS,
        features=config.features,
        blocks=config.blocks,
        patch_size=config.patch_size,
        batch_size=config.batch_size,
        window_margin_hu=config.window_margin_hu,
        spacing_mm=config.spacing_mm,
        classifier_view=config.classifier_view,
        num_processes=default_jobs(),
        training=training_options(config),
    )
    return raw


def training_options(config: DemoConfig) -> dict[str, Any]:
    """The demo's ``multitask_training`` options (the plans' entry the trainer reads)."""
    return {
        "num_epochs": config.num_epochs,
        "num_iterations_per_epoch": config.iterations,
        "num_val_iterations_per_epoch": config.val_iterations,
        "augmentation": config.augmentation,
        "class_loss_weight": config.class_loss_weight,
        "class_min_pixels": config.class_min_pixels,
        "oversample_foreground": config.oversample_foreground,
        "lesion_oversampling": config.lesion_oversampling,
        "tile_jitter": config.tile_jitter,
        "save_every": config.save_every,
        "classifier_momentum": config.classifier_momentum,
        "optimizer": config.optimizer,
        "initial_lr": config.initial_lr,
        "head_refit_iterations": config.head_refit_iterations,
        "validation_mirroring": False,
    }


def _phantom_set(folder: Path, seed: int, count: int, params: AbdomenParams, orientation: str = "LPS") -> Path:
    if not (folder / "subtypes.csv").is_file():
        write_phantoms(
            folder, seed, count, generator="abdomen", orientation=orientation, abdomen=params, jobs=default_jobs()
        )
    return folder


def train_phantoms(config: DemoConfig, workdir: Path) -> Path:
    """The whole-field training phantoms (the localizer's data; the main model's after cropping)."""
    return _phantom_set(workdir / "phantoms_train", config.train_seed, config.train_cases, config.abdomen())


def test_phantoms(config: DemoConfig, workdir: Path) -> Path:
    """The held-out phantoms as generated (in ``config.test_orientation``): what the evaluation reads."""
    folder = workdir / "phantoms_test"
    return _phantom_set(folder, config.test_seed, config.test_cases, config.abdomen(), config.test_orientation)


def stress_phantoms(config: DemoConfig, workdir: Path, name: str) -> Path:
    """One stress set (:data:`~.phantoms_abdomen.STRESS`), stored like the held-out set."""
    folder = workdir / f"phantoms_stress_{name}"
    params = stress_params(name, config.abdomen())
    return _phantom_set(folder, config.stress_seed, config.stress_cases, params, config.test_orientation)


def _diameters(folder: Path) -> dict[str, float]:
    """Each lesion case's diameter (mm) from the set's ``phantoms.json``."""
    cases = json.loads((folder / "phantoms.json").read_text(encoding="utf-8"))["cases"]
    return {case: entry["lesion"]["diameter_mm"] for case, entry in cases.items() if entry["lesion"]}


def evaluate_runs(
    config: DemoConfig, runs: dict[str, tuple[Path, list[EvalCase], Path]], folds: Sequence[str] | None = None
) -> dict[str, dict]:
    """``evaluate_held_out`` of each named (model folder, cases, output folder) as the demo evaluates: segmentation
    mirroring as configured, guided tiles mirrored, PyTorch; in two processes, each on half the cores."""
    settings = {
        "folds": folds,
        "use_mirroring": config.eval_segmentation_mirroring,
        "classification_mirroring": True,
        "backend": "torch",
        "num_threads": max(1, (os.cpu_count() or 2) // 2),
    }
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        jobs = {
            name: pool.submit(evaluate_held_out, model, cases, output, title=name, **settings)
            for name, (model, cases, output) in runs.items()
        }
        return {name: job.result() for name, job in jobs.items()}


def evaluate_demo(
    config: DemoConfig, workdir: Path, installed: Path, folder: Path, raw: Path, report: Path
) -> tuple[list[EvalCase], dict]:
    """Cross-validation, the held-out set, the stress sets and the baselines -> ``report``.

    Returns the held-out cases and their evaluation.
    """
    from nnunetv2.paths import nnUNet_preprocessed

    gt = Path(nnUNet_preprocessed.require()) / raw.name / "gt_segmentations"
    sets = {"held-out": test_phantoms(config, workdir)}
    sets.update({name: stress_phantoms(config, workdir, name) for name in config.stress_sets})
    baseline = run_baselines(
        generic_cases(train_phantoms(config, workdir), skip_normal=True),
        generic_cases(sets["held-out"], skip_normal=True),
        SUBTYPE_NAMES,
    )
    results = evaluate_runs(
        config, {name: (installed, generic_cases(path), workdir / f"eval_{name}") for name, path in sets.items()}
    )
    for name, result in results.items():
        result["outcomes"] = outcome_summary(result["cases"], _diameters(sets[name]))
        result["confidence"] = confidence_summary(result["cases"])
        result["ceiling"] = json.loads((sets[name] / "phantoms.json").read_text(encoding="utf-8"))["set_ceiling"]
    write_demo_report([cross_validation(folder, gt), *results.values()], baseline, asdict(config), report)
    return generic_cases(sets["held-out"]), results["held-out"]


def write_demo_report(results: list[dict], baseline: list[dict], config: dict, report: Path) -> Path:
    """``report.md``, ``metrics.json`` and figures of the demo's evaluations: the cross-validation first, then the
    held-out set and the stress sets, each as titled by :func:`evaluate_demo`."""
    held = next(result for result in results if result["title"] == "held-out")
    stress = {result["title"]: result for result in results if result["title"] in STRESS}
    return write_report(
        results,
        report,
        f"Demo model {MODEL_NAME} on abdomen phantoms",
        demo_headline(held, stress, baseline),
        {"baseline": baseline, "config": config},
    )


def rewrite_demo_report(report: Path) -> Path:
    """Write the report again from its own ``metrics.json``, after a change to how it is written: nothing is
    predicted again, so its figures stay those of the run that made it."""
    metrics = report / "metrics.json"
    if not metrics.is_file():
        raise ValueError(f"{metrics}: missing; the report folder of a demo-model run holds it")
    stored = json.loads(metrics.read_text(encoding="utf-8"))
    missing = [key for key in ("results", "baseline", "config") if not isinstance(stored, dict) or key not in stored]
    titles = [r.get("title") for r in stored.get("results", []) if isinstance(r, dict)] if not missing else []
    if missing or "held-out" not in titles:
        raise ValueError(
            f"{metrics}: not a demo report's metrics (needs results with a held-out set, baseline, config)"
        )
    return write_demo_report(stored["results"], stored["baseline"], stored["config"], report)


def _answered_right(row: dict) -> bool:
    answer = row.get("answer")
    return row["outcome"]["status"] != "withheld" and answer is not None and answer["predicted"] == row["truth"]


def _clear_answer(row: dict) -> bool:
    """The answer holds a majority of the probability (:data:`SAMPLE_MIN_PROBABILITY`), not a near tie."""
    return row["answer"]["probability"] > SAMPLE_MIN_PROBABILITY


def _clear_of_the_rule(row: dict, min_lesion_ml: float, min_lesion_p90: float | None) -> bool:
    """The case's lesion lies clear of the model's no-lesion rule: margins :data:`SAMPLE_LESION_MARGIN` and
    :data:`SAMPLE_P90_MARGIN`."""
    if row["lesion_volume_ml"] < SAMPLE_LESION_MARGIN * min_lesion_ml:
        return False
    if min_lesion_p90 is None:
        return True
    return (row.get("lesion_p90") or 0.0) >= min_lesion_p90 + SAMPLE_P90_MARGIN * (1.0 - min_lesion_p90)


def median_case(
    cases: list[EvalCase], held: dict, min_lesion_ml: float = 0.0, min_lesion_p90: float | None = None
) -> EvalCase:
    """The held-out lesion case whose lesion Dice is the median (the lower middle one) among those the model
    answers right by a majority of the probability (:func:`_clear_answer`) with a lesion clear of its no-lesion rule
    (:func:`_clear_of_the_rule`), and of those the ones answered without a warning where there are any: typical in
    its segmentation, not the best, a demonstration of an answer rather than of a failure or a caveat, and not one
    whose answer a device's rounding, one fold or the sample's crop could turn into "no lesion found" or another
    subtype (all lesion cases where it answers none so). ``sample.json`` says which rule chose it."""
    rows = {row["case_id"]: row for row in held["cases"]}
    dice = {case_id: row["segmentation"]["lesion"]["dice"] for case_id, row in rows.items()}
    lesions = [case for case in cases if case.subtype >= 0]
    right = [
        case
        for case in lesions
        if _answered_right(rows[case.case_id])
        and _clear_answer(rows[case.case_id])
        and _clear_of_the_rule(rows[case.case_id], min_lesion_ml, min_lesion_p90)
    ]
    without_warnings = [case for case in right if rows[case.case_id]["outcome"]["status"] == ANSWERED]
    lesions = without_warnings or right or lesions
    ranked = sorted(lesions, key=lambda case: (dice[case.case_id], case.case_id))
    return ranked[(len(ranked) - 1) // 2]


def pick_sample(cases: list[EvalCase], held: dict, model_folder: Path) -> tuple[EvalCase, float]:
    """The bundled sample (:func:`median_case` with ``model_folder``'s own no-lesion rule) and its lesion Dice."""
    from PancreasMultiTaskLib.engine.model_folder import open_model_folder

    record = open_model_folder(model_folder).competence
    sample = median_case(cases, held, record.min_lesion_ml or 0.0, record.min_lesion_p90)
    return sample, next(r["segmentation"]["lesion"]["dice"] for r in held["cases"] if r["case_id"] == sample.case_id)


def _pct(entry: dict) -> str:
    if not entry["of"]:
        return "n/a (no cases)"
    low, high = entry["ci95"]
    return f"{entry['share']:.1%} ({low:.1%}-{high:.1%}; {entry['count']}/{entry['of']})"


def _confidence_line(confidence: dict, where: str = "") -> str:
    if not confidence["cases"]:
        return f"- The product's confidence{where}: no lesion case was given a subtype."
    auroc = "n/a (all right or all wrong)" if confidence["auroc"] is None else f"{confidence['auroc']:.3f}"
    return (
        f"- The product's confidence{where} (calibrated, on the {confidence['cases']} lesion cases given a subtype):"
        f" ECE {confidence['ece']:.3f}; AUROC right vs wrong {auroc}; flagged uncertain: of right answers"
        f" {_pct(confidence['flagged_of_right'])}, of wrong ones {_pct(confidence['flagged_of_wrong'])}."
    )


def demo_headline(held: dict, stress: dict[str, dict], baseline: list[dict]) -> list[str]:
    """The report's opening: held-out accuracy and outcomes, the stress table, the baselines."""
    method = "guided"
    metrics = held["classification"][method]
    low, high = metrics["accuracy_ci95"]
    outcomes = held["outcomes"]
    seg = held["segmentation"]
    mirroring = "mirrored, as" if held["segmentation_mirroring"] else "not mirrored, where"
    lines = [
        f"Held-out: {len(held['cases'])} whole-field abdomen phantoms of a seed not used in training, stored in"
        f" random orientations, run through the engine (ROI auto), folds {', '.join(held['folds'])} (segmentation"
        f" {mirroring} the product mirrors by default; guided classification tiles mirrored). The subtype"
        " cue is shown with probability 0.92, so no method"
        f" can exceed the set's ceiling ({held['ceiling']:.1%} on these cases).",
        "",
        f"- Subtype accuracy ({method}, lesion cases, whether or not the product gave it):"
        f" {metrics['accuracy']:.1%} ({low:.1%}-{high:.1%}); macro F1 {metrics['f_beta']:.3f}.",
        f"- Lesion Dice {seg['lesion']['dice']:.3f}; pancreas Dice (whole gland) {seg['pancreas']['dice']:.3f}.",
        f"- Normal glands given a lesion or a subtype: {_pct(outcomes['normal_with_lesion_or_subtype'])}.",
        f"- Lesions found: {_pct(outcomes['lesions_found'])}; of those >= 5 mm: {_pct(outcomes['lesions_5mm_found'])}.",
        f"- Outcomes: answered {_pct(outcomes['answered'])}; with warnings"
        f" {_pct(outcomes['answered-with-warnings'])}; withheld {_pct(outcomes['withheld'])}.",
        _confidence_line(held["confidence"]),
        "",
        "Stress sets (each its own seed; accuracy with Wilson 95% CI on lesion cases):",
        "",
        "| set | cases | accuracy (95% CI) | ceiling | lesion Dice | pancreas Dice | lesions found | withheld |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, result in stress.items():
        m = result["classification"].get(method)
        accuracy = f"{m['accuracy']:.1%} ({m['accuracy_ci95'][0]:.1%}-{m['accuracy_ci95'][1]:.1%})" if m else "n/a"
        ceiling = "n/a" if result["ceiling"] is None else f"{result['ceiling']:.1%}"
        s, o = result["segmentation"], result["outcomes"]
        lines.append(
            f"| {name} | {len(result['cases'])} | {accuracy} | {ceiling} | {s['lesion']['dice']:.3f} |"
            f" {s['pancreas']['dice']:.3f} | {o['lesions_found']['share']:.1%} | {o['withheld']['share']:.1%} |"
        )
    if stress:
        pooled = confidence_summary([row for result in stress.values() for row in result["cases"]])
        lines += ["", _confidence_line(pooled, " on the stress sets together")]
    lines += [
        "",
        "Baselines on the true lesion mask (standardized features, logistic regression; fitted on the training"
        " phantoms, scored on the held-out ones; chance 33%):",
        "",
        *baseline_table(baseline),
        "",
    ]
    return lines


def model_folder(config: DemoConfig) -> Path:
    from nnunetv2.paths import nnUNet_results

    name = f"Dataset{config.dataset_id:03d}_{config.dataset_name}"
    return Path(nnUNet_results.require()) / name / f"{TRAINER}__{MULTITASK_PLANS}__2d"


def _train_fold(dataset_id: int, fold: int, device: str, threads: int, validation_only: bool = False) -> None:
    """One fold through nnU-Net's ``run_training``, resuming from its ``checkpoint_latest.pth`` when there is one
    (``validation_only``: its final validation only, nnU-Net's ``--val``)."""
    import torch
    from nnunetv2.run.run_training import run_training

    torch.set_num_threads(threads)
    run_training(
        str(dataset_id),
        "2d",
        fold,
        TRAINER,
        MULTITASK_PLANS,
        continue_training=not validation_only,
        only_run_validation=validation_only,
        device=torch.device(device),
    )


def _run_folds(config: DemoConfig, folds: Sequence[int], device: str, jobs: int, validation_only: bool) -> None:
    """:func:`_train_fold` of each fold, ``jobs`` at a time, each on its share of the cores."""
    from .trainer import external_trainer_folder

    os.environ.setdefault("nnUNet_extTrainer", str(external_trainer_folder()))
    jobs = max(1, min(jobs, len(folds)))
    threads = max(1, (os.cpu_count() or 1) // jobs)
    if jobs == 1:
        for fold in folds:
            _train_fold(config.dataset_id, fold, device, threads, validation_only)
        return
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        for job in [
            pool.submit(_train_fold, config.dataset_id, fold, device, threads, validation_only) for fold in folds
        ]:
            job.result()


def train_folds(config: DemoConfig, device: str = "cpu", jobs: int = 1) -> Path:
    """Train every fold that has no ``checkpoint_final.pth`` yet, ``jobs`` at a time, each on its share of the
    cores; an interrupted fold resumes from its last checkpoint (``save_every`` epochs)."""
    folder = model_folder(config)
    todo = [fold for fold in config.folds if not (folder / f"fold_{fold}" / "checkpoint_final.pth").is_file()]
    _run_folds(config, todo, device, jobs, validation_only=False)
    return folder


def reuse_folds(
    config: DemoConfig, weights: Path, workdir: Path, raw: Path, device: str = "cpu", jobs: int = 1
) -> tuple[DemoConfig, Path]:
    """In place of :func:`train_folds`: the folds of ``weights`` (an exported model zip of this configuration, such as
    the bundled one) placed as the trained folds, and the final validation of each fold without one run again from
    its weights, ``jobs`` at a time. What follows the training (postprocessing, calibration, report) can then be
    fitted again, with other settings, without training again.

    Returns the configuration with the zip's SHA-256 recorded (``weights_sha256``), and the training folder."""
    from nnunetv2.paths import nnUNet_preprocessed

    from .export import place_exported_folds

    folder = model_folder(config)
    plans = Path(nnUNet_preprocessed.require()) / raw.name / f"{MULTITASK_PLANS}.json"
    folds = [str(fold) for fold in config.folds]
    place_exported_folds(weights, folder, workdir / "weights", plans, raw / "dataset.json", folds)
    todo = [fold for fold in config.folds if not (folder / f"fold_{fold}" / "validation" / "subtypes.json").is_file()]
    _run_folds(config, todo, device, jobs, validation_only=True)
    return replace(config, weights_sha256=sha256_file(weights)), folder


def train_demo_localizer(config: DemoConfig, workdir: Path, folder: Path, device: str = "cpu", **options: Any) -> Path:
    """The localizer, trained on the whole-field training phantoms (dataset ``dataset_id + 1``, converted for
    it; the localizer's own dataset is ``dataset_id + 2``) and attached to ``folder``; skipped when attached.

    ``options`` go to :func:`~.localizer.train_localizer` (``training``, ``plan_options``, ``batch_size``: a
    smaller localizer than the default's, as tests train)."""
    from nnunetv2.paths import nnUNet_raw

    from .localizer import attach_localizer, train_localizer

    if (folder / LOCALIZER_FOLDER / "plans.json").is_file():
        return folder / LOCALIZER_FOLDER
    source = dataset_folder(nnUNet_raw.require(), config.dataset_id + 1, f"{config.dataset_name}Full")
    if not (source / "dataset.json").is_file():
        full = train_phantoms(config, workdir)
        cases, _ = collect_generic(full / "images", full / "labels", full / "subtypes.csv")
        description = "PancreasMultiTask abdomen phantoms, whole"
        convert_cases(cases, source, list(SUBTYPE_NAMES), description=description, jobs=default_jobs())
    trained = train_localizer(
        source, config.dataset_id + 2, f"{config.dataset_name}Localizer", device=device, **options
    )
    return attach_localizer(trained, folder)


def write_competence(config: DemoConfig, raw: Path, folder: Path) -> Path:
    """The demo model's ``competence.json``, from its training phantoms and nnU-Net's fingerprint of them."""
    from nnunetv2.paths import nnUNet_preprocessed

    from .competence import FINGERPRINT_FILE, build_record, write_record

    fingerprint = Path(nnUNet_preprocessed.require()) / raw.name / FINGERPRINT_FILE
    record = build_record(
        raw,
        json.loads(fingerprint.read_text(encoding="utf-8")),
        json.loads((folder / "plans.json").read_text(encoding="utf-8")),
        synthetic=True,
    )
    return write_record(record, folder)


def check_bfloat16(config: DemoConfig, folder: Path, raw: Path, report: Path) -> dict:
    """The bfloat16 check on the folds' validation cases, recorded in ``competence.json`` and ``report``."""
    from .bf16_check import bfloat16_check, record_bfloat16_check

    result = bfloat16_check(
        folder,
        raw,
        config.bfloat16_cases_per_fold,
        device="cpu",
        use_mirroring=config.eval_segmentation_mirroring,
        num_threads=os.cpu_count() or 1,
    )
    record_bfloat16_check(folder, result)
    report.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(report) as tmp:
        tmp.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result


#: The stages that fit the record after training, in order; each uses what the ones before it wrote.
FIT_STAGES = ("record", "bfloat16_check", "calibration")


def fit_record(config: DemoConfig, folder: Path, raw: Path, report: Path) -> list[str]:
    """The competence record and nnU-Net's postprocessing, the bfloat16 check, then the calibration, into
    ``folder``; returns the stages run. A stage done before from the same weights, data, configuration and code
    (:data:`~.resume.STAGES_FILE`) is skipped, so a rerun of an interrupted ``demo-model`` goes on from there."""
    from .postprocessing import determine_model_postprocessing

    key = settings_digest(
        files_digest([*folder.glob("fold_*/checkpoint_final.pth"), folder / "plans.json"], folder),
        files_digest([raw / "dataset.json"], raw),
        asdict(config),
        code_digest(),
        machine(),
    )
    todo = stages_to_run(stages_done(folder, key), FIT_STAGES)
    for stage in todo:
        if stage == "record":
            write_competence(config, raw, folder)
            determine_model_postprocessing(folder, raw)  # before calibrate: min_lesion_ml sees the engine's output
        elif stage == "bfloat16_check":
            # Before calibrate: where it passes, the calibration and the evaluations run in bfloat16 on a CPU with
            # the units, as the product will run this model there.
            check_bfloat16(config, folder, raw, report / "bfloat16_check.json")
        else:
            calibrate_model(
                folder,
                raw,
                report=report / "calibration",
                use_mirroring=config.eval_segmentation_mirroring,
                classification_mirroring=True,
                backend="torch",
            )
        mark_stage(folder, key, stage, FIT_STAGES)
    return todo


def build_demo_model(
    config: DemoConfig,
    workdir: Path,
    resources: Path,
    device: str = "cpu",
    fold_jobs: int = 1,
    weights: Path | None = None,
) -> Path:
    """Everything from phantoms to ``Resources/DemoModel/<name>.zip``, its report and the sample case.

    nnU-Net's folders default to ``<workdir>/nnUNet_{raw,preprocessed,results}`` when not set. With ``weights`` (an
    exported model zip) its folds and localizer are reused (:func:`reuse_folds`) instead of trained, and
    ``config.weights_sha256`` records which.
    """
    from PancreasMultiTaskLib.engine.model_zip import import_model_zip, verify_zip

    from .export import export_model

    check_training_options(training_options(config))  # a bad option is refused before hours of preparation
    if weights is not None:
        verify_zip(weights)  # a wrong zip is refused before hours of preparation, not after them
    workdir = workdir.resolve()
    for name in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
        os.environ.setdefault(name, str(workdir / name))
        Path(os.environ[name]).mkdir(parents=True, exist_ok=True)
    raw = prepare(config, workdir)
    os.environ[PRECISION_ENV] = config.training_precision  # the folds' workers and the localizer read it
    if weights is None:
        folder = train_folds(config, device, fold_jobs)
    else:
        config, folder = reuse_folds(config, weights, workdir, raw, device, fold_jobs)
    train_demo_localizer(config, workdir, folder, device)
    demo_dir = resources / "DemoModel"
    fit_record(config, folder, raw, demo_dir / "report")
    zip_path = export_model(folder, demo_dir / f"{MODEL_NAME}.zip", MODEL_NAME, [str(f) for f in config.folds])
    installed = import_model_zip(zip_path, workdir / "installed", overwrite=True)
    cases, held = evaluate_demo(config, workdir, installed, folder, raw, demo_dir / "report")
    with atomic_path(demo_dir / "demo_config.json") as tmp:
        tmp.write_text(json.dumps(asdict(config), indent=2) + "\n", encoding="utf-8")
    sample, sample_dice = pick_sample(cases, held, installed)
    write_sample(sample, sample_dice, config, resources / "SampleData")
    return zip_path


def write_sample(sample: EvalCase, lesion_dice: float, config: DemoConfig, sample_dir: Path) -> None:
    """The sample case of ``Resources/SampleData``: its whole slices around the gland plus
    :data:`SAMPLE_MARGIN_MM` (so ``Resources/`` stays small), its truth likewise, and ``sample.json``."""
    sample_dir.mkdir(parents=True, exist_ok=True)
    for old in sample_dir.glob("*.nii.gz"):
        old.unlink()
    image, truth = sitk.ReadImage(str(sample.image)), sitk.ReadImage(str(sample.label))
    axis = slice_axis(image)
    image, truth = gland_crop(image, truth, SAMPLE_MARGIN_MM, axes=(axis,))
    write_image(image, sample_dir / sample.image.name)
    write_image(truth, sample_dir / f"{sample.case_id}_truth.nii.gz")
    info = {
        "case_id": sample.case_id,
        "image": sample.image.name,
        "truth": f"{sample.case_id}_truth.nii.gz",
        "subtype": sample.subtype,
        "subtype_name": SUBTYPE_NAMES[sample.subtype],
        "source": f"synthetic phantom, held-out seed {config.test_seed} (not used in training); the held-out case"
        f" with the median lesion Dice among those the model answers right (p > {SAMPLE_MIN_PROBABILITY:g}; without a"
        f" warning where any are) with a lesion clear of its no-lesion rule (at least {SAMPLE_LESION_MARGIN:g} x its"
        f" min_lesion_ml and a lesion probability at least {SAMPLE_P90_MARGIN:g} of the way from its min_lesion_p90"
        " to 1, where it has one; of every lesion case where it answers none so)",
        "lesion_dice": lesion_dice,
        "cropped": f"whole slices of the gland + {SAMPLE_MARGIN_MM:g} mm along index axis {'xyz'[axis]}"
        f" ({image.GetSize()[axis]} slices)",
        "orientation": sitk.DICOMOrientImageFilter.GetOrientationFromDirectionCosines(image.GetDirection()),
    }
    with atomic_path(sample_dir / "sample.json") as tmp:
        tmp.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
