"""PancreasMultiTask: pancreas and lesion segmentation with lesion subtype classification, as a Slicer module.

Thin Qt glue over ``PancreasMultiTaskLib``: ``logic.py`` runs ``pancreas-mt predict`` in a background
``PythonSlicer`` process and ``scene.py`` turns its result into MRML nodes. This file must stay loadable by
older Slicer versions (Python 3.9), so that they can say in one message that the module needs Slicer 5.10.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import qt
import slicer
import vtk
from slicer.parameterNodeWrapper import Choice, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

MODULE_DIR = Path(__file__).resolve().parent
if str(MODULE_DIR) not in sys.path:
    sys.path.insert(0, str(MODULE_DIR))

MIN_SLICER_VERSION = (5, 10)
DOCUMENTATION_URL = "https://github.com/PancreasMultiTask/PancreasMultiTask#3d-slicer"


def slicerVersionProblem() -> str:
    """Why this Slicer cannot run the engine ('' when it can): it needs Slicer 5.10 (Python 3.10 or later)."""
    found = (int(getattr(slicer.app, "majorVersion", 0)), int(getattr(slicer.app, "minorVersion", 0)))
    if found >= MIN_SLICER_VERSION and sys.version_info >= (3, 10):
        return ""
    return (
        f"PancreasMultiTask needs 3D Slicer {MIN_SLICER_VERSION[0]}.{MIN_SLICER_VERSION[1]} or later; this is "
        f"Slicer {found[0]}.{found[1]} with Python {sys.version_info[0]}.{sys.version_info[1]}. "
        "Install a newer Slicer to use this module."
    )


VERSION_PROBLEM = slicerVersionProblem()
if VERSION_PROBLEM:
    logging.error(VERSION_PROBLEM)
    PredictionLogic: Any = object  # the engine is not loaded; the panel shows VERSION_PROBLEM
    SelfTestSteps: Any = type("SelfTestSteps", (), {})
    DEMO_MODEL_NAME = ""
    PANEL_OPTIONS: list = []  # no engine options: the panel only shows VERSION_PROBLEM
else:
    from PancreasMultiTaskLib.engine.options import slicer_parameters
    from PancreasMultiTaskLib.slicer import dependencies
    from PancreasMultiTaskLib.slicer import scene as pmt_scene
    from PancreasMultiTaskLib.slicer.logic import (
        DEMO_MODEL_NAME,
        PredictionJob,
        PredictionLogic,
        jump_slices_to,
        lesion_center_ras,
    )
    from PancreasMultiTaskLib.slicer.selftest import SelfTestSteps

    PANEL_OPTIONS = slicer_parameters()

CITATION = (
    "Method: D. Guo, <i>Multi-task Pancreas Cancer Segmentation and Classification with nnU-Net V2</i>, "
    "University of Toronto (code: https://github.com/davidguo123456/pancreas-cancer-segmentation). "
    "nnU-Net: F. Isensee et al., Nature Methods 18, 203-211 (2021)."
)
RESEARCH_NOTICE = (
    "<b>For research use only.</b> Not a medical device; not for diagnosis or treatment decisions. "
    "The bundled demo model only demonstrates the workflow; it is not a clinical model."
)


class PancreasMultiTask(ScriptedLoadableModule):
    """Module description shown in Slicer's module panel."""

    def __init__(self, parent: Any) -> None:
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = "Pancreas Multi-Task"
        self.parent.categories = ["Segmentation"]
        self.parent.dependencies = []
        self.parent.contributors = ["PancreasMultiTask contributors"]
        self.parent.helpText = (
            (f"<b>{VERSION_PROBLEM}</b><br><br>" if VERSION_PROBLEM else "")
            + "Segments the pancreas and pancreatic lesions on abdominal CT and classifies the lesion subtype with a "
            "multi-task nnU-Net v2 model: a segmentation (Pancreas, Lesion), subtype probabilities (case and per "
            "fold), measurements, and charts of the probabilities and of the per-slice curve. Requires 3D Slicer "
            f"{MIN_SLICER_VERSION[0]}.{MIN_SLICER_VERSION[1]} or later and the PyTorch extension. "
            f'See the <a href="{DOCUMENTATION_URL}">documentation</a>.<br><br>{RESEARCH_NOTICE}<br><br>{CITATION}'
        )
        self.parent.acknowledgementText = (
            "Built on nnU-Net v2 (Isensee et al., Nature Methods 2021) and 3D Slicer. " + RESEARCH_NOTICE
        )


