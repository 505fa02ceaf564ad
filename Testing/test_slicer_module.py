"""The Slicer module (``PancreasMultiTask.py``) under slicer-core: logic, parameter node and self-test methods.

The MRML side is real (``vtkMRMLScene``). Only Qt and Slicer's application classes are stood in for
(``Testing/slicer_stubs.py``). The prediction engine is either a stand-in CLI that writes real results
(``fake_cli`` below: exercises process start, JSON progress, cancel, result loading) or, when present,
the real ``pancreas-mt`` CLI with the bundled demo model.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import SimpleITK as sitk
import slicer
import slicer_stubs
from model_factory import ct_volume
from PancreasMultiTaskLib.slicer import scene as pmt_scene
from PancreasMultiTaskLib.slicer.selftest import segment_dice
from test_scene import oblique_direction

REPO = Path(__file__).resolve().parents[1]
MODULE_DIR = REPO / "PancreasMultiTask"

FAKE_CLI = textwrap.dedent(
    '''
    """Stand-in for ``pancreas-mt predict``: same arguments, JSON events and output files."""
    import json, os, sys, time
    from pathlib import Path

    import numpy as np
    import SimpleITK as sitk

    from PancreasMultiTaskLib.engine.io import InputError, read_image, case_id_from_path
    from PancreasMultiTaskLib.engine.result import (CaseResult, Measurements, Provenance, SliceEntry, SubtypeResult,
                                             Uncertainty)

    from PancreasMultiTaskLib.cli.main import build_parser
    from PancreasMultiTaskLib.engine.options import CLI, parse_values

    # The real CLI's parser, so that the module's command line is checked against the real contract.
    args = build_parser().parse_args()
    args.i = [*(args.input or []), *(args.inputs or [])]
    args.o = args.output
    args.roi = parse_values(args, CLI)["roi"]

    def emit(**event):
        print(json.dumps(event), flush=True)

    Path(args.o).mkdir(parents=True, exist_ok=True)
    (Path(args.o) / "args.json").write_text(json.dumps(sys.argv[1:]))
    emit(event="start", cases=len(args.i))
    ok = failed = 0
    for path in args.i:
        case = case_id_from_path(path)
        try:
            image = read_image(path)
        except InputError as error:
            emit(event="error", case=case, message=str(error))
            failed += 1
            continue
        emit(event="progress", case=case, stage="preprocess", fraction=0.0, overall=0.05)
        time.sleep(float(os.environ.get("FAKE_CLI_SLEEP", "0")))
        emit(event="progress", case=case, stage="predict", fraction=0.8, overall=0.74)
        if os.environ.get("FAKE_CLI_LABELS"):
            labels = sitk.ReadImage(os.environ["FAKE_CLI_LABELS"])
        else:
            hu = sitk.GetArrayFromImage(image)
            labels = sitk.GetImageFromArray(((hu > 0) * 1 + ((hu > -60) & (hu < -20)) * 2).astype(np.uint8))
        labels.CopyInformation(image)
        if args.roi and not isinstance(args.roi, str):  # a box, as the engine: nothing outside it is labelled
            import itertools
            lo, hi = args.roi[:3], args.roi[3:]
            corners = [image.TransformPhysicalPointToContinuousIndex(c) for c in itertools.product(*zip(lo, hi))]
            box = [(max(0, int(np.floor(min(c[i] for c in corners)))), int(np.ceil(max(c[i] for c in corners))) + 1)
                   for i in range(3)]
            mask = np.zeros(labels.GetSize()[::-1], dtype=np.uint8)
            mask[box[2][0]:box[2][1], box[1][0]:box[1][1], box[0][0]:box[0][1]] = 1
            cropped = sitk.GetImageFromArray(sitk.GetArrayFromImage(labels) * mask)
            cropped.CopyInformation(image)
            labels = cropped
        out = Path(args.o) / case
        out.mkdir(parents=True, exist_ok=True)
        sitk.WriteImage(labels, str(out / "segmentation.nii.gz"))
        names = ["solid", "rim-enhancing", "cystic"]
        probabilities = {"solid": 0.7, "rim-enhancing": 0.2, "cystic": 0.1}
        result = CaseResult(
            case_id=case,
            input_path=str(path),
            labels={"background": 0, "pancreas": 1, "lesion": 2},
            measurements=Measurements(10.0, 1.0, 12.0),
            provenance=Provenance("fake", str(args.model), "2d", "checkpoint_final.pth", ["0"], args.use_mirroring,
                                  "cpu", {}),
            timings_s={"total": 0.1},
            subtype=SubtypeResult(names, "solid", 0.7, probabilities, {"0": probabilities}, "lesion-weighted",
                                  "lesion-weighted", [SliceEntry(0, [0.7, 0.2, 0.1], 1.0, 1.0, 2.0)],
                                  Uncertainty(0.0, 0.5, False, 0.2, 0.8)),
            segmentation_file="segmentation.nii.gz",
        )
        result.write_json(out / "result.json")
        emit(event="case_done", case=case, result=str(out / "result.json"))
        ok += 1
    emit(event="done", ok=ok, failed=failed)
    if failed:
        print(f"error: {failed} of {len(args.i)} cases failed", file=sys.stderr)
    sys.exit(1 if failed else 0)
    '''
)


@pytest.fixture
def module(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> SimpleNamespace:
    """The module file imported with the stand-ins in place, and a stand-in CLI on the child's path."""
    slicer_stubs.install(monkeypatch, tmp_path / "app")
    monkeypatch.syspath_prepend(str(MODULE_DIR))
    monkeypatch.delitem(sys.modules, "PancreasMultiTask", raising=False)
    mod = importlib.import_module("PancreasMultiTask")
    fake_dir = tmp_path / "fake"
    fake_dir.mkdir()
    (fake_dir / "fake_pmt_cli.py").write_text(FAKE_CLI)
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    yield SimpleNamespace(mod=mod, fake_dir=fake_dir, model=str(model_dir), tmp=tmp_path)
    sys.modules.pop("PancreasMultiTask", None)


