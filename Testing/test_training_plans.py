"""The plans step: nnU-Net's ResEnc M planner turned into multi-task plans (paper size and reduced)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from model_factory import centred_phantoms
from nnunetv2.utilities.get_network_from_plans import get_network_from_plans
from pancreas_mt_training.cli import main
from pancreas_mt_training.plans import PlansError, make_multitask_plans, reduce_configuration
from PancreasMultiTaskLib.engine.network import NETWORK_CLASS_NAME


def _build(config: dict, deep_supervision: bool = False):
    a = config["architecture"]
    return get_network_from_plans(
        a["network_class_name"],
        a["arch_kwargs"],
        a["_kw_requires_import"],
        1,
        3,
        allow_init=True,
        deep_supervision=deep_supervision,
    )


@pytest.fixture(scope="module")
def paper_size_plans(tmp_path_factory):
    """ResEnc M planned by nnU-Net on phantoms of the paper's crop size in-plane (120 x 176)."""
    from nnunetv2.paths import nnUNet_preprocessed

    src = tmp_path_factory.mktemp("paper_size")
    centred_phantoms(src, 1, 4, (8, 120, 176))
    argv = ["convert", "--dataset-id", "973", "--name", "PaperSize", "--images", str(src / "images")]
    argv += ["--labels", str(src / "labels"), "--subtypes", str(src / "subtypes.csv")]
    assert main(argv) == 0
    assert main(["plan", "973", "--preset", "paper", "--no-preprocess"]) == 0
    folder = Path(nnUNet_preprocessed.get()) / "Dataset973_PaperSize"
    return {
        "base": json.loads((folder / "nnUNetResEncUNetMPlans.json").read_text()),
        "multitask": json.loads((folder / "nnUNetResEncUNetMPlans_MultiTask.json").read_text()),
    }


def test_paper_size_plans_rebuild_the_papers_network(paper_size_plans):
    config = paper_size_plans["multitask"]["configurations"]["2d"]
    kwargs = config["architecture"]["arch_kwargs"]
    assert list(paper_size_plans["multitask"]["configurations"]) == ["2d"]
    assert config["architecture"]["network_class_name"] == NETWORK_CLASS_NAME
    assert config["patch_size"] == [128, 192] and config["batch_size"] == 16
    assert kwargs["features_per_stage"] == [32, 64, 128, 256, 512, 512]
    assert kwargs["n_blocks_per_stage"] == [1, 3, 4, 6, 6, 6]
    assert config["multitask_training"] == {"ablation": "proposed", "preset": "paper"}
    network = _build(config)
    assert 70e6 < sum(p.numel() for p in network.parameters()) < 75e6  # the paper: 72M
    # The classifier sees the 4 x 6 bottleneck, as in the paper's code (2048 features after the CFE).
    assert network.classifier.flat_features == 2048


def test_reduced_configuration_and_ablation(paper_size_plans):
    base = paper_size_plans["base"]
    plans = make_multitask_plans(
        base, 3, "X", ablation="no_cfe", features=[8, 16, 32], blocks=[1, 1, 2], patch_size=[32, 48], batch_size=4
    )
    config = plans["configurations"]["2d"]
    kwargs = config["architecture"]["arch_kwargs"]
    assert plans["plans_name"] == "X" and config["patch_size"] == [32, 48] and config["batch_size"] == 4
    assert kwargs["strides"] == [[1, 1], [2, 2], [2, 2]] and kwargs["n_conv_per_stage_decoder"] == [1, 1]
    assert kwargs["classifier_cfe"] is False and kwargs["patch_size"] == [32, 48]
    assert base["configurations"]["2d"]["architecture"]["network_class_name"] != NETWORK_CLASS_NAME  # untouched
    assert sum(p.numel() for p in _build(config).parameters()) < 1e6
    with pytest.raises(PlansError, match="same length"):
        reduce_configuration(base["configurations"]["2d"], [8, 16], [1])
    with pytest.raises(PlansError, match="unknown ablation"):
        make_multitask_plans(base, 3, ablation="no_head")
    with pytest.raises(ValueError, match="head_refit_lr must be a number > 0"):  # refused where plans are made
        make_multitask_plans(base, 3, training={"head_refit_lr": -1.0})


