"""``abdomen`` phantoms: whole abdominal CT fields, normal cases, lesion sizes and places, overlapping subtype cues.

Rendering is kept to a few short cases (a few slices each); the distributions (gland volume, lesion
size, normal fraction, pattern agreement, stress ranges) are checked on drawn parameters, which is
what the renderer uses.
"""

from __future__ import annotations

import csv
import filecmp
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from pancreas_mt_training.baseline import BASELINES, lesion_features
from pancreas_mt_training.cli import main
from pancreas_mt_training.convert import collect_generic, convert_cases
from pancreas_mt_training.crops import crop_folder
from pancreas_mt_training.labels import NO_SUBTYPE, read_subtypes_csv
from pancreas_mt_training.parallel import default_jobs, map_in_processes
from pancreas_mt_training.phantoms import generate_phantoms, phantom_makers, write_phantoms
from pancreas_mt_training.phantoms_abdomen import (
    BAYES_CEILING,
    GLAND_VOLUME_ML,
    LESION_HU_STD,
    RIM_CONTRAST,
    STRESS,
    AbdomenParams,
    case_labels,
    draw_case,
    make_abdomen_phantom,
    make_lesion_patch,
    stress_params,
)
from pancreas_mt_training.rim import lesion_depth
from scipy import ndimage, stats
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

SHORT = AbdomenParams(slices=6)


def _arrays(phantom):
    return sitk.GetArrayFromImage(phantom.image), sitk.GetArrayFromImage(phantom.label)


def _first(params: AbdomenParams, lesion: bool, seed: int = 0) -> int:
    """Index of the first case with (or without) a lesion."""
    return next(i for i in range(50) if (case_labels(seed, i, params)[0] != NO_SUBTYPE) == lesion)


@pytest.fixture(scope="module")
def lesion_case():
    return make_abdomen_phantom(0, _first(SHORT, True), SHORT)


@pytest.fixture(scope="module")
def normal_case():
    return make_abdomen_phantom(0, _first(SHORT, False), SHORT)


def test_geometry_air_and_types(lesion_case):
    image, label = _arrays(lesion_case)
    spacing = lesion_case.image.GetSpacing()
    assert image.shape == label.shape == (6, 512, 512)
    assert image.dtype == np.int16 and label.dtype == np.uint8
    assert 0.6 <= spacing[0] == spacing[1] <= 0.9 and 1.0 <= spacing[2] <= 5.0
    assert set(np.unique(label)) == {0, 1, 2}
    # air (-1000 HU, plus the global offset and noise) in the corners, outside the body
    offset = lesion_case.metadata["hu_offset"]
    for corner in (image[:, :20, :20], image[:, :20, -20:], image[:, -4:, :20]):
        assert abs(np.median(corner) - max(-1000 + offset, -1024)) < 12
    # the body: mostly soft tissue and fat in the middle of the field
    centre = image[:, 236:276, 236:276]
    assert np.median(centre) > -150


def test_organs_present_with_plausible_hu(lesion_case):
    image, _ = _arrays(lesion_case)
    hu = lesion_case.metadata["organ_hu"]
    phase = lesion_case.metadata["phase"]
    assert 45 <= hu["liver"] - 60 * phase <= 65 and 35 <= hu["spleen"] - 80 * phase <= 55
    assert 22 <= hu["kidney"] - 100 * phase <= 42 and 32 <= hu["pancreas"] - 70 * phase <= 52
    voxel_ml = np.prod(lesion_case.image.GetSpacing()) / 1000
    offset, noise = lesion_case.metadata["hu_offset"], lesion_case.metadata["noise_hu"]
    half = image.shape[2] // 2

    def volume(name: str, columns: slice = slice(None)) -> float:
        values = image[:, :, columns] - offset
        return float((np.abs(values - hu[name]) < noise).sum() * voxel_ml)

    # the liver lies on the patient's right (the image's left in LPS): far more liver-HU tissue there
    assert volume("liver", slice(0, half)) > 1.5 * volume("liver", slice(half, None)) and volume("liver") > 10
    assert volume("kidney") > 2 and volume("spleen") > 2
    assert ((image - offset) > 300).sum() * voxel_ml > 2  # bone: vertebra, ribs
    assert ((image - offset) < -900).sum() > 0.2 * image.size  # air around the body


