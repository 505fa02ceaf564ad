"""The demo command's pure parts: the sample case it bundles and the report's opening."""

from __future__ import annotations

import json
from pathlib import Path

import SimpleITK as sitk
from pancreas_mt_training.demo import (
    DemoConfig,
    demo_headline,
    median_case,
    pick_sample,
    rewrite_demo_report,
    write_sample,
)
from pancreas_mt_training.evaluate import EvalCase, confidence_summary, outcome_summary


def _row(case: str, truth: int, dice: float, status: str = "answered", found: bool = True, given: bool = True, ml=10.0):
    outcome = {"status": status, "lesion_found": found, "subtype_given": given, "reasons": []}
    answer = {"predicted": max(truth, 0), "probability": 0.9, "uncertain": False} if given else None
    row = {"case_id": case, "truth": truth, "segmentation": {"lesion": {"dice": dice}}, "outcome": outcome}
    return {**row, "answer": answer, "lesion_volume_ml": ml}


def _held(rows: list[dict], accuracy: float = 0.9, ci=(0.8, 0.95), ceiling=0.92) -> dict:
    return {
        "cases": rows,
        "folds": ["0", "1", "2"],
        "segmentation_mirroring": False,
        "classification_mirroring": True,
        "classification": {"guided": {"accuracy": accuracy, "accuracy_ci95": list(ci), "f_beta": 0.88}},
        "segmentation": {"lesion": {"dice": 0.71}, "pancreas": {"dice": 0.86}},
        "outcomes": outcome_summary(rows, {r["case_id"]: 10.0 for r in rows if r["truth"] >= 0}),
        "confidence": confidence_summary(rows),
        "ceiling": ceiling,
    }


def test_the_sample_is_the_lesion_case_with_the_median_lesion_dice_not_the_best_nor_a_normal_gland():
    dice = {"a": 0.9, "b": 0.35, "c": 0.7, "d": 0.8, "e": 0.6, "n": 0.0}
    cases = [
        EvalCase(case, Path(f"{case}.nii.gz"), Path(f"{case}_truth.nii.gz"), -1 if case == "n" else 0)
        for case in sorted(dice)
    ]
    rows = [_row(c.case_id, c.subtype, dice[c.case_id]) for c in cases]
    assert median_case(cases, _held(rows)).case_id == "c"
    assert median_case(cases[:4], _held(rows)).case_id == "c"  # an even count: the lower of the middle two


def test_the_sample_skips_cases_the_model_answers_wrong_or_withholds_unless_it_answers_none_right():
    dice = {"a": 0.9, "b": 0.35, "c": 0.2, "d": 0.5, "e": 0.6}
    cases = [EvalCase(case, Path(f"{case}.nii.gz"), Path(f"{case}_truth.nii.gz"), 1) for case in sorted(dice)]
    rows = [_row(c.case_id, 1, dice[c.case_id]) for c in cases]
    rows[2]["answer"]["predicted"] = 0  # c answered wrong
    rows[3]["outcome"]["status"] = "withheld"  # d withheld (its answer kept: the status alone must exclude it)
    assert median_case(cases, _held(rows)).case_id == "e"  # of a, b, e
    for row in rows[:3] + rows[4:]:
        row["outcome"]["status"] = "answered-with-warnings"  # none without a warning: d still excluded as withheld
    assert median_case(cases, _held(rows)).case_id == "e"
    for row in rows:
        row["answer"] = None
    assert median_case(cases, _held(rows)).case_id == "d"  # none right: the median of every lesion case


def test_the_sample_prefers_answers_without_warnings():
    """A sample whose result carries a caveat ("3 separate lesions", a texture it cannot compare) demonstrates the
    caveat, not the answer: among the right answers, the ones without a warning, where there are any."""
    dice = {"a": 0.9, "b": 0.35, "c": 0.7, "d": 0.8, "e": 0.6}
    cases = [EvalCase(case, Path(f"{case}.nii.gz"), Path(f"{case}_truth.nii.gz"), 1) for case in sorted(dice)]
    rows = [_row(c.case_id, 1, dice[c.case_id]) for c in cases]
    assert median_case(cases, _held(rows)).case_id == "c"  # of b, e, c, d, a
    for row in rows[2:4]:
        row["outcome"]["status"] = "answered-with-warnings"  # c and d
    assert median_case(cases, _held(rows)).case_id == "e"  # of b, e, a
    for row in rows:
        row["outcome"]["status"] = "answered-with-warnings"
    assert median_case(cases, _held(rows)).case_id == "c"  # every answer warned: of all right answers


