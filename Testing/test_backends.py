"""The CPU graph backends: same numbers as the PyTorch network, exported once per fold and cached."""

from __future__ import annotations

import os
import shutil
import time

import pytest
import torch
from PancreasMultiTaskLib.engine.backends import GRAPH_BACKENDS, GRAPH_GRACE_S, TorchBackend
from PancreasMultiTaskLib.engine.model_folder import open_model_folder
from PancreasMultiTaskLib.engine.predictor import PredictionOptions, Predictor


def _tiles(model, n: int = 3) -> torch.Tensor:
    patch = tuple(int(p) for p in model.configuration_manager.patch_size)
    return torch.randn((n, 1, *patch), generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("name", GRAPH_BACKENDS)
@pytest.mark.parametrize("folder", ["multitask_model", "view_model"])
def test_graph_backend_gives_the_networks_segmentation_and_class_logits(folder, tmp_path, name, request):
    """Also for a network whose head reads a view of the tile (``classifier_view``): the crop and the second
    pass through the encoder are in the exported graph."""
    model = open_model_folder(request.getfixturevalue(folder), folds=["0", "1"])
    graph = GRAPH_BACKENDS[name](model, lambda: model.build_network().eval(), threads=2, cache_dir=tmp_path)
    reference = TorchBackend(
        model.build_network(), {f: model.load_weights(f) for f in model.folds}, torch.device("cpu")
    )
    tiles = _tiles(model)
    for fold in model.folds:
        graph.select_fold(fold)
        reference.select_fold(fold)
        with torch.inference_mode():
            seg, cls = graph(tiles)
            seg_ref, cls_ref = reference(tiles)
        assert cls is not None and cls.shape == (3, len(model.subtypes))
        torch.testing.assert_close(seg, seg_ref, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(cls, cls_ref, atol=1e-4, rtol=1e-4)
    # Another batch size runs on the same graph (the batch axis is dynamic), and folds differ.
    seg_one, _ = graph(tiles[:1])
    graph.select_fold("0")
    seg_fold0, _ = graph(tiles[:1])
    torch.testing.assert_close(seg_one, seg[:1], atol=1e-4, rtol=1e-4)
    assert not torch.allclose(seg_one, seg_fold0, atol=1e-3)


@pytest.mark.parametrize("name", GRAPH_BACKENDS)
def test_graph_is_exported_once_and_again_when_the_checkpoint_changes(multitask_model, tmp_path, name):
    copy = tmp_path / "model" / multitask_model.name
    shutil.copytree(multitask_model, copy)
    model = open_model_folder(copy, folds=["0"])
    cache = tmp_path / "cache"
    builds = []

    def build():
        builds.append(1)
        return model.build_network().eval()

    first = GRAPH_BACKENDS[name](model, build, threads=1, cache_dir=cache)
    cached = sorted(p.name for p in cache.iterdir())
    assert builds == [1] and first.files["0"].is_file()
    assert not [n for n in cached if "partial" in n or n.startswith(("tmp", ".export"))]  # no scratch left behind

    GRAPH_BACKENDS[name](model, build, threads=1, cache_dir=cache)
    assert builds == [1] and sorted(p.name for p in cache.iterdir()) == cached

    # New weights (not merely a new mtime) give a new export; the older one stays while it may be in use.
    checkpoint = model.checkpoint_path("0")
    state = torch.load(checkpoint, weights_only=False)
    next(iter(state["network_weights"].values())).add_(0.5)
    torch.save(state, checkpoint)
    again = GRAPH_BACKENDS[name](model, build, threads=1, cache_dir=cache)
    assert builds == [1, 1] and again.files["0"] != first.files["0"] and first.files["0"].exists()
    # Once unused for longer than the grace period, the superseded export is removed by the next run.
    old = time.time() - GRAPH_GRACE_S - 60
    for path in cache.iterdir():
        if path.name.startswith(first.files["0"].stem):
            os.utime(path, (old, old))
    GRAPH_BACKENDS[name](model, build, threads=1, cache_dir=cache)
    assert builds == [1, 1] and not first.files["0"].exists()
    assert len(list(cache.iterdir())) == len(cached)
    assert all(p.name.startswith(again.files["0"].stem) for p in cache.iterdir())


def test_auto_takes_openvino_on_the_cpu(multitask_model):
    predictor = Predictor(multitask_model, PredictionOptions(device="cpu", folds=("0",)))
    assert predictor.backend.name == "openvino"
    predictor = Predictor(multitask_model, PredictionOptions(device="cpu", folds=("0",), backend="torch"))
    assert predictor.backend.name == "torch"


def test_a_backend_whose_packages_are_missing_is_a_clear_error(multitask_model, monkeypatch):
    from PancreasMultiTaskLib.engine.io import InputError

    monkeypatch.setattr(GRAPH_BACKENDS["openvino"], "packages", ("no_such_package_pmt", "onnx"))
    with pytest.raises(InputError, match="--backend openvino needs the packages no_such_package_pmt and onnx"):
        Predictor(multitask_model, PredictionOptions(device="cpu", folds=("0",), backend="openvino"))
    # auto then takes the next runtime that is installed.
    assert Predictor(multitask_model, PredictionOptions(device="cpu", folds=("0",))).backend.name == "onnxruntime"
