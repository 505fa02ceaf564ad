"""PancreasMultiTask: pancreas and lesion segmentation with lesion subtype classification, as a Slicer module.

Thin glue over ``PancreasMultiTaskLib``: the prediction runs as ``pancreas-mt predict`` in a background
``PythonSlicer`` process (``runner.py``) and its result becomes MRML nodes (``scene.py``).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, ClassVar

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

from PancreasMultiTaskLib import scene as pmt_scene  # noqa: E402
from PancreasMultiTaskLib.result import CaseResult  # noqa: E402
from PancreasMultiTaskLib.runner import (  # noqa: E402
    CLI_MODULE,
    DEVICES,
    POOLINGS,
    PredictionProcess,
    PredictOptions,
    RunOutcome,
    child_environment,
    predict_command,
)

DEMO_MODEL_NAME = "Demo model (bundled)"
CITATION = (
    "Method: D. Guo, <i>Multi-task Pancreas Cancer Segmentation and Classification with nnU-Net V2</i>, "
    "University of Toronto (code: https://github.com/davidguo123456/pancreas-cancer-segmentation). "
    "nnU-Net: F. Isensee et al., Nature Methods 18, 203-211 (2021)."
)
RESEARCH_NOTICE = (
    "<b>For research use only.</b> Not a medical device; not for diagnosis or treatment decisions. "
    "The bundled demo model only demonstrates the workflow; it is not a clinical model."
)


#
# PancreasMultiTask
#


class PancreasMultiTask(ScriptedLoadableModule):
    """Module description shown in Slicer's module panel."""

    def __init__(self, parent: Any) -> None:
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = "Pancreas Multi-Task"
        self.parent.categories = ["Segmentation"]
        self.parent.dependencies = []
        self.parent.contributors = ["PancreasMultiTask contributors"]
        self.parent.helpText = f"""
Segments the pancreas and pancreatic lesions on abdominal CT and classifies the lesion subtype with a
multi-task nnU-Net v2 model. Results: a segmentation (Pancreas, Lesion), a table of subtype probabilities
(case and per fold) and measurements, and charts of the probabilities and of the per-slice curve.
<br><br>{RESEARCH_NOTICE}<br><br>{CITATION}
"""
        self.parent.acknowledgementText = (
            "Built on nnU-Net v2 (Isensee et al., Nature Methods 2021) and 3D Slicer. " + RESEARCH_NOTICE
        )


#
# Parameter node
#


@parameterNodeWrapper
class PancreasMultiTaskParameterNode:
    """Everything the user chose in the panel; saved with the scene."""

    inputVolume: slicer.vtkMRMLScalarVolumeNode
    roi: slicer.vtkMRMLMarkupsROINode
    outputSegmentation: slicer.vtkMRMLSegmentationNode
    model: str = DEMO_MODEL_NAME
    device: Annotated[str, Choice(list(DEVICES))] = "auto"
    folds: str = ""
    tta: bool = True
    pooling: Annotated[str, Choice(list(POOLINGS))] = "lesion-weighted"
    saveProbabilities: bool = False


#
# Logic
#


