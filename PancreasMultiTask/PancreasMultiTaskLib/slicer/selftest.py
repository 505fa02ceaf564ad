"""The module's self-test steps, without Qt: run by Slicer's self-test (``PancreasMultiTaskTest`` in the module
file, a ``ScriptedLoadableModuleTest``) and by pytest under slicer-core. Prediction steps are skipped, with a
message, where torch or nnunetv2 is missing (extension build machines); the other steps still run.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any, ClassVar

import slicer
import vtk

from . import dependencies
from .logic import DEMO_MODEL_NAME, DEMO_SAMPLE_MIN_DICE, MODULE_DIR, PredictionLogic


def segment_dice(segmentation_node: Any, segment_ids: dict[str, str], truth_volume: Any) -> dict[str, float]:
    """Dice of the Pancreas (with Lesion) and Lesion segments against truth labels (1 pancreas, 2 lesion),
    on the truth volume's grid."""
    import numpy as np
    from vtk.util import numpy_support

    def to_array(image: Any) -> Any:
        dims = image.GetDimensions()
        return numpy_support.vtk_to_numpy(image.GetPointData().GetScalars()).reshape(dims[::-1])

    truth = to_array(truth_volume.GetImageData())
    scene = segmentation_node.GetScene()
    dice = {}
    for name, labels in (("Pancreas", (1, 2)), ("Lesion", (2,))):
        ids = [segment_ids[name]] + ([segment_ids["Lesion"]] if name == "Pancreas" else [])
        labelmap = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "__dice__")
        try:
            slicer.vtkSlicerSegmentationsModuleLogic.ExportSegmentsToLabelmapNode(
                segmentation_node, ids, labelmap, truth_volume, slicer.vtkSegmentation.EXTENT_REFERENCE_GEOMETRY
            )
            predicted = to_array(labelmap.GetImageData()) > 0
        finally:
            scene.RemoveNode(labelmap)
        reference = np.isin(truth, labels)
        total = int(predicted.sum() + reference.sum())
        dice[name] = 1.0 if total == 0 else 2.0 * float(np.logical_and(predicted, reference).sum()) / total
    return dice