def test_the_sample_skips_answers_near_a_tie():
    """A right answer with less than half the probability is a near tie that one fold or no mirroring can turn:
    not a demonstration of an answer."""
    dice = {"a": 0.9, "b": 0.35, "c": 0.7, "d": 0.8, "e": 0.6}
    cases = [EvalCase(case, Path(f"{case}.nii.gz"), Path(f"{case}_truth.nii.gz"), 1) for case in sorted(dice)]
    rows = [_row(c.case_id, 1, dice[c.case_id]) for c in cases]
    rows[2]["answer"]["probability"] = 0.44  # c
    rows[3]["answer"]["probability"] = 0.5  # d: exactly half is no majority
    assert median_case(cases, _held(rows)).case_id == "e"  # of b, e, a
    rows[3]["answer"]["probability"] = 0.51
    assert median_case(cases, _held(rows)).case_id == "e"  # of b, e, d, a: the lower middle


def test_the_sample_skips_answers_whose_lesion_is_near_the_no_lesion_threshold():
    dice = {"a": 0.9, "b": 0.35, "c": 0.7, "d": 0.8, "e": 0.6, "f": 0.75}
    volume = {"a": 30.0, "b": 12.0, "c": 5.1, "d": 7.6, "e": 20.0, "f": 40.0}  # min_lesion_ml 5: c is too close
    cases = [EvalCase(case, Path(f"{case}.nii.gz"), Path(f"{case}_truth.nii.gz"), 1) for case in sorted(dice)]
    rows = [_row(c.case_id, 1, dice[c.case_id], ml=volume[c.case_id]) for c in cases]
    assert median_case(cases, _held(rows)).case_id == "c"  # without a threshold: of all six, the lower middle
    assert median_case(cases, _held(rows), min_lesion_ml=5.0).case_id == "f"  # of b, e, f, d, a (d: 1.52 x 5 mL)
    assert median_case(cases, _held(rows), min_lesion_ml=30.0).case_id == "c"  # none clear of it: every lesion case


def test_the_sample_skips_answers_whose_lesion_probability_is_near_the_rules_threshold():
    dice = {"a": 0.9, "b": 0.35, "c": 0.7, "d": 0.8}
    p90 = {"a": 0.999, "b": 0.9995, "c": 0.991, "d": 0.996}  # min_lesion_p90 0.99: c is found, but barely
    cases = [EvalCase(case, Path(f"{case}.nii.gz"), Path(f"{case}_truth.nii.gz"), 1) for case in sorted(dice)]
    rows = [_row(c.case_id, 1, dice[c.case_id], ml=10.0) for c in cases]
    for row in rows:
        row["lesion_p90"] = p90[row["case_id"]]
    assert median_case(cases, _held(rows), min_lesion_ml=1.0).case_id == "c"  # the volume alone: of all four
    assert median_case(cases, _held(rows), 1.0, min_lesion_p90=0.99).case_id == "d"  # of b, d, a (0.995 needed)


def test_the_sample_rule_reads_the_models_own_no_lesion_threshold(tmp_path):
    from PancreasMultiTaskLib.engine.demo import demo_model_folder
    from PancreasMultiTaskLib.engine.model_folder import open_model_folder

    folder = demo_model_folder(tmp_path / "models")
    record = open_model_folder(folder).competence
    threshold, p90 = record.min_lesion_ml, record.min_lesion_p90
    assert threshold > 0 and p90 is not None  # the bundled model carries the lesion-probability rule
    dice = {"a": 0.9, "b": 0.35, "c": 0.7, "d": 0.8}
    cases = [EvalCase(case, Path(f"{case}.nii.gz"), Path(f"{case}_truth.nii.gz"), 1) for case in sorted(dice)]
    volume = {"a": 10 * threshold, "b": 10 * threshold, "c": 1.2 * threshold, "d": 10 * threshold}
    rows = [_row(c.case_id, 1, dice[c.case_id], ml=volume[c.case_id]) for c in cases]
    for row in rows:
        row["lesion_p90"] = 1.0
    rows[3]["lesion_p90"] = (1.0 + p90) / 2 - 1e-6  # d: found, but nearer the rule's threshold than halfway
    assert median_case(cases, _held(rows)).case_id == "c"
    assert pick_sample(cases, _held(rows), folder) == (cases[1], 0.35)  # of b and a (not c, not d): the lower