def test_a_classifier_view_is_planned_within_the_patch_and_sizes_the_head(paper_size_plans):
    """``plan --classifier-view``: the head is sized for the view's bottleneck (64 px at stride 32: 2 x 2, too small
    for the paper's two 2 x 2 convolutions without the CFE ablation); a view larger than the patch is refused."""
    base = paper_size_plans["base"]
    plans = make_multitask_plans(base, 3, "X", ablation="no_cfe", patch_size=[128, 192], classifier_view=[64, 64])
    config = plans["configurations"]["2d"]
    assert config["architecture"]["arch_kwargs"]["classifier_view"] == [64, 64]
    network = _build(config)
    assert network.classifier_view == (64, 64) and network.classifier.flat_features == 512 * 2 * 2
    assert "classifier_view" not in make_multitask_plans(base, 3)["configurations"]["2d"]["architecture"]["arch_kwargs"]
    with pytest.raises(PlansError, match=r"classifier_view \[256, 64\] must be 2 sizes within the patch"):
        make_multitask_plans(base, 3, patch_size=[128, 192], classifier_view=[256, 64])


def test_the_ct_window_widens_by_the_margin_and_nnunets_normalization_clips_there(paper_size_plans):
    from nnunetv2.preprocessing.normalization.default_normalization_schemes import CTNormalization

    base = paper_size_plans["base"]
    before = base["foreground_intensity_properties_per_channel"]["0"]
    plans = make_multitask_plans(base, 3, window_margin_hu=150)
    after = plans["foreground_intensity_properties_per_channel"]["0"]
    assert after["percentile_00_5"] == pytest.approx(before["percentile_00_5"] - 150)
    assert after["percentile_99_5"] == pytest.approx(before["percentile_99_5"] + 150)
    assert base["foreground_intensity_properties_per_channel"]["0"] is before and before != after  # base untouched
    # A lesion 100 HU below the old window survives normalization with the new one.
    value = before["percentile_00_5"] - 100
    old = CTNormalization(intensityproperties=before).run(np.array([value], dtype=np.float32))
    new = CTNormalization(intensityproperties=after).run(np.array([value], dtype=np.float32))
    low = CTNormalization(intensityproperties=before).run(np.array([before["percentile_00_5"]], dtype=np.float32))
    assert old == pytest.approx(low) and new < low


def test_spacing_coarsens_the_in_plane_grid_only_where_finer(paper_size_plans):
    base = paper_size_plans["base"]
    config = base["configurations"]["2d"]
    plans = make_multitask_plans(base, 3, spacing_mm=1.25)
    coarse = plans["configurations"]["2d"]
    assert coarse["spacing"] == [max(s, 1.25) for s in config["spacing"]] and coarse["spacing"] != config["spacing"]
    shrink = [o / n for o, n in zip(config["spacing"], coarse["spacing"], strict=True)]
    assert coarse["median_image_size_in_voxels"] == [
        round(m * f) for m, f in zip(config["median_image_size_in_voxels"], shrink, strict=True)
    ]
    assert base["configurations"]["2d"]["spacing"] == config["spacing"]  # base untouched
    # preprocessed apart from data at nnU-Net's spacing, which write_plans would otherwise reuse
    assert coarse["data_identifier"] == f"{config['data_identifier']}_1.25mm"
    fine = make_multitask_plans(base, 3, spacing_mm=0.01)["configurations"]["2d"]
    assert fine["spacing"] == config["spacing"] and fine["data_identifier"] == config["data_identifier"]
    with pytest.raises(PlansError, match="spacing_mm must be positive"):
        make_multitask_plans(base, 3, spacing_mm=0)
