"""Stand-ins for the parts of Slicer that ``slicer-core`` (PyPI) lacks, and a bare MRML scene for tests.

Only the Qt widget layer and Slicer's application classes are stood in for: ``qt``, ``ctk``, ``slicer.app``,
``slicer.ScriptedLoadableModule``, ``slicer.parameterNodeWrapper`` and ``slicer.i18n``. All MRML work runs for real.
"""

from __future__ import annotations

import logging
import sys
import types
import typing
import unittest
from pathlib import Path
from typing import Any


def make_scene() -> Any:
    """A bare ``vtkMRMLScene`` with the subject hierarchy in place, as the Slicer application would have."""
    import slicer

    scene = slicer.vtkMRMLScene()
    slicer.vtkMRMLSubjectHierarchyNode.ResolveSubjectHierarchy(scene)
    return scene


def load_volume(scene: Any, path: str | Path, name: str = "CT") -> Any:
    """Read an image file into a new scalar volume node with a display node and a subject hierarchy item."""
    import slicer

    node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", name)
    storage = scene.AddNewNodeByClass("vtkMRMLVolumeArchetypeStorageNode")
    storage.SetFileName(str(path))
    if not storage.ReadData(node):
        raise ValueError(f"{path}: cannot read image")
    node.SetAndObserveStorageNodeID(storage.GetID())
    node.CreateDefaultDisplayNodes()
    sh = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(scene)
    if not sh.GetItemByDataNode(node):
        sh.CreateItem(sh.GetSceneItemID(), node)
    return node


def put_in_study(scene: Any, node: Any, patient: str = "Patient 1", study: str = "CT abdomen") -> int:
    """Move ``node`` under a new patient / study, as the DICOM browser would; returns the study item."""
    import slicer

    sh = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(scene)
    patient_item = sh.CreateSubjectItem(sh.GetSceneItemID(), patient)
    study_item = sh.CreateStudyItem(patient_item, study)
    item = sh.GetItemByDataNode(node) or sh.CreateItem(sh.GetSceneItemID(), node)
    sh.SetItemParent(item, study_item)
    return study_item


# Stand-ins for what slicer-core lacks. Installed only where the real thing is absent.


class _QtStandIn:
    """Any Qt class or widget: accepts every call and attribute, does nothing."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        return _QtStandIn()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return _QtStandIn()

    def __bool__(self) -> bool:
        return False


def _qt_module(name: str) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__getattr__ = lambda attr: _QtStandIn()  # type: ignore[method-assign]  # classes, enums (qt.Qt.X), ...
    return module


class Choice:
    """Stand-in for ``slicer.parameterNodeWrapper.Choice``: the allowed values of a parameter."""

    def __init__(self, choices: list[Any]) -> None:
        self.choices = list(choices)


class WithinRange:
    """Stand-in for ``slicer.parameterNodeWrapper.WithinRange``."""

    def __init__(self, minimum: float, maximum: float) -> None:
        self.minimum, self.maximum = minimum, maximum


def _parameter_property(name: str, kind: type, default: Any, choices: list[Any] | None) -> property:
    import slicer

    is_node = isinstance(kind, type) and issubclass(kind, slicer.vtkMRMLNode)

    def read(self: Any) -> Any:
        node = self.parameterNode
        if is_node:
            return node.GetNodeReference(name)
        text = node.GetParameter(name)
        if text == "":
            return default
        if kind is bool:
            return text == "True"
        return kind(text)

    def write(self: Any, value: Any) -> None:
        node = self.parameterNode
        if is_node:
            node.SetNodeReferenceID(name, value.GetID() if value is not None else None)
            return
        if choices is not None and value not in choices:
            raise ValueError(f"{name}: {value!r} is not one of {choices}")
        node.SetParameter(name, str(value))

    return property(read, write)


def parameterNodeWrapper(classtype: type) -> type:
    """Stand-in for Slicer's ``parameterNodeWrapper``: typed properties stored in a scripted module node.

    Values are kept as node parameters (text) and node references, so they are saved with the scene.
    GUI binding (``connectGui``) does nothing: there is no GUI.
    """
    hints = typing.get_type_hints(classtype, include_extras=True)
    for name, hint in hints.items():
        kind, choices = hint, None
        if typing.get_origin(hint) is typing.Annotated:
            kind, *extras = typing.get_args(hint)
            choices = next((e.choices for e in extras if isinstance(e, Choice)), None)
        setattr(classtype, name, _parameter_property(name, kind, getattr(classtype, name, None), choices))

    def __init__(self: Any, parameterNode: Any) -> None:
        self.parameterNode = parameterNode

    classtype.__init__ = __init__  # type: ignore[misc]
    classtype.connectGui = lambda self, gui: 0  # type: ignore[attr-defined]
    classtype.disconnectGui = lambda self, tag: None  # type: ignore[attr-defined]
    classtype.StartModify = lambda self: self.parameterNode.StartModify()  # type: ignore[attr-defined]
    classtype.EndModify = lambda self, was: self.parameterNode.EndModify(was)  # type: ignore[attr-defined]
    classtype.AddObserver = lambda self, e, c, p=0.0: self.parameterNode.AddObserver(e, c, p)  # type: ignore[attr-defined]
    classtype.RemoveObserver = lambda self, tag: self.parameterNode.RemoveObserver(tag)  # type: ignore[attr-defined]
    classtype.Modified = lambda self: self.parameterNode.Modified()  # type: ignore[attr-defined]
    return classtype


class ScriptedLoadableModule:
    """Stand-in for Slicer's module base class."""

    def __init__(self, parent: Any) -> None:
        self.parent = parent if parent is not None else types.SimpleNamespace()
        self.moduleName = type(self).__name__