def _parameterNodeClass() -> type:
    """The parameter node: the input, ROI and output nodes, then every panel option of ``engine/options.py``
    (generated, so its names, defaults and choices are the CLI's). Everything the user chose; saved with the scene."""
    annotations: dict[str, Any] = {
        "inputVolume": slicer.vtkMRMLScalarVolumeNode,
        "roi": slicer.vtkMRMLMarkupsROINode,
        "outputSegmentation": slicer.vtkMRMLSegmentationNode,
    }
    defaults: dict[str, Any] = {}
    for name, option in PANEL_OPTIONS:
        kind = str if option.many else option.kind
        annotations[name] = Annotated[kind, Choice(list(option.choices))] if option.choices else kind
        if option.default is not None:
            defaults[name] = option.default
        else:  # text fields: "" is the default (folds: all; model: the bundled demo)
            defaults[name] = DEMO_MODEL_NAME if name == "model" else ""
    namespace = {"__annotations__": annotations, "__module__": __name__, "__doc__": _parameterNodeClass.__doc__}
    return parameterNodeWrapper(type("PancreasMultiTaskParameterNode", (), {**namespace, **defaults}))


PancreasMultiTaskParameterNode = _parameterNodeClass()


class PancreasMultiTaskLogic(ScriptedLoadableModuleLogic, PredictionLogic):
    """``PredictionLogic`` with Slicer's parameter node, cache folder, PythonSlicer and dependency installer."""

    def __init__(self, modelsDirectory: str | Path | None = None) -> None:
        ScriptedLoadableModuleLogic.__init__(self)
        PredictionLogic.__init__(self, modelsDirectory, cachePath=getattr(slicer.app, "cachePath", None))
        self.temporaryPath = getattr(slicer.app, "temporaryPath", None)
        import shutil

        self.pythonExecutable = shutil.which("PythonSlicer") or sys.executable

    def getParameterNode(self) -> PancreasMultiTaskParameterNode:
        return PancreasMultiTaskParameterNode(super().getParameterNode())

    def installDependencies(self, confirm: bool = True) -> bool:
        """Ask, then install what ``requirements.txt`` needs with ``--no-deps`` (never torch, SimpleITK, numpy,
        vtk) and torch through the PyTorch extension with nnunetv2's requirement. ``False`` if declined."""
        problems = self.dependencyProblems()
        if not problems:
            return True
        question = (
            "PancreasMultiTask needs these Python packages:\n- "
            + "\n- ".join(p.message() for p in problems)
            + f"\n\nAbout {dependencies.APPROXIMATE_DOWNLOAD_MB} MB will be downloaded and installed into Slicer's "
            "Python (PyTorch itself, from the PyTorch extension, is 0.2 to 2.5 GB). Slicer's own torch, SimpleITK, "
            "numpy and vtk are not replaced. Install now?"
        )
        if confirm and not slicer.util.confirmOkCancelDisplay(question, "Install Python packages"):
            return False
        dependencies.install_requirements(self.requirementsPath(), slicer.util.pip_install, self._installTorch)
        remaining = self.dependencyProblems()
        if remaining:
            raise RuntimeError("Still not met: " + "; ".join(p.message() for p in remaining) + ". Restart Slicer.")
        return True

    @staticmethod
    def _installTorch(specifier: str) -> None:
        """Install torch through the PyTorch extension, with nnunetv2's version requirement."""
        try:
            import PyTorchUtils
        except ImportError as error:
            raise RuntimeError(
                "Install the 'PyTorch' extension from the Extensions Manager, restart Slicer, and try again."
            ) from error
        if (
            PyTorchUtils.PyTorchUtilsLogic().installTorch(askConfirmation=False, torchVersionRequirement=specifier)
            is None
        ):
            raise RuntimeError("PyTorch is required; its installation was cancelled or failed.")


class PancreasMultiTaskWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """The module panel: inputs, model, options, Apply/Cancel, progress, log and results."""

    def __init__(self, parent: Any = None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic: PancreasMultiTaskLogic | None = None
        self._parameterNode: PancreasMultiTaskParameterNode | None = None
        self._parameterNodeGuiTag = None
        self._job: PredictionJob | None = None
        self._shown: Any = None  # the StoredResult on display
        self._timer = qt.QTimer()
        self._timer.setInterval(100)
        self._timer.connect("timeout()", self._onTimer)

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        if VERSION_PROBLEM:
            label = qt.QLabel(VERSION_PROBLEM)
            label.wordWrap = True
            self.layout.addWidget(label)
            return
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/PancreasMultiTask.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = PancreasMultiTaskLogic()
        self.ui.noticeLabel.setText(RESEARCH_NOTICE)
        self._refreshModels()
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndImportEvent, self.onSceneEndImport)
        for button, slot in (
            (self.ui.applyButton, self.onApplyButton),
            (self.ui.createRoiButton, self.onCreateRoi),
            (self.ui.addModelFolderButton, self.onAddModelFolder),
            (self.ui.addModelZipButton, self.onAddModelZip),
            (self.ui.removeModelButton, self.onRemoveModel),
            (self.ui.installDependenciesButton, self.onInstallDependencies),
            (self.ui.jumpToLesionButton, self.onJumpToLesion),
        ):
            button.connect("clicked(bool)", slot)
        self.ui.showProbabilityCheckBox.connect("toggled(bool)", self.onShowProbability)
        self.ui.modelComboBox.connect("currentTextChanged(QString)", self._onModelChanged)
        self._updateDependencyStatus()
        self.initializeParameterNode()
        self._restoreResults()

    def cleanup(self) -> None:
        if self._job is not None:
            self._job.cancel()
        self._timer.stop()
        self.removeObservers()

    def onReload(self) -> None:
        """Reload the Lib files too (they are imported once per process otherwise)."""
        for name in [n for n in sys.modules if n == "PancreasMultiTaskLib" or n.startswith("PancreasMultiTaskLib.")]:
            del sys.modules[name]
        ScriptedLoadableModuleWidget.onReload(self)

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        self.setParameterNode(None)

    def onSceneStartClose(self, caller: Any = None, event: Any = None) -> None:
        if self._job is not None:
            self._job.cancel()
        self.setParameterNode(None)

    def onSceneEndClose(self, caller: Any = None, event: Any = None) -> None:
        self._showResult(None)
        if self.parent is not None and getattr(self.parent, "isEntered", False):
            self.initializeParameterNode()

    def onSceneEndImport(self, caller: Any = None, event: Any = None) -> None:
        self.initializeParameterNode()
        self._restoreResults()

    def initializeParameterNode(self) -> None:
        self.setParameterNode(self.logic.getParameterNode())
        if not self._parameterNode.inputVolume:
            firstVolumeNode = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")
            if firstVolumeNode:
                self._parameterNode.inputVolume = firstVolumeNode

    def setParameterNode(self, inputParameterNode: PancreasMultiTaskParameterNode | None) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanApply)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanApply)
            index = self.ui.modelComboBox.findText(self._parameterNode.model)
            if index >= 0:
                self.ui.modelComboBox.currentIndex = index
            elif self.ui.modelComboBox.currentText:
                # A scene naming a model that is not installed: the parameter follows what the combobox shows.
                self._parameterNode.model = self.ui.modelComboBox.currentText
            self._checkCanApply()

    def _checkCanApply(self, caller: Any = None, event: Any = None) -> None:
        if self._job is not None:
            return
        ready = bool(self._parameterNode and self._parameterNode.inputVolume and self.ui.modelComboBox.currentText)
        self.ui.applyButton.enabled = ready
        self.ui.applyButton.toolTip = "Run the prediction" if ready else "Select an input volume and a model"

    def _onModelChanged(self, text: str) -> None:
        if self._parameterNode and text:
            self._parameterNode.model = text
        self._checkCanApply()

    def _refreshModels(self, select: str | None = None) -> None:
        combo = self.ui.modelComboBox
        current = select or combo.currentText
        wasBlocked = combo.blockSignals(True)
        combo.clear()
        combo.addItems(self.logic.modelNames())
        combo.blockSignals(wasBlocked)
        index = combo.findText(current) if current else -1
        combo.currentIndex = index if index >= 0 else 0
        self._onModelChanged(combo.currentText)

    def _updateDependencyStatus(self) -> None:
        problems = self.logic.dependencyProblems()
        self.ui.installDependenciesButton.visible = bool(problems)
        if problems:
            self.ui.statusLabel.text = "Not ready: " + "; ".join(p.message() for p in problems) + "."

    def onInstallDependencies(self) -> None:
        with slicer.util.tryWithErrorDisplay("Installing dependencies failed.", waitCursor=True):
            self.logic.installDependencies()
        self._updateDependencyStatus()

    def onCreateRoi(self) -> None:
        volume = self._parameterNode.inputVolume
        if volume is None:
            slicer.util.errorDisplay("Select an input volume first.")
            return
        roi = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLMarkupsROINode", f"{volume.GetName()} ROI")
        roi.CreateDefaultDisplayNodes()
        self.logic.fitRoiToVolume(roi, volume)
        self._parameterNode.roi = roi

    def onAddModelFolder(self) -> None:
        folder = qt.QFileDialog.getExistingDirectory(slicer.util.mainWindow(), "Model folder")
        if folder:
            self._addModel(folder)

    def onAddModelZip(self) -> None:
        path = qt.QFileDialog.getOpenFileName(slicer.util.mainWindow(), "Model zip", "", "Model archive (*.zip)")
        if path:
            self._addModel(path)

    def _addModel(self, path: str) -> None:
        with slicer.util.tryWithErrorDisplay("Adding the model failed.", waitCursor=True):
            folder = self.logic.addModel(path)
            names = [n for n, p in self.logic.installedModels().items() if Path(p) == Path(folder)]
            self._refreshModels(select=names[0] if names else None)

    def onRemoveModel(self) -> None:
        name = self.ui.modelComboBox.currentText
        if not name or name == DEMO_MODEL_NAME:
            return
        if slicer.util.confirmOkCancelDisplay(f"Remove the installed model '{name}'?"):
            with slicer.util.tryWithErrorDisplay("Removing the model failed."):
                self.logic.removeModel(name)
                self._refreshModels()

    def onApplyButton(self) -> None:
        if self._job is not None:
            self._job.cancel()
            return
        problems = self.logic.dependencyProblems()
        if problems:
            slicer.util.errorDisplay("Click 'Install dependencies': " + "; ".join(p.message() for p in problems))
            return
        p = self._parameterNode
        model = self.ui.modelComboBox.currentText  # what the user sees is what runs
        p.model = model
        self.ui.logTextEdit.clear()
        with slicer.util.tryWithErrorDisplay("Could not start the prediction.", waitCursor=True):
            options = {name: getattr(p, name) for name, _ in PANEL_OPTIONS if name != "model"}
            self._job = self.logic.process(
                p.inputVolume, model, roi=p.roi, outputSegmentation=p.outputSegmentation,
                onProgress=self._onProgress, onFinished=self._onFinished, onLog=self.ui.logTextEdit.appendPlainText,
                **options,
            )  # fmt: skip
            self._setRunning(True)
            self._timer.start()

    def _setRunning(self, running: bool) -> None:
        self.ui.applyButton.text = "Cancel" if running else "Apply"
        self.ui.applyButton.toolTip = "Stop the prediction" if running else "Run the prediction"
        self.ui.progressBar.visible = running
        self.ui.progressBar.value = 0
        self.ui.parametersCollapsibleButton.enabled = not running
        self.ui.advancedCollapsibleButton.enabled = not running
        if running:
            self.ui.statusLabel.text = "Starting..."

    def _onTimer(self) -> None:
        if self._job is not None and not self._job.poll():
            self._timer.stop()

    def _onProgress(self, fraction: float, stage: str) -> None:
        self.ui.progressBar.value = round(100 * fraction)
        self.ui.statusLabel.text = stage

    def _onFinished(self, job: PredictionJob) -> None:
        self._job = None
        self._timer.stop()
        self._setRunning(False)
        self._checkCanApply()
        if job.error:
            self.ui.statusLabel.text = job.error
            if not job.cancelled:
                slicer.util.errorDisplay(f"Prediction failed: {job.error}")
            return
        self.ui.statusLabel.text = "Done."
        self._showResult(pmt_scene.stored_result(slicer.mrmlScene, job.nodes), job.deviceUsed)
        slicer.util.setSliceViewerLayers(background=job.volumeNode, fit=False)

    def _restoreResults(self) -> None:
        """Show the newest result stored in the scene (a loaded .mrb), if any."""
        results = pmt_scene.find_results(slicer.mrmlScene)
        self._showResult(results[-1] if results else None)

    def _showResult(self, stored: Any, deviceUsed: str = "") -> None:
        """Show a result's verdict, tables, charts and actions in the panel; ``None`` clears the panel."""
        self._shown = stored
        self.ui.verdictLabel.text = stored.verdict if stored is not None else "No result yet."
        self.ui.deviceUsedLabel.text = f"Ran on {deviceUsed}" if deviceUsed else ""
        self.ui.subtypeTableView.setMRMLTableNode(stored.probabilities_table if stored is not None else None)
        self.ui.measurementsTableView.setMRMLTableNode(stored.measurements_table if stored is not None else None)
        charts = stored.charts if stored is not None else []
        for widget, index in ((self.ui.probabilityPlotWidget, 0), (self.ui.slicePlotWidget, 1)):
            widget.visible = len(charts) > index
            if len(charts) > index:
                self._showChart(widget, charts[index].GetID(), f"PancreasMultiTask{index}")
        segmentation = stored.segmentation if stored is not None else None
        self.ui.segmentationShow3DButton.setSegmentationNode(segmentation)
        self.ui.jumpToLesionButton.enabled = segmentation is not None
        self.ui.showProbabilityCheckBox.enabled = stored is not None and stored.probability_volume is not None
        self.ui.showProbabilityCheckBox.checked = False
        if segmentation is not None and segmentation.GetDisplayNode() is not None:
            segmentation.GetDisplayNode().SetVisibility(True)

    def onJumpToLesion(self) -> None:
        segmentation = self._shown.segmentation if self._shown is not None else None
        segmentId = segmentation.GetSegmentation().GetSegmentIdBySegmentName("Lesion") if segmentation else ""
        center = lesion_center_ras(segmentation, segmentId) if segmentId else None
        if center is None:
            self.ui.statusLabel.text = "No lesion was found."
            return
        jump_slices_to(slicer.mrmlScene, center)

    def onShowProbability(self, show: bool) -> None:
        volume = self._shown.probability_volume if self._shown is not None else None
        slicer.util.setSliceViewerLayers(foreground=volume if show else None, foregroundOpacity=0.5)

    @staticmethod
    def _showChart(widget: Any, chartId: str, tag: str) -> None:
        """Show a plot chart in one of the panel's plot widgets (through its own plot view node)."""
        viewNode = slicer.mrmlScene.GetSingletonNode(tag, "vtkMRMLPlotViewNode")
        if viewNode is None:
            viewNode = slicer.vtkMRMLPlotViewNode()
            viewNode.SetSingletonTag(tag)
            viewNode.SetName(tag)
            viewNode = slicer.mrmlScene.AddNode(viewNode)
        viewNode.SetPlotChartNodeID(chartId)
        widget.setMRMLScene(slicer.mrmlScene)
        widget.setMRMLPlotViewNode(viewNode)


class PancreasMultiTaskTest(SelfTestSteps, ScriptedLoadableModuleTest):
    """Self-test (``PancreasMultiTaskLib/slicer/selftest.py``): inputs under transforms; where torch and nnunetv2 are
    installed, the sample case through the demo model (Dice against its truth), cancel and a bad input."""

    def makeLogic(self) -> PancreasMultiTaskLogic:
        return PancreasMultiTaskLogic(modelsDirectory=self.modelsDirectory)

    def runTest(self) -> None:
        if VERSION_PROBLEM:
            self.skipTest(VERSION_PROBLEM)
        SelfTestSteps.runTest(self)