def test_gland_volume_within_the_documented_range_and_covered_fraction(lesion_case, normal_case):
    volumes = [draw_case(5, i)["gland_volume_ml"] for i in range(40)]
    assert GLAND_VOLUME_ML[0] <= min(volumes) and max(volumes) <= GLAND_VOLUME_ML[1]
    assert np.ptp(volumes) > 25  # anatomy varies
    # the rendered gland is the drawn one: label volume near full volume x covered fraction
    phantom = normal_case
    _, label = _arrays(phantom)
    measured = (label > 0).sum() * np.prod(phantom.image.GetSpacing()) / 1000
    expected = phantom.metadata["gland_volume_ml"] * phantom.metadata["gland_fraction_covered"]
    assert measured == pytest.approx(expected, rel=0.3)


def test_lesion_diameters_span_3_to_40_mm():
    lesions = [d["lesion"] for d in (draw_case(6, i) for i in range(60)) if d["lesion"]]
    diameters = [le["diameter_mm"] for le in lesions]
    assert 3 <= min(diameters) < 6 and 25 < max(diameters) <= 40
    assert {le["location"] for le in lesions} == {"head", "body", "tail"}


def test_rendered_lesion_has_the_drawn_volume():
    params = AbdomenParams(slices=8, lesion_diameter_mm=(14.0, 16.0), slice_mm=(1.0, 1.0), normal_fraction=0)
    phantom = make_abdomen_phantom(2, 0, params)
    _, label = _arrays(phantom)
    volume = (label == 2).sum() * np.prod(phantom.image.GetSpacing())
    diameter = (6 * volume / np.pi) ** (1 / 3)
    drawn = phantom.metadata["lesion"]["diameter_mm"]
    # 8 slices of 1 mm may cut the lesion; the rendered part is never larger than drawn
    assert 0.5 * drawn < diameter < 1.1 * drawn


def test_normal_cases_marked_and_without_lesion(normal_case):
    subtypes = [case_labels(1, i, AbdomenParams())[0] for i in range(100)]
    assert abs(subtypes.count(NO_SUBTYPE) - 20) <= 2
    assert all(abs(subtypes.count(s) - 80 / 3) <= 2 for s in range(3))
    _, label = _arrays(normal_case)
    assert normal_case.subtype == NO_SUBTYPE and normal_case.metadata["lesion"] is None
    assert 2 not in np.unique(label) and (label == 1).sum() > 0


def test_edge_lesions_reach_outside_the_gland():
    params = stress_params("edge", AbdomenParams(slices=8, lesion_diameter_mm=(10.0, 14.0)))
    drawn = [draw_case(3, i, params) for i in range(5)]
    assert all(d["lesion"]["edge"] for d in drawn)
    phantom = make_abdomen_phantom(3, 0, params)
    _, label = _arrays(phantom)
    lesion = label == 2
    ring = ndimage.binary_dilation(lesion, np.ones((1, 3, 3), bool)) & ~lesion
    # the lesion borders background (outside the gland), not only gland tissue
    assert (label[ring] == 0).mean() > 0.2 and (label[ring] == 1).any()


@pytest.mark.parametrize("name", sorted(STRESS))
def test_stress_sets_change_what_they_name(name):
    params = stress_params(name, AbdomenParams(slices=4))
    drawn = [draw_case(4, i, params) for i in range(25)]
    lesions = [d["lesion"] for d in drawn if d["lesion"]]
    spacing = np.array([d["spacing"] for d in drawn])
    offsets = np.abs([d["hu_offset"] for d in drawn])
    noise = np.array([d["noise_hu"] for d in drawn])
    if name == "small":
        assert lesions and all(3 <= le["diameter_mm"] <= 5 for le in lesions)
    elif name == "large":
        assert all(25 <= le["diameter_mm"] <= 40 for le in lesions)
    elif name == "edge":
        assert all(le["edge"] for le in lesions)
    elif name in ("hu60", "hu100"):
        limit = float(name[2:])
        assert offsets.max() <= limit and offsets.max() > 20
    elif name == "noise2":
        low, high = AbdomenParams().noise_hu
        assert noise.min() >= 2 * low and noise.max() > high
    elif name == "thick5":
        assert np.all(spacing[:, 1] == 5)
    elif name == "inplane05":
        assert np.all(spacing[:, 0] == 0.5)
    if name in ("small", "large", "edge"):
        assert len(lesions) == len(drawn)  # no normal cases in the lesion sets
    else:
        assert len(lesions) < len(drawn) and not all(le["edge"] for le in lesions)
    with pytest.raises(ValueError, match="stress set"):
        stress_params("other")


