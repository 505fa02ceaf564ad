"""nnU-Net's postprocessing: chosen on the cross-validation (``pancreas-mt-train postprocessing``), carried in the
model folder as nnU-Net's ``postprocessing.json`` (never its pickle), checked as untrusted input, and run by the
engine as the ``postprocess`` stage with nnU-Net's own function."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from model_factory import ct_volume, model_with_competence, validation_fold
from nnunetv2.postprocessing.remove_connected_components import (
    apply_postprocessing,
    remove_all_but_largest_component_from_segmentation,
)
from pancreas_mt_training.cli import main as train_main
from pancreas_mt_training.export import export_model
from PancreasMultiTaskLib.engine.competence import CompetenceRecord, assess_case
from PancreasMultiTaskLib.engine.model_folder import ModelFolderError, open_model_folder
from PancreasMultiTaskLib.engine.model_zip import import_model_zip
from PancreasMultiTaskLib.engine.postprocessing import (
    KEEP_LARGEST,
    POSTPROCESSING_FILE,
    PostprocessingError,
    parse_postprocessing,
    read_postprocessing,
)
from PancreasMultiTaskLib.engine.predictor import STAGES, PredictionOptions, Predictor

FAST = PredictionOptions(device="cpu", backend="torch", use_mirroring=False, roi="full")
SOURCE = Path("model/postprocessing.json")


def _nnunet_file(*steps: object) -> dict:
    """A ``postprocessing.json`` as ``determine_postprocessing`` writes it (its Dice tables shortened)."""
    return {
        "input_folder": {"foreground_mean": {"Dice": 0.6}},
        "postprocessed": {"foreground_mean": {"Dice": 0.7}},
        "postprocessing_fns": [KEEP_LARGEST] * len(steps),
        "postprocessing_kwargs": [{"labels_or_regions": s} for s in steps],
    }


def _two_glands_two_lesions() -> np.ndarray:
    """A gland with its lesion, a smaller stray gland part, and a stray lesion speck away from both."""
    labels = np.zeros((6, 20, 20), np.uint8)
    labels[1:5, 2:12, 2:12] = 1
    labels[2:4, 4:8, 4:8] = 2
    labels[1:3, 15:18, 15:18] = 1
    labels[4, 16, 3] = 2
    return labels


def test_nnunets_file_is_run_with_nnunets_function_and_leaves_the_input_alone():
    labels = _two_glands_two_lesions()
    before = labels.copy()
    steps = parse_postprocessing(_nnunet_file([1, 2], 2), {0, 1, 2}, SOURCE)
    out = steps.apply(labels)
    fns = [remove_all_but_largest_component_from_segmentation] * 2
    np.testing.assert_array_equal(
        out, apply_postprocessing(before, fns, [{"labels_or_regions": [1, 2]}, {"labels_or_regions": 2}])
    )
    np.testing.assert_array_equal(labels, before)
    assert (out > 0).sum() == 4 * 10 * 10 and (out == 2).sum() == 2 * 4 * 4  # the stray parts are background now
    assert steps.describe() == [[1, 2], 2]


def test_a_region_step_keeps_the_union_of_its_labels_whole():
    steps = parse_postprocessing(_nnunet_file([[1, 2]]), {1, 2}, SOURCE)
    assert steps.steps == (((1, 2),),) and steps.describe() == [[[1, 2]]]
    assert ((steps.apply(_two_glands_two_lesions()) > 0).sum()) == 4 * 10 * 10


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ([], "expected a JSON object"),
        ({"postprocessing_fns": [KEEP_LARGEST]}, "'postprocessing_fns' and 'postprocessing_kwargs'"),
        ({**_nnunet_file(1), "postprocessing_fns": ["os.system"]}, "postprocessing_fns[0] is 'os.system'"),
        ({**_nnunet_file(1), "postprocessing_kwargs": [{"labels_or_regions": 1, "x": 2}]}, "postprocessing_kwargs[0]"),
        (_nnunet_file(3), "postprocessing_kwargs[0]: 3 is not a foreground label"),
        (_nnunet_file(0), "postprocessing_kwargs[0]: 0 is not a foreground label"),
        (_nnunet_file(True), "postprocessing_kwargs[0]: True is not a foreground label"),
        (_nnunet_file(1.0), "postprocessing_kwargs[0]: 1.0 is not a foreground label"),
        (_nnunet_file([]), "postprocessing_kwargs[0]: expected 1 to 2 labels or regions"),
        (_nnunet_file([1, [2, "x"]]), "postprocessing_kwargs[0][1]: 'x' is not a foreground label"),
        (_nnunet_file([[]]), "postprocessing_kwargs[0][0]: a region needs 1 to 2 labels"),
        (_nnunet_file(*[1] * 65), "65 steps, more than 64"),
    ],
)
def test_a_malformed_file_is_refused_naming_the_file_and_field(data, field):
    with pytest.raises(PostprocessingError, match=r"^model/postprocessing\.json: ") as error:
        parse_postprocessing(data, {0, 1, 2}, SOURCE)
    assert field in str(error.value)


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ('{"postprocessing_fns": [], "postprocessing_fns": [], "postprocessing_kwargs": []}', "appears twice"),
        ("{not json", "not valid JSON"),
        ('{"postprocessing_fns": [], "postprocessing_kwargs": [], "x": NaN}', "NaN is not JSON"),
        ('{"postprocessing_fns": [], "postprocessing_kwargs": []}' + " " * (1 << 20), "larger than 1048576 bytes"),
    ],
)
def test_a_file_that_is_not_strict_bounded_json_is_refused_unread(tmp_path, text, said):
    path = tmp_path / POSTPROCESSING_FILE
    path.write_text(text)
    with pytest.raises(PostprocessingError, match=said):
        read_postprocessing(path, {1, 2})


def _with_file(multitask_model: Path, root: Path, data: dict | str) -> Path:
    folder = root / multitask_model.name
    shutil.copytree(multitask_model, folder)
    target = folder / POSTPROCESSING_FILE
    target.write_text(data if isinstance(data, str) else json.dumps(data))
    return folder


def test_the_engine_runs_the_models_postprocessing_as_its_own_stage(multitask_model, tmp_path):
    image, _ = ct_volume(seed=5)
    plain = Predictor(multitask_model, FAST).predict(image)
    folder = _with_file(multitask_model, tmp_path, _nnunet_file([1, 2], 2))
    done = Predictor(folder, FAST).predict(image)
    network = sitk.GetArrayFromImage(plain.segmentation)
    fns = [remove_all_but_largest_component_from_segmentation] * 2
    expected = apply_postprocessing(network, fns, [{"labels_or_regions": [1, 2]}, {"labels_or_regions": 2}])
    assert (expected != network).any()  # the random network's labels have parts that the steps remove
    np.testing.assert_array_equal(sitk.GetArrayFromImage(done.segmentation), expected)
    assert done.result.provenance.postprocessing == [[1, 2], 2] and plain.result.provenance.postprocessing is None
    assert "postprocess" in STAGES and done.result.timings_s["postprocess"] >= 0.0
    spacing = float(np.prod(image.GetSpacing())) / 1000.0
    assert done.result.measurements.pancreas_volume_ml == pytest.approx((expected > 0).sum() * spacing, abs=1e-3)
    assert done.result.to_dict()["provenance"]["postprocessing"] == [[1, 2], 2]


def test_a_model_file_naming_another_function_or_leading_outside_is_refused(multitask_model, tmp_path):
    bad = _with_file(multitask_model, tmp_path / "a", {**_nnunet_file(1), "postprocessing_fns": ["eval"]})
    with pytest.raises(ModelFolderError, match=r"postprocessing\.json: postprocessing_fns\[0\] is 'eval'"):
        open_model_folder(bad)
    outside = tmp_path / "elsewhere.json"
    outside.write_text(json.dumps(_nnunet_file(1)))
    linked = _with_file(multitask_model, tmp_path / "b", "{}")
    (linked / POSTPROCESSING_FILE).unlink()
    (linked / POSTPROCESSING_FILE).symlink_to(outside)
    with pytest.raises(ModelFolderError, match="outside the model folder"):
        open_model_folder(linked)


def test_separate_lesions_are_counted_in_what_the_network_found_before_postprocessing():
    """Postprocessing keeps one lesion; the subtype was pooled over every lesion the network found, so the
    record's lesion count warns on those."""
    record = CompetenceRecord(source="test", lesion_components_max=1)
    network = _two_glands_two_lesions()
    kept = parse_postprocessing(_nnunet_file([1, 2], 2), {1, 2}, SOURCE).apply(network)
    image = np.full(network.shape, 40.0, np.float32)
    args = (record, image, (1.0, 1.0, 1.0), kept, 1.0, 0.1, True)
    assert not any("separate lesions" in r for r in assess_case(*args).reasons)
    assert any(r.startswith("2 separate lesions") for r in assess_case(*args, None, network).reasons)


