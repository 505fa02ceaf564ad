"""The Slicer module's logic without Qt: the model store, inputs (volume, ROI, transforms), the prediction job
in a background process, and its result loaded into the MRML scene.

Imports MRML classes (``slicer``) only inside functions, never ``qt``, ``ctk`` or ``slicer.app``: the module
file passes what it needs from the application (the old cache path, the Python executable).
"""

from __future__ import annotations

import logging
import math
import shutil
import sys
import tempfile
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..engine.options import BY_NAME, slicer_parameters, slicer_value
from ..engine.result import CaseResult
from . import dependencies
from . import scene as pmt_scene
from .devices import DeviceChoice, DeviceProbe, FoundDevices, device_choices
from .runner import CLI_MODULE, PredictionProcess, RunOutcome, child_environment, predict_command

MODULE_DIR = Path(__file__).resolve().parents[2]
DEMO_MODEL_NAME = "Demo model (bundled)"
DOCUMENTATION_URL = "https://github.com/PancreasMultiTask/PancreasMultiTask#3d-slicer"
# Lowest Dice the bundled demo model must reach on the bundled sample case (self-test, batch ctest, pytest).
# Measured with the abdomen-phantom demo model (record refitted with mirroring 2026-12-07) on its sample,
# abdomen_s2_030, by `pancreas-mt demo` and `pancreas-mt predict --fast` (float32: its bfloat16 check failed) on a
# 2-core AMD EPYC: with mirroring (the default) Pancreas (labels 1 + 2) 0.942, Lesion 0.901; --fast 0.929, 0.888.
# Update here when the model or the sample changes.
DEMO_SAMPLE_MIN_DICE: dict[str, float] = {"Pancreas": 0.91, "Lesion": 0.87}
LOG_LINES = 500


def store_home(cache_path: str | None = None) -> Path:
    """The one model store of the GUI, the CLI and batch mode (``$PANCREAS_MT_HOME``, else
    ``~/.PancreasMultiTask``; see :func:`~PancreasMultiTaskLib.engine.model_store.store_home`), never in Slicer's cache,
    which Settings > Cache > "Clear cache" deletes. ``cache_path`` is Slicer's cache folder, where earlier releases
    kept the module's store: its models are moved into the store on first start."""
    from ..engine.model_store import open_store

    return open_store([Path(cache_path) / "PancreasMultiTask"] if cache_path else [])


class PredictionJob:
    """One prediction on one volume: the background process, its log, then its result loaded into the scene."""

    def __init__(
        self,
        process: PredictionProcess,
        work_dir: Path,
        volume_node: Any,
        output_segmentation: Any,
        on_progress: Callable[[float, str], None] | None,
        on_finished: Callable[[PredictionJob], None] | None,
        on_log: Callable[[str], None] | None = None,
        keep_work_dir: bool = False,
    ) -> None:
        self.process = process
        self.workDir = work_dir
        self.volumeNode = volume_node
        self.outputSegmentation = output_segmentation
        self.onProgress = on_progress
        self.onFinished = on_finished
        self.onLog = on_log
        self.keepWorkDir = keep_work_dir
        self.stage = "Starting"
        self.log: deque[str] = deque(maxlen=LOG_LINES)
        self.nodes: pmt_scene.SceneNodes | None = None
        self.result: CaseResult | None = None
        self.error = ""
        self.outcome: RunOutcome | None = None
        self.finished = False
        process.on_event = self._on_event
        process.on_log = self._on_log

    @property
    def cancelled(self) -> bool:
        return bool(self.outcome and self.outcome.cancelled)

    @property
    def deviceUsed(self) -> str:
        """Device and backend the engine ran on, e.g. ``cpu (openvino)`` ('' before a result)."""
        return self.result.provenance.device if self.result is not None else ""

    def _on_event(self, event: dict[str, Any]) -> None:
        if event.get("event") == "progress":
            self.stage = str(event.get("stage", "")).replace("_", " ")
        elif event.get("event") == "error":
            self.stage = f"Error: {event.get('message', '')}"
            self._on_log(self.stage)
        elif event.get("event") == "start":
            self._on_log(f"Model {event.get('model', '')} on {event.get('device', '')}")
        if self.onProgress is not None:
            self.onProgress(self.process.fraction, self.stage)

    def _on_log(self, line: str) -> None:
        self.log.append(line)
        logging.info("pancreas-mt: %s", line)
        if self.onLog is not None:
            self.onLog(line)

    def poll(self) -> bool:
        """Deliver progress and log lines; once the process ends, load the result. ``True`` while running."""
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
        self.process.poll()
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
                result_path = next(iter(outcome.results.values()))
                self.result = CaseResult.read_json(result_path)
                self.nodes = pmt_scene.load_result_into_scene(
                    self.volumeNode.GetScene(),
                    self.volumeNode,
                    self.result,
                    result_path.parent,
                    segmentation_node=self.outputSegmentation,
                )
                self._on_log(f"Done on {self.deviceUsed}: {self.result.verdict()}")
        except Exception as error:
            logging.exception("Loading the prediction result failed")
            self.error = str(error) or type(error).__name__
        finally:
            if not self.keepWorkDir:
                shutil.rmtree(self.workDir, ignore_errors=True)
        if self.onProgress is not None:
            self.onProgress(1.0 if not self.error else self.process.fraction, self.error or "Done")
        if self.onFinished is not None:
            self.onFinished(self)


