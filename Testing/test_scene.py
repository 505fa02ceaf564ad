"""A ``CaseResult`` into a real ``vtkMRMLScene`` (slicer-core): segments, geometry, tables, plots, .mrb round trip."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import slicer
import vtk
from model_factory import ct_volume
from PancreasMultiTaskLib.engine.result import (
    CaseResult,
    Measurements,
    Provenance,
    SliceEntry,
    SubtypeResult,
    Uncertainty,
)
from PancreasMultiTaskLib.slicer import scene as pmt_scene
from slicer_stubs import load_volume, make_scene, put_in_study
from vtk.util import numpy_support

NAMES = ["solid", "rim-enhancing", "cystic"]


def oblique_direction(angle: float = 0.35, tilt: float = 0.2) -> tuple[float, ...]:
    """A rotation about z followed by a tilt about x: an oblique acquisition."""
    rz = np.array([[math.cos(angle), -math.sin(angle), 0], [math.sin(angle), math.cos(angle), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, math.cos(tilt), -math.sin(tilt)], [0, math.sin(tilt), math.cos(tilt)]])
    return tuple((rz @ rx).ravel().tolist())


def make_result(case_id: str, with_subtype: bool = True, with_probabilities: bool = True) -> CaseResult:
    subtype = None
    if with_subtype:
        slices = [
            SliceEntry(
                index=k,
                probabilities=[0.6 - 0.05 * k, 0.3, 0.1 + 0.05 * k],
                weight=1.0 + k,
                lesion_mass=2.0 * k,
                pancreas_mass=10.0 + k,
            )
            for k in range(4)
        ]
        subtype = SubtypeResult(
            names=NAMES,
            predicted="solid",
            probability=0.55,
            probabilities={"solid": 0.55, "rim-enhancing": 0.3, "cystic": 0.15},
            fold_probabilities={
                "0": {"solid": 0.6, "rim-enhancing": 0.25, "cystic": 0.15},
                "1": {"solid": 0.5, "rim-enhancing": 0.35, "cystic": 0.15},
            },
            pooling_requested="lesion-weighted",
            pooling_used="lesion-weighted",
            slices=slices,
            uncertainty=Uncertainty(0.1, 0.85, True, 0.2, 0.8),
        )
    return CaseResult(
        case_id=case_id,
        input_path=f"/data/{case_id}.nrrd",
        labels={"background": 0, "pancreas": 1, "lesion": 2},
        measurements=Measurements(12.5, 1.25, 14.0),
        provenance=Provenance("Tiny", "/models/tiny", "2d", "checkpoint_final.pth", ["0", "1"], True, "cpu", {}),
        timings_s={"total": 1.0},
        subtype=subtype,
        segmentation_file="segmentation.nii.gz",
        probabilities_file="lesion_probability.nii.gz" if with_probabilities else None,
    )


@pytest.fixture
def case(tmp_path: Path) -> dict:
    """A CT with an oblique direction, its prediction folder (labels, probability map, result.json)."""
    image, labels = ct_volume(shape_zyx=(6, 40, 48), direction=oblique_direction())
    ct_path = tmp_path / "ct.nrrd"
    sitk.WriteImage(image, str(ct_path))
    result_dir = tmp_path / "out" / "case1"
    result_dir.mkdir(parents=True)
    sitk.WriteImage(labels, str(result_dir / "segmentation.nii.gz"))
    probability = sitk.Cast(labels == 2, sitk.sitkFloat32) * 0.9
    probability.CopyInformation(image)
    sitk.WriteImage(probability, str(result_dir / "lesion_probability.nii.gz"))
    result = make_result("case1")
    result.write_json(result_dir / "result.json")
    return {
        "ct": ct_path,
        "dir": result_dir,
        "labels": sitk.GetArrayFromImage(labels),
        "result": CaseResult.read_json(result_dir / "result.json"),
    }


def table_column(table_node, name: str) -> list:
    table = table_node.GetTable()
    column = table.GetColumnByName(name)
    assert column is not None, f"no column {name!r}"
    return [column.GetValue(i) for i in range(table.GetNumberOfRows())]


def export_labels(scene, segmentation_node, segment_ids: list[str], volume_node) -> np.ndarray:
    labelmap = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "export")
    ok = slicer.vtkSlicerSegmentationsModuleLogic.ExportSegmentsToLabelmapNode(
        segmentation_node, segment_ids, labelmap, volume_node, slicer.vtkSegmentation.EXTENT_REFERENCE_GEOMETRY
    )
    assert ok
    image = labelmap.GetImageData()
    dims = image.GetDimensions()
    array = numpy_support.vtk_to_numpy(image.GetPointData().GetScalars()).reshape(dims[::-1])
    scene.RemoveNode(labelmap)
    return array


def ijk_to_ras(node) -> np.ndarray:
    matrix = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(matrix)
    return np.array([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)])


def test_segments_names_colors_terminology_and_geometry(case: dict) -> None:
    scene = make_scene()
    volume = load_volume(scene, case["ct"])
    study = put_in_study(scene, volume)
    nodes = pmt_scene.load_result_into_scene(scene, volume, case["result"], case["dir"])

    seg_node = scene.GetNodeByID(nodes.segmentation_id)
    segmentation = seg_node.GetSegmentation()
    assert [segmentation.GetNthSegment(i).GetName() for i in range(segmentation.GetNumberOfSegments())] == [
        "Pancreas",
        "Lesion",
    ]
    pancreas = segmentation.GetSegment(nodes.segment_ids["Pancreas"])
    lesion = segmentation.GetSegment(nodes.segment_ids["Lesion"])
    assert "SCT^15776009^Pancreas" in pancreas.GetTerminology().split("~")[2]
    assert lesion.GetTerminology().split("~")[1] == "SCT^49755003^Morphologically Altered Structure"
    assert lesion.GetTerminology().split("~")[2] == "SCT^108369006^Neoplasm"
    assert np.allclose(pancreas.GetColor(), pmt_scene.SEGMENT_STYLES[1].color)
    assert np.allclose(lesion.GetColor(), pmt_scene.SEGMENT_STYLES[2].color)
    # Terminology strings parse with Slicer's own deserializer.
    entry = slicer.vtkSlicerTerminologyEntry()
    assert slicer.vtkSlicerTerminologiesModuleLogic.DeserializeTerminologyEntry(pancreas.GetTerminology(), entry)
    assert entry.GetTypeObject().GetCodeValue() == "15776009"

    # Reference geometry is the volume's (oblique direction included), and voxels match the label file.
    geometry = slicer.vtkOrientedImageData()
    slicer.vtkSegmentationConverter.DeserializeImageGeometry(
        segmentation.GetConversionParameter("Reference image geometry"), geometry
    )
    matrix = vtk.vtkMatrix4x4()
    geometry.GetImageToWorldMatrix(matrix)
    assert np.allclose([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)], ijk_to_ras(volume), atol=1e-6)
    assert geometry.GetExtent() == volume.GetImageData().GetExtent()
    exported = export_labels(scene, seg_node, [nodes.segment_ids["Pancreas"], nodes.segment_ids["Lesion"]], volume)
    np.testing.assert_array_equal(exported, case["labels"])

    # Everything created sits in the volume's study.
    sh = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(scene)
    for node_id in (nodes.segmentation_id, nodes.probabilities_table_id, nodes.probabilities_chart_id):
        assert sh.GetItemParent(sh.GetItemByDataNode(scene.GetNodeByID(node_id))) == study


def test_tables_equal_result_json(case: dict) -> None:
    scene = make_scene()
    volume = load_volume(scene, case["ct"])
    result = case["result"]
    nodes = pmt_scene.load_result_into_scene(scene, volume, result, case["dir"])

    probabilities = scene.GetNodeByID(nodes.probabilities_table_id)
    assert table_column(probabilities, "Subtype") == NAMES
    assert table_column(probabilities, "Case") == pytest.approx([result.subtype.probabilities[n] for n in NAMES])
    for fold, values in result.subtype.fold_probabilities.items():
        assert table_column(probabilities, f"Fold {fold}") == pytest.approx([values[n] for n in NAMES])

    measurements = scene.GetNodeByID(nodes.measurements_table_id)
    values = dict(zip(table_column(measurements, "Quantity"), table_column(measurements, "Value"), strict=True))
    assert values["Pancreas volume"] == pytest.approx(result.measurements.pancreas_volume_ml)
    assert values["Lesion volume"] == pytest.approx(result.measurements.lesion_volume_ml)
    assert values["Lesion largest axial diameter"] == pytest.approx(result.measurements.lesion_max_axial_diameter_mm)
    assert values["Probability of solid"] == pytest.approx(0.55)
    assert values["Uncertain"] == 1.0
    assert measurements.GetAttribute("PancreasMultiTask.Verdict") == result.verdict()

    slices = scene.GetNodeByID(nodes.slices_table_id)
    assert table_column(slices, "Slice") == [s.index for s in result.subtype.slices]
    assert table_column(slices, "Weight") == pytest.approx([s.weight for s in result.subtype.slices])
    assert table_column(slices, "cystic") == pytest.approx([s.probabilities[2] for s in result.subtype.slices])


def test_plot_series_and_probability_volume(case: dict) -> None:
    scene = make_scene()
    volume = load_volume(scene, case["ct"])
    nodes = pmt_scene.load_result_into_scene(scene, volume, case["result"], case["dir"])

    chart = scene.GetNodeByID(nodes.probabilities_chart_id)
    series = [chart.GetNthPlotSeriesNode(i) for i in range(chart.GetNumberOfPlotSeriesNodes())]
    assert [s.GetYColumnName() for s in series] == ["Case", "Fold 0", "Fold 1"]
    assert all(s.GetPlotType() == slicer.vtkMRMLPlotSeriesNode.PlotTypeBar for s in series)
    assert all(s.GetTableNodeID() == nodes.probabilities_table_id for s in series)

    chart = scene.GetNodeByID(nodes.slices_chart_id)
    series = [chart.GetNthPlotSeriesNode(i) for i in range(chart.GetNumberOfPlotSeriesNodes())]
    assert [s.GetYColumnName() for s in series] == NAMES
    assert all(s.GetXColumnName() == "Slice" for s in series)

    probability = scene.GetNodeByID(nodes.probability_volume_id)
    assert np.allclose(ijk_to_ras(probability), ijk_to_ras(volume), atol=1e-6)
    dims = probability.GetImageData().GetDimensions()
    array = numpy_support.vtk_to_numpy(probability.GetImageData().GetPointData().GetScalars()).reshape(dims[::-1])
    np.testing.assert_allclose(array, (case["labels"] == 2) * 0.9, atol=1e-6)


def test_scene_saves_to_mrb_and_reloads(case: dict, tmp_path: Path) -> None:
    scene = make_scene()
    volume = load_volume(scene, case["ct"])
    nodes = pmt_scene.load_result_into_scene(scene, volume, case["result"], case["dir"])
    names = {scene.GetNodeByID(i).GetName(): scene.GetNodeByID(i).GetClassName() for i in nodes.created_ids}

    mrb = pmt_scene.save_scene_bundle(scene, tmp_path / "saved" / "case1.mrb")
    assert mrb.is_file()
    reloaded = make_scene()
    pmt_scene.load_scene_bundle(reloaded, mrb, tmp_path / "unpacked")
    for name, class_name in names.items():
        node = reloaded.GetFirstNodeByName(name)
        assert node is not None, f"{name} missing after reload"
        assert node.GetClassName() == class_name
    seg = reloaded.GetFirstNodeByName("case1 segmentation").GetSegmentation()
    lesion = seg.GetSegment(seg.GetSegmentIdBySegmentName("Lesion"))
    assert lesion.GetTerminology().split("~")[2] == "SCT^108369006^Neoplasm"
    table = reloaded.GetFirstNodeByName("case1 subtype probabilities")
    assert table_column(table, "Case") == pytest.approx([0.55, 0.3, 0.15])
    chart = reloaded.GetFirstNodeByName("case1 subtype probabilities chart")
    assert chart.GetNumberOfPlotSeriesNodes() == 3


def test_user_segmentation_updated_only_in_its_own_segments(case: dict) -> None:
    scene = make_scene()
    volume = load_volume(scene, case["ct"])
    user_seg = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "My segmentation")
    user_seg.SetReferenceImageGeometryParameterFromVolumeNode(volume)
    user_seg.GetSegmentation().AddEmptySegment("liver", "Liver", [0.5, 0.2, 0.1])
    user_seg.GetSegmentation().AddEmptySegment("old_pancreas", "Pancreas", [0.0, 1.0, 0.0])
    other_table = scene.AddNewNodeByClass("vtkMRMLTableNode", "case1 subtype probabilities")
    before = {scene.GetNthNode(i).GetID() for i in range(scene.GetNumberOfNodes())}

    nodes = pmt_scene.load_result_into_scene(scene, volume, case["result"], case["dir"], segmentation_node=user_seg)
    assert nodes.segmentation_id == user_seg.GetID()
    assert nodes.segment_ids["Pancreas"] == "old_pancreas"
    segmentation = user_seg.GetSegmentation()
    assert segmentation.GetSegment("liver").GetName() == "Liver"
    assert [segmentation.GetNthSegment(i).GetName() for i in range(segmentation.GetNumberOfSegments())] == [
        "Liver",
        "Pancreas",
        "Lesion",
    ]
    assert other_table.GetNumberOfRows() == 0
    assert scene.GetNodeByID(nodes.probabilities_table_id).GetName() != "case1 subtype probabilities"
    assert before.isdisjoint(nodes.created_ids)


def test_segmentation_only_result(case: dict) -> None:
    scene = make_scene()
    volume = load_volume(scene, case["ct"])
    result = make_result("case1", with_subtype=False, with_probabilities=False)
    nodes = pmt_scene.load_result_into_scene(scene, volume, result, case["dir"])
    assert nodes.probabilities_table_id is None and nodes.probabilities_chart_id is None
    assert scene.GetNodeByID(nodes.measurements_table_id).GetNumberOfRows() == 3
    assert scene.GetNumberOfNodesByClass("vtkMRMLPlotChartNode") == 0


def test_failures_leave_the_scene_unchanged(case: dict, tmp_path: Path) -> None:
    scene = make_scene()
    volume = load_volume(scene, case["ct"])
    before = scene.GetNumberOfNodes()

    result = case["result"]
    result.segmentation_file = "missing.nii.gz"
    with pytest.raises(ValueError, match="segmentation file is missing"):
        pmt_scene.load_result_into_scene(scene, volume, result, case["dir"])

    other_dir = tmp_path / "other"
    other_dir.mkdir()
    _, small_labels = ct_volume(shape_zyx=(5, 30, 30))
    sitk.WriteImage(small_labels, str(other_dir / "segmentation.nii.gz"))
    result.segmentation_file = "segmentation.nii.gz"
    result.probabilities_file = None
    with pytest.raises(ValueError, match="does not match the input volume"):
        pmt_scene.load_result_into_scene(scene, volume, result, other_dir)
    assert scene.GetNumberOfNodes() == before

    # A probability map of another geometry fails after the tables were made: all of it is undone,
    # and the user's output segmentation is not touched.
    user_seg = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "Mine")
    user_seg.GetSegmentation().AddEmptySegment("liver", "Liver")
    before = scene.GetNumberOfNodes()
    sitk.WriteImage(sitk.Cast(small_labels, sitk.sitkFloat32), str(case["dir"] / "bad_probability.nii.gz"))
    result.probabilities_file = "bad_probability.nii.gz"
    with pytest.raises(ValueError, match="does not match the input volume"):
        pmt_scene.load_result_into_scene(scene, volume, result, case["dir"], segmentation_node=user_seg)
    assert scene.GetNumberOfNodes() == before
    assert user_seg.GetSegmentation().GetNumberOfSegments() == 1


def test_terminology_entry_format() -> None:
    entry = pmt_scene.terminology_entry(pmt_scene.ANATOMICAL_STRUCTURE, pmt_scene.PANCREAS)
    assert entry == (
        "Segmentation category and type - DICOM master list~SCT^123037004^Anatomical Structure"
        "~SCT^15776009^Pancreas~^^~Anatomic codes - DICOM master list~^^~^^"
    )


@pytest.mark.parametrize(
    ("how", "expect_node"),
    [
        ("auto: body crop, then the localizer's gland box + 20 mm", True),
        ("box given in RAS mm [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]", False),
    ],
)
def test_a_region_found_by_auto_becomes_an_roi_node_in_the_same_place(case: dict, how: str, expect_node: bool) -> None:
    from PancreasMultiTaskLib.slicer.logic import PredictionLogic

    scene = make_scene()
    volume = load_volume(scene, case["ct"])
    result = case["result"]
    box = [-12.5, -30.0, 4.0, 20.0, 6.5, 18.0]
    result.provenance.roi, result.provenance.roi_how = box, how
    nodes = pmt_scene.load_result_into_scene(scene, volume, result, case["dir"])

    assert (nodes.roi_id is not None) == expect_node
    assert scene.GetNumberOfNodesByClass("vtkMRMLMarkupsROINode") == int(expect_node)
    if expect_node:
        roi = scene.GetNodeByID(nodes.roi_id)
        assert roi.GetName() == "case1 ROI (auto)"
        assert roi.GetAttribute("PancreasMultiTask.RoiHow") == how
        # Read back the way a re-run reads the panel's ROI: the same LPS box goes to the engine.
        assert PredictionLogic.roiBoundsLPS(roi) == pytest.approx(box)
        assert pmt_scene.stored_result(scene, nodes).roi is roi
        assert pmt_scene.find_results(scene)[-1].roi is roi


def test_a_whole_volume_result_adds_no_roi_node(case: dict) -> None:
    scene = make_scene()
    volume = load_volume(scene, case["ct"])
    result = case["result"]
    result.provenance.roi, result.provenance.roi_how = None, "auto: body crop found nothing to cut away"
    nodes = pmt_scene.load_result_into_scene(scene, volume, result, case["dir"])
    assert nodes.roi_id is None and scene.GetNumberOfNodesByClass("vtkMRMLMarkupsROINode") == 0