def test_the_training_command_chooses_it_on_the_folds_and_the_zip_carries_it(multitask_model, tmp_path, capsys):
    """Validation segmentations with a stray gland part away from the gland: nnU-Net keeps the largest part of
    the foreground, which raises the Dice; the file is exported with the model and the installed model runs it."""
    model, raw = model_with_competence(multitask_model, tmp_path)
    for fold, cases in ((0, ["case00", "case01"]), (1, ["case02", "case03"])):
        validation_fold(model, raw, fold, [(c, 0) for c in cases])
        for case in cases:
            path = model / f"fold_{fold}" / "validation" / f"{case}.nii.gz"
            labels = sitk.ReadImage(str(path))
            array = sitk.GetArrayFromImage(labels)
            array[1:3, :3, :3] = 1  # a corner of the field, away from the gland
            stray = sitk.GetImageFromArray(array)
            stray.CopyInformation(labels)
            sitk.WriteImage(stray, str(path))
    assert train_main(["postprocessing", str(model), "--raw", str(raw)]) == 0
    said = capsys.readouterr().out
    assert "folds 0, 1: keep the largest part of [1, 2]" in said and "Dice of 1:" in said
    written = json.loads((model / POSTPROCESSING_FILE).read_text())
    assert written["postprocessing_kwargs"][0] == {"labels_or_regions": [1, 2]}
    assert written["postprocessed"]["foreground_mean"]["Dice"] > written["input_folder"]["foreground_mean"]["Dice"]
    assert (model / "crossval_results_folds_0_1" / "case03.nii.gz").is_file()  # nnU-Net's merged folder

    archive = export_model(model, tmp_path / "Tiny.zip")
    with zipfile.ZipFile(archive) as z:
        assert z.read(f"Tiny/{POSTPROCESSING_FILE}") == (model / POSTPROCESSING_FILE).read_bytes()
    installed = import_model_zip(archive, tmp_path / "models")
    assert open_model_folder(installed).postprocessing.describe()[0] == [1, 2]

    (model / POSTPROCESSING_FILE).write_text(json.dumps(_nnunet_file(7)))
    with pytest.raises(PostprocessingError, match="7 is not a foreground label"):
        export_model(model, tmp_path / "Bad.zip")
    assert not (tmp_path / "Bad.zip").exists()
