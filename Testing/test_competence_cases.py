"""The bundled phantom-trained demo model on cases outside its competence: real scans, a label map, far spacing.

None of them may come out ``answered``; an in-distribution phantom still is. Runs the real CLI.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from PancreasMultiTaskLib.cli.main import main
from PancreasMultiTaskLib.engine.competence import SYNTHETIC_NOTICE
from PancreasMultiTaskLib.engine.demo import sample_case
from PancreasMultiTaskLib.engine.result import CaseResult

PUBLIC = Path(__file__).resolve().parent / "data" / "public"
FAST = ["--device", "cpu", "--no-tta", "--progress", "none", "--precision", "float32"]


def predict(path: Path, out: Path, capsys, *extra: str) -> tuple[CaseResult, str]:
    assert main(["predict", "-i", str(path), "-o", str(out), *FAST, *extra]) == 0, capsys.readouterr().err
    stdout = capsys.readouterr().out
    case = next(p for p in out.iterdir() if (p / "result.json").is_file())
    return CaseResult.read_json(case / "result.json"), stdout


@pytest.mark.slow
@pytest.mark.parametrize("name", ["example_ct_sm.nii.gz", "example_mr_sm.nii.gz"])
def test_real_scans_are_never_answered_by_the_phantom_model(name, tmp_path, capsys):
    result, stdout = predict(PUBLIC / name, tmp_path / "out", capsys)
    assert result.assessment.status == "withheld", result.assessment
    assert result.subtype.predicted is None and result.subtype.probabilities == {}
    assert any("spacing" in r for r in result.assessment.reasons)
    assert "Subtype: withheld (" in stdout and SYNTHETIC_NOTICE in stdout
    assert (tmp_path / "out" / name.removesuffix(".nii.gz") / "segmentation.nii.gz").is_file()  # still written


def test_a_label_map_given_as_the_ct_is_withheld(tmp_path, capsys):
    truth = sitk.ReadImage(str(next(sample_case().parent.glob("*_truth.nii.gz"))))
    path = tmp_path / "labels.nii.gz"
    sitk.WriteImage(truth, str(path))
    result, stdout = predict(path, tmp_path / "out", capsys, "--folds", "0")  # checked before the network runs
    assert result.assessment.status == "withheld"
    assert result.assessment.reasons[0].startswith("the input looks like a label map")
    assert "Subtype: withheld (the input looks like a label map" in stdout


def test_far_spacing_is_withheld_and_the_sample_is_answered(tmp_path, capsys):
    image = sitk.ReadImage(str(sample_case()))
    result, stdout = predict(sample_case(), tmp_path / "sample", capsys)
    assert result.assessment.status == "answered", result.assessment.reasons
    expected = json.loads((sample_case().parent / "sample.json").read_text())["subtype_name"]
    assert result.subtype.predicted == expected and f"[{SYNTHETIC_NOTICE}]" in stdout
    assert result.assessment.notice == SYNTHETIC_NOTICE
    shrunk = sitk.Image(image)
    shrunk.SetSpacing([s / 4 for s in image.GetSpacing()])  # a quarter: resampled to fewer voxels, not more
    path = tmp_path / "shrunk_0000.nii.gz"
    sitk.WriteImage(shrunk, str(path))
    far, _ = predict(path, tmp_path / "far", capsys, "--folds", "0")  # checked before the network runs
    assert far.assessment.status == "withheld" and "spacing" in far.assessment.reasons[0]
    assert np.isfinite(far.measurements.pancreas_volume_ml)


def test_an_evaluation_still_sees_what_the_network_said_where_the_product_withholds_it(tmp_path):
    """``Prediction.network_subtype`` keeps the classifier's answer that ``result.subtype`` no longer gives."""
    from PancreasMultiTaskLib.engine.demo import demo_model_folder
    from PancreasMultiTaskLib.engine.predictor import PredictionOptions, Predictor

    truth = sitk.ReadImage(str(next(sample_case().parent.glob("*_truth.nii.gz"))))
    options = PredictionOptions(device="cpu", use_mirroring=False, precision="float32", backend="torch")
    prediction = Predictor(demo_model_folder(tmp_path / "models"), options).predict(truth, "labels")
    assert prediction.result.assessment.status == "withheld" and prediction.result.subtype.predicted is None
    said = prediction.network_subtype
    assert said.predicted in said.names and said.slices
    assert sum(said.probabilities.values()) == pytest.approx(1.0)


def _resampled_real_ct(spacing: tuple[float, float, float] = (0.8, 0.8, 2.0)) -> sitk.Image:
    image = sitk.ReadImage(str(PUBLIC / "example_ct_sm.nii.gz"))
    size = [round(n * s / t) for n, s, t in zip(image.GetSize(), image.GetSpacing(), spacing, strict=True)]
    return sitk.Resample(
        image, size, sitk.Transform(), sitk.sitkLinear, image.GetOrigin(), spacing, image.GetDirection(), -1024
    )


@pytest.mark.slow
def test_a_real_ct_at_a_pancreas_protocols_spacing_is_withheld_by_what_the_network_found(tmp_path, capsys):
    """The public CT resampled to 0.8 x 0.8 x 2 mm, inside the demo's trained spacing, through the CLI.

    The spacing check passes, so what withholds it must be the checks after the network: image familiarity, with
    the references ``pancreas-mt-train calibrate`` fitted into the bundled model's record (its training phantoms'
    guided tiles, the limit from its validation phantoms), finds the real CT's texture far beyond the limit,
    whatever the gland's size says.
    """
    image = tmp_path / "real_ct_0000.nii.gz"
    sitk.WriteImage(_resampled_real_ct(), str(image))
    result, stdout = predict(image, tmp_path / "out", capsys)
    assessment = result.assessment
    assert assessment.status == "withheld" and not any("spacing" in r for r in assessment.reasons), assessment
    assert assessment.feature_distance > 2 * assessment.feature_limit, assessment
    assert any("unlike the model's training images" in r for r in assessment.reasons), assessment.reasons
    assert result.subtype.predicted is None and "Subtype: withheld (" in stdout and SYNTHETIC_NOTICE in stdout