def fake_logic(m: SimpleNamespace, **env: str):
    logic = m.mod.PancreasMultiTaskLogic(modelsDirectory=m.tmp / "models")
    logic.cliModule = "fake_pmt_cli"
    logic.extraEnvironment = {"PYTHONPATH": os.pathsep.join([str(MODULE_DIR), str(m.fake_dir)]), **env}
    return logic


def add_ct(
    m: SimpleNamespace, name: str = "CT", shape_zyx: tuple[int, int, int] = (6, 40, 48), oblique: bool = True
) -> object:
    direction = oblique_direction() if oblique else (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    image, labels = ct_volume(shape_zyx=shape_zyx, direction=direction)
    path = m.tmp / f"{name}.nrrd"
    sitk.WriteImage(image, str(path))
    sitk.WriteImage(labels, str(m.tmp / f"{name}_labels.nii.gz"))
    return slicer_stubs.load_volume(slicer.mrmlScene, path, name)


def node_ids() -> set[str]:
    scene = slicer.mrmlScene
    return {scene.GetNthNode(i).GetID() for i in range(scene.GetNumberOfNodes())}


def test_module_description(module: SimpleNamespace) -> None:
    parent = SimpleNamespace()
    module.mod.PancreasMultiTask(parent)
    assert parent.title == "Pancreas Multi-Task"
    assert parent.categories == ["Segmentation"]
    assert "research use only" in parent.helpText.lower()
    assert "Guo" in parent.helpText and "nnU-Net" in parent.helpText


def test_blocking_process_loads_result_and_leaves_input_alone(module: SimpleNamespace) -> None:
    volume = add_ct(module)
    storage_file = volume.GetStorageNode().GetFileName()
    mtime = Path(storage_file).stat().st_mtime_ns
    roi = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLMarkupsROINode", "ROI")
    module.mod.PancreasMultiTaskLogic.fitRoiToVolume(roi, volume)
    logic = fake_logic(module)
    logic.keepWorkDirectories = True
    job = logic.process(
        volume,
        module.model,
        roi=roi,
        device="cpu",
        folds="0, 1",
        useMirroring=False,
        waitForCompletion=True,
        timeout=120,
    )
    assert job.error == "" and job.finished
    seg = slicer.mrmlScene.GetNodeByID(job.nodes.segmentation_id)
    names = [
        seg.GetSegmentation().GetNthSegment(i).GetName() for i in range(seg.GetSegmentation().GetNumberOfSegments())
    ]
    assert names == ["Pancreas", "Lesion"]
    assert job.result.subtype.predicted == "solid"
    table = slicer.mrmlScene.GetNodeByID(job.nodes.probabilities_table_id)
    assert float(table.GetCellText(0, 2)) == pytest.approx(0.7)
    # The CLI saw the options, with the ROI in LPS; the user's file was not rewritten.
    args = (job.workDir / "output" / "args.json").read_text()
    assert '"--no-tta"' in args and '"--roi=' in args and '"0", "1"' in args
    assert volume.GetStorageNode().GetFileName() == storage_file
    assert Path(storage_file).stat().st_mtime_ns == mtime


def test_work_directory_is_removed(module: SimpleNamespace) -> None:
    volume = add_ct(module)
    job = fake_logic(module).process(volume, module.model, waitForCompletion=True, timeout=120)
    assert job.error == "" and not job.workDir.exists()


def test_background_process_reports_progress(module: SimpleNamespace) -> None:
    volume = add_ct(module)
    progress: list[tuple[float, str]] = []
    finished = []
    job = fake_logic(module, FAKE_CLI_SLEEP="0.5").process(
        volume, module.model, onProgress=lambda f, s: progress.append((f, s)), onFinished=finished.append
    )
    assert job.nodes is None
    deadline = time.monotonic() + 120
    while job.poll() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert finished == [job] and job.error == ""
    fractions = [f for f, _ in progress]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert "preprocess" in [s for _, s in progress]
    assert job.nodes.segmentation_id is not None


def test_cancel_leaves_scene_unchanged(module: SimpleNamespace) -> None:
    volume = add_ct(module)
    before = node_ids()
    stages: list[str] = []
    job = fake_logic(module, FAKE_CLI_SLEEP="60").process(
        volume, module.model, onProgress=lambda f, s: stages.append(s)
    )
    deadline = time.monotonic() + 60
    while "preprocess" not in stages and time.monotonic() < deadline:
        job.poll()
        time.sleep(0.05)
    started = time.monotonic()
    job.cancel()
    assert time.monotonic() - started < 20
    assert job.cancelled and job.error == "Cancelled." and job.nodes is None
    assert not job.process.running
    assert node_ids() == before
    assert not job.workDir.exists()


def test_bad_input_is_a_clear_error(module: SimpleNamespace) -> None:
    import vtk

    volume = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "Flat")
    image = vtk.vtkImageData()
    image.SetDimensions(8, 8, 4)
    image.AllocateScalars(vtk.VTK_SHORT, 1)
    image.GetPointData().GetScalars().Fill(7)
    volume.SetAndObserveImageData(image)
    before = node_ids()
    job = fake_logic(module).process(volume, module.model, waitForCompletion=True, timeout=120)
    assert "same value" in job.error and job.nodes is None
    assert node_ids() == before
    with pytest.raises(ValueError, match="input volume"):
        fake_logic(module).process(None, module.model)
    with pytest.raises((ValueError, RuntimeError), match=r"No installed model|not available"):
        fake_logic(module).process(volume, "no such model")