class PredictionLogic:
    """Runs predictions and manages the model store; usable without the widget (batch mode, tests)."""

    def __init__(self, modelsDirectory: str | Path | None = None, cachePath: str | None = None) -> None:
        """``cachePath``: Slicer's cache folder, only to move the models earlier releases kept there."""
        self.home = store_home(cachePath)
        self._modelsDirectory = Path(modelsDirectory) if modelsDirectory else self.home / "models"
        self.cliModule = CLI_MODULE
        self.extraEnvironment: dict[str, str] = {}
        self.keepWorkDirectories = False
        self.temporaryPath: str | None = None
        self.pythonExecutable: str = sys.executable

    # Dependencies

    @staticmethod
    def requirementsPath() -> Path:
        return MODULE_DIR / "Resources" / "requirements.txt"

    @classmethod
    def dependencyProblems(cls) -> list[dependencies.Problem]:
        """Required packages missing or in a wrong version: torch first (checked against nnunetv2's requirement),
        then every line of ``requirements.txt``, Slicer's own packages included; optional speed-ups not listed."""
        required = dependencies.read_requirements(cls.requirementsPath())
        torch = dependencies.torch_problem()
        return ([torch] if torch is not None else []) + dependencies.problems(required)

    @classmethod
    def missingDependencies(cls) -> list[str]:
        """Names of the required packages that are missing or in a wrong version."""
        return [problem.name for problem in cls.dependencyProblems()]

    # Devices

    def startDeviceProbe(self) -> DeviceProbe:
        """Look for CUDA and MPS devices in a child process (torch stays out of Slicer's process)."""
        return DeviceProbe(self.pythonExecutable)

    @staticmethod
    def deviceChoices(found: FoundDevices | None) -> list[DeviceChoice]:
        """The device list to offer: ``auto`` saying what it resolves to, the CPU, and the devices found."""
        return device_choices(found)

    # Models

    def modelsDirectory(self) -> Path:
        """The shared store's model folder (created on first use)."""
        self._modelsDirectory.mkdir(parents=True, exist_ok=True)
        return self._modelsDirectory

    @staticmethod
    def _models() -> Any:
        from ..engine import models

        return models

    @staticmethod
    def demoModelZip() -> Path | None:
        """The bundled demo model zip (``$PANCREAS_MT_RESOURCES``, the source tree or the installed module)."""
        from ..engine.demo import demo_zip
        from ..engine.io import InputError

        try:
            return demo_zip()
        except InputError:
            return None

    def demoModelFolderName(self) -> str | None:
        """Folder name the bundled demo installs under (from its manifest), without installing it."""
        from ..engine.demo import demo_model_name

        return demo_model_name()

    def installedModels(self) -> dict[str, Path]:
        """Usable installed and registered models by name (broken ones: :meth:`brokenModels`)."""
        return {m.name: Path(m.path) for m in self._models().list_models(self.modelsDirectory()) if not m.broken}

    def brokenModels(self) -> dict[str, str]:
        """Installed models that cannot be used, by name, with the reason: listed, never offered."""
        return {m.name: str(m.problem) for m in self._models().list_models(self.modelsDirectory()) if m.broken}

    def modelNames(self) -> list[str]:
        """Names to offer: the bundled demo first (when shipped, listed once), then the other installed models."""
        demo = self.demoModelFolderName() if self.demoModelZip() is not None else None
        names = [DEMO_MODEL_NAME] if self.demoModelZip() is not None else []
        try:
            names += sorted(name for name in self.installedModels() if name != demo)
            for name, problem in self.brokenModels().items():
                logging.warning("Model %s is not offered: %s", name, problem)
        except ValueError as error:
            logging.warning("%s", error)
        return names

    def demoModelPath(self) -> Path:
        """The bundled demo model, verified and (re)installed whenever the bundled zip differs from the installed."""
        if self.demoModelZip() is None:
            raise RuntimeError("This installation has no bundled demo model.")
        from ..engine.demo import demo_model_folder

        return Path(demo_model_folder(self.modelsDirectory()))

    def modelPath(self, name: str) -> Path:
        """Folder of the model called ``name`` (a folder path is taken as is; the demo is installed on use)."""
        if name == DEMO_MODEL_NAME:
            return self.demoModelPath()
        if name and Path(name).is_dir():
            return Path(name)
        return Path(self._models().find_model(name, self.modelsDirectory()))

    def addModel(self, path: str | Path) -> Path:
        """Install a model zip (SHA-256 and manifest checked; a different model of the same name is refused) or
        register a model folder in place, as ``pancreas-mt models add`` does."""
        return Path(self._models().add_model(path, self.modelsDirectory())[0].path)

    def removeModel(self, name: str) -> None:
        """Delete an installed model, or forget a registered folder (its files stay)."""
        self._models().remove_model(self.modelsDirectory(), name)

    # Inputs

    @staticmethod
    def exportVolume(volumeNode: Any, folder: str | Path) -> Path:
        """Write the volume as the CLI should see it: in world coordinates, with any linear parent transform
        hardened into its geometry (on a copy; the node is not touched). A non-linear transform is refused."""
        import slicer
        import vtk

        if volumeNode is None or volumeNode.GetImageData() is None:
            raise ValueError("Select an input volume that has image data.")
        node = volumeNode
        toWorld = _linear_to_world(volumeNode)
        if toWorld is not None:
            node = slicer.vtkMRMLScalarVolumeNode()
            node.SetAndObserveImageData(volumeNode.GetImageData())
            ijkToRas, hardened = vtk.vtkMatrix4x4(), vtk.vtkMatrix4x4()
            volumeNode.GetIJKToRASMatrix(ijkToRas)
            vtk.vtkMatrix4x4.Multiply4x4(toWorld, ijkToRas, hardened)
            node.SetIJKToRASMatrix(hardened)
        path = Path(folder) / f"{_safe_name(volumeNode.GetName())}.nrrd"
        storage = slicer.vtkMRMLVolumeArchetypeStorageNode()
        storage.SetFileName(str(path))
        storage.SetUseCompression(False)
        if not storage.WriteData(node):
            raise RuntimeError(f"Could not write the input volume to {path}")
        return path

    @staticmethod
    def roiBoundsLPS(roiNode: Any) -> list[float]:
        """World bounding box of a markups ROI (its orientation and parent transforms applied) as
        x0 y0 z0 x1 y1 z1 in LPS millimetres."""
        import slicer
        import vtk

        radius = [0.0] * 3
        roiNode.GetRadiusXYZ(radius)
        if any(r <= 0 for r in radius):
            raise ValueError(f"The ROI {roiNode.GetName()!r} is empty.")
        objectToNode = roiNode.GetObjectToNodeMatrix()
        toWorld = vtk.vtkGeneralTransform()
        slicer.vtkMRMLTransformNode.GetTransformBetweenNodes(roiNode.GetParentTransformNode(), None, toWorld)
        corners = []
        for sx in (-1, 1):
            for sy in (-1, 1):
                for sz in (-1, 1):
                    local = objectToNode.MultiplyPoint((sx * radius[0], sy * radius[1], sz * radius[2], 1.0))
                    corners.append(toWorld.TransformPoint(local[:3]))
        low = [min(c[i] for c in corners) for i in range(3)]
        high = [max(c[i] for c in corners) for i in range(3)]
        return [-high[0], -high[1], low[2], -low[0], -low[1], high[2]]

    @staticmethod
    def fitRoiToVolume(roiNode: Any, volumeNode: Any) -> None:
        """Place ``roiNode`` around the whole volume (axis-aligned in world RAS)."""
        bounds = [0.0] * 6
        volumeNode.GetRASBounds(bounds)
        roiNode.SetXYZ([(bounds[2 * i] + bounds[2 * i + 1]) / 2 for i in range(3)])
        roiNode.SetRadiusXYZ([(bounds[2 * i + 1] - bounds[2 * i]) / 2 for i in range(3)])

    # Prediction

    def childEnvironment(self) -> dict[str, str]:
        """The CLI's environment: the shared store (``PANCREAS_MT_HOME``), nnU-Net folders, and extras."""
        extra = {"PANCREAS_MT_HOME": str(self.home)}
        return child_environment({**extra, **self.extraEnvironment})

    @staticmethod
    def optionValues(**parameters: Any) -> dict[str, Any]:
        """Option values (by option name) from parameter node values (by their names); unknown names are refused."""
        offered = dict(slicer_parameters())
        unknown = sorted(set(parameters) - set(offered))
        if unknown:
            raise TypeError(f"unknown option(s) {', '.join(unknown)}; the panel offers {', '.join(offered)}")
        values = {offered[name].name: slicer_value(offered[name], value) for name, value in parameters.items()}
        values.pop("model", None)  # the model is resolved from the store by name
        for name, value in values.items():
            BY_NAME[name].check(value)
        return values

    def process(
        self,
        inputVolume: Any,
        model: str | Path = DEMO_MODEL_NAME,
        *,
        roi: Any = None,
        outputSegmentation: Any = None,
        waitForCompletion: bool = False,
        onProgress: Callable[[float, str], None] | None = None,
        onFinished: Callable[[PredictionJob], None] | None = None,
        onLog: Callable[[str], None] | None = None,
        timeout: float | None = None,
        **parameters: Any,
    ) -> PredictionJob:
        """Predict on ``inputVolume`` in a background process.

        ``parameters`` are the panel's options by their parameter node names (``device``, ``folds``,
        ``useMirroring``, ``classification``, ...; see ``engine/options.py``); one left out keeps its default.
        Returns the running job (the caller polls ``job.poll()``), or with ``waitForCompletion`` the finished
        job: ``job.nodes`` holds the created nodes, ``job.error`` says why it failed.
        """
        if inputVolume is None or inputVolume.GetImageData() is None:
            raise ValueError("Select an input volume that has image data.")
        options = self.optionValues(**parameters)
        options["model"] = str(self.modelPath(str(model)))
        if roi is not None:
            options["roi"] = self.roiBoundsLPS(roi)
        workDir = Path(tempfile.mkdtemp(prefix="PancreasMultiTask-", dir=self.temporaryPath or None))
        try:
            inputPath = self.exportVolume(inputVolume, workDir)
            command = predict_command(
                [inputPath], workDir / "output", options, python=self.pythonExecutable, module=self.cliModule
            )
            environment = self.childEnvironment()
            for key in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
                environment.setdefault(key, str(workDir))  # nnU-Net warns when unset; prediction needs none
            process = PredictionProcess(command, env=environment)
            job = PredictionJob(
                process, workDir, inputVolume, outputSegmentation, onProgress, onFinished, onLog,
                keep_work_dir=self.keepWorkDirectories,
            )  # fmt: skip
            process.start()
        except Exception:
            shutil.rmtree(workDir, ignore_errors=True)
            raise
        if waitForCompletion:
            job.wait(timeout=timeout)
        return job