def test_outcomes_count_normal_glands_given_a_lesion_and_lesions_found():
    rows = [
        _row("n1", -1, 0.0, found=False, given=False),
        _row("n2", -1, 0.0, status="answered-with-warnings", found=True, given=False),
        _row("l1", 0, 0.8),
        _row("l2", 1, 0.0, status="withheld", found=False, given=False),
    ]
    outcomes = outcome_summary(rows, {"l1": 12.0, "l2": 4.0})
    assert (
        outcomes["normal_with_lesion_or_subtype"]["count"] == 1 and outcomes["normal_with_lesion_or_subtype"]["of"] == 2
    )
    assert outcomes["lesions_found"]["count"] == 1 and outcomes["lesions_5mm_found"]["of"] == 1
    assert outcomes["lesions_5mm_found"]["share"] == 1.0  # the 4 mm lesion missed is not in the >= 5 mm share
    assert [outcomes[s]["count"] for s in ("answered", "answered-with-warnings", "withheld")] == [2, 1, 1]
    low, high = outcomes["withheld"]["ci95"]
    assert low < 0.25 < high


def test_the_headline_gives_accuracy_with_its_interval_the_ceiling_the_stress_table_and_the_baselines():
    rows = [_row("n1", -1, 0.0, found=False, given=False), _row("l1", 0, 0.8)]
    held = _held(rows, accuracy=0.9, ci=(0.8, 0.95), ceiling=0.917)
    small = _held([_row("s1", 2, 0.3, status="withheld", found=False, given=False)], 0.5, (0.1, 0.9), 0.9)
    baseline = [
        {
            "baseline": "radiomics",
            "features": "skewness, kurtosis",
            "accuracy": 0.6,
            "accuracy_ci95": [0.5, 0.7],
            "f_beta": 0.55,
            "n_train": 72,
            "n_test": 48,
        }
    ]
    text = "\n".join(demo_headline(held, {"small": small}, baseline))
    assert "90.0% (80.0%-95.0%)" in text and "ceiling (91.7% on these cases)" in text
    assert "Normal glands given a lesion or a subtype: 0.0% (" in text and "0/1)" in text
    assert "| small | 1 | 50.0% (10.0%-90.0%) | 90.0% | 0.710 | 0.860 | 0.0% | 100.0% |" in text
    assert "| radiomics | skewness, kurtosis | 60.0% (50.0%-70.0%) | 0.550 | 72 / 48 |" in text
    assert "folds 0, 1, 2" in text and "(segmentation not mirrored, where the product mirrors by default;" in text
    held["segmentation_mirroring"] = True
    assert "(segmentation mirrored, as the product mirrors by default;" in "\n".join(demo_headline(held, {}, []))
    assert "on the 1 lesion cases given a subtype): ECE 0.100; AUROC right vs wrong n/a" in text
    assert "of right answers 0.0% (" in text and "of wrong ones n/a (no cases)" in text


def test_the_headline_scores_the_confidence_on_the_stress_sets_together():
    """Issue 19 asks the confidence to separate right from wrong on a held-out set with errors: the stress sets."""
    held = _held([_row("l1", 0, 0.8)])
    right, wrong = _row("s1", 1, 0.7), _row("e1", 2, 0.6)
    wrong["answer"] = {"predicted": 0, "probability": 0.95, "uncertain": False}  # a confident error
    stress = {"small": _held([right], 0.5, (0.1, 0.9), 0.9), "edge": _held([wrong], 0.0, (0.0, 0.8), 0.9)}
    text = "\n".join(demo_headline(held, stress, []))
    line = next(line for line in text.splitlines() if "on the stress sets together" in line)
    assert "on the 2 lesion cases given a subtype): ECE 0.525; AUROC right vs wrong 0.000" in line
    assert "of right answers 0.0% (" in line and "of wrong ones 0.0% (" in line
    assert "on the stress sets together" not in "\n".join(demo_headline(held, {}, []))


def test_the_demo_calibrates_and_evaluates_with_the_products_default_mirroring():
    """The no-lesion rule's p90 threshold sits near 1, where mirroring moves the lesion probability most: it is
    fitted and measured as users run the product (``Testing/benchmarks/held_out_mirroring.py``)."""
    from PancreasMultiTaskLib.engine.options import default

    assert DemoConfig().eval_segmentation_mirroring is default("use_mirroring") is True


