"""plans.json from a stranger: payloads through every imported argument never run, sizes are bounded.

Each attack edits a copy of the session's multi-task model and expects a ``ModelFolderError`` that
names ``plans.json`` (or the checkpoint for its mirroring axes), and that a marker file the payload
would create never appears.
"""

from __future__ import annotations

import json
import pydoc
import shutil
from pathlib import Path

import pytest
import torch
from dynamic_network_architectures.architectures.unet import ResidualEncoderUNet
from PancreasMultiTaskLib.cli.main import main
from PancreasMultiTaskLib.engine.model_folder import ModelFolderError, open_model_folder

#: Where the sneaky classes below leave their mark; set per test.
MARKS: list[Path] = []


class SneakyNetwork(ResidualEncoderUNet):
    """A working network class that is not on the allow-list: building it leaves a mark."""

    def __init__(self, *args, **kwargs) -> None:
        MARKS[0].touch()
        kwargs = {k: v for k, v in kwargs.items() if k not in ("num_subtypes", "patch_size") and "classifier" not in k}
        super().__init__(*args, **kwargs)


class SneakyNonlin(torch.nn.LeakyReLU):
    """A working non-linearity that is not on the allow-list: building it leaves a mark."""

    def __init__(self, *args, **kwargs) -> None:
        MARKS[0].touch()
        super().__init__(*args, **kwargs)


def copy_model(source: Path, tmp_path: Path) -> Path:
    target = tmp_path / "models" / source.name
    shutil.copytree(source, target)
    return target


def edit_plans(folder: Path, edit) -> Path:
    plans_file = folder / "plans.json"
    plans = json.loads(plans_file.read_text())
    edit(plans["configurations"]["2d"])
    plans_file.write_text(json.dumps(plans))
    return folder


def arch_kwargs(config: dict) -> dict:
    return config["architecture"]["arch_kwargs"]


def refused(folder: Path, match: str, marker: Path | None = None) -> ModelFolderError:
    with pytest.raises(ModelFolderError, match=match) as caught:
        open_model_folder(folder)
    assert "plans.json" in str(caught.value) or "checkpoint" in str(caught.value)
    if marker is not None:
        assert not marker.exists(), "the payload ran"
    return caught.value


PREFIXES = (
    "torch.nn.modules.conv.torch.os.system",
    "dynamic_network_architectures.building_blocks.residual.torch.os.system",
)


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize("key", ["nonlin", "norm_op", "dropout_op"])
def test_shell_payload_through_an_imported_argument_never_runs(multitask_model, tmp_path, key, prefix):
    marker = tmp_path / "payload-ran"
    assert pydoc.locate(prefix) is __import__("os").system  # the name really reaches os.system

    def edit(config):
        arch_kwargs(config)[key] = prefix
        arch_kwargs(config)[f"{key}_kwargs"] = {"command": f"touch {marker}"}

    folder = edit_plans(copy_model(multitask_model, tmp_path), edit)
    error = refused(folder, rf"plans\.json: arch_kwargs\.{key} = .* is not an allowed class", marker)
    assert str(folder / "plans.json") in str(error)


def test_shell_payload_through_the_cli_is_a_one_line_error(multitask_model, tmp_path, capsys):
    import SimpleITK as sitk
    from model_factory import ct_volume

    marker = tmp_path / "payload-ran"
    image = tmp_path / "case_0000.nii.gz"
    sitk.WriteImage(ct_volume(seed=1)[0], str(image))

    def edit(config):
        arch_kwargs(config)["nonlin"] = PREFIXES[0]
        arch_kwargs(config)["nonlin_kwargs"] = {"command": f"touch {marker}"}

    folder = edit_plans(copy_model(multitask_model, tmp_path), edit)
    options = ["--progress", "none", "--device", "cpu", "--no-tta"]
    code = main(["predict", *options, "-i", str(image), "-o", str(tmp_path / "out"), "-m", str(folder)])
    err = capsys.readouterr().err.strip()
    assert code != 0 and "plans.json" in err and "nonlin" in err and "Traceback" not in err
    assert not marker.exists() and not list((tmp_path / "out").rglob("*.json"))


def test_torch_load_payload_never_unpickles(multitask_model, tmp_path):
    marker = tmp_path / "pickle-ran"
    folder = copy_model(multitask_model, tmp_path)
    bait = folder / "bait.pth"

    class Bomb:
        def __reduce__(self):
            return (Path.touch, (marker,))

    torch.save({"x": Bomb()}, bait)

    def edit(config):
        arch_kwargs(config)["nonlin"] = "torch.nn.modules.conv.torch.load"
        arch_kwargs(config)["nonlin_kwargs"] = {"f": str(bait), "weights_only": False}

    refused(edit_plans(folder, edit), r"arch_kwargs\.nonlin = .* is not an allowed class", marker)