class SelfTestSteps:
    """Mixed into a ``unittest.TestCase`` that has ``delayDisplay`` (Slicer's ``ScriptedLoadableModuleTest``)."""

    MIN_DICE: ClassVar[dict[str, float]] = DEMO_SAMPLE_MIN_DICE
    # Overridable by a test runner (pytest under slicer-core): models folder, model, engine, sample folder.
    modelsDirectory: ClassVar[str | None] = None
    model: ClassVar[str] = DEMO_MODEL_NAME
    cliModule: ClassVar[str | None] = None
    extraEnvironment: ClassVar[dict[str, str]] = {}
    sampleFolder: ClassVar[str | None] = None

    def makeLogic(self) -> PredictionLogic:
        return PredictionLogic(modelsDirectory=self.modelsDirectory)

    def setUp(self) -> None:
        slicer.mrmlScene.Clear()
        self.logic = self.makeLogic()
        self.logic.cliModule = self.cliModule or self.logic.cliModule
        self.logic.extraEnvironment = dict(self.extraEnvironment)

    def runTest(self) -> None:
        steps = [self.test_Inputs]
        missing = self.predictionMissing()
        if missing:
            self.delayDisplay(f"Skipping the prediction steps: {', '.join(missing)} not installed.")
        else:
            steps += [self.test_SampleCase, self.test_Cancel, self.test_BadInput]
        for step in steps:
            self.setUp()
            step()

    @staticmethod
    def predictionMissing() -> list[str]:
        """The engine's packages not installed here (extension build machines have no torch)."""
        return [name for name in ("torch", "nnunetv2") if dependencies.installed_version(name) is None]

    @property
    def scene(self) -> Any:
        import slicer

        return slicer.mrmlScene

    def _requirePrediction(self) -> None:
        missing = self.predictionMissing()
        if missing:
            self.skipTest(f"Skipping the prediction steps: {', '.join(missing)} not installed.")

    def sampleCase(self) -> tuple[Path, Path, str]:
        """The bundled sample CT, its truth labels and its subtype name (``sample.json``)."""
        folders = [MODULE_DIR / "Resources" / "SampleData", MODULE_DIR.parent / "Resources" / "SampleData"]
        for folder in [Path(self.sampleFolder)] if self.sampleFolder else folders:
            if (folder / "sample.json").is_file():
                sample = json.loads((folder / "sample.json").read_text(encoding="utf-8"))
                return folder / sample["image"], folder / sample["truth"], sample["subtype_name"]
        raise FileNotFoundError("No bundled sample case (Resources/SampleData/sample.json).")

    def _loadVolume(self, path: Path, name: str = "SampleCT") -> Any:
        volume = self.scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", name)
        storage = slicer.vtkMRMLVolumeArchetypeStorageNode()
        storage.SetFileName(str(path))
        self.assertTrue(storage.ReadData(volume), f"cannot read {path}")
        return volume

    def _nodeIds(self) -> set[str]:
        scene = self.scene
        return {scene.GetNthNode(i).GetID() for i in range(scene.GetNumberOfNodes())}

    def test_Inputs(self) -> None:
        self.delayDisplay("A volume and an ROI under transforms are exported in world coordinates")
        volume = self._loadVolume(self.sampleCase()[0])
        transform = self.scene.AddNewNodeByClass("vtkMRMLLinearTransformNode")
        matrix = vtk.vtkMatrix4x4()
        matrix.SetElement(0, 3, 25.0)
        transform.SetMatrixTransformToParent(matrix)
        volume.SetAndObserveTransformNodeID(transform.GetID())
        with tempfile.TemporaryDirectory() as folder:
            written = self._loadVolume(self.logic.exportVolume(volume, folder), "written")
        local, world = vtk.vtkMatrix4x4(), vtk.vtkMatrix4x4()
        volume.GetIJKToRASMatrix(local)
        written.GetIJKToRASMatrix(world)
        self.assertAlmostEqual(world.GetElement(0, 3), local.GetElement(0, 3) + 25.0, places=3)
        roi = self.scene.AddNewNodeByClass("vtkMRMLMarkupsROINode")
        roi.SetXYZ(0, 0, 0)
        roi.SetRadiusXYZ(10, 20, 30)
        roi.SetAndObserveTransformNodeID(transform.GetID())
        self.assertEqual([round(v, 3) for v in self.logic.roiBoundsLPS(roi)], [-35, -20, -30, -15, 20, 30])
        with self.assertRaises(ValueError):
            self.logic.process(None, self.model)

    def test_SampleCase(self) -> None:
        self.delayDisplay("Sample case through the demo model")
        self._requirePrediction()
        ctPath, truthPath, subtype = self.sampleCase()
        volume = self._loadVolume(ctPath)
        job = self.logic.process(volume, self.model, device="cpu", waitForCompletion=True, timeout=900)
        self.assertEqual(job.error, "")
        nodes = job.nodes
        segmentationNode = self.scene.GetNodeByID(nodes.segmentation_id)
        segmentation = segmentationNode.GetSegmentation()
        names = [segmentation.GetNthSegment(i).GetName() for i in range(segmentation.GetNumberOfSegments())]
        self.assertEqual(names, ["Pancreas", "Lesion"])
        self.assertIn("15776009", segmentation.GetSegment(nodes.segment_ids["Pancreas"]).GetTerminology())
        dice = segment_dice(segmentationNode, nodes.segment_ids, self._loadVolume(truthPath, "truth"))
        for name, minimum in self.MIN_DICE.items():
            self.assertGreaterEqual(dice[name], minimum, f"Dice of {name} is {dice[name]:.3f}")
        self.assertIsNotNone(job.result.subtype, "the demo model has a subtype classifier")
        self.assertEqual(job.result.subtype.predicted, subtype)
        table = self.scene.GetNodeByID(nodes.probabilities_table_id)
        for row, name in enumerate(job.result.subtype.names):
            self.assertAlmostEqual(float(table.GetCellText(row, 2)), job.result.subtype.probabilities[name], places=5)
        self.assertGreaterEqual(self.scene.GetNodeByID(nodes.probabilities_chart_id).GetNumberOfPlotSeriesNodes(), 1)
        self.delayDisplay(f"Sample case passed: Dice {dice}")

    def test_Cancel(self) -> None:
        self.delayDisplay("Cancel leaves the scene unchanged")
        self._requirePrediction()
        volume = self._loadVolume(self.sampleCase()[0])
        before = self._nodeIds()
        job = self.logic.process(volume, self.model, device="cpu")
        time.sleep(0.5)
        job.poll()
        job.cancel()
        self.assertTrue(job.finished and job.cancelled)
        self.assertEqual(job.error, "Cancelled.")
        self.assertIsNone(job.nodes)
        self.assertFalse(job.process.running)
        self.assertEqual(self._nodeIds(), before)
        self.assertFalse(job.workDir.exists())

    def test_BadInput(self) -> None:
        self.delayDisplay("A constant volume is refused with a clear error")
        self._requirePrediction()
        volume = self.scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "Empty")
        image = vtk.vtkImageData()
        image.SetDimensions(16, 16, 8)
        image.AllocateScalars(vtk.VTK_SHORT, 1)
        image.GetPointData().GetScalars().Fill(0)
        volume.SetAndObserveImageData(image)
        before = self._nodeIds()
        job = self.logic.process(volume, self.model, device="cpu", waitForCompletion=True, timeout=600)
        self.assertIsNone(job.nodes)
        self.assertIn("same value", job.error)
        self.assertEqual(self._nodeIds(), before)
