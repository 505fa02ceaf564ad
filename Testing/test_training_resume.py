"""What a long run may reuse on a rerun: a result is kept with the digest of what made it, and only that digest
brings it back; stages after one that ran again are forgotten."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from pancreas_mt_training.demo import FIT_STAGES, DemoConfig
from pancreas_mt_training.resume import (
    STAGES_FILE,
    code_digest,
    files_digest,
    folder_digest,
    mark_stage,
    settings_digest,
    stages_done,
    stages_to_run,
    store,
    stored,
)


def test_a_value_comes_back_only_under_the_key_it_was_stored_with(tmp_path: Path) -> None:
    path = tmp_path / "rows" / "case.json"
    assert stored(path, "a") is None  # nothing yet
    store(path, "a", {"dice": np.float32(0.5), "probabilities": np.array([0.25, 0.75])})
    assert stored(path, "a") == {"dice": 0.5, "probabilities": [0.25, 0.75]}
    assert stored(path, "b") is None
    path.write_text('{"key": "a", "value": ')  # a file cut short by a crash is not a result
    assert stored(path, "a") is None
    assert not list(path.parent.glob(".*partial*"))  # written by renaming a finished file


def test_digests_follow_the_bytes_the_names_and_the_settings(tmp_path: Path) -> None:
    model = tmp_path / "model"
    (model / "fold_0").mkdir(parents=True)
    (model / "plans.json").write_text("{}")
    (model / "fold_0" / "checkpoint_final.pth").write_bytes(b"weights")
    before = folder_digest(model)
    assert folder_digest(model) == before
    (model / "fold_0" / "checkpoint_final.pth").write_bytes(b"weightz")
    assert folder_digest(model) != before
    (model / "fold_0" / "checkpoint_final.pth").write_bytes(b"weights")
    (model / "fold_0" / "checkpoint_final.pth").rename(model / "fold_0" / "checkpoint_best.pth")
    assert folder_digest(model) != before  # the same bytes under another name
    a, b = tmp_path / "a.nii.gz", tmp_path / "b.nii.gz"
    a.write_bytes(b"1")
    b.write_bytes(b"2")
    assert files_digest([a, b]) == files_digest([b, a]) != files_digest([a])
    config = DemoConfig()
    assert settings_digest(config, model) == settings_digest(DemoConfig(), model)
    assert settings_digest(config) != settings_digest(dataclasses.replace(config, eval_segmentation_mirroring=False))
    assert len(code_digest()) == 64 and code_digest() == code_digest()


def test_a_stage_run_again_forgets_the_stages_after_it(tmp_path: Path) -> None:
    assert stages_to_run([], FIT_STAGES) == list(FIT_STAGES)
    for stage in FIT_STAGES[:2]:
        mark_stage(tmp_path, "key", stage, FIT_STAGES)
    assert stages_done(tmp_path, "key") == ["record", "bfloat16_check"]
    assert stages_to_run(stages_done(tmp_path, "key"), FIT_STAGES) == ["calibration"]
    assert stages_done(tmp_path, "other weights") == []  # another key: everything again
    mark_stage(tmp_path, "key", "calibration", FIT_STAGES)
    assert stages_to_run(stages_done(tmp_path, "key"), FIT_STAGES) == []
    mark_stage(tmp_path, "key", "record", FIT_STAGES)  # the record written again
    assert stages_done(tmp_path, "key") == ["record"]
    assert stages_to_run(["record", "calibration"], FIT_STAGES) == ["bfloat16_check", "calibration"]
    (tmp_path / STAGES_FILE).write_text("[not json")
    assert stages_done(tmp_path, "key") == []
