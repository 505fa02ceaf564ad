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

try:
    from slicer.i18n import tr as _
    from slicer.i18n import translate
except ImportError:  # a Slicer without translation support only needs to show VERSION_PROBLEM

    def _(text: str) -> str:
        return text

    def translate(context: str, text: str) -> str:
        return text


MODULE_DIR = Path(__file__).resolve().parent
if str(MODULE_DIR) not in sys.path:
    sys.path.insert(0, str(MODULE_DIR))

MIN_SLICER_VERSION = (5, 10)
DOCUMENTATION_URL = "https://github.com/PancreasMultiTask/SlicerPancreasMultiTask#3d-slicer"


def slicerVersionProblem() -> str:
    """Why this Slicer cannot run the engine ('' when it can): it needs Slicer 5.10 (Python 3.10 or later)."""
    found = (int(getattr(slicer.app, "majorVersion", 0)), int(getattr(slicer.app, "minorVersion", 0)))
    if found >= MIN_SLICER_VERSION and sys.version_info >= (3, 10):
        return ""
    return _(
        "PancreasMultiTask needs 3D Slicer {minimum} or later; this is Slicer {found} with Python {python}. "
        "Install a newer Slicer to use this module."
    ).format(
        minimum=f"{MIN_SLICER_VERSION[0]}.{MIN_SLICER_VERSION[1]}",
        found=f"{found[0]}.{found[1]}",
        python=f"{sys.version_info[0]}.{sys.version_info[1]}",
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
    from PancreasMultiTaskLib.slicer.panel import no_result
    from PancreasMultiTaskLib.slicer.selftest import SelfTestSteps

    PANEL_OPTIONS = slicer_parameters()

CITATION = _(
    "Method: D. Guo, <i>Multi-task Pancreas Cancer Segmentation and Classification with nnU-Net V2</i>, "
    "University of Toronto (code: https://github.com/davidguo123456/pancreas-cancer-segmentation). "
    "nnU-Net: F. Isensee et al., Nature Methods 18, 203-211 (2021)."
)
RESEARCH_NOTICE = _(
    "<b>For research use only.</b> Not a medical device; not for diagnosis or treatment decisions. "
    "The bundled demo model only demonstrates the workflow; it is not a clinical model."
)


class PancreasMultiTask(ScriptedLoadableModule):
    """Module description shown in Slicer's module panel."""

    def __init__(self, parent: Any) -> None:
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("Pancreas Multi-Task")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Segmentation")]
        self.parent.dependencies = []
        self.parent.contributors = ["PancreasMultiTask maintainers (PancreasMultiTask project)"]
        self.parent.helpText = (
            (f"<b>{VERSION_PROBLEM}</b><br><br>" if VERSION_PROBLEM else "")
            + _(
                "Segments the pancreas and pancreatic lesions on abdominal CT and classifies the lesion subtype with "
                "a multi-task nnU-Net v2 model: a segmentation (Pancreas, Lesion), subtype probabilities (case and "
                "per fold), measurements, charts of the probabilities and of the per-slice curve, and an assessment "
                "that withholds the subtype of a case outside what the model was made for. Requires 3D Slicer "
                '{minimum} or later and the PyTorch extension. See the <a href="{url}">documentation</a>.'
            ).format(minimum=f"{MIN_SLICER_VERSION[0]}.{MIN_SLICER_VERSION[1]}", url=DOCUMENTATION_URL)
            + f"<br><br>{RESEARCH_NOTICE}<br><br>{CITATION}"
        )
        self.parent.acknowledgementText = (
            _("Built on nnU-Net v2 (Isensee et al., Nature Methods 2021) and 3D Slicer.") + " " + RESEARCH_NOTICE
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
    """``PredictionLogic`` with Slicer's parameter node, PythonSlicer and dependency installer; Slicer's cache path
    only to move the models earlier releases kept there into the shared store."""

    def __init__(self, modelsDirectory: str | Path | None = None) -> None:
        ScriptedLoadableModuleLogic.__init__(self)
        PredictionLogic.__init__(self, modelsDirectory, cachePath=getattr(slicer.app, "cachePath", None))
        self.temporaryPath = getattr(slicer.app, "temporaryPath", None)
        import shutil

        self.pythonExecutable = shutil.which("PythonSlicer") or sys.executable
        self.installNotices: list[str] = []

    def getParameterNode(self) -> PancreasMultiTaskParameterNode:
        return PancreasMultiTaskParameterNode(super().getParameterNode())

    def installDependencies(self, confirm: bool = True) -> bool:
        """Ask (naming every package and every change to one Slicer shares), then install through the guard of
        ``dependencies.py`` and torch through the PyTorch extension. ``False`` if declined; what was not
        installed on purpose is left in ``installNotices`` for the user."""
        self.installNotices = []
        if not self.dependencyProblems():
            return True
        plan = dependencies.plan_install(self.requirementsPath())
        if confirm and not slicer.util.confirmOkCancelDisplay(plan.question(), _("Install Python packages")):
            return False
        report = dependencies.install_requirements(
            self.requirementsPath(), slicer.util.pip_install, self._installTorch, plan=plan
        )
        self.installNotices = report.notices()
        remaining = self.dependencyProblems()
        if remaining:
            raise RuntimeError(
                _("Still not met: {problems}. Restart Slicer.").format(
                    problems="; ".join(p.message() for p in remaining)
                )
            )
        return True

    @staticmethod
    def _installTorch(specifier: str) -> None:
        """Install torch through the PyTorch extension, with nnunetv2's version requirement."""
        try:
            import PyTorchUtils
        except ImportError as error:
            raise RuntimeError(
                _("Install the 'PyTorch' extension from the Extensions Manager, restart Slicer, and try again.")
            ) from error
        if (
            PyTorchUtils.PyTorchUtilsLogic().installTorch(askConfirmation=False, torchVersionRequirement=specifier)
            is None
        ):
            raise RuntimeError(_("PyTorch is required; its installation was cancelled or failed."))


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
        self._deviceProbe: Any = None
        self._timer = qt.QTimer()
        self._timer.setInterval(100)
        self._timer.connect("timeout()", self._onTimer)
        self._deviceTimer = qt.QTimer()
        self._deviceTimer.setInterval(250)
        self._deviceTimer.connect("timeout()", self._onDeviceTimer)

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
        self._setupModelMenu()
        self._refreshModels()
        self._showDevices(None)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndImportEvent, self.onSceneEndImport)
        for button, slot in (
            (self.ui.applyButton, self.onApplyButton),
            (self.ui.createRoiButton, self.onCreateRoi),
            (self.ui.installDependenciesButton, self.onInstallDependencies),
            (self.ui.jumpToLesionButton, self.onJumpToLesion),
        ):
            button.connect("clicked(bool)", slot)
        self.ui.showProbabilityCheckBox.connect("toggled(bool)", self.onShowProbability)
        self.ui.modelComboBox.connect("currentTextChanged(QString)", self._onModelChanged)
        self.ui.deviceComboBox.connect("currentIndexChanged(int)", self._onDeviceChanged)
        self._updateDependencyStatus()
        self.initializeParameterNode()
        self._restoreResults()
        self._startDeviceProbe()

    def _setupModelMenu(self) -> None:
        """One tool button beside the model list, its menu holding the model actions."""
        menu = qt.QMenu(self.ui.modelMenuButton)
        for text, slot in (
            (_("Add model folder..."), self.onAddModelFolder),
            (_("Add model zip..."), self.onAddModelZip),
            (_("Remove selected model"), self.onRemoveModel),
            (_("Open model store folder"), self.onOpenModelStore),
        ):
            action = menu.addAction(text)
            action.connect("triggered()", slot)
        self.ui.modelMenuButton.setMenu(menu)
        self._modelMenu = menu

    def cleanup(self) -> None:
        if self._job is not None:
            self._job.cancel()
        self._timer.stop()
        self._deviceTimer.stop()
        self.removeObservers()

    def onReload(self) -> None:
        """Reload the Lib files too (they are imported once per process otherwise)."""
        for name in [n for n in sys.modules if n == "PancreasMultiTaskLib" or n.startswith("PancreasMultiTaskLib.")]:
            del sys.modules[name]
        ScriptedLoadableModuleWidget.onReload(self)

    def enter(self) -> None:
        if self.logic is None:  # a Slicer older than 5.10: the panel only shows VERSION_PROBLEM
            return
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
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified)
            index = self.ui.modelComboBox.findText(self._parameterNode.model)
            if index >= 0:
                self.ui.modelComboBox.currentIndex = index
            elif self.ui.modelComboBox.currentText:
                # A scene naming a model that is not installed: the parameter follows what the combobox shows.
                self._parameterNode.model = self.ui.modelComboBox.currentText
            self._selectDevice()
            self._checkCanApply()

    def _onParameterNodeModified(self, caller: Any = None, event: Any = None) -> None:
        self._selectDevice()
        self._checkCanApply()

    def _checkCanApply(self, caller: Any = None, event: Any = None) -> None:
        if self._job is not None:
            return
        ready = bool(self._parameterNode and self._parameterNode.inputVolume and self.ui.modelComboBox.currentText)
        self.ui.applyButton.enabled = ready
        self.ui.applyButton.toolTip = _("Run the prediction") if ready else _("Select an input volume and a model")

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

    # Devices

    def _startDeviceProbe(self) -> None:
        """Look for devices in the background (torch is imported in a child process); the list fills in later."""
        try:
            self._deviceProbe = self.logic.startDeviceProbe()
        except OSError as error:
            logging.warning("Could not look for devices: %s", error)
            return
        self._deviceTimer.start()

    def _onDeviceTimer(self) -> None:
        found = self._deviceProbe.poll() if self._deviceProbe is not None else None
        if found is None:
            return
        self._deviceTimer.stop()
        if found.problem:
            logging.info("PancreasMultiTask devices: %s", found.problem)
        self._showDevices(found)

    def _showDevices(self, found: Any) -> None:
        """Fill the device list (what was found, ``auto`` saying what it resolves to), keeping the choice."""
        combo = self.ui.deviceComboBox
        wasBlocked = combo.blockSignals(True)
        combo.clear()
        self._deviceValues = []
        for choice in self.logic.deviceChoices(found):
            combo.addItem(choice.label)
            combo.setItemData(combo.count - 1, choice.tooltip, qt.Qt.ToolTipRole)
            self._deviceValues.append(choice.value)
        combo.blockSignals(wasBlocked)
        self._selectDevice()

    def _selectDevice(self) -> None:
        """Show the parameter node's device; one not offered here (a scene from another computer) becomes auto."""
        values = getattr(self, "_deviceValues", [])
        if not self._parameterNode or not values:
            return
        wanted = self._parameterNode.device
        if wanted not in values:
            logging.info("Device %s is not available here; using auto", wanted)
            wanted = "auto"
        combo = self.ui.deviceComboBox
        wasBlocked = combo.blockSignals(True)
        combo.currentIndex = values.index(wanted)
        combo.blockSignals(wasBlocked)
        if self._parameterNode.device != wanted:
            self._parameterNode.device = wanted

    def _onDeviceChanged(self, index: int) -> None:
        values = getattr(self, "_deviceValues", [])
        if self._parameterNode and 0 <= index < len(values):
            self._parameterNode.device = values[index]

    # Dependencies and models

    def _updateDependencyStatus(self) -> None:
        problems = self.logic.dependencyProblems()
        self.ui.installDependenciesButton.visible = bool(problems)
        if problems:
            self.ui.statusLabel.text = _("Not ready: {problems}.").format(
                problems="; ".join(p.message() for p in problems)
            )

    def onInstallDependencies(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("Installing dependencies failed."), waitCursor=True):
            self.logic.installDependencies()
        if self.logic.installNotices:
            slicer.util.warningDisplay(
                "\n\n".join(self.logic.installNotices), windowTitle=_("Python packages not installed")
            )
        self._updateDependencyStatus()

    def onCreateRoi(self) -> None:
        volume = self._parameterNode.inputVolume
        if volume is None:
            slicer.util.errorDisplay(_("Select an input volume first."))
            return
        roi = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLMarkupsROINode", f"{volume.GetName()} ROI")
        roi.CreateDefaultDisplayNodes()
        self.logic.fitRoiToVolume(roi, volume)
        self._parameterNode.roi = roi

    def onAddModelFolder(self) -> None:
        folder = qt.QFileDialog.getExistingDirectory(slicer.util.mainWindow(), _("Model folder"))
        if folder:
            self._addModel(folder)

    def onAddModelZip(self) -> None:
        path = qt.QFileDialog.getOpenFileName(slicer.util.mainWindow(), _("Model zip"), "", _("Model archive (*.zip)"))
        if path:
            self._addModel(path)

    def _addModel(self, path: str) -> None:
        with slicer.util.tryWithErrorDisplay(_("Adding the model failed."), waitCursor=True):
            folder = self.logic.addModel(path)
            names = [n for n, p in self.logic.installedModels().items() if Path(p) == Path(folder)]
            self._refreshModels(select=names[0] if names else None)

    def onRemoveModel(self) -> None:
        name = self.ui.modelComboBox.currentText
        if not name or name == DEMO_MODEL_NAME:
            return
        if slicer.util.confirmOkCancelDisplay(_("Remove the installed model '{name}'?").format(name=name)):
            with slicer.util.tryWithErrorDisplay(_("Removing the model failed.")):
                self.logic.removeModel(name)
                self._refreshModels()

    def onOpenModelStore(self) -> None:
        qt.QDesktopServices.openUrl(qt.QUrl.fromLocalFile(str(self.logic.modelsDirectory())))

    # Prediction

    def onApplyButton(self) -> None:
        if self._job is not None:
            self._job.cancel()
            return
        problems = self.logic.dependencyProblems()
        if problems:
            slicer.util.errorDisplay(
                _("Click 'Install dependencies': {problems}").format(problems="; ".join(p.message() for p in problems))
            )
            return
        p = self._parameterNode
        model = self.ui.modelComboBox.currentText  # what the user sees is what runs
        p.model = model
        self.ui.logTextEdit.clear()
        with slicer.util.tryWithErrorDisplay(_("Could not start the prediction."), waitCursor=True):
            options = {name: getattr(p, name) for name, _option in PANEL_OPTIONS if name != "model"}
            self._job = self.logic.process(
                p.inputVolume, model, roi=p.roi, outputSegmentation=p.outputSegmentation,
                onProgress=self._onProgress, onFinished=self._onFinished, onLog=self.ui.logTextEdit.appendPlainText,
                **options,
            )  # fmt: skip
            self._setRunning(True)
            self._timer.start()

    def _setRunning(self, running: bool) -> None:
        self.ui.applyButton.text = _("Cancel") if running else _("Apply")
        self.ui.applyButton.toolTip = _("Stop the prediction") if running else _("Run the prediction")
        self.ui.progressBar.visible = running
        self.ui.progressBar.value = 0
        self.ui.parametersCollapsibleButton.enabled = not running
        self.ui.advancedCollapsibleButton.enabled = not running
        if running:
            self.ui.statusLabel.text = _("Starting...")

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
                slicer.util.errorDisplay(_("Prediction failed: {error}").format(error=job.error))
            return
        stored = pmt_scene.stored_result(slicer.mrmlScene, job.nodes)
        self.ui.statusLabel.text = _("Done.")
        if stored.roi is not None and self._parameterNode.roi is None:
            # The region auto found becomes the panel's ROI: the user can adjust it and Apply again inside it.
            self._parameterNode.roi = stored.roi
            self.ui.statusLabel.text = _(
                "Done. The region was found automatically: adjust '{roi}' and Apply to re-run."
            ).format(roi=stored.roi.GetName())
        self._showResult(stored, job.deviceUsed)
        slicer.util.setSliceViewerLayers(background=job.volumeNode, fit=False)

    # Results

    def _restoreResults(self) -> None:
        """Show the newest result stored in the scene (a loaded .mrb), if any."""
        results = pmt_scene.find_results(slicer.mrmlScene)
        self._showResult(results[-1] if results else None)

    def _showResult(self, stored: Any, deviceUsed: str = "") -> None:
        """Show a result's verdict (coloured by its assessment, the model's notice beside it), tables, charts and
        actions; ``None`` clears the panel. A withheld subtype has no table or chart to show."""
        self._shown = stored
        display = stored.display(_) if stored is not None else no_result(_)
        self.ui.verdictLabel.text = display.html()
        self.ui.verdictLabel.styleSheet = display.style_sheet()
        self.ui.resultNoticeLabel.text = display.notice
        self.ui.resultNoticeLabel.visible = bool(display.notice)
        self.ui.deviceUsedLabel.text = _("Ran on {device}").format(device=deviceUsed) if deviceUsed else ""
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
            self.ui.statusLabel.text = _("No lesion was found.")
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