def test_roi_bounds_are_lps(module: SimpleNamespace) -> None:
    roi = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLMarkupsROINode", "ROI")
    roi.SetXYZ(10.0, 20.0, 30.0)
    roi.SetRadiusXYZ(5.0, 6.0, 7.0)
    bounds = module.mod.PancreasMultiTaskLogic.roiBoundsLPS(roi)
    assert bounds == pytest.approx([-15.0, -26.0, 23.0, -5.0, -14.0, 37.0])


def test_parameter_node_is_saved_with_the_scene(module: SimpleNamespace, monkeypatch: pytest.MonkeyPatch) -> None:
    volume = add_ct(module)
    logic = module.mod.PancreasMultiTaskLogic(modelsDirectory=module.tmp / "models")
    params = logic.getParameterNode()
    params.inputVolume = volume
    params.device = "cpu"
    params.folds = "0 1"
    params.useMirroring = False
    params.saveProbabilities = True
    mrb = pmt_scene.save_scene_bundle(slicer.mrmlScene, module.tmp / "params.mrb")

    reloaded = slicer_stubs.make_scene()
    pmt_scene.load_scene_bundle(reloaded, mrb, module.tmp / "unpacked")
    monkeypatch.setattr(slicer, "mrmlScene", reloaded)
    restored = module.mod.PancreasMultiTaskLogic().getParameterNode()
    assert restored.inputVolume is not None and restored.inputVolume.GetName() == "CT"
    assert (restored.device, restored.folds, restored.useMirroring, restored.saveProbabilities) == (
        "cpu",
        "0 1",
        False,
        True,
    )
    assert restored.pooling == "lesion-weighted"