def test_network_class_outside_the_allow_list_is_never_built(multitask_model, tmp_path):
    MARKS[:] = [tmp_path / "network-built"]

    def edit(config):
        config["architecture"]["network_class_name"] = f"{__name__}.SneakyNetwork"

    refused(edit_plans(copy_model(multitask_model, tmp_path), edit), "network_class_name .* is not a known", MARKS[0])
    for name in ("torch.nn.modules.conv.torch.os.system", "torch.nn.Linear", "os.system", "__builtins__.eval"):
        folder = edit_plans(
            copy_model(multitask_model, tmp_path / name),
            lambda c, n=name: c["architecture"].update(network_class_name=n),
        )
        refused(folder, "network_class_name .* is not a known")


def test_import_name_outside_the_allow_list_is_never_built(multitask_model, tmp_path):
    MARKS[:] = [tmp_path / "nonlin-built"]

    def edit(config):
        arch_kwargs(config)["nonlin"] = f"{__name__}.SneakyNonlin"

    refused(
        edit_plans(copy_model(multitask_model, tmp_path), edit), r"arch_kwargs\.nonlin = .* not an allowed", MARKS[0]
    )
    # An allowed class in the wrong role is refused too (a convolution is not a non-linearity).
    folder = edit_plans(
        copy_model(multitask_model, tmp_path / "role"), lambda c: arch_kwargs(c).update(nonlin="torch.nn.Conv2d")
    )
    refused(folder, r"arch_kwargs\.nonlin = 'torch\.nn\.Conv2d' is not an allowed class")


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (
            lambda c: arch_kwargs(c).update(nonlin_kwargs={"inplace": True, "command": "id"}),
            r"nonlin_kwargs has \['command'\]",
        ),
        (
            lambda c: arch_kwargs(c).update(norm_op_kwargs={"eps": {"nested": 1}}),
            r"norm_op_kwargs must map names to plain",
        ),
        (
            lambda c: arch_kwargs(c).update(norm_op_kwargs={"eps": 1e-5, "affine": True, "device": "cuda:7"}),
            r"norm_op_kwargs may not set \['device'\]",
        ),
        (lambda c: arch_kwargs(c).update(evil=1), r"arch_kwargs\.evil is not an argument"),
        (lambda c: arch_kwargs(c).update(num_classes=5), r"arch_kwargs\.num_classes is not an argument"),
        (lambda c: arch_kwargs(c).update(conv_bias={"a": 1}), r"arch_kwargs\.conv_bias must be a plain JSON value"),
        (lambda c: c["architecture"]["_kw_requires_import"].append("conv_bias"), "conv_bias may not name a class"),
        (lambda c: c.update(preprocessor_name="ExperimentPlanner"), "preprocessor_name"),
        (lambda c: c.update(resampling_fn_data="no_resampling_hack"), "resampling_fn_data"),
        (lambda c: c.update(normalization_schemes=["EvilNormalization"]), "normalization_schemes"),
    ],
)
def test_arguments_and_names_outside_the_allow_list_are_refused(multitask_model, tmp_path, edit, match):
    refused(edit_plans(copy_model(multitask_model, tmp_path), edit), match)


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda c: arch_kwargs(c).update(n_stages=0), r"n_stages must be an integer in 1\.\.10"),
        (lambda c: arch_kwargs(c).update(n_stages=1000), r"n_stages must be an integer in 1\.\.10"),
        (
            lambda c: arch_kwargs(c).update(features_per_stage=[100000] * arch_kwargs(c)["n_stages"]),
            "features_per_stage",
        ),
        (lambda c: arch_kwargs(c).update(features_per_stage=[8, 16]), r"features_per_stage must be a list of \d+"),
        (lambda c: arch_kwargs(c).update(kernel_sizes=[[99, 99]] * arch_kwargs(c)["n_stages"]), "kernel_sizes"),
        (lambda c: c.update(patch_size=[100000, 100000]), r"patch_size must list integers in 4\.\.2048"),
        (lambda c: c.update(patch_size=[0, 48]), r"patch_size must list integers"),
        (lambda c: c.update(spacing=[0.001, 0.001]), r"spacing must list 2 values in 0\.1\.\.20"),
        (lambda c: c.update(spacing=[float("nan"), 1.0]), r"spacing must list"),
        (lambda c: arch_kwargs(c).update(num_subtypes=100000), "num_subtypes"),
        (lambda c: arch_kwargs(c).update(classifier_view=[100000, 8]), r"classifier_view must be 2 integers within"),
        (lambda c: arch_kwargs(c).update(classifier_view=[8]), r"classifier_view must be 2 integers"),
        (lambda c: arch_kwargs(c).update(classifier_view=[8.5, 8]), r"classifier_view must be 2 integers"),
    ],
)
def test_sizes_are_bounded_before_anything_is_allocated(multitask_model, tmp_path, edit, match):
    error = refused(edit_plans(copy_model(multitask_model, tmp_path), edit), match)
    assert "plans.json" in str(error)


