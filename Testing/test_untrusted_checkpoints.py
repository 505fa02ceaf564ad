"""Checkpoints from a stranger: every damaged file is refused with a ModelFolderError naming it.

A seeded fuzz mutates a real checkpoint of the session's multi-task model 240 ways (byte flips,
truncations, edits of the zip's members); each one must be refused cleanly or load correctly.
"""

from __future__ import annotations

import io
import os
import random
import shutil
import warnings
import zipfile
from collections import Counter
from pathlib import Path

import pytest
import torch
from PancreasMultiTaskLib.engine.model_folder import ModelFolderError, load_checkpoint, open_model_folder

FUZZ_SEED, FUZZ_CASES = 20240608, 240


def copy_model(source: Path, tmp_path: Path) -> Path:
    target = tmp_path / "models" / source.name
    shutil.copytree(source, target)
    return target


def _flip(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    return bytes(out)


def _rezip(data: bytes, rng: random.Random) -> tuple[bytes, bool]:
    """Rewrite the zip with one member edited (valid CRCs); whether tensor bytes alone changed."""
    source = zipfile.ZipFile(io.BytesIO(data))
    infos = source.infolist()
    victim = rng.choice(infos)
    action = rng.choice(["flip", "truncate", "drop", "empty", "duplicate", "rename", "garbage-pickle"])
    if action == "garbage-pickle":
        victim = next(i for i in infos if i.filename.endswith("data.pkl"))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the duplicate member is the point
        for info in infos:
            payload = source.read(info)
            if info is victim:
                if action == "drop":
                    continue
                if action == "flip":
                    payload = _flip(payload, rng) if payload else payload
                elif action == "truncate":
                    payload = payload[: rng.randrange(max(1, len(payload)))]
                elif action == "empty":
                    payload = b""
                elif action == "rename":
                    target.writestr(info.filename + "x", payload)
                    continue
                elif action == "duplicate":
                    target.writestr(info.filename, payload)
                elif action == "garbage-pickle":
                    payload = payload[:2] + bytes(rng.randrange(256) for _ in range(rng.randint(1, 64))) + payload[2:]
            target.writestr(info.filename, payload)
    tensor_only = action == "flip" and "/data/" in victim.filename
    return out.getvalue(), tensor_only


def mutate(data: bytes, rng: random.Random) -> tuple[str, bytes, bool]:
    """One mutation: its kind, the bytes, and whether a correct load may differ from the original."""
    kind = rng.choice(["flip", "truncate", "member"])
    if kind == "flip":
        return kind, _flip(data, rng), False
    if kind == "truncate":
        return kind, data[: rng.randrange(len(data))], False
    mutated, may_differ = _rezip(data, rng)
    return kind, mutated, may_differ


def test_seeded_fuzz_every_mutation_is_refused_cleanly_or_loads_correctly(multitask_model, tmp_path):
    folder = copy_model(multitask_model, tmp_path)
    path = folder / "fold_0" / "checkpoint_final.pth"
    original_bytes = path.read_bytes()
    original = load_checkpoint(path)["network_weights"]
    rng = random.Random(FUZZ_SEED)
    outcomes: Counter[str] = Counter()
    for case in range(FUZZ_CASES):
        kind, data, may_differ = mutate(original_bytes, rng)
        path.write_bytes(data)
        try:
            model = open_model_folder(folder, folds=["0"])
            weights = model.load_weights("0")
        except ModelFolderError as error:
            assert str(path) in str(error), f"case {case} ({kind}): {error}"
            outcomes["refused"] += 1
            continue
        # Anything else escaping (KeyError, struct.error, ...) fails the test right here.
        assert weights.keys() == original.keys(), f"case {case} ({kind}) loaded other weights"
        same = all(torch.equal(weights[k], original[k]) for k in original)
        assert same or may_differ, f"case {case} ({kind}): damaged bytes loaded as weights"
        assert all(torch.isfinite(w).all() for w in weights.values() if w.is_floating_point())
        outcomes["identical" if same else "edited-but-valid"] += 1
    print(f"checkpoint fuzz, seed {FUZZ_SEED}: {dict(outcomes)}")
    assert sum(outcomes.values()) == FUZZ_CASES and outcomes["refused"] > FUZZ_CASES // 2


def test_empty_file_is_refused(multitask_model, tmp_path):
    folder = copy_model(multitask_model, tmp_path)
    path = folder / "fold_0" / "checkpoint_final.pth"
    path.write_bytes(b"")
    with pytest.raises(ModelFolderError, match=r"checkpoint_final\.pth: corrupt .*empty file"):
        open_model_folder(folder, folds=["0"])


def test_link_to_a_file_outside_the_model_folder_is_refused(multitask_model, tmp_path):
    folder = copy_model(multitask_model, tmp_path)
    outside = tmp_path / "elsewhere.pth"
    shutil.copy(folder / "fold_0" / "checkpoint_final.pth", outside)
    link = folder / "fold_0" / "checkpoint_final.pth"
    link.unlink()
    os.symlink(outside, link)
    with pytest.raises(ModelFolderError, match="outside the model folder"):
        open_model_folder(folder, folds=["0"])
    with pytest.raises(ModelFolderError, match="outside the model folder"):
        load_checkpoint(link, folder)
    # A link inside the folder is fine (the same bytes, inside the folder it was given).
    inside = folder / "fold_0" / "real.pth"
    shutil.move(outside, inside)
    link.unlink()
    os.symlink(inside, link)
    assert open_model_folder(folder, folds=["0"]).folds == ("0",)


def test_link_for_plans_outside_the_model_folder_is_refused(multitask_model, tmp_path):
    folder = copy_model(multitask_model, tmp_path)
    outside = tmp_path / "plans.json"
    shutil.move(folder / "plans.json", outside)
    os.symlink(outside, folder / "plans.json")
    with pytest.raises(ModelFolderError, match=r"plans\.json: refused, a link .* outside the model folder"):
        open_model_folder(folder)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_nan_or_inf_weights_are_refused_at_load(multitask_model, tmp_path, bad):
    folder = copy_model(multitask_model, tmp_path)
    path = folder / "fold_1" / "checkpoint_final.pth"
    checkpoint = torch.load(path, weights_only=False)
    name = next(k for k, v in checkpoint["network_weights"].items() if v.is_floating_point() and v.numel() > 4)
    checkpoint["network_weights"][name].view(-1)[3] = bad
    torch.save(checkpoint, path)
    with pytest.raises(ModelFolderError, match=rf"fold_1/checkpoint_final\.pth: refused, .*{name}.* NaN or Inf"):
        open_model_folder(folder, folds=["1"])
    with pytest.raises(ModelFolderError, match="NaN or Inf"):
        open_model_folder(folder, folds=["0", "1"]).load_weights("1")


@pytest.mark.parametrize(
    "content",
    [{"network_weights": {"a": 1}}, {"network_weights": [1, 2]}, [1, 2, 3], {"network_weights": {1: torch.zeros(1)}}],
)
def test_checkpoint_of_the_wrong_shape_is_refused(tmp_path, content):
    path = tmp_path / "checkpoint_final.pth"
    torch.save(content, path)
    with pytest.raises(ModelFolderError, match=str(path)):
        load_checkpoint(path)


def test_nan_outputs_from_finite_weights_fail_the_case_without_a_verdict(multitask_model, tmp_path, capsys):
    import SimpleITK as sitk
    from model_factory import ct_volume
    from PancreasMultiTaskLib.cli.main import main

    folder = copy_model(multitask_model, tmp_path)
    path = folder / "fold_0" / "checkpoint_final.pth"
    checkpoint = torch.load(path, weights_only=False)
    weights = checkpoint["network_weights"]
    last = [k for k, v in weights.items() if k.endswith(".weight") and v.ndim == 4][-1]  # the segmentation output
    weights[last] = torch.where(weights[last] >= 0, 3e38, -3e38)  # finite, but the sums overflow to Inf - Inf
    torch.save(checkpoint, path)
    load_checkpoint(path)  # finite weights load
    image = tmp_path / "case_0000.nii.gz"
    sitk.WriteImage(ct_volume(seed=1)[0], str(image))
    out = tmp_path / "out"
    options = ["--progress", "none", "--device", "cpu", "--backend", "torch", "--folds", "0"]
    code = main(["predict", *options, "-i", str(image), "-o", str(out), "-m", str(folder)])
    err = capsys.readouterr().err.strip()
    assert code != 0 and "NaN or Inf outputs" in err and str(folder) in err
    assert "Subtype:" not in err and not list(out.rglob("result.json"))


def test_result_json_is_strict_json(tmp_path):
    from test_scene import make_result

    result = make_result("case1")
    result.measurements.lesion_volume_ml = float("nan")
    with pytest.raises(ValueError, match="JSON compliant"):
        result.write_json(tmp_path / "result.json")
    assert list(tmp_path.iterdir()) == []  # nothing half-written