def test_missing_dependencies_are_named(module: SimpleNamespace, monkeypatch: pytest.MonkeyPatch) -> None:
    requirements = module.tmp / "requirements.txt"
    requirements.write_text("# comment\nnumpy>=1.20\nSimpleITK\nno-such-package-pmt>=1 ; python_version>'3'\n")
    logic_class = module.mod.PancreasMultiTaskLogic
    monkeypatch.setattr(logic_class, "requirementsPath", staticmethod(lambda: requirements))
    missing = logic_class.missingDependencies()
    assert "no-such-package-pmt" in missing
    assert "numpy" not in missing and "SimpleITK" not in missing


def test_shipped_requirements_parse(module: SimpleNamespace) -> None:
    missing = module.mod.PancreasMultiTaskLogic.missingDependencies()
    assert missing == [], f"the test environment lacks {missing}"


def sample_folder(m: SimpleNamespace, subtype: str = "solid") -> Path:
    """A sample case in the layout the self-test reads (``sample.json``: CT, truth labels, subtype name)."""
    import json

    folder = m.tmp / "SampleData"
    folder.mkdir(exist_ok=True)
    image, labels = ct_volume(shape_zyx=(6, 40, 48), direction=oblique_direction(), seed=3)
    sitk.WriteImage(image, str(folder / "sample_0000.nii.gz"))
    sitk.WriteImage(labels, str(folder / "sample_truth.nii.gz"))
    sample = {"image": "sample_0000.nii.gz", "truth": "sample_truth.nii.gz", "subtype_name": subtype}
    (folder / "sample.json").write_text(json.dumps(sample))
    return folder


def stand_in_dice(folder: Path) -> dict[str, float]:
    """Dice of the stand-in CLI's threshold labels against the sample's truth, computed here with numpy."""
    hu = sitk.GetArrayFromImage(sitk.ReadImage(str(folder / "sample_0000.nii.gz")))
    truth = sitk.GetArrayFromImage(sitk.ReadImage(str(folder / "sample_truth.nii.gz")))
    predicted = (hu > 0) * 1 + ((hu > -60) & (hu < -20)) * 2
    predicted[predicted == 3] = 2
    dice = {}
    for name, labels in (("Pancreas", (1, 2)), ("Lesion", (2,))):
        a, b = np.isin(predicted, labels), np.isin(truth, labels)
        dice[name] = 2 * float((a & b).sum()) / float(a.sum() + b.sum())
    return dice


def stand_in_self_test(module: SimpleNamespace, folder: Path, **attributes: object) -> type:
    """The module's self-test class run against the stand-in CLI (its own threshold labels, not the truth)."""
    return type(
        "SelfTest",
        (module.mod.PancreasMultiTaskTest,),
        {
            "model": module.model,
            "modelsDirectory": str(module.tmp / "models"),
            "cliModule": "fake_pmt_cli",
            "extraEnvironment": {"PYTHONPATH": os.pathsep.join([str(MODULE_DIR), str(module.fake_dir)])},
            "sampleFolder": str(folder),
            **attributes,
        },
    )


