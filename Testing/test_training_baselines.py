"""The HU and radiomics baselines: features on hand-made masks, what each can tell apart, normal cases, the CLI."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import SimpleITK as sitk
from pancreas_mt_training.baseline import BINS, case_features, lesion_features, score_baselines
from pancreas_mt_training.cli import main
from pancreas_mt_training.evaluate import EvalCase, generic_cases
from pancreas_mt_training.labels import NO_SUBTYPE, read_subtypes_csv
from pancreas_mt_training.phantoms import write_phantoms
from scipy import stats

HU_MEAN, HU_STD, VOLUME, SKEW, KURTOSIS, RIM = range(6)


def _images(values: np.ndarray, label: np.ndarray, spacing=(1.0, 1.0, 1.0)) -> tuple[sitk.Image, sitk.Image]:
    image, labels = sitk.GetImageFromArray(values.astype(np.float32)), sitk.GetImageFromArray(label.astype(np.uint8))
    for img in (image, labels):
        img.SetSpacing(spacing)
    return image, labels


def _bright_shell_cube(size: int = 10) -> np.ndarray:
    """A cube of ``size`` voxels a side: 100 HU on its two outer voxel layers, 0 inside."""
    values = np.full((size,) * 3, 100.0)
    values[2:-2, 2:-2, 2:-2] = 0
    return values


def test_a_bright_rim_gives_a_positive_rim_minus_core_measured_in_mm():
    values = _bright_shell_cube()
    lesion = np.full(values.shape, 2)  # fills the array: its edge must count as outside
    assert lesion_features(*_images(values, lesion))[RIM] == pytest.approx(100)  # 2 mm = the 2 bright layers
    assert lesion_features(*_images(-values, lesion))[RIM] == pytest.approx(-100)
    half_mm = lesion_features(*_images(values, lesion, spacing=(2.0, 2.0, 2.0)))[RIM]
    assert 0 < half_mm < 90  # at 2 mm voxels the shell is one layer; the second bright layer joins the core


def test_a_sphere_with_a_bright_rim():
    z, y, x = np.mgrid[:24, :40, :40]
    radius = np.sqrt(((z - 12) * 1.5) ** 2 + ((y - 20) * 0.75) ** 2 + ((x - 20) * 0.75) ** 2)  # mm
    label = np.where(radius < 10, 2, np.where(radius < 13, 1, 0))
    values = np.where(radius > 8, 120.0, 20.0)
    features = lesion_features(*_images(values, label, spacing=(0.75, 0.75, 1.5)))
    assert 60 < features[RIM] <= 100
    assert features[VOLUME] == pytest.approx(4 / 3 * np.pi * 10**3 / 1000, rel=0.05)


def test_first_order_features_and_histogram():
    rng = np.random.default_rng(0)
    values = 40 + 10 * rng.standard_normal((20, 20, 20))
    label = np.zeros(values.shape)
    label[2:18, 2:18, 2:18] = 2
    features = lesion_features(*_images(values, label, spacing=(0.5, 0.5, 2.0)))
    inside = values[label == 2]
    assert features[HU_MEAN] == pytest.approx(inside.mean()) and features[HU_STD] == pytest.approx(inside.std())
    assert features[VOLUME] == pytest.approx(16**3 * 0.5 / 1000)
    assert abs(features[SKEW]) < 0.1 and abs(features[KURTOSIS]) < 0.2 and abs(features[RIM]) < 2
    histogram = features[6:]
    assert histogram.shape == (BINS,) and histogram.sum() == pytest.approx(1)
    normal = np.diff(stats.norm.cdf(np.r_[-np.inf, np.linspace(-3, 3, BINS + 1)[1:-1], np.inf]))
    assert np.allclose(histogram, normal, atol=0.03)  # Gaussian noise: the standard normal's bin masses

    constant = lesion_features(*_images(np.full(values.shape, 30.0), label))
    assert constant[HU_STD] == 0 and constant[SKEW] == 0 and constant[KURTOSIS] == 0 and constant[RIM] == 0
    assert constant[6:].sum() == pytest.approx(1) and constant[6 + BINS // 2] == 1  # all at z = 0

    assert lesion_features(*_images(values, np.where(label == 2, 1, 0))) is None  # a normal gland
    with pytest.raises(ValueError, match="differs"):
        lesion_features(_images(values, label)[0], _images(values, label[1:])[1])


def _skewed_case(rng: np.random.Generator, subtype: int) -> tuple[sitk.Image, sitk.Image]:
    """A spherical lesion whose HU skew is +, 0 or - by subtype; mean, std and volume drawn alike for all."""
    z, y, x = np.mgrid[:16, :16, :16]
    label = np.where((z - 8) ** 2 + (y - 8) ** 2 + (x - 8) ** 2 < rng.uniform(4, 6) ** 2, 2, 0)
    n = int((label == 2).sum())
    draws = rng.gamma(2.0, size=n) if subtype != 1 else rng.standard_normal(n)
    draws = -draws if subtype == 2 else draws
    values = np.zeros(label.shape)
    values[label == 2] = rng.uniform(20, 60) + rng.uniform(15, 30) * (draws - draws.mean()) / draws.std()
    return _images(values, label)


def test_skewness_separates_what_hu_mean_and_std_cannot():
    rng = np.random.default_rng(3)
    subtypes = [k % 3 for k in range(72)]
    x = np.stack([lesion_features(*_skewed_case(rng, s)) for s in subtypes])
    results = {r["baseline"]: r for r in score_baselines(x[:36], subtypes[:36], x[36:], subtypes[36:])}
    assert results["radiomics"]["accuracy"] > 0.9 and results["radiomics"]["f_beta"] > 0.9
    assert results["HU"]["accuracy"] < 0.6
    low, high = results["HU"]["accuracy_ci95"]
    assert low < results["HU"]["accuracy"] < high and results["HU"]["n_test"] == 36


def _add_normal_case(folder, case_id: str, mark: str) -> None:
    """A copy of the folder's first case with its lesion relabelled as gland, listed as ``mark`` in subtypes.csv."""
    first = sorted((folder / "labels").glob("*.nii.gz"))[0]
    label = sitk.ReadImage(str(first))
    sitk.WriteImage(sitk.ChangeLabel(label, {2: 1}), str(folder / "labels" / f"{case_id}.nii.gz"))
    shutil.copyfile(
        folder / "images" / first.name.replace(".nii.gz", "_0000.nii.gz"), folder / "images" / f"{case_id}_0000.nii.gz"
    )
    with (folder / "subtypes.csv").open("a", encoding="utf-8") as handle:
        handle.write(f"{case_id},{mark}\n")