class PredictionJob:
    """One prediction on one volume: the background process, then its result loaded into the scene."""

    def __init__(
        self,
        logic: PancreasMultiTaskLogic,
        process: PredictionProcess,
        workDir: Path,
        volumeNode: Any,
        outputSegmentation: Any,
        onProgress: Callable[[float, str], None] | None,
        onFinished: Callable[[PredictionJob], None] | None,
    ) -> None:
        self.logic = logic
        self.process = process
        self.workDir = workDir
        self.volumeNode = volumeNode
        self.outputSegmentation = outputSegmentation
        self.onProgress = onProgress
        self.onFinished = onFinished
        self.stage = "Starting"
        self.nodes: pmt_scene.SceneNodes | None = None
        self.result: CaseResult | None = None
        self.error: str = ""
        self.outcome: RunOutcome | None = None
        self.finished = False
        process.on_event = self._onEvent
        process.on_log = self._onLog

    @property
    def cancelled(self) -> bool:
        return bool(self.outcome and self.outcome.cancelled)

    def _onEvent(self, event: dict[str, Any]) -> None:
        if event.get("event") == "progress":
            self.stage = str(event.get("stage", "")).replace("_", " ")
        elif event.get("event") == "error":
            self.stage = f"Error: {event.get('message', '')}"
        if self.onProgress is not None:
            self.onProgress(self.process.fraction, self.stage)

    @staticmethod
    def _onLog(line: str) -> None:
        logging.info("pancreas-mt: %s", line)

    def poll(self) -> bool:
        """Deliver progress; once the process ends, load the result. ``True`` while still running."""
        if self.finished:
            return False
        if self.process.poll():
            return True
        self._finish(self.process.outcome())
        return False

    def cancel(self) -> None:
        """Stop the process tree; the scene is left as it was."""
        if self.finished:
            return
        self.process.cancel()
        self._finish(self.process.outcome())

    def wait(self, timeout: float | None = None) -> PredictionJob:
        """Block until done (batch mode)."""
        outcome = self.process.wait(timeout=timeout)
        if not self.finished:
            self._finish(outcome)
        return self

    def _finish(self, outcome: RunOutcome) -> None:
        self.finished = True
        self.outcome = outcome
        try:
            if outcome.cancelled:
                self.error = "Cancelled."
            elif not outcome.ok:
                self.error = outcome.reason() or "The prediction failed."
            elif len(outcome.results) != 1:
                self.error = f"Expected one result, got {len(outcome.results)}."
            else:
                resultPath = next(iter(outcome.results.values()))
                self.result = CaseResult.read_json(resultPath)
                self.nodes = pmt_scene.load_result_into_scene(
                    self.volumeNode.GetScene(),
                    self.volumeNode,
                    self.result,
                    resultPath.parent,
                    segmentation_node=self.outputSegmentation,
                )
        except Exception as error:
            logging.exception("Loading the prediction result failed")
            self.error = str(error) or type(error).__name__
        finally:
            if not self.logic.keepWorkDirectories:
                shutil.rmtree(self.workDir, ignore_errors=True)
        if self.onProgress is not None:
            self.onProgress(1.0 if not self.error else self.process.fraction, self.error or "Done")
        if self.onFinished is not None:
            self.onFinished(self)


