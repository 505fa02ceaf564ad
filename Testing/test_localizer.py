"""The localizer behind ``--roi auto``: trained for real on field phantoms by ``pancreas-mt-train localizer``,
attached to a model folder, run by the engine; its box geometry; zips carrying it; the fallbacks and their words."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from pancreas_mt_training.cli import main
from pancreas_mt_training.export import export_model
from PancreasMultiTaskLib.engine.competence import ANSWERED, WARNED, WITHHELD, with_warning
from PancreasMultiTaskLib.engine.localizer import AIR_HU, GLAND_MARGIN_MM, largest_part, localizer_spacing, resample_to
from PancreasMultiTaskLib.engine.model_folder import open_model_folder
from PancreasMultiTaskLib.engine.model_zip import import_model_zip
from PancreasMultiTaskLib.engine.predictor import PredictionOptions, Predictor
from PancreasMultiTaskLib.engine.result import Assessment
from PancreasMultiTaskLib.engine.roi import box_region, choose_roi, mask_box_lps
from PancreasMultiTaskLib.engine.store_layout import ModelInstallError
from test_models import NAME, _members, write_zip
from test_roi import padded_sample
from test_training_e2e import single_thread  # noqa: F401 (fixture)

SOURCE_ID, LOCALIZER_ID = 981, 982
#: Fat around a phantom's field: the localizer must find the gland inside a much larger volume.
FAT_HU, PAD = -95.0, (48, 48, 0)


def options(**extra) -> PredictionOptions:
    return PredictionOptions(device="cpu", use_mirroring=False, precision="float32", backend="torch", **extra)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, multitask_model, single_thread):  # noqa: F811
    """Four field phantoms, converted, and a tiny localizer trained on them by the real command (3 mm grid,
    3 stages, 32 x 32 patch, 10 epochs of 10 iterations), attached to a copy of the multi-task test model."""
    root = tmp_path_factory.mktemp("localizer")
    src = root / "src"
    argv = ["phantoms", "-o", str(src), "-n", "4", "--seed", "5", "--generator", "field", "--field-size", "96", "128"]
    assert main(argv) == 0
    argv = ["convert", "--dataset-id", str(SOURCE_ID), "--name", "LocSource", "--images", str(src / "images")]
    argv += ["--labels", str(src / "labels"), "--subtypes", str(src / "subtypes.csv")]
    assert main(argv) == 0
    model = shutil.copytree(multitask_model, root / multitask_model.name)
    argv = ["localizer", str(SOURCE_ID), "--dataset-id", str(LOCALIZER_ID), "--features", "8", "16", "32"]
    argv += ["--blocks", "1", "1", "1", "--patch-size", "32", "32", "--batch-size", "8", "--epochs", "10"]
    argv += ["--iterations", "10", "--val-iterations", "2", "--device", "cpu", "--attach", str(model)]
    assert main(argv) == 0
    return {"model": model, "src": src}


def test_fold_all_skips_the_final_validation_of_its_own_training_cases(trained):
    import os

    fold = next(Path(os.environ["nnUNet_results"]).glob(f"Dataset{LOCALIZER_ID}_*/*__2d/fold_all"))
    assert (fold / "checkpoint_final.pth").is_file() and not (fold / "validation").exists()
    log = "".join(path.read_text() for path in fold.glob("training_log_*.txt"))
    assert "Fold all: no final validation" in log


def in_fat(image: sitk.Image, value: float) -> sitk.Image:
    """The image inside a wider field of ``value`` (``PAD`` voxels on each in-plane side)."""
    return sitk.ConstantPad(image, PAD, PAD, value)


@pytest.mark.slow
def test_the_trained_localizer_boxes_the_gland_inside_a_wider_field(trained):
    """The real localizer, through the engine's predictor, on a training phantom inside a wider field of fat: its
    box holds every voxel of the gland it predicted (the coarse grid maps back onto the input), nearly all of the
    true gland (a tiny localizer trained for seconds outlines it coarsely), and cuts most of the fat away."""
    case = sorted((trained["src"] / "labels").glob("*.nii.gz"))[0]
    image = in_fat(sitk.ReadImage(str(trained["src"] / "images" / case.name.replace(".nii", "_0000.nii"))), FAT_HU)
    truth = sitk.GetArrayFromImage(in_fat(sitk.ReadImage(str(case)), 0)) > 0
    localizer = Predictor(trained["model"], options(roi="auto")).localizer
    assert localizer.predictor.model.label_manager.num_segmentation_heads == 2 and localizer.spacing_mm == 3.0

    choice = choose_roi(image, "auto", localizer=localizer)
    assert choice.how.startswith("auto: body crop found nothing to cut away, then the localizer (3 mm grid): largest")
    region = choice.region
    coarse = resample_to(image, localizer_spacing(image.GetSpacing(), 3.0), sitk.sitkLinear, AIR_HU)
    predicted = largest_part(sitk.GetArrayFromImage(localizer.predictor.predict(coarse).segmentation))
    assert predicted.any()
    for zyx in np.argwhere(predicted):
        index = image.TransformPhysicalPointToIndex(coarse.TransformIndexToPhysicalPoint([int(v) for v in zyx[::-1]]))
        assert all(s.start <= i < s.stop for s, i in zip(region, index, strict=True)), (index, region)
    held = truth[region[2], region[1], region[0]].sum() / truth.sum()
    share = np.prod([s.stop - s.start for s in region]) / np.prod(image.GetSize())
    assert held >= 0.9 and share < 0.6, (held, share)


@pytest.mark.slow
def test_a_localizer_that_finds_no_gland_falls_back_to_the_body_and_warns(trained):
    fat = sitk.GetImageFromArray(np.random.default_rng(0).normal(FAT_HU, 8, (8, 48, 48)).astype(np.float32))
    fat.SetSpacing((0.8, 0.8, 2.5))
    image = sitk.ConstantPad(fat, (16, 16, 0), (16, 16, 0), -1000.0)  # fat only, in air
    result = Predictor(trained["model"], options(roi="auto")).predict(image, "fat").result
    how = result.provenance.roi_how
    assert how.startswith("auto: body crop (voxels above") and "mL), so the body crop is the region" in how
    assert result.assessment.status != ANSWERED
    assert any(
        r.startswith("--roi auto: the localizer (3 mm grid) found no pancreas") for r in result.assessment.reasons
    )


@pytest.mark.slow
def test_the_model_zip_carries_the_localizer_and_the_import_checks_it(trained, tmp_path):
    archive = export_model(trained["model"], tmp_path / "WithLocalizer.zip")
    with zipfile.ZipFile(archive) as handle:
        names = set(handle.namelist())
    assert {
        f"WithLocalizer/localizer/{f}" for f in ("dataset.json", "plans.json", "fold_all/checkpoint_final.pth")
    } < names
    installed = import_model_zip(archive, tmp_path / "models")
    assert open_model_folder(installed / "localizer").folds == ("all",)
    assert Predictor(installed, options(roi="auto")).localizer is not None
    assert Predictor(installed, options(roi="full")).localizer is None  # only auto opens it


def test_a_localizer_member_climbing_out_or_incomplete_is_refused(tmp_path):
    members = {**_members(), f"{NAME}/localizer/dataset.json": b"{}", f"{NAME}/localizer/plans.json": b"{}"}
    members[f"{NAME}/localizer/fold_0/checkpoint_final.pth"] = b"weights"
    climbing = {**members, f"{NAME}/localizer/../../evil.json": b"{}"}
    with pytest.raises(ModelInstallError, match="would be written outside the target folder"):
        import_model_zip(write_zip(tmp_path / "climb.zip", climbing), tmp_path / "models")
    incomplete = {k: v for k, v in members.items() if not k.endswith("localizer/plans.json")}
    with pytest.raises(ModelInstallError, match=r"localizer: no plans\.json"):
        import_model_zip(write_zip(tmp_path / "incomplete.zip", incomplete), tmp_path / "models")
    assert not (tmp_path / "models" / NAME).exists()
    assert (import_model_zip(write_zip(tmp_path / "ok.zip", members), tmp_path / "models") / "localizer").is_dir()


def test_a_known_mask_maps_back_through_the_coarse_grid_within_the_margin():
    """The box logic on a known mask: resampled to the localizer's grid, boxed with the margin, mapped back onto
    a rotated, anisotropic input, the region holds the mask and exceeds it by the margin, give or take a coarse
    voxel."""
    spacing = np.array([0.7, 0.8, 1.5])
    mask = sitk.Image([120, 100, 40], sitk.sitkFloat32)
    mask.SetSpacing(spacing.tolist())
    mask.SetOrigin((12.0, -40.0, 250.0))
    mask.SetDirection((0, 1, 0, -1, 0, 0, 0, 0, -1))
    first, last = np.array([50, 40, 15]), np.array([69, 59, 24])
    mask[50:70, 40:60, 15:25] = 1
    target = localizer_spacing(mask.GetSpacing(), 3.0)
    assert target == (3.0, 3.0, 3.0) and localizer_spacing((0.7, 0.7, 5.0), 3.0) == (3.0, 3.0, 5.0)
    coarse = sitk.Cast(resample_to(mask, target, sitk.sitkLinear, 0.0) >= 0.5, sitk.sitkUInt8)
    region = box_region(mask, mask_box_lps(coarse, 1, GLAND_MARGIN_MM))
    below = (first - [s.start for s in region]) * spacing  # mm of margin on each side
    above = ([s.stop - 1 for s in region] - last) * spacing
    assert np.all(below >= GLAND_MARGIN_MM - 3.0) and np.all(below <= GLAND_MARGIN_MM + 3.0), below
    assert np.all(above >= GLAND_MARGIN_MM - 3.0) and np.all(above <= GLAND_MARGIN_MM + 3.0), above


def test_auto_without_a_localizer_says_the_body_crop_ran_alone(multitask_model):
    image = padded_sample()
    choice = choose_roi(image, "auto")
    assert choice.how.startswith("auto: body crop (voxels above -500 HU")
    assert choice.how.endswith("no localizer model in the model folder, so the gland itself is not looked for")
    assert choice.warning is None and choice.region is not None
    assert Predictor(multitask_model, options(roi="auto")).localizer is None
    uniform = sitk.Image([16, 16, 4], sitk.sitkFloat32) + 40.0  # nothing to cut away
    assert choose_roi(uniform, "auto").how.startswith("auto: body crop found nothing to cut away (whole volume); no")


def test_a_localizer_finding_nothing_leaves_the_body_crop_and_a_warning():
    image = padded_sample()
    seen = []
    choice = choose_roi(
        image, "auto", localizer=lambda crop: seen.append(crop.GetSize()) or (None, "it found no pancreas")
    )
    assert choice.region == choose_roi(image, "auto").region and seen == [image[choice.region].GetSize()]
    assert choice.how.endswith("it found no pancreas, so the body crop is the region")
    assert choice.warning == "--roi auto: it found no pancreas; predicted in the body crop instead"
    assert with_warning(Assessment(), choice.warning).status == WARNED
    withheld = with_warning(Assessment(WITHHELD, ["not a CT"]), choice.warning)
    assert withheld.status == WITHHELD and withheld.reasons == ["not a CT", choice.warning]
    assert with_warning(Assessment(), None) == Assessment()


@pytest.mark.slow
def test_the_localizer_dataset_merges_the_labels_on_a_3_mm_grid(trained):
    from nnunetv2.paths import nnUNet_raw

    raw = next(Path(nnUNet_raw.get()).glob(f"Dataset{LOCALIZER_ID}_*"))
    dataset = json.loads((raw / "dataset.json").read_text())
    assert dataset["labels"] == {"background": 0, "pancreas": 1} and dataset["orientation"] == "LPS"
    label = sitk.ReadImage(str(sorted((raw / "labelsTr").glob("*.nii.gz"))[0]))
    assert label.GetSpacing() == (3.0, 3.0, 3.0) and set(np.unique(sitk.GetArrayViewFromImage(label))) == {0, 1}


def test_the_localizer_trains_under_bfloat16_where_asked(trained, tmp_path, monkeypatch):
    """``localizer --precision bfloat16`` (its environment variable): nnU-Net's own training step of the
    localizer trainer computes its convolutions in bfloat16 on the CPU, its weights float32."""
    import torch
    from nnunetv2.paths import nnUNet_preprocessed
    from pancreas_mt_training.localizer import PLANS, nnUNetTrainerLocalizer
    from pancreas_mt_training.train_precision import PRECISION_ENV
    from test_training_e2e import record_compute_dtypes

    preprocessed = next(Path(nnUNet_preprocessed.get()).glob(f"Dataset{LOCALIZER_ID}_*"))
    plans = json.loads((preprocessed / f"{PLANS}.json").read_text())
    dataset = json.loads((preprocessed / "dataset.json").read_text())
    monkeypatch.setenv("nnUNet_results", str(tmp_path))
    monkeypatch.setenv("nnUNet_n_proc_DA", "0")
    monkeypatch.setenv(PRECISION_ENV, "bfloat16")
    trainer = nnUNetTrainerLocalizer({**plans, "continue_training": False}, "2d", "all", dataset, torch.device("cpu"))
    trainer.initialize()
    batch = next(trainer.get_dataloaders()[0])
    seen = record_compute_dtypes(trainer.network)
    outputs = trainer.train_step(batch)
    assert seen == {torch.bfloat16} and np.isfinite(outputs["loss"])
    assert {p.dtype for p in trainer.network.parameters()} == {torch.float32}
    seen.clear()
    trainer.network.eval()
    trainer.validation_step(batch)
    assert seen == {torch.bfloat16}
    log = "".join(path.read_text() for path in Path(trainer.output_folder).glob("training_log_*.txt"))
    assert "Training precision on cpu: bfloat16" in log