@pytest.mark.parametrize(
    ("names", "match"),
    [
        ({"0": 1, "1": "b", "2": "c"}, "non-empty strings"),
        ({"0": "", "1": "b", "2": "c"}, "non-empty strings"),
        ({"0": "a", "1": "A", "2": "c"}, "must differ"),
        ({"0": "x" * 65, "1": "b", "2": "c"}, "at most 64"),
    ],
)
def test_subtype_names_are_distinct_non_empty_strings(multitask_model, tmp_path, names, match):
    """Non-string or repeated names gave ``Subtype: None`` with probabilities summing to 0.8."""
    folder = copy_model(multitask_model, tmp_path)
    dataset = json.loads((folder / "dataset.json").read_text())
    dataset["subtypes"] = names
    (folder / "dataset.json").write_text(json.dumps(dataset))
    with pytest.raises(ModelFolderError, match=rf"dataset\.json: 'subtypes' names .*{match}"):
        open_model_folder(folder)


def test_number_of_classes_is_bounded(multitask_model, tmp_path):
    folder = copy_model(multitask_model, tmp_path)
    dataset = json.loads((folder / "dataset.json").read_text())
    dataset["labels"] = {"background": 0, **{f"l{i}": i for i in range(1, 1000)}}
    (folder / "dataset.json").write_text(json.dumps(dataset))
    with pytest.raises(ModelFolderError, match=r"dataset\.json: 'labels' must map 2\.\.255"):
        open_model_folder(folder)


@pytest.mark.parametrize(
    ("axes", "match"),
    [((0, 1) * 14, "repeats an axis"), ((0, 5), r"axes in 0\.\.1"), (("0",), r"axes in 0\.\.1")],
)
def test_mirroring_axes_must_be_distinct_axes_of_the_configuration(multitask_model, tmp_path, axes, match):
    folder = copy_model(multitask_model, tmp_path)
    path = folder / "fold_0" / "checkpoint_final.pth"
    checkpoint = torch.load(path, weights_only=False)
    checkpoint["inference_allowed_mirroring_axes"] = axes
    torch.save(checkpoint, path)
    with pytest.raises(ModelFolderError, match=f"checkpoint_final.pth: inference_allowed_mirroring_axes .*{match}"):
        open_model_folder(folder, folds=["0"])


def test_exported_zip_with_a_payload_passes_the_zip_checks_but_never_runs(multitask_model, tmp_path):
    from pancreas_mt_training.export import export_model
    from PancreasMultiTaskLib.engine.model_zip import import_model_zip

    marker = tmp_path / "payload-ran"

    def edit(config):
        arch_kwargs(config)["nonlin"] = PREFIXES[1]
        arch_kwargs(config)["nonlin_kwargs"] = {"command": f"touch {marker}"}

    folder = edit_plans(copy_model(multitask_model, tmp_path), edit)
    archive = export_model(folder, tmp_path / "Evil.zip", folds=["0"])
    installed = import_model_zip(archive, tmp_path / "store")  # hash and manifest are genuine
    with pytest.raises(ModelFolderError, match=r"plans\.json: arch_kwargs\.nonlin"):
        open_model_folder(installed)
    assert not marker.exists()


def test_models_of_earlier_releases_name_the_network_by_its_old_module():
    """The bundled demo's plans.json names ``PancreasMultiTaskLib.network``: it maps to the same class, nothing else."""
    from PancreasMultiTaskLib.engine.network import MultiTaskResEncUNet
    from PancreasMultiTaskLib.engine.plans_check import resolve

    assert resolve("PancreasMultiTaskLib.network.MultiTaskResEncUNet") is MultiTaskResEncUNet
    assert resolve("PancreasMultiTaskLib.network.torch") is None
