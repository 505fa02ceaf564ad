"""The progress contract for real: the CLI's stages each restart at 0, its ``overall`` fraction does not.

The Slicer module's bar is ``PredictionProcess.fraction``; this runs the real ``pancreas-mt predict`` with
the bundled demo model on two copies of the bundled sample case and watches that bar.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PancreasMultiTaskLib.engine.demo import demo_model_folder, sample_case
from PancreasMultiTaskLib.slicer.runner import PredictionProcess, predict_command

STAGES = ["preprocess", "predict", "export"]


@pytest.mark.slow
def test_real_cli_bar_is_monotonic_from_0_to_1(tmp_path: Path) -> None:
    model = demo_model_folder(tmp_path / "models")
    inputs = []
    for name in ("first", "second"):
        inputs.append(tmp_path / f"{name}_0000.nii.gz")
        shutil.copy(sample_case(), inputs[-1])
    events: list[dict] = []
    bar: list[float] = []
    process = PredictionProcess(
        predict_command(inputs, tmp_path / "out", {"model": str(model), "folds": ["0"], "device": "cpu"}),
        on_event=lambda event: (events.append(event), bar.append(process.fraction)),
    )
    outcome = process.wait(timeout=900)
    assert outcome.ok, (outcome.reason(), outcome.stderr[-3000:])

    progress = [e for e in events if e["event"] == "progress"]
    for case in ("first", "second"):
        stages = [e["stage"] for e in progress if e["case"] == case]
        assert sorted(set(stages), key=stages.index) == STAGES
        assert stages == sorted(stages, key=STAGES.index)  # in this order, never back
        for stage in STAGES:
            fractions = [e["fraction"] for e in progress if e["case"] == case and e["stage"] == stage]
            assert fractions == sorted(fractions) and 0.0 <= fractions[0] <= fractions[-1] <= 1.0
            assert fractions[-1] == 1.0 or stage == "preprocess"  # preprocessing reports its start only
    stage_fractions = [e["fraction"] for e in progress]
    assert stage_fractions != sorted(stage_fractions)  # the stages restart at 0: the bug this contract fixes
    overall = [e["overall"] for e in progress]
    assert overall == sorted(overall) and overall[0] < 0.1 and overall[-1] == 1.0
    first_done = next(i for i, e in enumerate(events) if e["event"] == "case_done")
    assert events[first_done]["overall"] == pytest.approx(0.5)
    assert bar == sorted(bar) and bar[0] < 0.1 and bar[-1] == pytest.approx(1.0)