def test_normal_cases_are_skipped(tmp_path):
    folder = write_phantoms(tmp_path / "set", 5, 3, field_size=(64, 64))
    _add_normal_case(folder, "normal_a", "")
    _add_normal_case(folder, "normal_b", "normal")
    marks = read_subtypes_csv(folder / "subtypes.csv")
    assert marks["normal_a"] == marks["normal_b"] == NO_SUBTYPE and len(marks) == 5
    assert len(read_subtypes_csv(folder / "subtypes.csv", skip_normal=True)) == 3
    cases = generic_cases(folder, skip_normal=True)
    no_lesion = EvalCase("normal_c", cases[0].image, folder / "labels" / "normal_a.nii.gz", 0)
    x, y, skipped = case_features([*cases, no_lesion])
    assert x.shape == (3, 6 + BINS) and len(y) == 3 and skipped == 1


def test_cli_prints_and_writes_the_table(tmp_path, capsys):
    train = write_phantoms(tmp_path / "train", 1, 6, field_size=(64, 64))
    test = write_phantoms(tmp_path / "test", 2, 6, field_size=(64, 64), orientation="random")
    _add_normal_case(test, "normal_a", "normal")
    out = tmp_path / "out" / "baselines.json"
    assert main(["baselines", "--train", str(train), "--test", str(test), "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| baseline | features | accuracy (95% CI) | macro F1 | n train / n test |" in printed
    assert "| HU | HU mean, std, volume |" in printed and "| 6 / 6 |" in printed
    results = json.loads(out.read_text())
    assert [r["baseline"] for r in results] == ["HU", "radiomics"]
    assert all(0 <= r["accuracy_ci95"][0] <= r["accuracy"] <= r["accuracy_ci95"][1] <= 1 for r in results)
    assert main(["baselines", "--train", str(tmp_path / "missing"), "--test", str(test)]) == 1
