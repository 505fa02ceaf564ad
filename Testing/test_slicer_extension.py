"""The Slicer extension beyond the scene: minimum version, self-test skip path, dependencies, transforms, results
restored from a saved scene, the panel's actions. MRML runs for real (slicer-core); Qt and the application are
stand-ins (``slicer_stubs.py``)."""

from __future__ import annotations

import ast
import importlib
import logging
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import slicer
import slicer_stubs
import vtk
from PancreasMultiTaskLib.slicer import dependencies
from PancreasMultiTaskLib.slicer import scene as pmt_scene
from test_slicer_module import MODULE_DIR, add_ct, fake_logic, sample_folder
from test_slicer_module import module as module

REQUIREMENTS = MODULE_DIR / "Resources" / "requirements.txt"


def test_module_file_parses_on_python_3_9() -> None:
    """Slicer 5.8 (Python 3.9) must get as far as the version message."""
    ast.parse((MODULE_DIR / "PancreasMultiTask.py").read_text(), feature_version=(3, 9))


def test_old_slicer_gets_one_clear_message(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = slicer_stubs.install(monkeypatch, tmp_path / "app")
    monkeypatch.setattr(app, "minorVersion", 8)
    monkeypatch.syspath_prepend(str(MODULE_DIR))
    monkeypatch.delitem(sys.modules, "PancreasMultiTask", raising=False)
    with caplog.at_level(logging.ERROR):
        mod = importlib.import_module("PancreasMultiTask")
    sys.modules.pop("PancreasMultiTask", None)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "needs 3D Slicer 5.10" in errors[0] and "Slicer 5.8" in errors[0]
    parent = SimpleNamespace()
    mod.PancreasMultiTask(parent)
    assert parent.helpText.startswith("<b>PancreasMultiTask needs 3D Slicer 5.10")


def test_help_names_minimum_version_and_documentation(module: SimpleNamespace) -> None:
    parent = SimpleNamespace()
    module.mod.PancreasMultiTask(parent)
    assert "5.10 or later" in parent.helpText and '<a href="https://' in parent.helpText
    assert module.mod.VERSION_PROBLEM == ""


def test_self_test_skips_prediction_without_torch(module: SimpleNamespace, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where torch and nnunetv2 are missing the self-test says so and still runs the other steps."""
    real = dependencies.installed_version
    monkeypatch.setattr(
        dependencies, "installed_version", lambda name: None if name in ("torch", "nnunetv2") else real(name)
    )
    shown: list[str] = []
    folder = sample_folder(module)
    test_class = type(
        "SelfTest",
        (module.mod.PancreasMultiTaskTest,),
        {
            "sampleFolder": str(folder),
            "modelsDirectory": str(module.tmp / "models"),
            "delayDisplay": lambda self, m, d=None: shown.append(m),
        },
    )
    outcome = unittest_run(test_class("runTest"))
    assert outcome.wasSuccessful(), outcome.errors + outcome.failures
    assert any("Skipping the prediction steps: torch, nnunetv2 not installed" in m for m in shown)
    assert any("under transforms" in m for m in shown)
    assert not any("Sample case" in m or "Cancel" in m for m in shown)


def unittest_run(test):
    import unittest

    result = unittest.TestResult()
    test.run(result)
    return result


# Dependencies: test_slicer_dependencies.py


# Transforms, ROI, results in the scene


def translation_rotation(scene: object, angle: float = 0.3, shift: tuple[float, float, float] = (30.0, -12.0, 7.0)):
    transform = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode", "T")
    matrix = vtk.vtkMatrix4x4()
    matrix.SetElement(0, 0, np.cos(angle))
    matrix.SetElement(0, 1, -np.sin(angle))
    matrix.SetElement(1, 0, np.sin(angle))
    matrix.SetElement(1, 1, np.cos(angle))
    for i, value in enumerate(shift):
        matrix.SetElement(i, 3, value)
    transform.SetMatrixTransformToParent(matrix)
    return transform, matrix


def world_ijk_to_ras(node: object) -> np.ndarray:
    local = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(local)
    to_world = vtk.vtkMatrix4x4()
    parent = node.GetParentTransformNode()
    if parent is not None:
        parent.GetMatrixTransformToWorld(to_world)
    out = vtk.vtkMatrix4x4()
    vtk.vtkMatrix4x4.Multiply4x4(to_world, local, out)
    return np.array([[out.GetElement(r, c) for c in range(4)] for r in range(4)])


def test_volume_under_transform_is_exported_hardened_and_result_follows_it(module: SimpleNamespace) -> None:
    scene = slicer.mrmlScene
    volume = add_ct(module)
    transform, _ = translation_rotation(scene)
    volume.SetAndObserveTransformNodeID(transform.GetID())
    logic = fake_logic(module)
    logic.keepWorkDirectories = True
    job = logic.process(volume, module.model, waitForCompletion=True, timeout=120)
    assert job.error == ""
    exported = slicer_stubs.load_volume(slicer_stubs.make_scene(), next(job.workDir.glob("*.nrrd")), "exported")
    np.testing.assert_allclose(world_ijk_to_ras(exported), world_ijk_to_ras(volume), atol=1e-4)
    segmentation = scene.GetNodeByID(job.nodes.segmentation_id)
    assert segmentation.GetTransformNodeID() == transform.GetID()
    labelmap = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode")
    slicer.vtkSlicerSegmentationsModuleLogic.ExportAllSegmentsToLabelmapNode(
        segmentation, labelmap, slicer.vtkSegmentation.EXTENT_REFERENCE_GEOMETRY
    )
    # The export applies the segmentation's parent transform: the labelmap is in world coordinates.
    np.testing.assert_allclose(world_ijk_to_ras(labelmap), world_ijk_to_ras(volume), atol=1e-4)


def test_non_linear_transform_is_refused(module: SimpleNamespace) -> None:
    volume = add_ct(module)
    grid = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLGridTransformNode", "warp")
    volume.SetAndObserveTransformNodeID(grid.GetID())
    with pytest.raises(ValueError, match="non-linear transform"):
        fake_logic(module).process(volume, module.model)


def test_roi_under_transform_crops_in_world_coordinates(module: SimpleNamespace) -> None:
    """The ROI's world box (its transform applied) is what the engine crops to: every labelled voxel of the
    result lies inside it, and some are labelled."""
    scene = slicer.mrmlScene
    volume = add_ct(module, shape_zyx=(8, 56, 72), oblique=False)  # the crop is a box in index space
    bounds = [0.0] * 6
    volume.GetRASBounds(bounds)
    center = [(bounds[2 * i] + bounds[2 * i + 1]) / 2 for i in range(3)]
    roi = scene.AddNewNodeByClass("vtkMRMLMarkupsROINode", "ROI")
    roi.SetXYZ(center[0] - 30.0, center[1] + 12.0, center[2] - 7.0)  # moved back onto the volume by the transform
    roi.SetRadiusXYZ(12.0, 10.0, 40.0)
    transform, _ = translation_rotation(scene, angle=0.0)
    roi.SetAndObserveTransformNodeID(transform.GetID())
    lps = fake_logic(module).roiBoundsLPS(roi)
    expected_ras = [center[0] - 12, center[0] + 12, center[1] - 10, center[1] + 10, center[2] - 40, center[2] + 40]
    assert lps == pytest.approx(
        [-expected_ras[1], -expected_ras[3], expected_ras[4], -expected_ras[0], -expected_ras[2], expected_ras[5]]
    )
    job = fake_logic(module).process(volume, module.model, roi=roi, waitForCompletion=True, timeout=120)
    assert job.error == ""
    labelmap = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode")
    slicer.vtkSlicerSegmentationsModuleLogic.ExportAllSegmentsToLabelmapNode(
        scene.GetNodeByID(job.nodes.segmentation_id), labelmap, slicer.vtkSegmentation.EXTENT_REFERENCE_GEOMETRY
    )
    from vtk.util import numpy_support

    image = labelmap.GetImageData()
    array = numpy_support.vtk_to_numpy(image.GetPointData().GetScalars()).reshape(image.GetDimensions()[::-1])
    k, j, i = np.nonzero(array)
    assert len(i) > 0
    ijk_to_ras = world_ijk_to_ras(labelmap)
    points = ijk_to_ras @ np.stack([i, j, k, np.ones_like(i)]).astype(float)
    spacing = max(volume.GetSpacing())
    for axis in range(3):
        assert points[axis].min() >= expected_ras[2 * axis] - spacing
        assert points[axis].max() <= expected_ras[2 * axis + 1] + spacing


def test_results_restored_from_a_saved_scene(module: SimpleNamespace) -> None:
    volume = add_ct(module)
    job = fake_logic(module).process(volume, module.model, waitForCompletion=True, timeout=120)
    assert job.error == ""
    for table_id in (job.nodes.measurements_table_id, job.nodes.probabilities_table_id, job.nodes.slices_table_id):
        assert slicer.mrmlScene.GetNodeByID(table_id).GetLocked()
    for chart_id in (job.nodes.probabilities_chart_id, job.nodes.slices_chart_id):
        chart = slicer.mrmlScene.GetNodeByID(chart_id)
        assert not chart.GetYAxisRangeAuto() and list(chart.GetYAxisRange()) == [0.0, 1.0]
    mrb = pmt_scene.save_scene_bundle(slicer.mrmlScene, module.tmp / "saved.mrb")
    reloaded = slicer_stubs.make_scene()
    assert pmt_scene.find_results(reloaded) == []
    pmt_scene.load_scene_bundle(reloaded, mrb, module.tmp / "unpacked")
    (found,) = pmt_scene.find_results(reloaded)
    assert found.verdict == job.result.verdict() and found.case_id == "CT"
    assert found.segmentation is not None and found.segmentation.GetName() == "CT segmentation"
    assert found.probabilities_table.GetCellText(0, 0) == "solid" and len(found.charts) == 2


def test_other_labels_use_a_valid_terminology_pair() -> None:
    """'Anatomical Structure ~ Tissue' is not in the DICOM master list; 'Tissue ~ Tissue' is."""
    fields = pmt_scene.OTHER_STYLE.terminology.split("~")
    assert fields[1] == fields[2] == "SCT^85756007^Tissue"


def test_jump_to_lesion_centres_the_slice_views(module: SimpleNamespace) -> None:
    scene = slicer.mrmlScene
    slice_node = scene.AddNewNodeByClass("vtkMRMLSliceNode", "Red")
    slice_node.SetLayoutName("Red")
    volume = add_ct(module)
    job = fake_logic(module).process(volume, module.model, waitForCompletion=True, timeout=120)
    from PancreasMultiTaskLib.slicer.logic import jump_slices_to, lesion_center_ras

    segmentation = scene.GetNodeByID(job.nodes.segmentation_id)
    center = lesion_center_ras(segmentation, job.nodes.segment_ids["Lesion"])
    assert center is not None
    jump_slices_to(scene, center)
    matrix = slice_node.GetSliceToRAS()
    assert [matrix.GetElement(r, 3) for r in range(3)] == pytest.approx(list(center), abs=1e-3)


# The panel (Qt stand-ins)


class Combo:
    def __init__(self) -> None:
        self.items: list[str] = []
        self.currentIndex = -1

    @property
    def currentText(self) -> str:
        return self.items[self.currentIndex] if 0 <= self.currentIndex < len(self.items) else ""

    def findText(self, text: str) -> int:
        return self.items.index(text) if text in self.items else -1

    def clear(self) -> None:
        self.items, self.currentIndex = [], -1

    def addItems(self, items: list[str]) -> None:
        self.items += list(items)

    def blockSignals(self, block: bool) -> bool:
        return False


class Recorder(SimpleNamespace):
    """Any other widget: remembers attributes and the last argument of each call."""

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return lambda *args: self.__dict__.__setitem__(f"called_{name}", args)


def panel(module: SimpleNamespace, models: list[str]):
    widget = module.mod.PancreasMultiTaskWidget()
    widget.logic = fake_logic(module)
    names = [
        "applyButton", "statusLabel", "verdictLabel", "resultNoticeLabel", "deviceUsedLabel", "subtypeTableView",
        "measurementsTableView", "probabilityPlotWidget", "slicePlotWidget", "segmentationShow3DButton",
        "jumpToLesionButton", "showProbabilityCheckBox", "logTextEdit", "progressBar", "parametersCollapsibleButton",
    ]  # fmt: skip
    widget.ui = SimpleNamespace(modelComboBox=Combo(), **{n: Recorder() for n in names})
    widget.ui.modelComboBox.addItems(models)
    widget.ui.modelComboBox.currentIndex = 0
    return widget


def test_a_scene_naming_a_missing_model_runs_what_the_combobox_shows(module: SimpleNamespace) -> None:
    widget = panel(module, [module.model, "other"])
    params = widget.logic.getParameterNode()
    params.model = "model that is not installed"
    widget.setParameterNode(params)
    assert widget.ui.modelComboBox.currentText == module.model and params.model == module.model


def test_result_shown_restored_and_cleared(module: SimpleNamespace) -> None:
    volume = add_ct(module)
    widget = panel(module, [module.model])
    job = widget.logic.process(volume, module.model, waitForCompletion=True, timeout=120)
    widget._showResult(pmt_scene.stored_result(slicer.mrmlScene, job.nodes), job.deviceUsed)
    assert widget.ui.verdictLabel.text == f"<b>{job.result.verdict()}</b>"
    assert widget.ui.verdictLabel.styleSheet == "color: #1b7f3b;" and widget.ui.resultNoticeLabel.visible is False
    assert widget.ui.deviceUsedLabel.text == "Ran on cpu"
    segmentation = slicer.mrmlScene.GetNodeByID(job.nodes.segmentation_id)
    assert widget.ui.segmentationShow3DButton.called_setSegmentationNode == (segmentation,)
    assert widget.ui.jumpToLesionButton.enabled
    widget.onSceneEndClose()
    assert widget.ui.verdictLabel.text == "<b>No result yet.</b>" and widget.ui.deviceUsedLabel.text == ""
    assert widget.ui.segmentationShow3DButton.called_setSegmentationNode == (None,)
    widget._restoreResults()  # what a loaded scene triggers (EndImportEvent)
    assert widget.ui.verdictLabel.text == f"<b>{job.result.verdict()}</b>"


def test_background_run_log_reaches_the_panel(module: SimpleNamespace) -> None:
    volume = add_ct(module)
    lines: list[str] = []
    job = fake_logic(module).process(volume, module.model, onLog=lines.append, waitForCompletion=True, timeout=120)
    assert job.error == ""
    assert any(line.startswith("Done on cpu") for line in lines) and list(job.log) == lines


def test_reload_covers_the_lib_files(module: SimpleNamespace) -> None:
    loaded = {n: m for n, m in sys.modules.items() if n.split(".")[0] == "PancreasMultiTaskLib"}
    try:
        widget = module.mod.PancreasMultiTaskWidget()
        widget.moduleName = "PancreasMultiTask"
        widget.onReload()
        assert sys.modules["PancreasMultiTaskLib.slicer.logic"] is not loaded["PancreasMultiTaskLib.slicer.logic"]
    finally:
        # Later tests hold the modules imported before: a second copy of the network class in
        # sys.modules would fail plans.json's identity check for them.
        for name in [n for n in sys.modules if n.split(".")[0] == "PancreasMultiTaskLib"]:
            del sys.modules[name]
        sys.modules.update(loaded)


def test_a_broken_installed_model_is_not_offered_and_says_why(
    module: SimpleNamespace, caplog: pytest.LogCaptureFixture
) -> None:
    logic = fake_logic(module)
    broken = logic.modelsDirectory() / "Broken"
    broken.mkdir(parents=True)
    (broken / "dataset.json").write_text("{}")
    with caplog.at_level(logging.WARNING):
        names = logic.modelNames()
    assert "Broken" not in names and "Broken" not in logic.installedModels()
    assert "Model Broken is not offered" in caplog.text and "plans.json" in logic.brokenModels()["Broken"]
    with pytest.raises(ValueError, match=r"'Broken' cannot be used: .*plans\.json"):
        logic.modelPath("Broken")
