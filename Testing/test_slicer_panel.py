"""The panel beyond its MRML nodes: the verdict's text and colour from the assessment (withheld never looks like an
answer), the research notice beside it, the per-slice chart's axis named for the input's own slice axis, the
devices found before the run, the options through the parameter node, an old Slicer's panel, translation."""

from __future__ import annotations

import ast
import importlib
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import SimpleITK as sitk
import slicer
import slicer_stubs
from PancreasMultiTaskLib.engine.demo import sample_case
from PancreasMultiTaskLib.engine.options import slicer_parameters
from PancreasMultiTaskLib.engine.result import Assessment, CaseResult, SliceEntry
from PancreasMultiTaskLib.slicer import devices
from PancreasMultiTaskLib.slicer import scene as pmt_scene
from PancreasMultiTaskLib.slicer.panel import COLORS, verdict_display
from test_scene import make_result
from test_slicer_extension import Recorder, panel
from test_slicer_module import MODULE_DIR, add_ct, fake_logic
from test_slicer_module import module as module

NOTICE = "synthetic demo model: not for clinical images"


# The verdict and its colour


def test_every_outcome_has_its_own_colour_and_withheld_is_not_an_answers() -> None:
    shown = {
        "answered": verdict_display("Subtype: solid (p = 0.70, confident)", predicted="solid"),
        "warnings": verdict_display(
            "Subtype: solid (p = 0.70, confident); warning: spacing outside training",
            status="answered-with-warnings", reasons=["spacing outside training"], predicted="solid",
        ),
        "withheld": verdict_display("Subtype: withheld (field of view)", status="withheld", reasons=["field of view"]),
        "no lesion": verdict_display("No lesion found", lesion_found=False),
        "segmentation only": verdict_display("Segmentation only", has_subtype=False),
    }  # fmt: skip
    colours = {name: d.color for name, d in shown.items()}
    assert len(set(colours.values())) == len(colours), colours
    assert shown["withheld"].color == COLORS["withheld"] and "withheld" in shown["withheld"].headline.lower()
    assert shown["withheld"].reasons == ["field of view"] and "&bull; field of view" in shown["withheld"].html()
    assert shown["warnings"].headline == "Subtype: solid (p = 0.70, confident) (with warnings)"
    assert shown["no lesion"].headline == "No lesion found" and shown["answered"].outcome == "answered"


def test_withheld_wins_even_with_a_predicted_name_and_the_notice_stands_apart() -> None:
    shown = verdict_display(
        f"Subtype: withheld (outside) [{NOTICE}]", status="withheld", reasons=["outside"], notice=NOTICE, predicted="x"
    )
    assert shown.outcome == "withheld" and shown.notice == NOTICE and NOTICE not in shown.html()
    answered = verdict_display(f"Subtype: solid (p = 0.70, confident) [{NOTICE}]", notice=NOTICE, predicted="solid")
    assert answered.headline == "Subtype: solid (p = 0.70, confident)" and answered.notice == NOTICE
    assert "<b>a &lt;b&gt;</b>" in verdict_display("a <b>", predicted="a").html()  # engine text is escaped
    assert verdict_display("x", status="withheld", tr=str.upper).headline.startswith("SUBTYPE WITHHELD")


def result_folder(tmp_path: Path, result: CaseResult, like: Path) -> Path:
    """A prediction folder for ``result`` whose labels have the geometry of the image ``like``."""
    folder = tmp_path / "out" / result.case_id
    folder.mkdir(parents=True)
    image = sitk.ReadImage(str(like))
    labels = sitk.Image(image.GetSize(), sitk.sitkUInt8)
    labels.CopyInformation(image)
    sitk.WriteImage(labels, str(folder / "segmentation.nii.gz"))
    result.probabilities_file = None
    result.write_json(folder / "result.json")
    return folder


def load(volume: object, folder: Path) -> pmt_scene.SceneNodes:
    result = CaseResult.read_json(folder / "result.json")
    return pmt_scene.load_result_into_scene(slicer.mrmlScene, volume, result, folder)