@pytest.mark.parametrize("margin, passes", [(-0.02, True), (0.02, False)])
def test_self_test_dice_check_can_fail(module: SimpleNamespace, margin: float, passes: bool) -> None:
    """The sample-case step passes when the Dice thresholds are below what the prediction reaches, fails above."""
    folder = sample_folder(module)
    dice = stand_in_dice(folder)
    assert min(dice.values()) > 0.05 and max(dice.values()) < 0.999, dice  # a real, imperfect prediction
    minimum = {name: value + margin for name, value in dice.items()}
    outcome = stand_in_self_test(module, folder, MIN_DICE=minimum)("test_SampleCase").run()
    assert outcome.wasSuccessful() == passes, outcome.errors + outcome.failures
    if not passes:
        assert "Dice of" in outcome.failures[0][1]


def test_self_test_subtype_check_can_fail(module: SimpleNamespace) -> None:
    folder = sample_folder(module, subtype="cystic")  # the stand-in CLI says "solid"
    outcome = stand_in_self_test(module, folder, MIN_DICE={})("test_SampleCase").run()
    assert not outcome.wasSuccessful() and "cystic" in outcome.failures[0][1]


@pytest.mark.parametrize("method", ["test_Inputs", "test_Cancel", "test_BadInput"])
def test_self_test_methods_with_stand_in_engine(module: SimpleNamespace, method: str) -> None:
    folder = sample_folder(module)
    environment = {
        "PYTHONPATH": os.pathsep.join([str(MODULE_DIR), str(module.fake_dir)]),
        "FAKE_CLI_SLEEP": "2" if method == "test_Cancel" else "0",
    }
    outcome = stand_in_self_test(module, folder, extraEnvironment=environment)(method).run()
    assert outcome.wasSuccessful(), outcome.errors + outcome.failures
    assert not outcome.skipped


def test_self_test_dice_is_computed_on_the_truth_grid(module: SimpleNamespace) -> None:
    volume = add_ct(module)
    truth = slicer_stubs.load_volume(slicer.mrmlScene, module.tmp / "CT_labels.nii.gz", "truth")
    job = fake_logic(module).process(volume, module.model, waitForCompletion=True, timeout=120)
    seg = slicer.mrmlScene.GetNodeByID(job.nodes.segmentation_id)
    dice = segment_dice(seg, job.nodes.segment_ids, truth)
    predicted = sitk.GetArrayFromImage(sitk.ReadImage(str(module.tmp / "CT.nrrd")))
    reference = sitk.GetArrayFromImage(sitk.ReadImage(str(module.tmp / "CT_labels.nii.gz")))
    pancreas = (predicted > 0) | ((predicted > -60) & (predicted < -20))
    expected = 2 * np.logical_and(pancreas, reference > 0).sum() / (pancreas.sum() + (reference > 0).sum())
    assert dice["Pancreas"] == pytest.approx(expected)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["test_SampleCase", "test_Cancel", "test_BadInput"])
def test_self_test_methods_with_demo_model(module: SimpleNamespace, method: str) -> None:
    test_class = type("SelfTest", (module.mod.PancreasMultiTaskTest,), {"modelsDirectory": str(module.tmp / "models")})
    outcome = test_class(method).run()
    assert outcome.wasSuccessful(), outcome.errors + outcome.failures
    assert not outcome.skipped


def test_ui_file_matches_the_code() -> None:
    """Every ``self.ui.<name>`` the widget uses exists in the .ui file, and every bound parameter exists."""
    import re
    import xml.etree.ElementTree as ElementTree

    ui = ElementTree.parse(MODULE_DIR / "Resources" / "UI" / "PancreasMultiTask.ui")
    widgets = {w.get("name") for w in ui.iter("widget")}
    code = (MODULE_DIR / "PancreasMultiTask.py").read_text()
    used = set(re.findall(r"self\.ui\.(\w+)", code))
    assert used <= widgets, f"missing in the .ui file: {sorted(used - widgets)}"
    bound = {
        p.find("string").text
        for w in ui.iter("widget")
        for p in w.findall("property")
        if p.get("name") == "SlicerParameterName"
    }
    from PancreasMultiTaskLib.engine.options import slicer_parameters

    nodes = set(re.findall(r'^        "(\w+)": slicer\.vtkMRML', code.split("def _parameterNodeClass")[1], re.M))
    fields = nodes | {name for name, _ in slicer_parameters()}
    assert nodes == {"inputVolume", "roi", "outputSegmentation"}
    assert bound and bound <= fields, f"unknown parameters: {sorted(bound - fields)}"