def test_deterministic_by_seed_and_index():
    a = make_abdomen_phantom(7, 1, AbdomenParams(slices=3))
    b = make_abdomen_phantom(7, 1, AbdomenParams(slices=3))
    c = make_abdomen_phantom(7, 2, AbdomenParams(slices=3))
    assert np.array_equal(_arrays(a)[0], _arrays(b)[0]) and np.array_equal(_arrays(a)[1], _arrays(b)[1])
    assert a.metadata == b.metadata
    assert _arrays(a)[0].shape[1:] == _arrays(c)[0].shape[1:] and not np.array_equal(_arrays(a)[0], _arrays(c)[0])


def test_pattern_overlap_has_the_documented_ceiling():
    params = AbdomenParams()
    pairs = np.array([case_labels(9, i, params) for i in range(4000)])
    pairs = pairs[pairs[:, 0] != NO_SUBTYPE]
    n = len(pairs)
    agree = np.mean(pairs[:, 0] == pairs[:, 1])
    assert abs(agree - BAYES_CEILING) < 3 * np.sqrt(BAYES_CEILING * (1 - BAYES_CEILING) / n)
    # the best rule given the pattern is to predict it: the posterior of the pattern's subtype is the ceiling
    for pattern in range(3):
        shown = pairs[pairs[:, 1] == pattern, 0]
        posterior = np.bincount(shown, minlength=3) / len(shown)
        assert posterior.argmax() == pattern and abs(posterior[pattern] - BAYES_CEILING) < 0.025
        others = np.delete(posterior, pattern)
        assert abs(others[0] - others[1]) < 0.025  # a swap goes to either other pattern alike
    assert BAYES_CEILING == 0.92


def test_cli_writes_side_file_and_normal_cases_convert(tmp_path, capsys):
    out = tmp_path / "abd"
    assert main(["phantoms", "-o", str(out), "-n", "5", "--seed", "3", "--slices", "3", "--stress", "thick5"]) == 0
    assert "5 abdomen phantoms" in capsys.readouterr().out
    side = json.loads((out / "phantoms.json").read_text())
    with (out / "subtypes.csv").open() as handle:
        rows = {r["case_id"]: int(r["subtype"]) for r in csv.DictReader(handle)}
    assert side["bayes_ceiling"] == BAYES_CEILING and side["params"]["slice_mm"] == [5.0, 5.0]
    assert NO_SUBTYPE in rows.values() and len(rows) == 5
    for case_id, entry in side["cases"].items():
        assert entry["subtype"] == rows[case_id]
        assert (entry["pattern"] == NO_SUBTYPE) == (rows[case_id] == NO_SUBTYPE) == entry["normal"]
        label = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "labels" / f"{case_id}.nii.gz")))
        assert (2 in label) == (rows[case_id] != NO_SUBTYPE)
    lesions = [e for e in side["cases"].values() if not e["normal"]]
    assert side["set_ceiling"] == pytest.approx(np.mean([e["pattern"] == e["subtype"] for e in lesions]))
    # conversion carries the normal cases: three subtype names, -1 kept in the dataset's subtypes.csv
    cases, names = collect_generic(out / "images", out / "labels", out / "subtypes.csv")
    assert names == [f"subtype{i}" for i in range(max(rows.values()) + 1)]
    dataset = convert_cases(cases, tmp_path / "Dataset140_Abd", names)
    assert read_subtypes_csv(dataset / "subtypes.csv", len(names)) == rows