class PancreasMultiTaskLogic(ScriptedLoadableModuleLogic):
    """Runs predictions and manages installed models; usable without the widget (batch, tests)."""

    def __init__(self, modelsDirectory: str | Path | None = None) -> None:
        ScriptedLoadableModuleLogic.__init__(self)
        self._modelsDirectory = Path(modelsDirectory) if modelsDirectory else None
        self.cliModule = CLI_MODULE
        self.extraEnvironment: dict[str, str] = {}
        self.keepWorkDirectories = False

    def getParameterNode(self) -> PancreasMultiTaskParameterNode:
        return PancreasMultiTaskParameterNode(super().getParameterNode())

    # Dependencies

    @staticmethod
    def requirementsPath() -> Path:
        return MODULE_DIR / "Resources" / "requirements.txt"

    @classmethod
    def missingDependencies(cls) -> list[str]:
        """Python packages the prediction needs that are not importable here (torch first)."""
        names = ["torch"]
        for line in cls.requirementsPath().read_text(encoding="utf-8").splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                name = line.split(";")[0]
                for separator in "<>=!~[ ":
                    name = name.split(separator)[0]
                names.append(name)
        modules = {"SimpleITK": "SimpleITK", "scikit-learn": "sklearn"}
        return [n for n in names if not _importable(modules.get(n, n).replace("-", "_"))]

    @classmethod
    def installDependencies(cls) -> None:
        """Install torch through the PyTorch extension and the rest from ``requirements.txt``.

        Raises ``RuntimeError`` with a message for the user when something cannot be installed.
        """
        if not _importable("torch"):
            try:
                import PyTorchUtils
            except ImportError as error:
                raise RuntimeError(
                    "PyTorch is not installed. Install the 'PyTorch' extension from the Extensions Manager, "
                    "restart Slicer, and try again."
                ) from error
            torchLogic = PyTorchUtils.PyTorchUtilsLogic()
            if not torchLogic.torchInstalled() and torchLogic.installTorch(askConfirmation=True) is None:
                raise RuntimeError("PyTorch is required; its installation was cancelled or failed.")
        packaging = getattr(slicer, "packaging", None)
        if packaging is not None and hasattr(packaging, "pip_ensure"):
            packaging.pip_ensure(
                packaging.load_requirements(str(cls.requirementsPath())), requester="PancreasMultiTask"
            )
        else:
            slicer.util.pip_install(["-r", str(cls.requirementsPath())])
        missing = cls.missingDependencies()
        if missing:
            raise RuntimeError(f"Still missing after installation: {', '.join(missing)}. Restart Slicer and retry.")

    # Models

    def modelsDirectory(self) -> Path:
        """Installed models live in ``PancreasMultiTask/models`` beside Slicer's settings file."""
        if self._modelsDirectory is None:
            settingsFile = getattr(slicer.app, "slicerUserSettingsFilePath", "") or tempfile.gettempdir()
            self._modelsDirectory = Path(settingsFile).parent / "PancreasMultiTask" / "models"
        self._modelsDirectory.mkdir(parents=True, exist_ok=True)
        return self._modelsDirectory

    @staticmethod
    def _models():
        try:
            from PancreasMultiTaskLib import models
        except ImportError as error:
            raise RuntimeError(f"Model management is not available in this installation ({error}).") from error
        return models

    @staticmethod
    def demoModelZip() -> Path | None:
        """The bundled demo model zip (installed module or source tree), if present."""
        for folder in (MODULE_DIR / "Resources" / "DemoModel", MODULE_DIR.parent / "Resources" / "DemoModel"):
            zips = sorted(folder.glob("*.zip")) if folder.is_dir() else []
            if zips:
                return zips[0]
        return None

    def installedModels(self) -> dict[str, Path]:
        """Installed and registered models by name."""
        return {model.name: Path(model.path) for model in self._models().list_models(self.modelsDirectory())}

    def modelNames(self) -> list[str]:
        """Names to offer: the bundled demo first (when shipped), then installed models."""
        names = [DEMO_MODEL_NAME] if self.demoModelZip() is not None else []
        try:
            names += sorted(self.installedModels())
        except (RuntimeError, ValueError) as error:
            logging.warning("%s", error)
        return names

    def demoModelPath(self) -> Path:
        """Install the bundled demo model on first use (zip and its SHA-256 verified); return its folder."""
        zipPath = self.demoModelZip()
        if zipPath is None:
            raise RuntimeError("This installation has no bundled demo model.")
        models = self._models()
        manifest = models.verify_zip(zipPath)
        installed = self.modelsDirectory() / manifest["name"]
        if installed.is_dir():
            return installed
        return Path(models.import_model_zip(zipPath, self.modelsDirectory()))

    def modelPath(self, name: str) -> Path:
        """Folder of the model called ``name`` (the demo is installed on first use)."""
        if name == DEMO_MODEL_NAME:
            return self.demoModelPath()
        if name and Path(name).is_dir():
            return Path(name)
        models = self.installedModels()
        if name not in models:
            raise ValueError(f"No installed model named {name!r}; add it with 'Add model'.")
        return models[name]

    def addModel(self, path: str | Path) -> Path:
        """Install a model zip (its SHA-256 checked against ``<zip>.sha256`` when present; no member may
        escape the models folder) or register a model folder in place. Returns the model's folder."""
        path = Path(path)
        models = self._models()
        if path.is_file() and path.suffix.lower() == ".zip":
            return Path(models.import_model_zip(path, self.modelsDirectory()))
        if path.is_dir():
            return Path(models.register_model_folder(path, self.modelsDirectory()).path)
        raise ValueError(f"{path}: choose a model folder or a .zip file")

    def removeModel(self, name: str) -> None:
        """Delete an installed model, or forget a registered folder (its files stay)."""
        self._models().remove_model(self.modelsDirectory(), name)

    # Inputs

    @staticmethod
    def exportVolume(volumeNode: Any, folder: str | Path) -> Path:
        """Write the volume (as the CLI should see it) to ``folder``; the node and its files are not touched."""
        if volumeNode is None or volumeNode.GetImageData() is None:
            raise ValueError("Select an input volume that has image data.")
        path = Path(folder) / f"{_safeName(volumeNode.GetName())}.nrrd"
        storage = slicer.vtkMRMLVolumeArchetypeStorageNode()
        storage.SetScene(volumeNode.GetScene())
        storage.SetFileName(str(path))
        storage.SetUseCompression(False)
        if not storage.WriteData(volumeNode):
            raise RuntimeError(f"Could not write the input volume to {path}")
        return path

    @staticmethod
    def roiBoundsLPS(roiNode: Any) -> list[float]:
        """Axis-aligned world bounds of a markups ROI as x0 y0 z0 x1 y1 z1 in LPS millimetres."""
        bounds = [0.0] * 6
        roiNode.GetRASBounds(bounds)
        if any(bounds[2 * i] >= bounds[2 * i + 1] for i in range(3)):
            raise ValueError(f"The ROI {roiNode.GetName()!r} is empty.")
        return [-bounds[1], -bounds[3], bounds[4], -bounds[0], -bounds[2], bounds[5]]

    @staticmethod
    def fitRoiToVolume(roiNode: Any, volumeNode: Any) -> None:
        """Place ``roiNode`` around the whole volume (axis-aligned in RAS)."""
        bounds = [0.0] * 6
        volumeNode.GetRASBounds(bounds)
        center = [(bounds[2 * i] + bounds[2 * i + 1]) / 2 for i in range(3)]
        radius = [(bounds[2 * i + 1] - bounds[2 * i]) / 2 for i in range(3)]
        roiNode.SetXYZ(center)
        roiNode.SetRadiusXYZ(radius)

    @staticmethod
    def pythonExecutable() -> str:
        """``PythonSlicer`` inside Slicer; this interpreter elsewhere."""
        return shutil.which("PythonSlicer") or sys.executable

    # Prediction

    def process(
        self,
        inputVolume: Any,
        model: str | Path = DEMO_MODEL_NAME,
        *,
        roi: Any = None,
        outputSegmentation: Any = None,
        device: str = "auto",
        folds: str | list[str] | None = None,
        tta: bool = True,
        pooling: str | None = None,
        saveProbabilities: bool = False,
        waitForCompletion: bool = False,
        onProgress: Callable[[float, str], None] | None = None,
        onFinished: Callable[[PredictionJob], None] | None = None,
        timeout: float | None = None,
    ) -> PredictionJob:
        """Predict on ``inputVolume`` in a background process.

        Returns the running job (the caller polls ``job.poll()``), or with ``waitForCompletion`` the finished
        job: ``job.nodes`` holds the created nodes, ``job.error`` says why it failed.
        """
        if inputVolume is None or inputVolume.GetImageData() is None:
            raise ValueError("Select an input volume that has image data.")
        modelPath = self.modelPath(str(model)) if not Path(str(model)).is_dir() else Path(model)
        if isinstance(folds, str):
            folds = folds.replace(",", " ").split() or None
        options = PredictOptions(
            model=str(modelPath),
            folds=folds,
            tta=tta,
            device=device,
            roi_lps=self.roiBoundsLPS(roi) if roi is not None else None,
            pooling=pooling,
            save_probabilities=saveProbabilities,
        )
        tempRoot = getattr(slicer.app, "temporaryPath", None) or tempfile.gettempdir()
        workDir = Path(tempfile.mkdtemp(prefix="PancreasMultiTask-", dir=tempRoot))
        try:
            inputPath = self.exportVolume(inputVolume, workDir)
            command = predict_command(
                [inputPath], workDir / "output", options, python=self.pythonExecutable(), module=self.cliModule
            )
            # nnU-Net warns when its folders are not set; prediction needs none of them.
            nnunetFolders = {
                key: str(workDir)
                for key in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results")
                if key not in os.environ
            }
            process = PredictionProcess(command, env=child_environment({**nnunetFolders, **self.extraEnvironment}))
            job = PredictionJob(self, process, workDir, inputVolume, outputSegmentation, onProgress, onFinished)
            process.start()
        except Exception:
            shutil.rmtree(workDir, ignore_errors=True)
            raise
        if waitForCompletion:
            job.wait(timeout=timeout)
        return job


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _safeName(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_." else "_" for c in name).strip("._")
    return cleaned or "volume"


#
# Widget
#


class PancreasMultiTaskWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """The module panel: inputs, model, options, Apply/Cancel, progress and results."""

    def __init__(self, parent: Any = None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic: PancreasMultiTaskLogic | None = None
        self._parameterNode: PancreasMultiTaskParameterNode | None = None
        self._parameterNodeGuiTag = None
        self._job: PredictionJob | None = None
        self._timer = qt.QTimer()
        self._timer.setInterval(100)
        self._timer.connect("timeout()", self._onTimer)

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/PancreasMultiTask.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = PancreasMultiTaskLogic()

        self.ui.noticeLabel.setText(RESEARCH_NOTICE)
        self._refreshModels()

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.ui.applyButton.connect("clicked(bool)", self.onApplyButton)
        self.ui.createRoiButton.connect("clicked(bool)", self.onCreateRoi)
        self.ui.addModelFolderButton.connect("clicked(bool)", self.onAddModelFolder)
        self.ui.addModelZipButton.connect("clicked(bool)", self.onAddModelZip)
        self.ui.removeModelButton.connect("clicked(bool)", self.onRemoveModel)
        self.ui.modelComboBox.connect("currentTextChanged(QString)", self._onModelChanged)
        self.ui.installDependenciesButton.connect("clicked(bool)", self.onInstallDependencies)
        self._updateDependencyStatus()
        self.initializeParameterNode()

    def cleanup(self) -> None:
        if self._job is not None:
            self._job.cancel()
        self._timer.stop()
        self.removeObservers()

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanApply)

    def onSceneStartClose(self, caller: Any, event: Any) -> None:
        if self._job is not None:
            self._job.cancel()
        self.setParameterNode(None)

    def onSceneEndClose(self, caller: Any, event: Any) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

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
        missing = self.logic.missingDependencies()
        self.ui.installDependenciesButton.visible = bool(missing)
        if missing:
            self.ui.statusLabel.text = f"Missing Python packages: {', '.join(missing)}. Click 'Install dependencies'."

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
        missing = self.logic.missingDependencies()
        if missing:
            slicer.util.errorDisplay(f"Missing Python packages: {', '.join(missing)}. Click 'Install dependencies'.")
            return
        p = self._parameterNode
        with slicer.util.tryWithErrorDisplay("Could not start the prediction.", waitCursor=True):
            self._job = self.logic.process(
                p.inputVolume,
                p.model,
                roi=p.roi,
                outputSegmentation=p.outputSegmentation,
                device=p.device,
                folds=p.folds,
                tta=p.tta,
                pooling=p.pooling,
                saveProbabilities=p.saveProbabilities,
                onProgress=self._onProgress,
                onFinished=self._onFinished,
            )
            self._setRunning(True)
            self._timer.start()

    def _setRunning(self, running: bool) -> None:
        self.ui.applyButton.text = "Cancel" if running else "Apply"
        self.ui.applyButton.toolTip = "Stop the prediction" if running else "Run the prediction"
        self.ui.progressBar.visible = running
        self.ui.progressBar.value = 0
        self.ui.parametersCollapsibleButton.enabled = not running
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
        self._showResults(job)

    def _showResults(self, job: PredictionJob) -> None:
        nodes, result = job.nodes, job.result
        self.ui.verdictLabel.text = result.verdict()
        self.ui.subtypeTableView.setMRMLTableNode(
            slicer.mrmlScene.GetNodeByID(nodes.probabilities_table_id or nodes.measurements_table_id)
        )
        self.ui.measurementsTableView.setMRMLTableNode(slicer.mrmlScene.GetNodeByID(nodes.measurements_table_id))
        for widget, chartId, tag in (
            (self.ui.probabilityPlotWidget, nodes.probabilities_chart_id, "PancreasMultiTaskProbabilities"),
            (self.ui.slicePlotWidget, nodes.slices_chart_id, "PancreasMultiTaskSlices"),
        ):
            widget.visible = chartId is not None
            if chartId is not None:
                self._showChart(widget, chartId, tag)
        segmentation = slicer.mrmlScene.GetNodeByID(nodes.segmentation_id)
        slicer.util.setSliceViewerLayers(background=job.volumeNode, fit=False)
        if segmentation is not None and segmentation.GetDisplayNode() is not None:
            segmentation.GetDisplayNode().SetVisibility(True)

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


#
# Test
#


class PancreasMultiTaskTest(ScriptedLoadableModuleTest):
    """Self-test: the bundled sample case through the bundled demo model on CPU, cancel and a bad input."""

    MIN_DICE: ClassVar[dict[str, float]] = {"Pancreas": 0.5, "Lesion": 0.2}
    # Overridable by a test runner (CI under slicer-core): where models go, which model and engine to run,
    # and which folder holds the sample case.
    modelsDirectory: ClassVar[str | None] = None
    model: ClassVar[str] = DEMO_MODEL_NAME
    cliModule: ClassVar[str] = CLI_MODULE
    extraEnvironment: ClassVar[dict[str, str]] = {}
    sampleFolder: ClassVar[str | None] = None

    def setUp(self) -> None:
        slicer.mrmlScene.Clear()
        self.logic = PancreasMultiTaskLogic(modelsDirectory=self.modelsDirectory)
        self.logic.cliModule = self.cliModule
        self.logic.extraEnvironment = dict(self.extraEnvironment)
        self.modelName = self.model

    def runTest(self) -> None:
        for test in (self.test_SampleCase, self.test_Cancel, self.test_BadInput):
            self.setUp()
            test()

    def sampleCase(self) -> tuple[Path, Path, dict[str, Any]]:
        """The bundled sample CT, its truth labels and its expected subtype.

        Read from ``sample.json`` (``image``, ``truth``, ``subtype_name``) when shipped; else the CT is
        ``<case>_0000.nii.gz``, the truth the other image, and ``expected.json`` holds expectations.
        """
        folders = [MODULE_DIR / "Resources" / "SampleData", MODULE_DIR.parent / "Resources" / "SampleData"]
        if self.sampleFolder:
            folders = [Path(self.sampleFolder)]
        for folder in folders:
            if not folder.is_dir():
                continue
            described = folder / "sample.json"
            if described.is_file():
                sample = json.loads(described.read_text(encoding="utf-8"))
                expected = {"subtype": sample["subtype_name"]} if "subtype_name" in sample else {}
                return folder / sample["image"], folder / sample["truth"], expected
            images = sorted(p for p in folder.iterdir() if p.name.endswith((".nii.gz", ".nrrd", ".mha")))
            # The CT follows nnU-Net's channel naming (<case>_0000.nii.gz); the truth is the other image.
            cts = [p for p in images if p.name.endswith("_0000.nii.gz")] or [
                p for p in images if not any(k in p.name.lower() for k in ("truth", "label", "seg"))
            ]
            truths = [p for p in images if p not in cts]
            if cts and truths:
                expectedFile = folder / "expected.json"
                expected = json.loads(expectedFile.read_text()) if expectedFile.is_file() else {}
                return cts[0], truths[0], expected
        raise FileNotFoundError("No bundled sample case (Resources/SampleData with a CT and its truth labels).")

    def _model(self) -> str:
        if self.modelName == DEMO_MODEL_NAME and self.logic.demoModelZip() is None:
            self.skipTest("no bundled demo model")
        return self.modelName

    def _loadVolume(self, path: Path) -> Any:
        volume = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "SampleCT")
        storage = slicer.vtkMRMLVolumeArchetypeStorageNode()
        storage.SetScene(slicer.mrmlScene)
        storage.SetFileName(str(path))
        self.assertTrue(storage.ReadData(volume), f"cannot read {path}")
        return volume

    def _nodeIds(self) -> set[str]:
        scene = slicer.mrmlScene
        return {scene.GetNthNode(i).GetID() for i in range(scene.GetNumberOfNodes())}

    def test_SampleCase(self) -> None:
        self.delayDisplay("Sample case through the demo model")
        try:
            ctPath, truthPath, expected = self.sampleCase()
        except FileNotFoundError as error:
            self.skipTest(str(error))
        volume = self._loadVolume(ctPath)
        job = self.logic.process(volume, self._model(), device="cpu", waitForCompletion=True, timeout=900)
        self.assertEqual(job.error, "")
        nodes = job.nodes
        segmentation = slicer.mrmlScene.GetNodeByID(nodes.segmentation_id).GetSegmentation()
        names = [segmentation.GetNthSegment(i).GetName() for i in range(segmentation.GetNumberOfSegments())]
        self.assertEqual(names, ["Pancreas", "Lesion"])
        self.assertIn("15776009", segmentation.GetSegment(nodes.segment_ids["Pancreas"]).GetTerminology())

        truth = self._loadVolume(truthPath)
        dice = self.segmentDice(slicer.mrmlScene.GetNodeByID(nodes.segmentation_id), nodes.segment_ids, truth)
        for name, minimum in {**self.MIN_DICE, **expected.get("min_dice", {})}.items():
            self.assertGreaterEqual(dice[name], minimum, f"Dice of {name} is {dice[name]:.3f}")

        if job.result.subtype is not None:
            if "subtype" in expected:
                self.assertEqual(job.result.subtype.predicted, expected["subtype"])
            table = slicer.mrmlScene.GetNodeByID(nodes.probabilities_table_id)
            self.assertEqual(table.GetNumberOfRows(), len(job.result.subtype.names))
            for row, name in enumerate(job.result.subtype.names):
                value = float(table.GetCellText(row, 2))
                self.assertAlmostEqual(value, job.result.subtype.probabilities[name], places=5)
            chart = slicer.mrmlScene.GetNodeByID(nodes.probabilities_chart_id)
            self.assertGreaterEqual(chart.GetNumberOfPlotSeriesNodes(), 1)
            self.assertIsNotNone(slicer.mrmlScene.GetNodeByID(nodes.slices_chart_id))
        self.delayDisplay("Sample case passed")

    def test_Cancel(self) -> None:
        self.delayDisplay("Cancel leaves the scene unchanged")
        try:
            ctPath, _, _ = self.sampleCase()
        except FileNotFoundError as error:
            self.skipTest(str(error))
        volume = self._loadVolume(ctPath)
        before = self._nodeIds()
        job = self.logic.process(volume, self._model(), device="cpu")
        time.sleep(0.5)
        job.poll()
        job.cancel()
        self.assertTrue(job.finished)
        self.assertTrue(job.cancelled)
        self.assertEqual(job.error, "Cancelled.")
        self.assertIsNone(job.nodes)
        self.assertFalse(job.process.running)
        self.assertEqual(self._nodeIds(), before)
        self.assertFalse(job.workDir.exists())

    def test_BadInput(self) -> None:
        self.delayDisplay("A constant volume is refused with a clear error")
        volume = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "Empty")
        image = vtk.vtkImageData()
        image.SetDimensions(16, 16, 8)
        image.AllocateScalars(vtk.VTK_SHORT, 1)
        image.GetPointData().GetScalars().Fill(0)
        volume.SetAndObserveImageData(image)
        before = self._nodeIds()
        job = self.logic.process(volume, self._model(), device="cpu", waitForCompletion=True, timeout=600)
        self.assertIsNone(job.nodes)
        self.assertIn("same value", job.error)
        self.assertEqual(self._nodeIds(), before)
        with self.assertRaises(ValueError):
            self.logic.process(None, self._model())

    @staticmethod
    def segmentDice(segmentationNode: Any, segmentIds: dict[str, str], truthVolume: Any) -> dict[str, float]:
        """Dice of each segment against truth labels (1 pancreas incl. lesion, 2 lesion) on the truth's grid."""
        import numpy as np
        from vtk.util import numpy_support

        def toArray(imageData: Any) -> Any:
            dims = imageData.GetDimensions()
            return numpy_support.vtk_to_numpy(imageData.GetPointData().GetScalars()).reshape(dims[::-1])

        truth = toArray(truthVolume.GetImageData())
        scene = segmentationNode.GetScene()
        dice = {}
        for name, label in (("Pancreas", (1, 2)), ("Lesion", (2,))):
            labelmap = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "__dice__")
            try:
                slicer.vtkSlicerSegmentationsModuleLogic.ExportSegmentsToLabelmapNode(
                    segmentationNode,
                    [segmentIds[name]] + ([segmentIds["Lesion"]] if name == "Pancreas" else []),
                    labelmap,
                    truthVolume,
                    slicer.vtkSegmentation.EXTENT_REFERENCE_GEOMETRY,
                )
                predicted = toArray(labelmap.GetImageData()) > 0
            finally:
                scene.RemoveNode(labelmap)
            reference = np.isin(truth, label)
            total = predicted.sum() + reference.sum()
            dice[name] = 1.0 if total == 0 else 2.0 * float(np.logical_and(predicted, reference).sum()) / total
        return dice