def test_a_withheld_subtype_shows_why_in_red_with_no_table_or_chart(module: SimpleNamespace) -> None:
    volume = add_ct(module)
    result = make_result("withheld", with_probabilities=False)
    result.withhold_subtype()
    result.assessment = Assessment("withheld", ["lesion volume outside the training range"], True, NOTICE)
    folder = result_folder(module.tmp, result, module.tmp / "CT.nrrd")
    nodes = pmt_scene.load_result_into_scene(
        slicer.mrmlScene, volume, CaseResult.read_json(folder / "result.json"), folder
    )
    widget = panel(module, [module.model])
    for stored in (pmt_scene.stored_result(slicer.mrmlScene, nodes), pmt_scene.find_results(slicer.mrmlScene)[-1]):
        widget._showResult(stored, "cpu")
        assert stored.probabilities_table is None and stored.charts == []
        assert widget.ui.verdictLabel.styleSheet == f"color: {COLORS['withheld']};"
        assert "lesion volume outside the training range" in widget.ui.verdictLabel.text
        assert widget.ui.resultNoticeLabel.text == NOTICE and widget.ui.resultNoticeLabel.visible is True
        assert widget.ui.subtypeTableView.called_setMRMLTableNode == (None,)
        assert widget.ui.probabilityPlotWidget.visible is False and widget.ui.slicePlotWidget.visible is False


def test_no_lesion_found_is_not_an_answer_either(module: SimpleNamespace) -> None:
    volume = add_ct(module)
    result = make_result("empty", with_probabilities=False)
    result.withhold_subtype()
    result.assessment = Assessment("answered", [], False, None)
    folder = result_folder(module.tmp, result, module.tmp / "CT.nrrd")
    nodes = pmt_scene.load_result_into_scene(
        slicer.mrmlScene, volume, CaseResult.read_json(folder / "result.json"), folder
    )
    shown = pmt_scene.stored_result(slicer.mrmlScene, nodes).display()
    assert shown.outcome == "no-lesion" and shown.color == COLORS["no-lesion"] and shown.notice == ""


# The per-slice chart's axis


def spr_sample(folder: Path) -> Path:
    """The bundled sample stored SPR, as some scanners write it: its axial slices step along the first index."""
    path = folder / "sample_spr.nii.gz"
    sitk.WriteImage(sitk.DICOMOrient(sitk.ReadImage(str(sample_case())), "SPR"), str(path))
    return path


def sample_slices(path: Path, count: int = 3) -> list[SliceEntry]:
    """Per-slice entries as the engine writes them for the axial slices of the image at ``path``: their LPS
    centres."""
    image = sitk.ReadImage(str(path))
    axis = int(np.argmax(np.abs(np.array(image.GetDirection()).reshape(3, 3)[2])))  # nearest to S-I
    entries = []
    for k in range(count):
        index = [0, 0, 0]
        index[axis] = k
        entries.append(SliceEntry(k, [1.0], 1.0, 0.0, 0.0, list(image.TransformIndexToPhysicalPoint(index))))
    return entries


def test_the_chart_names_the_inputs_own_slice_axis(module: SimpleNamespace) -> None:
    """A volume stored SPR: its axial slices step along I, not K."""
    path = spr_sample(module.tmp)
    volume = slicer_stubs.load_volume(slicer.mrmlScene, path, "sample")
    assert volume.GetImageData().GetDimensions() == tuple(sitk.ReadImage(str(path)).GetSize())
    slices = sample_slices(path)
    assert pmt_scene.slice_axis_title(volume, slices) == "Input slice index along I"
    assert pmt_scene.slice_axis_letter(np.eye(3).tolist(), []) == "K"  # no positions: the axis nearest S-I
    assert pmt_scene.slice_axis_letter([[0, 0, 1], [1, 0, 0], [0, 1, 0]], []) == "J"

    result = make_result("sample", with_probabilities=False)
    result.subtype.slices = slices
    folder = result_folder(module.tmp, result, path)
    nodes = pmt_scene.load_result_into_scene(
        slicer.mrmlScene, volume, CaseResult.read_json(folder / "result.json"), folder
    )
    chart = slicer.mrmlScene.GetNodeByID(nodes.slices_chart_id)
    assert chart.GetXAxisTitle() == "Input slice index along I"


# Devices


class Properties(SimpleNamespace):
    pass


def torch_stand_in(gpus: list[tuple[str, int]], mps: bool) -> SimpleNamespace:
    cuda = SimpleNamespace(
        is_available=lambda: bool(gpus),
        device_count=lambda: len(gpus),
        get_device_properties=lambda i: Properties(name=gpus[i][0], total_memory=gpus[i][1]),
    )
    return SimpleNamespace(
        cuda=cuda, backends=SimpleNamespace(mps=SimpleNamespace(is_available=lambda: mps)), __version__="2.8.0"
    )


def test_cuda_is_found_with_its_name_and_memory_and_auto_says_so() -> None:
    found = devices.find_devices(torch_stand_in([("NVIDIA H200", 150_000_000_000), ("NVIDIA H200", 1)], True), "linux")
    assert found.cuda[0] == devices.CudaDevice("NVIDIA H200", 150_000_000_000) and found.mps is False
    choices = devices.device_choices(found)
    assert [c.value for c in choices] == ["auto", "cpu", "cuda"]
    assert choices[0].label == "auto: CUDA (NVIDIA H200, 139.7 GiB)"
    assert choices[2].label == "cuda: NVIDIA H200, 139.7 GiB (GPU 0 of 2)"
    assert devices.FoundDevices.from_json(found.to_json()) == found


