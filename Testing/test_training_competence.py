"""``pancreas-mt-train competence``: the record comes from the training labels and nnU-Net's fingerprint."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import SimpleITK as sitk
from pancreas_mt_training.cli import main as train_main
from pancreas_mt_training.competence import label_statistics
from pancreas_mt_training.export import export_model
from PancreasMultiTaskLib.engine.competence import COMPETENCE_FILE, read_record
from test_training_export import _model_folder


def _labels(folder, spacing=(0.5, 0.5, 2.0)):
    """Three cases: a 1000-voxel gland with a 100-voxel lesion, a gland with two lesions, a normal gland."""
    (folder / "labelsTr").mkdir(parents=True)
    for name, lesions in (("a", [(2, 2)]), ("b", [(2, 2), (6, 6)]), ("c", [])):
        array = np.zeros((10, 20, 20), np.uint8)
        array[:10, :10, :10] = 1
        for y, x in lesions:
            array[:4, y : y + 2, x : x + 2] = 2 if name != "a" else 0
        if name == "a":
            array[:4, :5, :5] = 2
        image = sitk.GetImageFromArray(array)
        image.SetSpacing(spacing)
        sitk.WriteImage(image, str(folder / "labelsTr" / f"{name}.nii.gz"))


def test_label_statistics(tmp_path):
    _labels(tmp_path)
    stats = label_statistics(tmp_path / "labelsTr")
    voxel_ml = 0.5 * 0.5 * 2.0 / 1000
    assert stats["gland_volume_ml"] == pytest.approx([1000 * voxel_ml, 1000 * voxel_ml])
    assert stats["lesion_volume_ml"] == pytest.approx([32 * voxel_ml, 100 * voxel_ml])
    assert stats["lesion_components_max"] == 2 and stats["normal_fraction"] == pytest.approx(1 / 3)


def test_the_command_writes_a_record_that_the_engine_reads_and_export_carries(tmp_path, capsys):
    raw = tmp_path / "Dataset777_T"
    _labels(raw)
    fingerprint = tmp_path / "fingerprint.json"
    fingerprint.write_text(
        json.dumps({"spacings": [[2.0, 0.5, 0.5], [3.0, 0.7, 0.7]], "shapes_after_crop": [[10, 20, 20], [8, 30, 25]]})
    )
    model = _model_folder(tmp_path)
    (model / "plans.json").write_text(
        json.dumps(
            {"foreground_intensity_properties_per_channel": {"0": {"percentile_00_5": -5, "percentile_99_5": 150}}}
        )
    )
    argv = ["competence", "--raw", str(raw), "--model", str(model), "--fingerprint", str(fingerprint), "--synthetic"]
    assert train_main(argv) == 0, capsys.readouterr().err
    record = read_record(model / COMPETENCE_FILE)
    assert record.synthetic and not record.bfloat16_check_passed
    assert record.in_plane_spacing_mm == (0.5, 0.7) and record.slice_spacing_mm == (2.0, 3.0)
    assert record.in_plane_size_voxels == (20, 30)
    assert record.foreground_hu == {"percentile_00_5": -5.0, "percentile_99_5": 150.0}
    zip_path = export_model(model, tmp_path / "out" / "Demo.zip")
    with zipfile.ZipFile(zip_path) as archive:
        assert json.loads(archive.read(f"Demo/{COMPETENCE_FILE}")) == json.loads((model / COMPETENCE_FILE).read_text())