def test_a_set_is_written_as_it_is_made_never_held(tmp_path, monkeypatch):
    """A whole field is tens of MB: the demo's 600 were once all held before writing (19 GB, killed for memory).
    Each case is on disk before the next is made, and the set is the one ``generate_phantoms`` gives."""
    from pancreas_mt_training import phantoms_abdomen

    made, real = [], phantoms_abdomen.make_abdomen_phantom
    params = AbdomenParams(slices=2)

    def spy(seed, index, *args, **kwargs):
        written = sorted(p.name for p in (tmp_path / "set" / "images").glob("*_0000.nii.gz"))
        made.append((index, len(written)))
        return real(seed, index, *args, **kwargs)

    monkeypatch.setattr(phantoms_abdomen, "make_abdomen_phantom", spy)
    write_phantoms(tmp_path / "set", 5, 4, generator="abdomen", orientation="random", abdomen=params)
    assert made == [(i, i) for i in range(4)]
    expected = list(generate_phantoms(5, 4, generator="abdomen", orientation="random", abdomen=params))
    for phantom in expected:
        image = sitk.ReadImage(str(tmp_path / "set" / "images" / f"{phantom.case_id}_0000.nii.gz"))
        assert np.array_equal(sitk.GetArrayFromImage(image), sitk.GetArrayFromImage(phantom.image))
        assert image.GetDirection() == phantom.image.GetDirection()
    side = json.loads((tmp_path / "set" / "phantoms.json").read_text())
    assert sorted(side["cases"]) == sorted(p.case_id for p in expected)


def test_paper_layout_refuses_normal_cases(tmp_path, capsys):
    argv = ["phantoms", "-o", str(tmp_path / "p"), "-n", "2", "--slices", "2", "--layout", "paper"]
    assert main(argv) == 1 and "normal fraction 0" in capsys.readouterr().err
    assert main([*argv, "--normal-fraction", "0"]) == 0
    assert {p.parent.name for p in (tmp_path / "p").rglob("*_0000.nii.gz")} <= {"subtype0", "subtype1", "subtype2"}


@pytest.mark.parametrize("generator", ["field", "abdomen"])
def test_global_offset_has_the_same_distribution_in_every_subtype(generator):
    """The septa loop once overwrote the field generator's global offset (cystic cases got +-5 HU)."""
    if generator == "field":
        offsets = {s: [] for s in range(3)}
        for phantom in generate_phantoms(11, 90, field_size=(48, 56)):
            offsets[phantom.subtype].append(phantom.metadata["hu_offset"])
        limit = 20
    else:
        params = AbdomenParams(normal_fraction=0)
        offsets = {s: [] for s in range(3)}
        for i in range(60):
            subtype, _ = case_labels(11, i, params)
            offsets[subtype].append(draw_case(11, i, params)["hu_offset"])
        limit = 20
    for values in offsets.values():
        assert len(values) >= 15 and max(values) > 0.6 * limit and min(values) < -0.6 * limit
    for a in range(3):
        for b in range(a + 1, 3):
            assert stats.ks_2samp(offsets[a], offsets[b], method="asymp").pvalue > 0.01


#: Lesions of 10-16 mm (they show their pattern), one pattern a case in turn (golden-ratio sequence).
PATCHES = AbdomenParams(slices=16, normal_fraction=0, lesion_diameter_mm=(10.0, 16.0), pattern_agreement=1.0)


def _radial_profile(phantom) -> list[float]:
    """A spatial rule's view: z-scored lesion HU in 1 mm depth bins below the outline (0 where a bin is
    empty), and the lesion's surface fraction (how lobulated it is)."""
    image, label = _arrays(phantom)
    lesion = label == 2
    depth = lesion_depth(lesion, phantom.image.GetSpacing()[::-1])[lesion]
    values = image[lesion].astype(float)
    z = (values - values.mean()) / values.std()
    bins = np.minimum(np.floor(depth - 0.5).astype(int), 3)  # 0.5-1.5, 1.5-2.5, 2.5-3.5 and deeper
    profile = np.bincount(bins, z, 4) / np.maximum(np.bincount(bins, minlength=4), 1)
    surface = (lesion & ~ndimage.binary_erosion(lesion, np.ones((1, 3, 3), bool))).sum() / lesion.sum()
    return [*profile, surface]


@pytest.fixture(scope="module")
def lesion_patches():
    """45 lesions (15 a pattern) rendered alone by the generator's own lesion code: their patterns, the
    baseline's features, a radial profile and the drawn rim-minus-core contrast (HU)."""
    patches = [make_lesion_patch(21, i, PATCHES) for i in range(45)]
    return {
        "patterns": np.array([p.metadata["pattern"] for p in patches]),
        "features": np.stack([lesion_features(p.image, p.label) for p in patches]),
        "spatial": np.array([_radial_profile(p) for p in patches]),
        "drawn_rim": np.array([p.metadata["lesion"]["rim_contrast"] * p.metadata["lesion"]["hu_std"] for p in patches]),
        "components": np.array([ndimage.label(_arrays(p)[1] == 2, structure=np.ones((3, 3, 3)))[1] for p in patches]),
    }


