"""``paper_method.py``: the paper's preset trained on the demo's gland crops and measured beside the demo's fold.

The whole path runs for real on a tiny demo configuration (five abdomen phantoms of four slices, a 3-stage
network, one epoch of two iterations): phantoms, crops, both datasets (labels and the paper's regions), nnU-Net's
plans, preprocessing and training of both folds, and the engine's evaluation of both on held-out phantoms. The demo's
localizer is trained too, by the demo's own function at a test's size (its accuracy is tested in
``test_localizer.py``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from nnunetv2.paths import nnUNet_preprocessed
from pancreas_mt_training.demo import DemoConfig, model_folder, prepare, train_demo_localizer
from pancreas_mt_training.paper_method import (
    COLUMNS,
    PAPER_BATCH_SIZE,
    measure_paper_method,
    method_rows,
    method_table,
    paper_model_folder,
    training_budget,
)
from test_training_e2e import single_thread  # noqa: F401 (fixture)

#: The demo's ids here are 983 (crops), 984 and 985 (the localizer's) and 986 (the paper's regions).
TINY = DemoConfig(
    dataset_id=983,
    dataset_name="TinyAbdomen",
    train_cases=5,
    test_cases=2,
    stress_sets=(),
    slices=4,
    features=[8, 16, 32],
    blocks=[1, 1, 1],
    patch_size=[64, 64],
    classifier_view=[32, 32],
    batch_size=4,
    num_epochs=1,
    iterations=2,
    val_iterations=1,
    folds=(0,),
    spacing_mm=3.0,
    eval_segmentation_mirroring=False,  # what is measured here is which method and folds, not the mirroring
)


@pytest.mark.slow
def test_the_paper_preset_trains_on_the_demo_crops_and_both_folds_are_measured_on_the_held_out_set(
    tmp_path,
    single_thread,  # noqa: F811
):
    work = tmp_path / "demo"
    prepare(TINY, work)
    ours = model_folder(TINY)
    ours.mkdir(parents=True)
    tiny = {"features": [8, 16, 32], "blocks": [1, 1, 1], "patch_size": [32, 32]}
    training = {"num_epochs": 1, "num_iterations_per_epoch": 2, "num_val_iterations_per_epoch": 1}
    train_demo_localizer(TINY, work, ours, training=training, plan_options=tiny, batch_size=4)

    report = measure_paper_method(TINY, work, fold=0)

    paper = paper_model_folder(TINY)
    plans = json.loads((paper / "plans.json").read_text())["configurations"]["2d"]
    ours_plans = json.loads((ours / "plans.json").read_text())["configurations"]["2d"]
    training = plans["multitask_training"]
    assert training["preset"] == "paper" and training["augmentation"] == "nnunet"
    for key in ("num_epochs", "num_iterations_per_epoch", "num_val_iterations_per_epoch"):
        assert training[key] == ours_plans["multitask_training"][key]  # the same budget as the demo's fold
    assert plans["batch_size"] == PAPER_BATCH_SIZE
    assert plans["architecture"]["arch_kwargs"].get("classifier_view") is None  # the head reads the whole patch
    assert plans["architecture"]["arch_kwargs"]["features_per_stage"] == [8, 16, 32]
    dataset = json.loads((paper / "dataset.json").read_text())
    assert dataset["labels"]["pancreas"] == [1, 2]  # the paper's region-based labels
    log = next((paper / "fold_0").glob("training_log_*.txt")).read_text()
    assert '"class_loss": "dice_bce_global"' in log and '"class_slices": "all"' in log
    assert '"deep_supervision": false' in log and (paper / "fold_0" / "validation" / "subtypes.json").is_file()
    splits = [
        json.loads((Path(nnUNet_preprocessed.require()) / folder.parent.name / "splits_final.json").read_text())
        for folder in (ours, paper)
    ]
    assert splits[0] == splits[1]  # the same training and validation cases

    result = json.loads((report.parent / "paper_method.json").read_text())
    assert [row["model"] for row in result["rows"]] == ["ours (demo preset)", "the paper's preset"]
    lesion_cases = result["rows"][0]["lesion_cases"]
    assert result["held_out_cases"] == 2 and lesion_cases >= 1
    for row in result["rows"]:
        assert set(row["accuracy"]) == set(COLUMNS)
        assert all(0 <= value <= 1 for value in row["accuracy"].values())
        assert 0 <= row["lesion_dice"] <= 1 and 0 <= row["pancreas_dice"] <= 1
    text = report.read_text()
    assert "| the paper's preset |" in text and "tiles, uniform (the paper's)" in text
    assert "1 epochs of 2 iterations" in text
    for name, trained in (("ours", ours), ("paper", paper)):  # each evaluated as itself, with the localizer
        copy = report.parent / "models" / name
        assert (copy / "plans.json").read_bytes() == (trained / "plans.json").read_bytes()
        assert (copy / "localizer" / "plans.json").is_file()


def result(accuracy: dict[str, float], lesion: float) -> dict:
    """An ``evaluate_held_out`` result with the fields :func:`method_rows` reads."""
    return {
        "classification": {
            m: {"accuracy": a, "accuracy_ci95": [a - 0.1, a + 0.1], "f_beta": a / 2} for m, a in accuracy.items()
        },
        "segmentation": {"lesion": {"dice": lesion}, "pancreas": {"dice": 0.8}},
        "cases": [{"truth": 0}, {"truth": 2}, {"truth": -1}],
    }


def test_the_table_gives_each_pooling_of_each_model_and_says_na_where_a_pooling_was_not_scored():
    rows = method_rows(
        {
            "ours": result({m: 0.5 for m in COLUMNS}, 0.61),
            "paper": result({"uniform": 0.25}, 0.4),
        }
    )
    assert [r["lesion_cases"] for r in rows] == [2, 2]
    table = method_table(rows)
    assert table[0].count("|") == len(COLUMNS) + 4
    assert table[2] == "| ours | " + " | ".join(["50.0% (40.0%-60.0%)"] * len(COLUMNS)) + " | 0.610 | 0.800 |"
    assert table[3] == "| paper | n/a | n/a | 25.0% (15.0%-35.0%) | n/a | 0.400 | 0.800 |"


@pytest.mark.parametrize(
    "plans",
    [
        "{not json",
        '{"configurations": {"2d": {}}}',
        '{"configurations": {"2d": {"multitask_training": {"num_epochs": 80}}}}',
        '{"configurations": {"2d": {"multitask_training": {"num_epochs": "80", "num_iterations_per_epoch": 100,'
        ' "num_val_iterations_per_epoch": 10}}}}',
        '{"configurations": {"2d": {"multitask_training": {"num_epochs": 0, "num_iterations_per_epoch": 100,'
        ' "num_val_iterations_per_epoch": 10}}}}',
    ],
)
def test_a_plans_file_without_a_readable_budget_is_refused_naming_the_file(tmp_path, plans):
    (tmp_path / "plans.json").write_text(plans)
    with pytest.raises(ValueError, match=r"plans\.json: .*multitask_training"):
        training_budget(tmp_path)


def test_the_budget_is_read_from_the_plans(tmp_path):
    training = {"num_epochs": 80, "num_iterations_per_epoch": 100, "num_val_iterations_per_epoch": 10, "x": 1}
    (tmp_path / "plans.json").write_text(json.dumps({"configurations": {"2d": {"multitask_training": training}}}))
    assert training_budget(tmp_path) == {k: v for k, v in training.items() if k != "x"}
