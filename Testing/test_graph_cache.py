"""The exported-graph cache: keyed by content, verified before loading, safe for other processes."""

from __future__ import annotations

import os
import shutil
import time

import pytest
import torch
from PancreasMultiTaskLib.engine.backends import EXPORT_LEFTOVER_S, GRAPH_BACKENDS, GRAPH_GRACE_S, TorchBackend
from PancreasMultiTaskLib.engine.model_folder import open_model_folder


@pytest.fixture
def model_copy(multitask_model, tmp_path):
    copy = tmp_path / "model" / multitask_model.name
    shutil.copytree(multitask_model, copy)
    return copy


def _tiles(model) -> torch.Tensor:
    patch = tuple(int(p) for p in model.configuration_manager.patch_size)
    return torch.randn((2, 1, *patch), generator=torch.Generator().manual_seed(1))


def _backend(model, cache, builds: list, name: str = "openvino"):
    def build():
        builds.append(1)
        return model.build_network().eval()

    return GRAPH_BACKENDS[name](model, build, threads=1, cache_dir=cache)


def _assert_runs_fold(backend, model, fold: str) -> None:
    """The backend's outputs for ``fold`` are the PyTorch network's with that fold's current weights."""
    reference = TorchBackend(model.build_network(), {fold: model.load_weights(fold)}, torch.device("cpu"))
    reference.select_fold(fold)
    backend.select_fold(fold)
    tiles = _tiles(model)
    with torch.inference_mode():
        seg, cls = backend(tiles)
        seg_ref, cls_ref = reference(tiles)
    torch.testing.assert_close(seg, seg_ref, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(cls, cls_ref, atol=1e-4, rtol=1e-4)


def _entry_files(path):
    return sorted(p for p in path.parent.iterdir() if p.name.startswith(path.stem + "."))


@pytest.mark.parametrize("name", GRAPH_BACKENDS)
def test_a_graph_copied_onto_another_folds_names_is_not_used(model_copy, tmp_path, name):
    model = open_model_folder(model_copy, folds=["0", "1"])
    cache, builds = tmp_path / "cache", []
    first = _backend(model, cache, builds, name)
    assert len(builds) == 1  # one network, both folds exported
    for source in _entry_files(first.files["0"]):
        if source.suffix != ".lock":
            target = first.files["1"].with_suffix(source.suffix)
            shutil.copyfile(source, target)
    again = _backend(model, cache, builds, name)
    assert len(builds) == 2  # fold 1 exported again: its record names fold 0's key
    _assert_runs_fold(again, model, "1")


def test_a_damaged_graph_is_exported_again_before_loading(model_copy, tmp_path):
    model = open_model_folder(model_copy, folds=["0"])
    cache, builds = tmp_path / "cache", []
    backend = _backend(model, cache, builds)
    weights = backend.files["0"].with_suffix(".bin")
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))  # damaged after this run checked it: select_fold checks again
    _assert_runs_fold(backend, model, "0")
    assert len(builds) == 2


def test_a_replaced_checkpoint_with_the_same_size_and_mtime_gets_a_new_graph(model_copy, tmp_path):
    model = open_model_folder(model_copy, folds=["0"])
    cache, builds = tmp_path / "cache", []
    first = _backend(model, cache, builds)
    checkpoint = model.checkpoint_path("0")
    before = checkpoint.stat()
    state = torch.load(checkpoint, weights_only=False)
    for tensor in state["network_weights"].values():
        if tensor.ndim >= 2:  # convolution and dense weights; norms' running statistics stay valid
            tensor.mul_(-1.0)
    torch.save(state, checkpoint)
    os.utime(checkpoint, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = checkpoint.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    again = _backend(model, cache, builds)
    assert len(builds) == 2 and again.files["0"] != first.files["0"]
    _assert_runs_fold(again, model, "0")


def test_an_edit_of_plans_or_dataset_invalidates_the_graph(model_copy, tmp_path):
    model = open_model_folder(model_copy, folds=["0"])
    cache, builds = tmp_path / "cache", []
    first = _backend(model, cache, builds)
    for name in ("plans.json", "dataset.json"):
        (model_copy / name).write_text((model_copy / name).read_text() + "\n")
        again = _backend(open_model_folder(model_copy, folds=["0"]), cache, builds)
        assert again.files["0"] != first.files["0"]
        first = again
    assert len(builds) == 3


def test_a_running_processs_graph_survives_another_processs_cleanup(model_copy, tmp_path):
    model = open_model_folder(model_copy, folds=["0"])
    cache, builds = tmp_path / "cache", []
    running = _backend(model, cache, builds)  # a batch running on the first weights
    running.select_fold("0")
    tiles = _tiles(model)
    before, _ = running(tiles)
    # Another process: the checkpoint is updated, a new graph exported, and stale entries cleaned up.
    checkpoint = model.checkpoint_path("0")
    state = torch.load(checkpoint, weights_only=False)
    next(v for v in state["network_weights"].values() if v.is_floating_point()).add_(1.0)
    torch.save(state, checkpoint)
    other = _backend(open_model_folder(model_copy, folds=["0"]), cache, builds)
    assert other.files["0"] != running.files["0"] and len(builds) == 2
    # The running batch goes on to its next case: its graph is still there, verified, and gives the same numbers.
    assert all(p.exists() for p in _entry_files(running.files["0"]))
    running.select_fold("0")
    after, _ = running(tiles)
    torch.testing.assert_close(after, before)
    # Unused for longer than the grace period, the superseded graph goes at the next clean-up.
    old = time.time() - GRAPH_GRACE_S - 60
    for path in _entry_files(running.files["0"]):
        os.utime(path, (old, old))
    _backend(open_model_folder(model_copy, folds=["0"]), cache, builds)
    assert not _entry_files(running.files["0"]) and _entry_files(other.files["0"])


def test_leftovers_of_killed_exports_are_removed_and_fresh_ones_kept(model_copy, tmp_path):
    cache = tmp_path / "cache"
    old = time.time() - EXPORT_LEFTOVER_S - 60
    leftovers = [cache / ".export-killed", cache / "tmpabc123"]  # this version's and the previous one's
    for folder in leftovers:
        folder.mkdir(parents=True)
        (folder / "raw.onnx").write_bytes(b"partial")
        os.utime(folder, (old, old))
    in_progress = cache / ".export-running"
    in_progress.mkdir()
    (in_progress / "raw.onnx").write_bytes(b"being written")
    _backend(open_model_folder(model_copy, folds=["0"]), cache, [])
    assert not any(folder.exists() for folder in leftovers)
    assert (in_progress / "raw.onnx").exists()