def test_every_lesion_is_one_connected_region(lesion_patches):
    """One lesion a case, also for the lobulated outlines: the competence record's most lesion components
    comes from these labels, and satellites of the irregular pattern would tell its subtype."""
    assert (lesion_patches["components"] == 1).all(), lesion_patches["components"]


def test_first_order_and_rim_statistics_alike_across_patterns(lesion_patches):
    """Skewness, kurtosis, the z-scored histogram's tails and rim-minus-core come from one distribution
    whatever the pattern shown (the field generator's affine HU map kept the pattern's histogram)."""
    patterns, features = lesion_patches["patterns"], lesion_patches["features"]
    assert all(np.sum(patterns == p) == 15 for p in range(3))
    tails = features[:, 6] + features[:, 7] + features[:, -2] + features[:, -1]  # beyond +-2 std
    for column in (features[:, 3], features[:, 4], features[:, 5], tails):  # skewness, kurtosis, rim-minus-core
        for a, b in ((0, 1), (0, 2), (1, 2)):
            assert stats.ks_2samp(column[patterns == a], column[patterns == b]).pvalue > 0.01
    # the drawn rim-minus-core contrast is met (the noise added afterwards moves it a little)
    drawn = lesion_patches["drawn_rim"]
    assert np.median(np.abs(features[:, 5] - drawn)) < 2.0
    assert min(drawn) >= RIM_CONTRAST[0] * LESION_HU_STD[0] and max(drawn) <= RIM_CONTRAST[1] * LESION_HU_STD[1]


def test_pattern_visible_to_a_spatial_rule_not_to_radiomics(lesion_patches):
    """The cue is spatial: a radial profile and the outline tell the pattern; the radiomics features do not."""
    patterns = lesion_patches["patterns"]
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    radiomics = lesion_patches["features"][:, BASELINES["radiomics"][1]]
    assert cross_val_score(model, lesion_patches["spatial"], patterns, cv=5).mean() > 0.7
    assert cross_val_score(model, radiomics, patterns, cv=5).mean() < 0.55


def test_lesion_patch_is_the_case_lesion():
    """A lesion rendered alone is the full case's lesion: same voxels, same HU up to the noise."""
    params = AbdomenParams(slices=6, normal_fraction=0, lesion_diameter_mm=(8.0, 10.0))
    whole, patch = make_abdomen_phantom(4, 0, params), make_lesion_patch(4, 0, params)
    (image, label), (patch_image, patch_label) = _arrays(whole), _arrays(patch)
    assert (label == 2).sum() == (patch_label == 2).sum() > 0
    noise = whole.metadata["noise_hu"] + patch.metadata["noise_hu"]
    assert abs(np.mean(image[label == 2]) - np.mean(patch_image[patch_label == 2])) < noise
    assert np.std(image[label == 2]) == pytest.approx(np.std(patch_image[patch_label == 2]), rel=0.3)
    with pytest.raises(ValueError, match="normal"):
        make_lesion_patch(0, _first(AbdomenParams(), False), AbdomenParams())


def test_options_of_another_generator_are_refused_not_ignored(tmp_path, capsys):
    from pancreas_mt_training.cli import main

    assert main(["phantoms", "-o", str(tmp_path / "p"), "-n", "1", "--field-size", "96", "128"]) == 1
    assert "--field-size is for the field generator, not abdomen (give --generator)" in capsys.readouterr().err
    argv = ["phantoms", "-o", str(tmp_path / "q"), "-n", "1", "--generator", "field", "--shape", "8", "8", "8"]
    assert main(argv) == 1
    assert "--shape is for the centred generator, not field" in capsys.readouterr().err
    assert not (tmp_path / "p").exists() and not (tmp_path / "q").exists()