@pytest.mark.parametrize("system", ["linux", "win32"])
def test_mps_is_never_offered_off_macos(system: str) -> None:
    found = devices.find_devices(torch_stand_in([], True), system)
    assert [c.value for c in devices.device_choices(found)] == ["auto", "cpu"]
    assert devices.device_choices(found)[0].label == "auto: CPU"


def test_mps_on_macos_and_nothing_found_yet() -> None:
    found = devices.find_devices(torch_stand_in([], True), "darwin")
    choices = devices.device_choices(found)
    assert [c.value for c in choices] == ["auto", "cpu", "mps"] and choices[0].label == "auto: Apple MPS"
    assert [c.value for c in devices.device_choices(None)] == ["auto", "cpu"]
    assert "looking" in devices.device_choices(None)[0].label


def test_the_probe_asks_torch_in_a_child_process(tmp_path: Path) -> None:
    import torch

    found = devices.DeviceProbe(sys.executable).wait()
    assert found.problem == "" and found.torch_version == torch.__version__
    assert len(found.cuda) == (torch.cuda.device_count() if torch.cuda.is_available() else 0)
    assert found.mps is (sys.platform == "darwin" and torch.backends.mps.is_available())
    failing = tmp_path / "python"
    failing.write_text("#!/bin/sh\necho 'no torch here' >&2\nexit 3\n")
    failing.chmod(0o755)
    broken = devices.DeviceProbe(str(failing)).wait()
    assert broken.cuda == [] and broken.problem == "Could not look for devices: no torch here"
    assert devices.device_choices(broken)[0].tooltip.endswith("no torch here")