def test_the_bundled_report_is_what_the_code_writes_from_its_metrics(tmp_path, monkeypatch):
    """``pancreas-mt-train demo-report``: the report written again from its ``metrics.json`` is the bundled one, and
    each held-out reliability diagram draws the calibrated answers given (PNG bytes depend on matplotlib's state in
    the process, so the figure is read before it is saved)."""
    import pancreas_mt_training.evaluate as evaluate

    legends: dict[str, list[str]] = {}
    save = evaluate._save

    def read_then_save(fig, path):
        legends[path.name] = [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
        save(fig, path)

    monkeypatch.setattr(evaluate, "_save", read_then_save)
    bundled = Path(__file__).resolve().parents[1] / "Resources" / "DemoModel" / "report"
    (tmp_path / "metrics.json").write_bytes((bundled / "metrics.json").read_bytes())
    rewrite_demo_report(tmp_path)
    assert (tmp_path / "report.md").read_text() == (bundled / "report.md").read_text()
    assert (tmp_path / "metrics.json").read_bytes() == (bundled / "metrics.json").read_bytes()
    figures = sorted(p.name for p in tmp_path.glob("*.png"))
    assert figures == sorted(p.name for p in bundled.glob("*.png")) == sorted(legends)
    answers = "answers given (calibrated)"
    assert answers in legends["1_held_out_reliability.png"] and answers in legends["9_inplane05_reliability.png"]
    cv = next(name for name in legends if name.startswith("0_") and name.endswith("_reliability.png"))
    assert answers not in legends[cv]  # the cross-validation rows carry no product answer
    # The bundled folds are the exported zip's weights, reused: no training log, so no (empty) loss-curve figure.
    assert not any(name.endswith("_loss_curves.png") for name in figures)
    assert "No loss curves: the folds' checkpoints hold no training log" in (tmp_path / "report.md").read_text()


def test_demo_report_refuses_a_folder_without_a_demo_reports_metrics_in_one_line(tmp_path, capsys):
    from pancreas_mt_training.cli import main

    assert main(["demo-report", "--report", str(tmp_path)]) == 1
    assert "metrics.json: missing" in capsys.readouterr().err
    for text in ('{"results": [], "baseline": [], "config": {}}', "[1, 2]", "{not json"):
        (tmp_path / "metrics.json").write_text(text)
        assert main(["demo-report", "--report", str(tmp_path)]) == 1
        err = capsys.readouterr().err
        assert err.startswith("pancreas-mt-train demo-report: error:") and err.count("\n") == 1, err
    assert not (tmp_path / "report.md").exists()


def test_demo_model_refuses_weights_it_cannot_verify_before_preparing_anything(tmp_path, capsys):
    """``demo-model --weights``: a zip without its SHA-256, or one that fails it, is one line before the hours of
    phantoms and preprocessing, and nothing is written."""
    import shutil

    from pancreas_mt_training.cli import main

    bundled = Path(__file__).resolve().parents[1] / "Resources" / "DemoModel" / "PancreasPhantomsDemo.zip"
    unhashed = tmp_path / "weights" / "PancreasPhantomsDemo.zip"
    unhashed.parent.mkdir()
    shutil.copyfile(bundled, unhashed)
    work = tmp_path / "work"
    argv = ["demo-model", "--workdir", str(work), "--resources", str(tmp_path / "resources")]
    argv += ["--train-cases", "1", "--test-cases", "1", "--stress-sets", "--weights"]  # quick to fail if not refused
    assert main([*argv, str(unhashed)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("pancreas-mt-train demo-model: error:") and "no SHA-256 to check it against" in err, err
    (tmp_path / "weights" / "PancreasPhantomsDemo.zip.sha256").write_text(f"{'0' * 64}  PancreasPhantomsDemo.zip\n")
    assert main([*argv, str(unhashed)]) == 1
    assert "SHA-256" in capsys.readouterr().err
    assert main([*argv, str(bundled), "--head-refit-iterations", "10"]) == 1  # refits heads it would not train
    err = capsys.readouterr().err
    assert err.startswith("pancreas-mt-train demo-model: error: --head-refit-iterations refits") and "--weights" in err
    assert not work.exists() and not (tmp_path / "resources").exists()


def test_a_bad_training_option_is_one_line_before_phantoms_or_planning(tmp_path, capsys):
    """``demo-model`` and ``plan`` check the training options first: a bad one is a one-line error naming it, before
    hours of phantoms or nnU-Net's fingerprint, and nothing is written."""
    from pancreas_mt_training.cli import main

    work = tmp_path / "work"
    argv = ["demo-model", "--workdir", str(work), "--resources", str(tmp_path / "resources")]
    argv += ["--train-cases", "1", "--test-cases", "1", "--stress-sets"]  # quick to fail if not refused
    assert main([*argv, "--head-refit-iterations", "-1"]) == 1
    err = capsys.readouterr().err
    assert err == (
        "pancreas-mt-train demo-model: error: multitask_training.head_refit_iterations must be a whole number >= 0,"
        " got -1\n"
    )
    assert not work.exists() and not (tmp_path / "resources").exists()
    assert main(["plan", "979", "--head-refit-iterations", "-1"]) == 1  # no dataset 979: refused before looking
    assert "head_refit_iterations must be a whole number >= 0" in capsys.readouterr().err


def test_the_confidence_summary_scores_the_products_answers_on_lesion_cases_only():
    def answered(case, truth, predicted, p, uncertain):
        return {**_row(case, truth, 0.5), "answer": {"predicted": predicted, "probability": p, "uncertain": uncertain}}

    rows = [
        answered("r1", 0, 0, 0.9, False),
        answered("r2", 1, 1, 0.8, True),
        answered("w1", 2, 0, 0.5, True),
        answered("w2", 0, 1, 0.4, True),
        _row("l0", 1, 0.0, found=False, given=False),  # no answer: not scored
        {**_row("n1", -1, 0.0), "answer": {"predicted": 0, "probability": 0.99, "uncertain": False}},  # normal
    ]
    summary = confidence_summary(rows)
    assert summary["cases"] == 4 and summary["auroc"] == 1.0  # every right answer more confident than every wrong
    # ECE over 15 bins: four singleton bins, |1 - 0.9| + |1 - 0.8| + |0 - 0.5| + |0 - 0.4|, each a quarter
    assert abs(summary["ece"] - (0.1 + 0.2 + 0.5 + 0.4) / 4) < 1e-9
    assert (summary["flagged_of_right"]["count"], summary["flagged_of_right"]["of"]) == (1, 2)
    assert (summary["flagged_of_wrong"]["count"], summary["flagged_of_wrong"]["of"]) == (2, 2)


def test_the_sample_keeps_whole_slices_around_the_gland_in_its_own_geometry(tmp_path):
    """``Resources/SampleData``: the held-out case cut to the gland's slices plus the margin (whole slices, so
    ``--roi auto`` still has a whole CT field to search), its truth alike, and ``sample.json`` saying so."""
    label = sitk.Image([40, 30, 60], sitk.sitkUInt8)
    label.SetSpacing((0.8, 0.8, 2.0))
    label.SetOrigin((-3.0, 4.0, -50.0))
    label[10:20, 10:20, 20:25] = 1
    label[14, 14, 22] = 2
    image = sitk.Cast(label, sitk.sitkInt16) * 60 - 1000
    image.CopyInformation(label)
    paths = {"image": tmp_path / "case_0000.nii.gz", "label": tmp_path / "case.nii.gz"}
    sitk.WriteImage(image, str(paths["image"]))
    sitk.WriteImage(label, str(paths["label"]))
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old_0000.nii.gz").write_bytes(b"")  # an earlier sample is replaced
    write_sample(EvalCase("case", paths["image"], paths["label"], 2), 0.61, DemoConfig(), tmp_path / "out")
    kept = sitk.ReadImage(str(tmp_path / "out" / "case_0000.nii.gz"))
    truth = sitk.ReadImage(str(tmp_path / "out" / "case_truth.nii.gz"))
    assert kept.GetSize() == (40, 30, 5 + 2 * 5)  # 10 mm = 5 slices of 2 mm on each side
    assert kept.GetOrigin() == label.TransformIndexToPhysicalPoint((0, 0, 15))
    assert truth.GetSize() == kept.GetSize() and truth.GetOrigin() == kept.GetOrigin()
    info = json.loads((tmp_path / "out" / "sample.json").read_text())
    assert (info["image"], info["truth"], info["subtype"], info["lesion_dice"]) == (
        "case_0000.nii.gz",
        "case_truth.nii.gz",
        2,
        0.61,
    )
    assert "15 slices" in info["cropped"] and sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "case_0000.nii.gz",
        "case_truth.nii.gz",
        "sample.json",
    ]