def test_phantoms_and_crops_made_in_two_processes_are_the_bytes_one_process_writes(tmp_path, capsys, monkeypatch):
    """``--jobs`` (default: nnU-Net's ``nnUNet_def_n_proc``, at most the cores) spreads the cases over processes; each
    case is made from its own draws, so the files are those of one process, for every generator and the crops."""
    monkeypatch.setenv("nnUNet_def_n_proc", "2")
    argv = ["phantoms", "-n", "4", "--seed", "5", "--slices", "3", "--orientation", "random"]
    assert main([*argv, "-o", str(tmp_path / "abdomen2")]) == 0
    assert f"{min(2, os.cpu_count() or 1)} process" in capsys.readouterr().out  # the default is nnU-Net's
    assert main([*argv, "-o", str(tmp_path / "abdomen1"), "--jobs", "1"]) == 0
    assert "1 process)" in capsys.readouterr().out
    for jobs in (1, 2):
        write_phantoms(tmp_path / f"field{jobs}", 6, 4, field_size=(40, 48), orientation="random", jobs=jobs)
        crop_folder(tmp_path / f"abdomen{jobs}", tmp_path / f"crops{jobs}", (15.0, 45.0), seed=1, jobs=jobs)
    for kind in ("abdomen", "field", "crops"):
        one, two = tmp_path / f"{kind}1", tmp_path / f"{kind}2"
        files = sorted(p.relative_to(one) for p in one.rglob("*") if p.is_file())
        assert files == sorted(p.relative_to(two) for p in two.rglob("*") if p.is_file()) and len(files) > 8
        assert all(filecmp.cmp(one / f, two / f, shallow=False) for f in files), kind
    assert main([*argv, "-o", str(tmp_path / "none"), "--jobs", "0"]) == 1
    assert capsys.readouterr().err.strip() == "pancreas-mt-train phantoms: error: --jobs must be at least 1, got 0"


def test_the_default_worker_count_is_nnunets_at_most_the_cores(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    for value, expected in (("3", 3), ("16", 4), ("0", 1)):
        monkeypatch.setenv("nnUNet_def_n_proc", value)
        assert default_jobs() == expected
    monkeypatch.setenv("nnUNet_def_n_proc", "many")
    with pytest.raises(ValueError, match="nnUNet_def_n_proc must be a whole number of processes, got 'many'"):
        default_jobs()
    with pytest.raises(ValueError, match="jobs must be at least 1"):
        map_in_processes(abs, [1], 0)


def test_a_worker_count_that_is_not_a_number_is_one_line_before_nnunet_reads_it(tmp_path):
    """nnU-Net parses ``nnUNet_def_n_proc`` when first imported, with a traceback; the command says it first."""
    env = {**os.environ, "nnUNet_def_n_proc": "many"}
    command = [sys.executable, "-m", "pancreas_mt_training.cli", "phantoms", "-o", str(tmp_path / "p"), "-n", "1"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and not (tmp_path / "p").exists()
    assert done.stderr.strip() == (
        "pancreas-mt-train: error: nnUNet_def_n_proc must be a whole number of processes, got 'many'"
    )


def test_the_bundled_sample_is_the_held_out_phantom_its_seed_makes():
    """The report's held-out and stress sets are made again from their seeds wherever they are measured (the demo's
    pipeline, the benchmarks): the bundled sample, cut from the held-out set, pins that the generator still makes
    them, voxel for voxel and in the same orientation."""
    resources = Path(__file__).resolve().parents[1] / "Resources"
    config = json.loads((resources / "DemoModel" / "demo_config.json").read_text())
    info = json.loads((resources / "SampleData" / "sample.json").read_text())
    params = AbdomenParams(slices=config["slices"], normal_fraction=config["normal_fraction"])
    makers = phantom_makers(
        config["test_seed"],
        config["test_cases"],
        generator="abdomen",
        orientation=config["test_orientation"],
        abdomen=params,
    )
    phantom = makers[int(info["case_id"].rsplit("_", 1)[1])]()
    assert phantom.case_id == info["case_id"] and phantom.subtype == info["subtype"]
    for made, stored in ((phantom.image, info["image"]), (phantom.label, info["truth"])):
        sample = sitk.ReadImage(str(resources / "SampleData" / stored))
        assert sample.GetDirection() == made.GetDirection()
        assert np.allclose(sample.GetSpacing(), made.GetSpacing(), rtol=1e-6)  # NIfTI stores float32
        start = made.TransformPhysicalPointToIndex(sample.GetOrigin())
        region = sitk.RegionOfInterest(made, sample.GetSize(), start)
        assert np.allclose(region.GetOrigin(), sample.GetOrigin(), atol=1e-4)
        assert np.array_equal(sitk.GetArrayViewFromImage(region), sitk.GetArrayViewFromImage(sample))