class ItemCombo:
    """A QComboBox stand-in with items, item data and signals that can be blocked."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self.data: dict[int, object] = {}
        self.currentIndex = -1

    @property
    def count(self) -> int:
        return len(self.items)

    def clear(self) -> None:
        self.items, self.data, self.currentIndex = [], {}, -1

    def addItem(self, text: str) -> None:
        self.items.append(text)

    def setItemData(self, index: int, value: object, role: object = None) -> None:
        self.data[index] = value

    def blockSignals(self, block: bool) -> bool:
        return False


def test_the_device_list_follows_what_was_found_and_the_parameter_node(module: SimpleNamespace) -> None:
    widget = panel(module, [module.model])
    widget.ui.deviceComboBox = ItemCombo()
    params = widget.logic.getParameterNode()
    params.device = "cuda"  # a scene saved on a computer with a GPU
    widget.setParameterNode(params)
    widget._showDevices(None)
    assert widget.ui.deviceComboBox.items[0].startswith("auto (looking") and params.device == "auto"
    widget._showDevices(devices.find_devices(torch_stand_in([("RTX", 8 * 2**30)], False), "linux"))
    assert widget.ui.deviceComboBox.items == ["auto: CUDA (RTX, 8.0 GiB)", "cpu", "cuda: RTX, 8.0 GiB"]
    widget._onDeviceChanged(2)
    assert params.device == "cuda"
    params.device = "cpu"
    widget._onParameterNodeModified()
    assert widget.ui.deviceComboBox.currentIndex == 1


# Options through the parameter node


def test_every_panel_option_reaches_the_engine_through_the_parameter_node(module: SimpleNamespace) -> None:
    """Each option set in the parameter node (as the panel's widgets do) is on the command line the CLI gets."""
    from PancreasMultiTaskLib.cli.main import build_parser

    chosen = {}
    for name, option in slicer_parameters():
        if name in ("model", "device"):
            continue
        if option.kind is bool:
            chosen[name] = not option.default
        elif option.choices:
            chosen[name] = next(c for c in option.choices if c != option.default)
        else:
            chosen[name] = "0, 1"
    logic = fake_logic(module)
    params = logic.getParameterNode()
    for name, value in chosen.items():
        setattr(params, name, value)
    params.device = "cpu"
    volume = add_ct(module)
    options = {name: getattr(params, name) for name, _option in module.mod.PANEL_OPTIONS if name != "model"}
    logic.keepWorkDirectories = True
    job = logic.process(volume, module.model, waitForCompletion=True, timeout=120, **options)
    assert job.error == ""
    argv = json.loads((job.workDir / "output" / "args.json").read_text())
    parsed = build_parser().parse_args(argv)
    offered = dict(slicer_parameters())
    for name, value in {**chosen, "device": "cpu"}.items():
        expected = ["0", "1"] if offered[name].many else value
        assert getattr(parsed, offered[name].name) == expected, name


def test_the_ui_offers_each_option_where_options_py_says() -> None:
    """Main section or Advanced, label and binding: the .ui matches ``engine/options.py``."""
    import xml.etree.ElementTree as ElementTree

    root = ElementTree.parse(MODULE_DIR / "Resources" / "UI" / "PancreasMultiTask.ui").getroot()
    sections = {s.get("name"): s for s in root.iter("widget") if s.get("class") == "ctkCollapsibleButton"}

    def bound_in(section: str) -> dict[str, str]:
        """Parameter name -> the label text of its grid row."""
        layout = sections[section].find("layout")
        cells = {(i.get("row"), i.get("column")): i for i in layout.findall("item")}
        found = {}
        for (row, _column), item in cells.items():
            for widget in item.iter("widget"):
                for prop in widget.findall("property"):
                    if prop.get("name") == "SlicerParameterName":
                        label = cells[(row, "0")].find("widget/property/string").text
                        found[prop.find("string").text] = label
        return found

    main, advanced = bound_in("parametersCollapsibleButton"), bound_in("advancedCollapsibleButton")
    for name, option in slicer_parameters():
        if name in ("model", "device"):  # the model list and the device list are filled by the widget
            continue
        section = advanced if option.advanced else main
        assert name in section, f"{name} belongs in {'Advanced' if option.advanced else 'the main section'}"
        assert section[name].startswith(option.label), (name, section[name])
    assert not any(n in advanced for n, o in slicer_parameters() if not o.advanced)


# An old Slicer, translation


def test_an_old_slicers_panel_enters_without_a_logic(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    app = slicer_stubs.install(monkeypatch, tmp_path / "app")
    monkeypatch.setattr(app, "minorVersion", 8)
    monkeypatch.syspath_prepend(str(MODULE_DIR))
    monkeypatch.delitem(sys.modules, "PancreasMultiTask", raising=False)
    mod = importlib.import_module("PancreasMultiTask")
    try:
        widget = mod.PancreasMultiTaskWidget()
        widget.layout = Recorder()
        widget.setup()
        assert widget.logic is None
        widget.enter()
        widget.exit()
    finally:
        sys.modules.pop("PancreasMultiTask", None)


USER_FACING = {"errorDisplay", "warningDisplay", "confirmOkCancelDisplay", "tryWithErrorDisplay", "QLabel"}


def test_user_visible_strings_are_wrapped_for_translation() -> None:
    """No bare string reaches a dialog, a label or a button: each goes through ``_()`` first."""
    tree = ast.parse((MODULE_DIR / "PancreasMultiTask.py").read_text())
    bare = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            called = getattr(node.func, "attr", getattr(node.func, "id", ""))
            if called in USER_FACING or called in ("addAction", "getExistingDirectory", "getOpenFileName"):
                bare += [ast.unparse(a) for a in node.args if isinstance(a, ast.Constant | ast.JoinedStr)]
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant | ast.JoinedStr):
            target = node.targets[0]
            if isinstance(target, ast.Attribute) and target.attr in ("text", "toolTip", "title", "helpText"):
                bare.append(ast.unparse(node))
    assert [b for b in bare if b.strip("'\"")] == []
    source = (MODULE_DIR / "PancreasMultiTask.py").read_text()
    assert "from slicer.i18n import tr as _" in source and '_("Apply")' in source


def test_the_region_auto_found_becomes_the_panels_roi_for_the_next_run(module: SimpleNamespace) -> None:
    volume = add_ct(module)
    result = make_result("auto", with_probabilities=False)
    result.provenance.roi, result.provenance.roi_how = [-5.0, -6.0, 0.0, 5.0, 6.0, 4.0], "auto: body crop + localizer"
    nodes = load(volume, result_folder(module.tmp, result, module.tmp / "CT.nrrd"))
    widget = panel(module, [module.model])
    widget.ui.advancedCollapsibleButton = Recorder()
    widget._timer = Recorder()
    params = widget.logic.getParameterNode()
    params.inputVolume = volume
    widget.setParameterNode(params)
    assert params.roi is None
    job = SimpleNamespace(error="", cancelled=False, nodes=nodes, deviceUsed="cpu", volumeNode=volume)
    widget._onFinished(job)
    assert params.roi is not None and params.roi.GetID() == nodes.roi_id
    assert "Apply to re-run" in widget.ui.statusLabel.text
    # A region the user gave stays theirs: the next result does not replace it.
    mine = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLMarkupsROINode", "mine")
    params.roi = mine
    widget._onFinished(job)
    assert params.roi is mine
