"""Conversion to an nnU-Net raw dataset: both layouts, reorientation, and every bad case in one error."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import SimpleITK as sitk
from pancreas_mt_training.cli import main
from pancreas_mt_training.convert import (
    ConversionError,
    collect_generic,
    collect_paper,
    convert_cases,
    dataset_folder,
)
from pancreas_mt_training.labels import read_subtypes_csv
from pancreas_mt_training.phantoms import write_phantoms

SHAPE = (6, 24, 24)


@pytest.fixture()
def generic(tmp_path):
    return write_phantoms(tmp_path / "src", seed=7, count=6, shape=SHAPE, generator="centred")


def test_generic_conversion_writes_nnunet_dataset(generic, tmp_path):
    cases, names = collect_generic(generic / "images", generic / "labels", generic / "subtypes.csv", ["a", "b", "c"])
    out = convert_cases(cases[:4], tmp_path / "Dataset123_T", names, cases[4:])
    dataset = json.loads((out / "dataset.json").read_text())
    assert dataset["channel_names"] == {"0": "CT"}
    assert dataset["labels"] == {"background": 0, "pancreas": 1, "lesion": 2}
    assert dataset["numTraining"] == 4 and dataset["file_ending"] == ".nii.gz"
    assert dataset["subtypes"] == {"0": "a", "1": "b", "2": "c"}
    assert dataset["orientation"] == "LPS"
    assert len(list((out / "imagesTr").glob("*_0000.nii.gz"))) == 4
    assert len(list((out / "labelsTs").glob("*.nii.gz"))) == 2
    source = read_subtypes_csv(generic / "subtypes.csv")
    assert read_subtypes_csv(out / "subtypes.csv") == source


def test_region_labels_as_in_the_paper(generic, tmp_path):
    cases, names = collect_generic(generic / "images", generic / "labels", generic / "subtypes.csv")
    out = convert_cases(cases, tmp_path / "Dataset124_R", names, regions=True)
    dataset = json.loads((out / "dataset.json").read_text())
    assert dataset["labels"]["pancreas"] == [1, 2] and dataset["regions_class_order"] == [1, 2]
    assert names == ["subtype0", "subtype1", "subtype2"]


def test_flipped_input_is_reoriented_to_lps_consistently(generic, tmp_path):
    image_path = next((generic / "images").glob("*_0000.nii.gz"))
    case_id = image_path.name[: -len("_0000.nii.gz")]
    label_path = generic / "labels" / f"{case_id}.nii.gz"
    image, label = sitk.ReadImage(str(image_path)), sitk.ReadImage(str(label_path))
    lps_image = sitk.GetArrayFromImage(image)
    flip = (-1, 0, 0, 0, -1, 0, 0, 0, 1)  # RAS-like x/y flip
    for img, path in ((image, image_path), (label, label_path)):
        img.SetDirection(flip)
        sitk.WriteImage(img, str(path))
    cases, names = collect_generic(generic / "images", generic / "labels", generic / "subtypes.csv")
    out = convert_cases(cases, tmp_path / "Dataset125_O", names)
    converted = sitk.ReadImage(str(out / "imagesTr" / f"{case_id}_0000.nii.gz"))
    converted_label = sitk.ReadImage(str(out / "labelsTr" / f"{case_id}.nii.gz"))
    assert converted.GetDirection() == pytest.approx((1, 0, 0, 0, 1, 0, 0, 0, 1))
    assert np.array_equal(sitk.GetArrayFromImage(converted), lps_image[:, ::-1, ::-1])
    assert np.array_equal(sitk.GetArrayFromImage(converted_label), sitk.GetArrayFromImage(label)[:, ::-1, ::-1])


@pytest.mark.parametrize("jobs", [1, 2])
def test_every_bad_case_is_listed_in_one_error(generic, tmp_path, jobs):
    labels = sorted((generic / "labels").glob("*.nii.gz"))
    ids = [p.name[: -len(".nii.gz")] for p in labels]
    bad_value = sitk.ReadImage(str(labels[0]))
    array = sitk.GetArrayFromImage(bad_value)
    array[0, 0, 0] = 3
    fixed = sitk.GetImageFromArray(array)
    fixed.CopyInformation(bad_value)
    sitk.WriteImage(fixed, str(labels[0]))
    shifted = sitk.ReadImage(str(labels[1]))
    shifted.SetSpacing((1.0, 1.0, 3.0))
    sitk.WriteImage(shifted, str(labels[1]))
    labels[2].unlink()
    rows = (generic / "subtypes.csv").read_text().splitlines()
    (generic / "subtypes.csv").write_text("\n".join(r for r in rows if not r.startswith(ids[3])) + "\n")
    with pytest.raises(ConversionError) as error:
        cases, names = collect_generic(generic / "images", generic / "labels", generic / "subtypes.csv")
    message = str(error.value)
    assert ids[2] in message and ids[3] in message and "2 bad case(s)" in message
    # Once files are present, content checks list the remaining bad cases together.
    shutil.copyfile(labels[4], labels[2])
    (generic / "subtypes.csv").write_text("\n".join(rows) + "\n")
    cases, names = collect_generic(generic / "images", generic / "labels", generic / "subtypes.csv")
    with pytest.raises(ConversionError) as error:
        convert_cases(cases, tmp_path / "Dataset126_B", names, jobs=jobs)
    message = str(error.value)
    assert f"{ids[0]}: label" in message and "[3]" in message
    assert f"{ids[1]}: image spacing" in message
    assert "\n" not in message
    assert not (tmp_path / "Dataset126_B").exists()  # nothing written, not even the good cases


def test_two_processes_convert_to_the_bytes_one_process_writes(generic, tmp_path, capsys):
    """``--jobs`` (default: nnU-Net's ``nnUNet_def_n_proc``) checks and writes the cases in that many processes."""
    raw = tmp_path / "raw"
    argv = ["convert", "--name", "Jobs", "--raw-root", str(raw), "--images", str(generic / "images")]
    argv += ["--labels", str(generic / "labels"), "--subtypes", str(generic / "subtypes.csv")]
    for dataset_id, jobs in ((131, "1"), (132, "2")):
        assert main([*argv, "--dataset-id", str(dataset_id), "--jobs", jobs]) == 0
    one, two = dataset_folder(raw, 131, "Jobs"), dataset_folder(raw, 132, "Jobs")
    files = sorted(p.relative_to(one) for p in one.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(two) for p in two.rglob("*") if p.is_file()) and len(files) == 14
    for name in files:
        if name.name == "dataset.json":  # named after its folder
            dataset = [json.loads((root / name).read_text()) for root in (one, two)]
            assert [d.pop("name") for d in dataset] == [one.name, two.name] and dataset[0] == dataset[1]
        else:
            assert (one / name).read_bytes() == (two / name).read_bytes(), name
    assert main([*argv, "--dataset-id", "133", "--jobs", "0"]) == 1
    assert capsys.readouterr().err.strip().endswith("error: --jobs must be at least 1, got 0")


def test_paper_layout_with_validation_split(tmp_path):
    root = write_phantoms(tmp_path / "paper", seed=8, count=6, shape=SHAPE, layout="paper", generator="centred")
    shutil.copytree(root / "train", root / "validation")
    for path in (root / "validation").rglob("*.nii.gz"):
        path.rename(path.with_name(path.name.replace("phantom_", "val_")))
    cases, names = collect_paper(root, "train")
    test, _ = collect_paper(root, "validation")
    assert names == ["subtype0", "subtype1", "subtype2"]
    assert {c.subtype for c in cases} == {0, 1, 2}
    assert all(c.image.parent.name == f"subtype{c.subtype}" for c in cases)
    out = convert_cases(cases, tmp_path / "Dataset127_P", names, test)
    assert len(list((out / "imagesTs").glob("val_*_0000.nii.gz"))) == 6


def _renumber(folder, old: str, new: str) -> None:
    """Rename a case's files (and its line in any ``subtypes.csv``) below ``folder``."""
    for path in folder.rglob(f"{old}*"):
        path.rename(path.with_name(path.name.replace(old, new)))
    for table in folder.rglob("subtypes.csv"):
        table.write_text(table.read_text().replace(old, new))


def test_case_numbers_of_four_digits_are_case_ids_not_channel_tags(tmp_path):
    """``<case>_1000.nii.gz`` is the label of ``<case>_1000_0000.nii.gz``: only ``_0000`` is a channel tag (a
    1200-case phantom set once failed to convert from case 1000 on)."""
    generic = write_phantoms(tmp_path / "generic", seed=7, count=3, shape=SHAPE, generator="centred")
    _renumber(generic, "phantom_s7_002", "phantom_s7_1002")
    cases, _ = collect_generic(generic / "images", generic / "labels", generic / "subtypes.csv")
    assert [c.case_id for c in cases] == ["phantom_s7_000", "phantom_s7_001", "phantom_s7_1002"]
    assert cases[-1].image.name == "phantom_s7_1002_0000.nii.gz" and cases[-1].label.name == "phantom_s7_1002.nii.gz"
    paper = write_phantoms(tmp_path / "paper", seed=8, count=3, shape=SHAPE, layout="paper", generator="centred")
    renamed = next((paper / "train").rglob("*_0000.nii.gz")).name.removesuffix("_0000.nii.gz")
    _renumber(paper, renamed, "phantom_s8_1000")
    cases, _ = collect_paper(paper)
    case = next(c for c in cases if c.case_id == "phantom_s8_1000")
    assert case.image.name == "phantom_s8_1000_0000.nii.gz" and case.label.name == "phantom_s8_1000.nii.gz"
    assert len(cases) == 3


def test_paper_layout_bad_cases(tmp_path):
    root = write_phantoms(tmp_path / "paper", seed=9, count=3, shape=SHAPE, layout="paper", generator="centred")
    image = next((root / "train").rglob("*_0000.nii.gz"))
    image.unlink()
    with pytest.raises(ConversionError, match="has no image"):
        collect_paper(root)
    (root / "train" / "subtypeX").mkdir()
    with pytest.raises(ConversionError, match="subtype<index>"):
        collect_paper(root)


def test_cli_convert_and_one_line_error(generic, tmp_path, capsys):
    raw = tmp_path / "raw"
    argv = ["convert", "--dataset-id", "128", "--name", "Cli", "--raw-root", str(raw)]
    argv += ["--images", str(generic / "images"), "--labels", str(generic / "labels")]
    assert main([*argv, "--subtypes", str(generic / "subtypes.csv")]) == 0
    assert (dataset_folder(raw, 128, "Cli") / "dataset.json").is_file()
    (generic / "bad.csv").write_text("id,kind\n")
    assert main([*argv, "--subtypes", str(generic / "bad.csv")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "bad.csv" in err and "case_id,subtype" in err


def test_cases_without_a_lesion_convert_with_subtype_minus_one(generic, tmp_path):
    rows = (generic / "subtypes.csv").read_text().splitlines()
    first = rows[1].split(",")[0]
    (generic / "subtypes.csv").write_text("\n".join([rows[0], f"{first},-1", *rows[2:]]) + "\n")
    cases, names = collect_generic(generic / "images", generic / "labels", generic / "subtypes.csv")
    assert names == ["subtype0", "subtype1", "subtype2"]
    assert {c.case_id: c.subtype for c in cases}[first] == -1
    target = convert_cases(cases, tmp_path / "Dataset127_N", names)
    assert read_subtypes_csv(target / "subtypes.csv", 3)[first] == -1
    named = tmp_path / "named.csv"
    named.write_text(
        "case_id,subtype\n" + "\n".join(f"{c.case_id},{'-1' if c.subtype < 0 else 'abc'[c.subtype]}" for c in cases)
    )
    cases, names = collect_generic(generic / "images", generic / "labels", named)
    assert "-1" not in names and {c.case_id: c.subtype for c in cases}[first] == -1