class ScriptedLoadableModuleWidget:
    """Stand-in for Slicer's widget base class (the widget itself is never exercised without Qt)."""

    def __init__(self, parent: Any = None) -> None:
        self.parent = parent
        self.moduleName = type(self).__name__[: -len("Widget")]

    def setup(self) -> None:
        pass

    def onReload(self) -> None:
        """As Slicer's: import the module file again (``slicer.util.reloadScriptedModule``)."""
        import importlib

        importlib.reload(sys.modules[self.moduleName])


class ScriptedLoadableModuleLogic:
    """Stand-in for Slicer's logic base class: the parameter node is a singleton scripted module node."""

    def __init__(self, parent: Any = None) -> None:
        name = type(self).__name__
        self.moduleName = name[: -len("Logic")] if name.endswith("Logic") else name

    def getParameterNode(self) -> Any:
        import slicer

        scene = slicer.mrmlScene
        node = scene.GetSingletonNode(self.moduleName, "vtkMRMLScriptedModuleNode")
        if node is None:
            node = slicer.vtkMRMLScriptedModuleNode()
            node.SetName(scene.GenerateUniqueName(self.moduleName))
            node.SetAttribute("ModuleName", self.moduleName)
            node.SetSingletonTag(self.moduleName)
            node = scene.AddNode(node)
        return node


class ScriptedLoadableModuleTest(unittest.TestCase):
    """Stand-in for Slicer's self-test base class: ``delayDisplay`` logs instead of showing a message."""

    def delayDisplay(self, message: str, requestedDelay: int | None = None) -> None:
        logging.info("%s", message)

    def takeScreenshot(self, name: str, description: str, type: int = -1) -> None:
        pass


def tr(text: str) -> str:
    """Stand-in for ``slicer.i18n.tr``: Slicer translates through ``slicer.app.translate``; here no translation."""
    return text


def translate(context: str, text: str) -> str:
    """Stand-in for ``slicer.i18n.translate``."""
    return text


def install(monkeypatch: Any, app_dir: Path) -> types.SimpleNamespace:
    """Install the stand-ins (through a pytest ``monkeypatch``) and a fresh ``slicer.mrmlScene``; returns the app."""
    import slicer

    for name in ("qt", "ctk"):
        if name not in sys.modules:
            monkeypatch.setitem(sys.modules, name, _qt_module(name))
    app_dir.mkdir(parents=True, exist_ok=True)
    app = getattr(slicer, "app", None)
    if app is None:
        (app_dir / "tmp").mkdir(exist_ok=True)
        app = types.SimpleNamespace(
            majorVersion=5,
            minorVersion=10,
            cachePath=str(app_dir / "cache"),
            temporaryPath=str(app_dir / "tmp"),
            slicerUserSettingsFilePath=str(app_dir / "settings" / "Slicer.ini"),
            processEvents=lambda: None,
            commandOptions=lambda: types.SimpleNamespace(noMainWindow=True),
        )
        monkeypatch.setattr(slicer, "app", app, raising=False)
    if "slicer.ScriptedLoadableModule" not in sys.modules:
        module = types.ModuleType("slicer.ScriptedLoadableModule")
        for cls in (
            ScriptedLoadableModule,
            ScriptedLoadableModuleWidget,
            ScriptedLoadableModuleLogic,
            ScriptedLoadableModuleTest,
        ):
            setattr(module, cls.__name__, cls)
        monkeypatch.setitem(sys.modules, "slicer.ScriptedLoadableModule", module)
        monkeypatch.setattr(slicer, "ScriptedLoadableModule", module, raising=False)
    if "slicer.parameterNodeWrapper" not in sys.modules:
        module = types.ModuleType("slicer.parameterNodeWrapper")
        module.parameterNodeWrapper = parameterNodeWrapper  # type: ignore[attr-defined]
        module.Choice = Choice  # type: ignore[attr-defined]
        module.WithinRange = WithinRange  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "slicer.parameterNodeWrapper", module)
        monkeypatch.setattr(slicer, "parameterNodeWrapper", module, raising=False)
    if "slicer.i18n" not in sys.modules:
        module = types.ModuleType("slicer.i18n")
        module.tr = tr  # type: ignore[attr-defined]
        module.translate = translate  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "slicer.i18n", module)
        monkeypatch.setattr(slicer, "i18n", module, raising=False)
    monkeypatch.setattr(slicer, "mrmlScene", make_scene(), raising=False)
    monkeypatch.setattr(slicer, "modules", types.SimpleNamespace(), raising=False)
    return app