def test_cmake_lists_every_script_and_resource() -> None:
    cmake = (MODULE_DIR / "CMakeLists.txt").read_text()
    scripts = {p.relative_to(MODULE_DIR).as_posix() for p in MODULE_DIR.glob("*.py")}
    assert scripts == {"PancreasMultiTask.py"}, "Slicer loads every top-level .py of the module folder as a module"
    scripts |= {p.relative_to(MODULE_DIR).as_posix() for p in (MODULE_DIR / "PancreasMultiTaskLib").rglob("*.py")}
    listed = {line.strip().replace("${MODULE_NAME}", "PancreasMultiTask") for line in cmake.splitlines()}
    assert scripts <= listed, f"not in CMakeLists.txt: {sorted(scripts - listed)}"
    for resource in ("Resources/Icons/PancreasMultiTask.png", "Resources/UI/PancreasMultiTask.ui"):
        assert resource in listed and (MODULE_DIR / resource).is_file()
    assert "Scripts/batch_predict.py" in listed and "Resources/requirements.txt" in listed
    assert "GLOB" not in cmake and "WITH_GENERIC_TESTS" in cmake
    top = (REPO / "CMakeLists.txt").read_text()
    assert 'set(EXTENSION_DEPENDS "PyTorch")' in top and 'set(EXTENSION_CATEGORY "Segmentation")' in top


def model_folder(root: Path, name: str = "TinyModel") -> Path:
    """The files an installed model needs (contents are not loaded here)."""
    folder = root / name
    (folder / "fold_0").mkdir(parents=True)
    (folder / "dataset.json").write_text('{"labels": {"background": 0, "pancreas": 1, "lesion": 2}, "subtypes": {}}')
    (folder / "plans.json").write_text("{}")
    (folder / "fold_0" / "checkpoint_final.pth").write_bytes(b"weights")
    return folder


