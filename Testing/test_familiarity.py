"""The image's familiarity: early encoder features against a fold's training tiles (``engine/familiarity.py``),
their reference in ``competence.json``, its fitting (``pancreas_mt_training/familiarity.py``) and the engine's
verdict on a case whose features lie beyond it."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import SimpleITK as sitk
from model_factory import ct_volume, model_with_competence
from pancreas_mt_training import familiarity as fit
from PancreasMultiTaskLib.cli.summary import case_row
from PancreasMultiTaskLib.engine import competence as c
from PancreasMultiTaskLib.engine.familiarity import FEATURE_STAGES, Familiarity, FeatureReference, distance
from PancreasMultiTaskLib.engine.model_folder import open_model_folder
from PancreasMultiTaskLib.engine.predictor import PredictionOptions, Predictor
from sklearn.covariance import LedoitWolf

FAST = PredictionOptions(device="cpu", backend="torch", use_mirroring=False, roi="full")


def reference(dims: int = 3, fold: str = "0", limit: float = 2.0) -> FeatureReference:
    return FeatureReference(fold, np.arange(dims, dtype=float), np.eye(dims) * 4.0, limit, 12)


def record_with(tmp_path, references) -> c.CompetenceRecord:
    record = c.CompetenceRecord(source="test", synthetic=True, feature_references=tuple(references))
    path = tmp_path / c.COMPETENCE_FILE
    path.write_text(json.dumps(record.to_json()))
    return c.read_record(path)


# ------------------------------------------------------------------------------------------------
def test_a_reference_round_trips_through_competence_json(tmp_path):
    rng = np.random.default_rng(0)
    features = rng.normal(size=(200, 6))
    fitted = LedoitWolf().fit(features)
    ref = FeatureReference("2", fitted.location_, fitted.precision_, 1.7, 30)
    (read,) = record_with(tmp_path, [ref]).feature_references
    assert read.fold == "2" and read.limit == 1.7 and read.cases == 30
    assert np.allclose(read.mean, ref.mean, rtol=1e-6) and np.allclose(read.precision, ref.precision, rtol=1e-6)
    assert distance(read, features) == pytest.approx(distance(ref, features), rel=1e-5)
    assert json.loads((tmp_path / c.COMPETENCE_FILE).read_text())["feature_references"][0]["stages"] == [0, 1]


def _entry(**changes):
    entry = {"fold": "0", "stages": list(FEATURE_STAGES), "mean": [0.0, 1.0], "precision": [[1.0, 0.0], [0.0, 1.0]]}
    return {**entry, "limit": 2.0, "cases": 10, **changes}


@pytest.mark.parametrize(
    ("entries", "field"),
    [
        ({"not": "a list"}, "feature_references must be a list"),
        ([_entry(fold="../1")], "feature_references[0].fold"),
        ([_entry(stages=[0, 1, 2])], "feature_references[0].stages"),
        ([_entry(mean=[0.0, float("nan")])], "feature_references[0].mean"),
        ([_entry(precision=[[1.0, 0.0]])], "feature_references[0].precision must be 2 rows"),
        ([_entry(precision=[[1.0, 0.0], [0.0]])], "feature_references[0].precision has 1 numbers"),
        ([_entry(precision=[[1.0, 2.0], [2.0, 1.0]])], "not a symmetric positive semi-definite"),
        ([_entry(precision=[[1.0, 0.5], [0.0, 1.0]])], "not a symmetric positive semi-definite"),
        ([_entry(limit=0)], "feature_references[0].limit must be positive"),
        ([_entry(cases=True)], "feature_references[0].cases"),
        ([_entry(), _entry()], "names a fold twice"),
    ],
)
def test_a_malformed_reference_is_refused_naming_the_file_and_field(tmp_path, entries, field):
    path = tmp_path / c.COMPETENCE_FILE
    path.write_text(json.dumps({"schema": 1, "feature_references": entries}).replace("NaN", "1e999"))
    with pytest.raises(c.CompetenceError) as error:
        c.read_record(path)
    assert str(path) in str(error.value) and field in str(error.value)


def test_the_distance_is_the_median_over_tiles_of_the_squared_mahalanobis_per_feature():
    ref = reference()  # mean (0, 1, 2), precision 4 I: squared distance per feature = 4/3 |x - mean|^2
    tiles = np.array([[0.0, 1.0, 2.0], [1.0, 1.0, 2.0], [3.0, 1.0, 2.0]])  # 0, 4/3, 12
    assert distance(ref, tiles) == pytest.approx(4.0 / 3.0)


def test_check_familiarity_withholds_beyond_the_limit_and_warns_when_not_measured():
    assert c.check_familiarity(None) == []
    assert c.check_familiarity(Familiarity(distance=1.9, limit=2.0)) == []
    (beyond,) = c.check_familiarity(Familiarity(distance=2.1, limit=2.0))
    assert beyond.severity == c.WITHHELD and "unlike the model's training images" in beyond.reason
    (note,) = c.check_familiarity(Familiarity(note="image familiarity not checked: no gland found"))
    assert note.severity == c.WARNED and "no gland" in note.reason


# ------------------------------------------------------------------------------------------------
def test_a_fitted_limit_keeps_cases_of_the_same_kind_and_not_others():
    rng = np.random.default_rng(1)
    cov = np.array([[1.0, 0.8, 0.0], [0.8, 1.0, 0.3], [0.0, 0.3, 1.0]])

    def cases(n, shift=0.0, scale=1.0):
        return [rng.multivariate_normal(np.full(3, shift), cov * scale, size=20) for _ in range(n)]

    training = cases(30)
    ref, distances = fit.fit_reference("0", training, cases(20))
    assert ref.limit == pytest.approx(fit.LIMIT_FACTOR * np.percentile(distances, fit.LIMIT_QUANTILE))
    assert np.allclose(ref.precision, LedoitWolf().fit(np.concatenate(training)).precision_)
    assert all(distance(ref, case) <= ref.limit for case in cases(20))
    # Correlated features: a case that breaks the correlation is far though each feature alone is typical.
    broken = rng.normal(size=(20, 3))
    broken[:, 1] = -broken[:, 0]
    assert distance(ref, broken) > ref.limit
    assert all(distance(ref, case) > ref.limit for case in cases(5, scale=9.0))


def test_too_few_cases_or_tiles_are_refused_with_their_numbers():
    rng = np.random.default_rng(2)
    with pytest.raises(fit.FamiliarityError, match="3 training tiles for 4 features"):
        fit.fit_reference("0", [rng.normal(size=(3, 4))], [rng.normal(size=(5, 4))] * 10)
    with pytest.raises(fit.FamiliarityError, match="2 validation cases"):
        fit.fit_reference("0", [rng.normal(size=(100, 4))], [rng.normal(size=(5, 4))] * 2)


# ------------------------------------------------------------------------------------------------
def _image(seed: int, noise_hu: float = 0.0) -> sitk.Image:
    image, _ = ct_volume(seed=seed)
    if noise_hu:
        array = sitk.GetArrayFromImage(image).astype(np.float32)
        array += np.random.default_rng(seed).normal(0.0, noise_hu, array.shape).astype(np.float32)
        noisy = sitk.GetImageFromArray(array)
        noisy.CopyInformation(image)
        image = noisy
    return image


def test_the_engine_measures_each_case_and_withholds_one_unlike_the_reference(multitask_model, tmp_path):
    model, _ = model_with_competence(multitask_model, tmp_path)
    folder = open_model_folder(model, folds=["0"])
    first = Predictor(folder, FAST).predict(_image(1))
    features = first.familiarity.features
    channels = folder.build_network().encoder.output_channels
    width = sum(channels[s] for s in FEATURE_STAGES)
    assert features.shape[1] == 2 * width and len(features) >= 2  # a tile a slice with gland
    assert first.familiarity.distance is None and first.result.assessment.feature_distance is None

    predictor = Predictor(folder, FAST)
    own = [predictor.predict(_image(seed)).familiarity.features for seed in range(1, 13)]  # 96 tiles, 48 features
    ref, distances = fit.fit_reference("0", own, own)
    record = dataclasses.replace(folder.competence, feature_references=(ref,))
    folder = dataclasses.replace(folder, competence=record)

    same = Predictor(folder, FAST).predict(_image(2)).result
    assert same.assessment.feature_distance == pytest.approx(distances[1])
    assert same.assessment.feature_limit == ref.limit
    assert not any("unlike the model's training images" in r for r in same.assessment.reasons)

    noisy = Predictor(folder, FAST).predict(_image(2, noise_hu=400.0)).result
    assert noisy.assessment.feature_distance > ref.limit
    assert noisy.assessment.status == c.WITHHELD and noisy.subtype.predicted is None
    assert any("unlike the model's training images" in r for r in noisy.assessment.reasons)
    row = case_row("noisy", noisy, "noisy")  # summary.csv's row: both numbers beside the verdict
    assert row["feature_distance"] == round(noisy.assessment.feature_distance, 3) and row["assessment"] == c.WITHHELD
    assert noisy.timings_s["familiarity"] >= 0


def test_a_reference_of_another_fold_is_said_to_be_unused(multitask_model, tmp_path):
    model, _ = model_with_competence(multitask_model, tmp_path)
    folder = open_model_folder(model, folds=["0"])
    record = dataclasses.replace(folder.competence, feature_references=(reference(fold="3"),))
    result = Predictor(dataclasses.replace(folder, competence=record), FAST).predict(_image(1)).result
    assert result.assessment.feature_distance is None
    assert any("feature references are of folds 3, not used" in r for r in result.assessment.reasons)