def lesion_center_ras(segmentation_node: Any, segment_id: str) -> tuple[float, float, float] | None:
    """World (RAS) centre of a segment, or ``None`` when it is empty."""
    center = segmentation_node.GetSegmentCenterRAS(segment_id)
    if center is None or any(math.isnan(c) for c in center):
        return None
    return (float(center[0]), float(center[1]), float(center[2]))


def jump_slices_to(scene: Any, point_ras: tuple[float, float, float]) -> None:
    """Centre every slice view of ``scene`` on ``point_ras``."""
    import slicer

    slicer.vtkMRMLSliceNode.JumpAllSlices(scene, *point_ras, slicer.vtkMRMLSliceNode.CenteredJumpSlice)


def _linear_to_world(node: Any) -> Any:
    """The node's parent transform to world as a 4x4 matrix (``None`` without one); refuses a non-linear one."""
    import vtk

    parent = node.GetParentTransformNode()
    if parent is None:
        return None
    if not parent.IsTransformToWorldLinear():
        raise ValueError(
            f"The volume {node.GetName()!r} is under the non-linear transform {parent.GetName()!r}: "
            "harden it (Data module, right-click, 'Harden transform') and apply again."
        )
    matrix = vtk.vtkMatrix4x4()
    parent.GetMatrixTransformToWorld(matrix)
    return matrix


def _safe_name(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_." else "_" for c in name).strip("._")
    return cleaned or "volume"