def model_zip(root: Path, name: str = "TinyModel", extra: dict[str, bytes] | None = None) -> Path:
    """A model zip with its manifest and a ``.sha256`` beside it."""
    import hashlib
    import json
    import zipfile

    folder = model_folder(root / "src", name)
    members = {p.relative_to(folder.parent).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    members.update(extra or {})
    manifest = {
        "format": "pancreas-multitask-model",
        "name": name,
        "files": {k: hashlib.sha256(v).hexdigest() for k, v in members.items()},
    }
    path = root / f"{name}.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("manifest.json", json.dumps(manifest))
        for member, data in members.items():
            archive.writestr(member, data)
    path.with_name(path.name + ".sha256").write_text(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.name}\n")
    return path


def test_models_import_list_and_remove(module: SimpleNamespace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PANCREAS_MT_HOME", raising=False)
    monkeypatch.setenv("HOME", str(module.tmp / "home"))  # the default store is in the user's home, not the cache
    logic = module.mod.PancreasMultiTaskLogic()
    home = module.tmp / "home" / ".PancreasMultiTask"
    assert logic.modelsDirectory() == home / "models" and not home.is_relative_to(slicer.app.cachePath)
    assert logic.childEnvironment()["PANCREAS_MT_HOME"] == str(home)
    installed = logic.addModel(model_zip(module.tmp / "zips"))
    assert installed == logic.modelsDirectory() / "TinyModel" and (installed / "dataset.json").is_file()
    registered_source = model_folder(module.tmp / "elsewhere", "MyTrained")
    assert logic.addModel(registered_source) == registered_source.resolve()
    assert set(logic.installedModels()) == {"TinyModel", "MyTrained"}
    assert logic.modelPath("MyTrained") == registered_source.resolve()
    logic.removeModel("TinyModel")
    logic.removeModel("MyTrained")
    assert logic.installedModels() == {}
    assert not installed.exists() and registered_source.is_dir()
    with pytest.raises(ValueError, match=r"model folder or a \.zip"):
        logic.addModel(module.tmp / "nothing-here")


def test_bad_model_zips_are_refused(module: SimpleNamespace) -> None:
    logic = module.mod.PancreasMultiTaskLogic(modelsDirectory=module.tmp / "models")
    tampered = model_zip(module.tmp / "a")
    tampered.with_name(tampered.name + ".sha256").write_text("0" * 64 + "  x.zip\n")
    with pytest.raises(ValueError, match="SHA-256"):
        logic.addModel(tampered)
    escaping = model_zip(module.tmp / "b", extra={"TinyModel/../../evil.txt": b"x"})
    with pytest.raises(ValueError, match="outside"):
        logic.addModel(escaping)
    assert logic.installedModels() == {}
    assert not (module.tmp / "evil.txt").exists()


def test_demo_model_listed_once_and_refreshed(module: SimpleNamespace, monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo appears once; a changed bundled zip replaces the installed copy on the next use."""
    resources = module.tmp / "resources"
    (resources / "DemoModel").mkdir(parents=True)
    monkeypatch.setenv("PANCREAS_MT_RESOURCES", str(resources))
    first = model_zip(module.tmp / "v1", "DemoTiny")
    first.rename(resources / "DemoModel" / first.name)
    first.with_name(first.name + ".sha256").rename(resources / "DemoModel" / (first.name + ".sha256"))
    logic = module.mod.PancreasMultiTaskLogic(modelsDirectory=module.tmp / "models")
    installed = logic.modelPath(module.mod.DEMO_MODEL_NAME)
    assert installed == module.tmp / "models" / "DemoTiny"
    assert logic.modelNames() == [module.mod.DEMO_MODEL_NAME]
    second = model_zip(module.tmp / "v2", "DemoTiny", extra={"DemoTiny/fold_1/checkpoint_final.pth": b"new"})
    second.replace(resources / "DemoModel" / second.name)
    second.with_name(second.name + ".sha256").replace(resources / "DemoModel" / (second.name + ".sha256"))
    assert not (installed / "fold_1").exists()
    assert logic.modelPath(module.mod.DEMO_MODEL_NAME) == installed
    assert (installed / "fold_1" / "checkpoint_final.pth").read_bytes() == b"new"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from model_factory import make_tiny_multitask_model

    return make_tiny_multitask_model(tmp_path_factory.mktemp("tiny-model"), folds=(0, 1))


@pytest.mark.slow
def test_logic_with_the_real_engine(module: SimpleNamespace, tiny_model: Path) -> None:
    """The real CLI on an oblique CT: segments, geometry, table = result.json, plots, .mrb round trip."""
    import vtk

    volume = add_ct(module, shape_zyx=(8, 56, 72))
    study = slicer_stubs.put_in_study(slicer.mrmlScene, volume)
    logic = module.mod.PancreasMultiTaskLogic(modelsDirectory=module.tmp / "models")
    logic.keepWorkDirectories = True
    job = logic.process(
        volume,
        str(tiny_model),
        device="cpu",
        useMirroring=False,
        saveProbabilities=True,
        waitForCompletion=True,
        timeout=900,
    )
    assert job.error == "", job.outcome.stderr
    nodes, result = job.nodes, job.result
    scene = slicer.mrmlScene
    seg_node = scene.GetNodeByID(nodes.segmentation_id)
    segmentation = seg_node.GetSegmentation()
    names = [segmentation.GetNthSegment(i).GetName() for i in range(segmentation.GetNumberOfSegments())]
    assert names == ["Pancreas", "Lesion"]
    for name, code in (("Pancreas", "SCT^15776009^Pancreas"), ("Lesion", "SCT^108369006^Neoplasm")):
        assert segmentation.GetSegment(nodes.segment_ids[name]).GetTerminology().split("~")[2] == code

    geometry = slicer.vtkOrientedImageData()
    slicer.vtkSegmentationConverter.DeserializeImageGeometry(
        segmentation.GetConversionParameter("Reference image geometry"), geometry
    )
    seg_matrix, volume_matrix = vtk.vtkMatrix4x4(), vtk.vtkMatrix4x4()
    geometry.GetImageToWorldMatrix(seg_matrix)
    volume.GetIJKToRASMatrix(volume_matrix)
    for r in range(4):
        for c in range(4):
            assert seg_matrix.GetElement(r, c) == pytest.approx(volume_matrix.GetElement(r, c), abs=1e-5)
    assert geometry.GetExtent() == volume.GetImageData().GetExtent()
    sh = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(scene)
    assert sh.GetItemParent(sh.GetItemByDataNode(seg_node)) == study
    probability = scene.GetNodeByID(nodes.probability_volume_id)
    probability_matrix = vtk.vtkMatrix4x4()
    probability.GetIJKToRASMatrix(probability_matrix)
    for r in range(4):
        for c in range(4):
            assert probability_matrix.GetElement(r, c) == pytest.approx(volume_matrix.GetElement(r, c), abs=1e-5)
    low, high = probability.GetImageData().GetScalarRange()
    assert 0.0 <= low <= high <= 1.0

    measurements = scene.GetNodeByID(nodes.measurements_table_id)
    values = {measurements.GetCellText(r, 0): float(measurements.GetCellText(r, 1)) for r in range(3)}
    assert values["Pancreas volume"] == pytest.approx(result.measurements.pancreas_volume_ml, rel=1e-5)
    assert values["Lesion volume"] == pytest.approx(result.measurements.lesion_volume_ml, rel=1e-5)
    assert result.subtype is not None  # a multi-task model: the subtype tables and charts must be there
    table = scene.GetNodeByID(nodes.probabilities_table_id)
    for row, name in enumerate(result.subtype.names):
        assert float(table.GetCellText(row, 2)) == pytest.approx(result.subtype.probabilities[name], rel=1e-5)
        for column, fold in enumerate(result.subtype.fold_probabilities, start=3):
            expected = result.subtype.fold_probabilities[fold][name]
            assert float(table.GetCellText(row, column)) == pytest.approx(expected, rel=1e-5)
    chart = scene.GetNodeByID(nodes.probabilities_chart_id)
    assert chart.GetNumberOfPlotSeriesNodes() == 1 + len(result.subtype.fold_probabilities)
    assert scene.GetNodeByID(nodes.slices_chart_id).GetNumberOfPlotSeriesNodes() == len(result.subtype.names)

    mrb = pmt_scene.save_scene_bundle(scene, module.tmp / "real.mrb")
    reloaded = slicer_stubs.make_scene()
    pmt_scene.load_scene_bundle(reloaded, mrb, module.tmp / "unpacked")
    for node_id in nodes.created_ids:
        name = scene.GetNodeByID(node_id).GetName()
        assert reloaded.GetFirstNodeByName(name) is not None, name


def test_module_loads_without_torch(tmp_path: Path) -> None:
    """Slicer must be able to load the module (and show what is missing) before torch is installed."""
    import subprocess

    code = textwrap.dedent(
        f"""
        import importlib.metadata, sys, pytest
        sys.modules["torch"] = None  # importing torch now fails, and its metadata is gone
        _version = importlib.metadata.version
        def version(name):
            if name == "torch":
                raise importlib.metadata.PackageNotFoundError(name)
            return _version(name)
        importlib.metadata.version = version
        sys.path[:0] = [{str(REPO / "Testing")!r}, {str(MODULE_DIR)!r}]
        import slicer_stubs
        slicer_stubs.install(pytest.MonkeyPatch(), __import__("pathlib").Path({str(tmp_path)!r}))
        import PancreasMultiTask
        logic = PancreasMultiTask.PancreasMultiTaskLogic()
        print("missing:", logic.missingDependencies())
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "missing: ['torch'" in done.stdout


@pytest.mark.slow
@pytest.mark.parametrize("method", ["test_Cancel", "test_BadInput"])
def test_self_test_methods_with_the_real_engine(module: SimpleNamespace, tiny_model: Path, method: str) -> None:
    """Cancel and bad input through the real CLI (a random-weight model: Dice is checked with the demo model)."""
    test_class = type(
        "SelfTest",
        (module.mod.PancreasMultiTaskTest,),
        {
            "model": str(tiny_model),
            "modelsDirectory": str(module.tmp / "models"),
            "sampleFolder": str(sample_folder(module)),
        },
    )
    outcome = test_class(method).run()
    assert outcome.wasSuccessful(), outcome.errors + outcome.failures
    assert not outcome.skipped
