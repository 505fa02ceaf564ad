"""A ``CaseResult`` as MRML nodes: segmentation, tables, plot charts and the lesion probability volume.

Pure MRML (no Qt, no ``slicer.app``): runs inside Slicer and under ``slicer-core`` with a bare ``vtkMRMLScene``.
Nothing that exists in the scene is changed, except a segmentation node passed in as the output, and in that
node only the Pancreas and Lesion segments.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..engine.labels import LABEL_COLORS, LESION_LABEL, PANCREAS_LABEL, SERIES_COLORS
from ..engine.result import CaseResult, SliceEntry
from ..engine.roi import lps_to_ras
from .panel import VerdictDisplay, verdict_display

TERMINOLOGY_CONTEXT = "Segmentation category and type - DICOM master list"
ANATOMIC_CONTEXT = "Anatomic codes - DICOM master list"


@dataclass(frozen=True)
class Code:
    """One coded concept (scheme, value, meaning), as DICOM writes it."""

    scheme: str
    value: str
    meaning: str

    def serialize(self) -> str:
        return f"{self.scheme}^{self.value}^{self.meaning}"


EMPTY_CODE = Code("", "", "")
ANATOMICAL_STRUCTURE = Code("SCT", "123037004", "Anatomical Structure")
MORPHOLOGICALLY_ALTERED_STRUCTURE = Code("SCT", "49755003", "Morphologically Altered Structure")
PANCREAS = Code("SCT", "15776009", "Pancreas")
NEOPLASM = Code("SCT", "108369006", "Neoplasm")
TISSUE = Code("SCT", "85756007", "Tissue")


def terminology_entry(category: Code, type_: Code, region: Code = EMPTY_CODE) -> str:
    """Slicer's serialized terminology entry (the segment's ``TerminologyEntry`` tag)."""
    return "~".join(
        (
            TERMINOLOGY_CONTEXT,
            category.serialize(),
            type_.serialize(),
            EMPTY_CODE.serialize(),
            ANATOMIC_CONTEXT,
            region.serialize(),
            EMPTY_CODE.serialize(),
        )
    )


@dataclass(frozen=True)
class SegmentStyle:
    """Terminology and display color of one label."""

    terminology: str
    color: tuple[float, float, float]


SEGMENT_STYLES: dict[int, SegmentStyle] = {
    PANCREAS_LABEL: SegmentStyle(terminology_entry(ANATOMICAL_STRUCTURE, PANCREAS), LABEL_COLORS[PANCREAS_LABEL]),
    LESION_LABEL: SegmentStyle(
        terminology_entry(MORPHOLOGICALLY_ALTERED_STRUCTURE, NEOPLASM, PANCREAS), LABEL_COLORS[LESION_LABEL]
    ),
}
# Category and type both "Tissue": a valid pair of the DICOM master list (Anatomical Structure ~ Tissue is not).
OTHER_STYLE = SegmentStyle(terminology_entry(TISSUE, TISSUE), (0.5, 0.5, 0.9))

NODE_ATTRIBUTE_PREFIX = "PancreasMultiTask."


@dataclass
class SceneNodes:
    """IDs of the nodes one result became; ``created_ids`` lists every node this load added."""

    segmentation_id: str
    segment_ids: dict[str, str]
    measurements_table_id: str
    probabilities_table_id: str | None = None
    slices_table_id: str | None = None
    probabilities_chart_id: str | None = None
    slices_chart_id: str | None = None
    plot_series_ids: list[str] = field(default_factory=list)
    probability_volume_id: str | None = None
    roi_id: str | None = None
    created_ids: list[str] = field(default_factory=list)


def segment_name(label_name: str) -> str:
    """Display name of a label from ``dataset.json``: ``pancreas`` becomes ``Pancreas``."""
    name = label_name.replace("_", " ").strip()
    return name[:1].upper() + name[1:] if name.islower() else name


def load_result_into_scene(
    scene: Any,
    volume_node: Any,
    result: CaseResult,
    result_dir: str | Path,
    segmentation_node: Any = None,
) -> SceneNodes:
    """Add one result to ``scene`` as nodes placed beside ``volume_node`` (same study, same parent transform).

    ``segmentation_node``, when given, receives the segments (only the segments of this result's labels are
    replaced); otherwise a new segmentation node is made. On any failure every node added so far is removed.
    """
    result_dir = Path(result_dir)
    if volume_node is None or volume_node.GetImageData() is None:
        raise ValueError("The input volume node has no image data.")
    if not result.segmentation_file:
        raise ValueError(f"{result_dir / 'result.json'}: names no segmentation file")
    label_path = result_dir / result.segmentation_file
    if not label_path.is_file():
        raise ValueError(f"{label_path}: segmentation file is missing")
    probability_path = result_dir / result.probabilities_file if result.probabilities_file else None
    if probability_path is not None and not probability_path.is_file():
        raise ValueError(f"{probability_path}: lesion probability file is missing")

    created: list[str] = []

    def add_node(class_name: str, name: str) -> Any:
        node = scene.AddNewNodeByClass(class_name, scene.GenerateUniqueName(name))
        created.append(node.GetID())
        return node

    case = result.case_id
    labelmap = _read_volume(scene, label_path, "vtkMRMLLabelMapVolumeNode", temporary=True)
    try:
        _to_volume_frame(labelmap, volume_node)
        _check_same_geometry(labelmap, volume_node, label_path)
        nodes = SceneNodes(
            segmentation_id="",
            segment_ids={},
            measurements_table_id=_add_measurements_table(add_node, result).GetID(),
        )
        roi = _add_found_roi(add_node, result)
        nodes.roi_id = roi.GetID() if roi is not None else None
        if result.subtype is not None and result.subtype.predicted is not None:  # withheld: no tables, no charts
            _add_subtype_nodes(add_node, result, nodes, slice_axis_title(volume_node, result.subtype.slices))
        if probability_path is not None:
            probability = _read_volume(scene, probability_path, "vtkMRMLScalarVolumeNode", temporary=False)
            probability.SetName(scene.GenerateUniqueName(f"{case} lesion probability"))
            created.append(probability.GetID())
            _to_volume_frame(probability, volume_node)
            _check_same_geometry(probability, volume_node, probability_path)
            probability.SetAndObserveTransformNodeID(volume_node.GetTransformNodeID())
            _show_as_probability(probability)
            nodes.probability_volume_id = probability.GetID()
        # The segmentation comes last, so that a failure above leaves a user's output node untouched.
        if segmentation_node is None:
            segmentation_node = add_node("vtkMRMLSegmentationNode", f"{case} segmentation")
            segmentation_node.CreateDefaultDisplayNodes()
            # The transform first: the reference geometry is taken relative to the segmentation's own frame.
            segmentation_node.SetAndObserveTransformNodeID(volume_node.GetTransformNodeID())
            segmentation_node.SetReferenceImageGeometryParameterFromVolumeNode(volume_node)
        elif segmentation_node.GetSegmentation().GetNumberOfSegments() == 0:
            segmentation_node.SetReferenceImageGeometryParameterFromVolumeNode(volume_node)
        nodes.segment_ids = _import_segments(segmentation_node, labelmap, result.labels)
        nodes.segmentation_id = segmentation_node.GetID()
        for node_id in dict.fromkeys([*created, nodes.segmentation_id]):
            scene.GetNodeByID(node_id).SetAttribute(NODE_ATTRIBUTE_PREFIX + "CaseId", case)
        in_order = sorted(created, key=lambda node_id: node_id != nodes.segmentation_id)
        _place_in_study(scene, volume_node, [scene.GetNodeByID(i) for i in in_order])
    except Exception:
        for node_id in reversed(created):
            node = scene.GetNodeByID(node_id)
            if node is not None:
                _remove_with_storage(scene, node)
        raise
    finally:
        _remove_with_storage(scene, labelmap)
    nodes.created_ids = created
    return nodes


def _read_volume(scene: Any, path: Path, class_name: str, *, temporary: bool) -> Any:
    """Read an image file into a new volume node; no storage node stays behind."""
    import slicer

    node = scene.AddNewNodeByClass(class_name, scene.GenerateUniqueName("__PancreasMultiTask_temp__"))
    storage = slicer.vtkMRMLVolumeArchetypeStorageNode()
    storage.SetScene(scene)
    storage.SetFileName(str(path))
    storage.SetSingleFile(True)
    if not storage.ReadData(node) or node.GetImageData() is None:
        scene.RemoveNode(node)
        raise ValueError(f"{path}: cannot read image")
    if not temporary:
        node.CreateDefaultDisplayNodes()
    return node


def _remove_with_storage(scene: Any, node: Any) -> None:
    for index in range(node.GetNumberOfDisplayNodes() if hasattr(node, "GetNumberOfDisplayNodes") else 0):
        display = node.GetNthDisplayNode(index)
        if display is not None:
            scene.RemoveNode(display)
    storage = node.GetStorageNode() if hasattr(node, "GetStorageNode") else None
    if storage is not None:
        scene.RemoveNode(storage)
    scene.RemoveNode(node)


def _geometry(node: Any) -> tuple[tuple[int, ...], list[float]]:
    import vtk

    matrix = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(matrix)
    return tuple(node.GetImageData().GetDimensions()), [matrix.GetElement(r, c) for r in range(3) for c in range(4)]


def _to_volume_frame(node: Any, volume_node: Any) -> None:
    """Bring a volume read from a result (world coordinates: the input was exported with its linear parent
    transform hardened) into the coordinates of ``volume_node``, which results share with it."""
    import vtk

    parent = volume_node.GetParentTransformNode()
    if parent is None:
        return
    if not parent.IsTransformToWorldLinear():
        raise ValueError(f"{volume_node.GetName()!r} is under a non-linear transform; harden it first")
    from_world, ijk_to_ras, local = vtk.vtkMatrix4x4(), vtk.vtkMatrix4x4(), vtk.vtkMatrix4x4()
    parent.GetMatrixTransformFromWorld(from_world)
    node.GetIJKToRASMatrix(ijk_to_ras)
    vtk.vtkMatrix4x4.Multiply4x4(from_world, ijk_to_ras, local)
    node.SetIJKToRASMatrix(local)
    node.SetAndObserveTransformNodeID(volume_node.GetTransformNodeID())


def _check_same_geometry(node: Any, volume_node: Any, path: Path) -> None:
    dims, matrix = _geometry(node)
    ref_dims, ref_matrix = _geometry(volume_node)
    if dims != ref_dims or not all(
        math.isclose(a, b, rel_tol=1e-4, abs_tol=1e-3) for a, b in zip(matrix, ref_matrix, strict=True)
    ):
        raise ValueError(
            f"{path}: geometry (size {dims}) does not match the input volume {volume_node.GetName()!r} "
            f"(size {ref_dims}); was it predicted from another image?"
        )


def ensure_segmentation_converters() -> None:
    """Register the standard segmentation conversion rules if nobody has (Slicer does; bare slicer-core does not).

    Without them a segmentation cannot hold an empty binary labelmap segment.
    """
    import slicer

    factory = slicer.vtkSegmentationConverterFactory.GetInstance()
    if factory.GetConverterRules():
        return
    for rule in (
        slicer.vtkBinaryLabelmapToClosedSurfaceConversionRule,
        slicer.vtkClosedSurfaceToBinaryLabelmapConversionRule,
        slicer.vtkClosedSurfaceToFractionalLabelmapConversionRule,
        slicer.vtkFractionalLabelmapToClosedSurfaceConversionRule,
    ):
        factory.RegisterConverterRule(rule())


def _import_segments(segmentation_node: Any, labelmap: Any, labels: dict[str, int]) -> dict[str, str]:
    """Import labels 1..N as segments named from ``labels``; returns {segment name: segment ID}."""
    import slicer
    import vtk

    ensure_segmentation_converters()
    by_value = {int(v): segment_name(k) for k, v in labels.items() if int(v) > 0}
    if not by_value:
        raise ValueError("result.json lists no foreground labels")
    segmentation = segmentation_node.GetSegmentation()
    ids = vtk.vtkStringArray()
    segment_ids: dict[str, str] = {}
    for value in range(1, max(by_value) + 1):
        name = by_value.get(value, f"Label {value}")
        existing = segmentation.GetSegmentIdBySegmentName(name)
        segment_id = existing or segmentation.GenerateUniqueSegmentID(name.replace(" ", "_"))
        if not existing:
            segmentation.AddEmptySegment(segment_id, name)
        ids.InsertNextValue(segment_id)
        segment_ids[name] = segment_id
    messages = slicer.vtkMRMLMessageCollection()
    if not slicer.vtkSlicerSegmentationsModuleLogic.ImportLabelmapToSegmentationNode(
        labelmap, segmentation_node, ids, messages
    ):
        raise RuntimeError(f"Importing the segmentation failed: {messages.GetAllMessagesAsString().strip()}")
    for value in range(1, max(by_value) + 1):
        segment = segmentation.GetSegment(ids.GetValue(value - 1))
        style = SEGMENT_STYLES.get(value, OTHER_STYLE)
        segment.SetName(by_value.get(value, f"Label {value}"))
        segment.SetNameAutoGenerated(False)
        segment.SetColor(*style.color)
        segment.SetColorAutoGenerated(False)
        segment.SetTerminology(style.terminology)
    return {name: segment_ids[name] for name in by_value.values()}


def _new_table(add_node: Any, name: str, columns: list[tuple[str, str]]) -> tuple[Any, Any]:
    """A table node with typed columns (``string``, ``double`` or ``int``); returns (node, vtkTable)."""
    import vtk

    node = add_node("vtkMRMLTableNode", name)
    table = node.GetTable()
    array_class = {"string": vtk.vtkStringArray, "double": vtk.vtkDoubleArray, "int": vtk.vtkIntArray}
    for column_name, kind in columns:
        array = array_class[kind]()
        array.SetName(column_name)
        table.AddColumn(array)
    return node, table


def _set_row(table: Any, row: int, values: list[Any]) -> None:
    import vtk

    for column, value in enumerate(values):
        table.SetValue(row, column, vtk.vtkVariant(value))


def _add_measurements_table(add_node: Any, result: CaseResult) -> Any:
    m = result.measurements
    rows: list[tuple[str, float, str]] = [
        ("Pancreas volume", m.pancreas_volume_ml, "mL"),
        ("Lesion volume", m.lesion_volume_ml, "mL"),
        ("Lesion largest axial diameter", m.lesion_max_axial_diameter_mm, "mm"),
    ]
    if result.subtype is not None and result.subtype.predicted is not None:
        u = result.subtype.uncertainty
        rows += [
            (f"Probability of {result.subtype.predicted}", result.subtype.probability, ""),
            ("Fold spread", *((math.nan, "not measured (one fold)") if u.fold_spread is None else (u.fold_spread, ""))),
            ("Normalized entropy", u.normalized_entropy, ""),
            ("Uncertain", 1.0 if u.uncertain else 0.0, "flag"),
        ]
    node, table = _new_table(
        add_node, f"{result.case_id} measurements", [("Quantity", "string"), ("Value", "double"), ("Unit", "string")]
    )
    table.SetNumberOfRows(len(rows))
    for row, values in enumerate(rows):
        _set_row(table, row, list(values))
    node.SetAttribute(NODE_ATTRIBUTE_PREFIX + "Verdict", result.verdict())
    _set_assessment_attributes(node, result)
    if result.subtype is not None and result.subtype.predicted is not None:
        node.SetAttribute(NODE_ATTRIBUTE_PREFIX + "PredictedSubtype", result.subtype.predicted)
    node.SetAttribute(NODE_ATTRIBUTE_PREFIX + "ModelName", result.provenance.model_name)
    table.Modified()
    node.SetLocked(True)
    return node


def _add_found_roi(add_node: Any, result: CaseResult) -> Any:
    """The region the engine found by itself (``--roi auto``) as a markups ROI the user can adjust and re-run
    in; ``None`` when the region was given (it is already the user's) or was the whole volume.

    The engine's box is in world LPS (the input was exported in world coordinates), so the node is placed in
    world RAS, under no transform.
    """
    provenance = result.provenance
    if provenance is None or provenance.roi is None or not (provenance.roi_how or "").startswith("auto"):
        return None
    ras = lps_to_ras(provenance.roi)
    low = [min(ras[i], ras[i + 3]) for i in range(3)]
    high = [max(ras[i], ras[i + 3]) for i in range(3)]
    node = add_node("vtkMRMLMarkupsROINode", f"{result.case_id} ROI (auto)")
    node.CreateDefaultDisplayNodes()
    node.SetXYZ([(a + b) / 2 for a, b in zip(low, high, strict=True)])
    node.SetRadiusXYZ([(b - a) / 2 for a, b in zip(low, high, strict=True)])
    node.SetAttribute(NODE_ATTRIBUTE_PREFIX + "RoiHow", provenance.roi_how)
    return node


def _set_assessment_attributes(node: Any, result: CaseResult) -> None:
    """The assessment on the measurements table, so a saved scene shows the same verdict, colour and notice."""
    a = result.assessment
    node.SetAttribute(NODE_ATTRIBUTE_PREFIX + "Status", a.status)
    node.SetAttribute(NODE_ATTRIBUTE_PREFIX + "Reasons", json.dumps(list(a.reasons)))
    node.SetAttribute(NODE_ATTRIBUTE_PREFIX + "LesionFound", "1" if a.lesion_found else "0")
    node.SetAttribute(NODE_ATTRIBUTE_PREFIX + "Notice", a.notice or "")
    node.SetAttribute(NODE_ATTRIBUTE_PREFIX + "HasSubtype", "1" if result.subtype is not None else "0")


def slice_axis_title(volume_node: Any, slices: Sequence[SliceEntry]) -> str:
    """The per-slice chart's x axis: the input's own voxel axis the entries are indexed along (``I``, ``J`` or
    ``K``), e.g. ``Input slice index along I`` for a volume stored SPR, whose axial slices step along I."""
    return f"Input slice index along {slice_axis_letter(_ijk_to_world_ras(volume_node), slices)}"


def slice_axis_letter(ijk_to_ras: Sequence[Sequence[float]], slices: Sequence[SliceEntry]) -> str:
    """The voxel axis whose direction (a column of ``ijk_to_ras``, 3x3) the slices' LPS centres step along; without
    two positioned slices, the axis nearest the patient's superior-inferior direction (the axial slices' normal)."""
    step = _slice_step_ras(slices)
    columns = [[ijk_to_ras[r][c] for r in range(3)] for c in range(3)]
    target = step if step is not None else [0.0, 0.0, 1.0]
    scores = [abs(sum(a * b for a, b in zip(col, target, strict=True))) / (math.hypot(*col) or 1.0) for col in columns]
    return "IJK"[scores.index(max(scores))]


def _slice_step_ras(slices: Sequence[SliceEntry]) -> list[float] | None:
    """The RAS step from one slice's centre to the next (``None`` without two positioned slices)."""
    placed = [e for e in slices if e.position_mm is not None]
    if len(placed) < 2 or placed[-1].index == placed[0].index:
        return None
    first, last = placed[0], placed[-1]
    lps = [(b - a) / (last.index - first.index) for a, b in zip(first.position_mm, last.position_mm, strict=True)]
    return [-lps[0], -lps[1], lps[2]]


def _ijk_to_world_ras(volume_node: Any) -> list[list[float]]:
    """The volume's IJK-to-RAS direction in world coordinates (its linear parent transform applied, as the
    exported input the positions come from)."""
    import vtk

    matrix, world = vtk.vtkMatrix4x4(), vtk.vtkMatrix4x4()
    volume_node.GetIJKToRASMatrix(matrix)
    parent = volume_node.GetParentTransformNode()
    if parent is not None and parent.IsTransformToWorldLinear():
        to_world = vtk.vtkMatrix4x4()
        parent.GetMatrixTransformToWorld(to_world)
        vtk.vtkMatrix4x4.Multiply4x4(to_world, matrix, world)
        matrix = world
    return [[matrix.GetElement(r, c) for c in range(3)] for r in range(3)]


def slice_index_k(entry: Any) -> int:
    """The input's own slice index k of a per-slice entry (``index`` in result.json)."""
    return int(entry.index)


def fold_column(fold: str) -> str:
    """Table column name of one fold's probabilities."""
    return f"Fold {fold}"


def _add_subtype_nodes(add_node: Any, result: CaseResult, nodes: SceneNodes, axis_title: str) -> None:
    import slicer

    subtype = result.subtype
    assert subtype is not None
    case = result.case_id
    folds = list(subtype.fold_probabilities)
    columns = [("Subtype", "string"), ("Index", "int"), ("Case", "double")]
    columns += [(fold_column(f), "double") for f in folds]
    probabilities, table = _new_table(add_node, f"{case} subtype probabilities", columns)
    table.SetNumberOfRows(len(subtype.names))
    for row, name in enumerate(subtype.names):
        values = [name, row, float(subtype.probabilities[name])]
        values += [float(subtype.fold_probabilities[f].get(name, math.nan)) for f in folds]
        _set_row(table, row, values)
    table.Modified()
    probabilities.SetLocked(True)
    probabilities.SetAttribute(NODE_ATTRIBUTE_PREFIX + "Table", "probabilities")
    nodes.probabilities_table_id = probabilities.GetID()

    nodes.probabilities_chart_id = _probability_chart(
        add_node,
        nodes,
        probabilities,
        f"{case} subtype probabilities chart",
        f"{case}: {result.verdict()}",
        ("Index", "Subtype"),
        {f"{case} {column}": column for column in ["Case"] + [fold_column(f) for f in folds]},
        slicer.vtkMRMLPlotSeriesNode.PlotTypeBar,
        label_column="Subtype",
    )

    columns = [("Slice", "int"), ("Weight", "double"), ("Lesion mass", "double"), ("Pancreas mass", "double")]
    columns += [(name, "double") for name in subtype.names]
    slices, table = _new_table(add_node, f"{case} per-slice subtype probabilities", columns)
    table.SetNumberOfRows(len(subtype.slices))
    for row, entry in enumerate(subtype.slices):
        values = [slice_index_k(entry), float(entry.weight), float(entry.lesion_mass), float(entry.pancreas_mass)]
        values += [float(p) for p in entry.probabilities]
        _set_row(table, row, values)
    table.Modified()
    slices.SetLocked(True)
    nodes.slices_table_id = slices.GetID()

    nodes.slices_chart_id = _probability_chart(
        add_node,
        nodes,
        slices,
        f"{case} per-slice subtype probabilities chart",
        f"{case}: subtype probability per axial slice ({subtype.pooling_used} pooling)",
        ("Slice", axis_title),
        {f"{case} per-slice {name}": name for name in subtype.names},
        slicer.vtkMRMLPlotSeriesNode.PlotTypeScatter,
    )


def _probability_chart(
    add_node: Any,
    nodes: SceneNodes,
    table: Any,
    name: str,
    title: str,
    x_axis: tuple[str, str],
    series_columns: dict[str, str],
    plot_type: int,
    label_column: str | None = None,
) -> str:
    """A plot chart of probability columns of ``table`` (one series each); returns the chart's ID."""
    chart = add_node("vtkMRMLPlotChartNode", name)
    chart.SetTitle(title)
    chart.SetXAxisTitle(x_axis[1])
    chart.SetYAxisTitle("Probability")
    chart.SetYAxisRangeAuto(False)  # without it SetYAxisRange has no effect
    chart.SetYAxisRange(0.0, 1.0)
    for index, (series_name, column) in enumerate(series_columns.items()):
        series = add_node("vtkMRMLPlotSeriesNode", series_name)
        series.SetAndObserveTableNodeID(table.GetID())
        series.SetPlotType(plot_type)
        series.SetXColumnName(x_axis[0])
        if label_column:
            series.SetLabelColumnName(label_column)
        series.SetYColumnName(column)
        series.SetColor(*SERIES_COLORS[index % len(SERIES_COLORS)])
        chart.AddAndObservePlotSeriesNodeID(series.GetID())
        nodes.plot_series_ids.append(series.GetID())
    return chart.GetID()


def _show_as_probability(volume: Any) -> None:
    display = volume.GetDisplayNode()
    if display is None:
        return
    display.AutoWindowLevelOff()
    display.SetWindowLevelMinMax(0.0, 1.0)
    scene = volume.GetScene()
    color_id = "vtkMRMLColorTableNodeFileColdToHotRainbow.txt"
    if scene is not None and scene.GetNodeByID(color_id) is not None:
        display.SetAndObserveColorNodeID(color_id)


def _place_in_study(scene: Any, volume_node: Any, nodes: list[Any]) -> None:
    """Put ``nodes`` under the subject hierarchy parent of ``volume_node`` (its study, when it has one)."""
    import slicer

    sh = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(scene)
    if sh is None:
        return
    volume_item = sh.GetItemByDataNode(volume_node)
    parent = sh.GetItemParent(volume_item) if volume_item else sh.GetSceneItemID()
    for node in nodes:
        if node is None or node.GetHideFromEditors():
            continue
        item = sh.GetItemByDataNode(node)
        if item:
            sh.SetItemParent(item, parent)
        else:
            sh.CreateItem(parent, node)


@dataclass
class StoredResult:
    """A result found in a scene (e.g. one loaded from a saved .mrb): its verdict, assessment and nodes."""

    case_id: str
    verdict: str
    measurements_table: Any
    probabilities_table: Any = None
    segmentation: Any = None
    probability_volume: Any = None
    charts: list[Any] = field(default_factory=list)
    status: str = "answered"
    reasons: list[str] = field(default_factory=list)
    lesion_found: bool = True
    notice: str = ""
    has_subtype: bool = True
    predicted: str | None = None
    #: The region found by ``--roi auto`` as a markups ROI node (``None`` when the user gave the region).
    roi: Any = None

    def display(self, tr: Callable[[str], str] = str) -> VerdictDisplay:
        """The verdict as the panel shows it (text, colour, notice)."""
        return verdict_display(
            self.verdict, status=self.status, reasons=self.reasons, lesion_found=self.lesion_found,
            notice=self.notice, has_subtype=self.has_subtype, predicted=self.predicted, tr=tr,
        )  # fmt: skip


def _assessment_of(measurements: Any) -> dict[str, Any]:
    """The assessment fields stored on a measurements table (scenes saved before they existed: answered)."""

    def attribute(name: str) -> str | None:
        return measurements.GetAttribute(NODE_ATTRIBUTE_PREFIX + name)

    try:
        reasons = [str(r) for r in json.loads(attribute("Reasons") or "[]")]
    except (ValueError, TypeError):
        reasons = []
    return {
        "verdict": attribute("Verdict") or "",
        "status": attribute("Status") or "answered",
        "reasons": reasons,
        "lesion_found": attribute("LesionFound") != "0",
        "notice": attribute("Notice") or "",
        "has_subtype": attribute("HasSubtype") != "0",
        "predicted": attribute("PredictedSubtype") or None,
    }


def find_results(scene: Any) -> list[StoredResult]:
    """Results stored in ``scene`` by :func:`load_result_into_scene`, read back from the nodes' attributes
    (oldest first), so a saved scene shows its verdict again when it is loaded."""
    by_case: dict[str, dict[str, list[Any]]] = {}
    for index in range(scene.GetNumberOfNodes()):
        node = scene.GetNthNode(index)
        case = node.GetAttribute(NODE_ATTRIBUTE_PREFIX + "CaseId")
        if case:
            by_case.setdefault(case, {}).setdefault(node.GetClassName(), []).append(node)
    results = []
    for case, nodes in by_case.items():
        tables = nodes.get("vtkMRMLTableNode", [])
        measurements = [t for t in tables if t.GetAttribute(NODE_ATTRIBUTE_PREFIX + "Verdict")]
        if not measurements:
            continue
        probabilities = [t for t in tables if t.GetAttribute(NODE_ATTRIBUTE_PREFIX + "Table") == "probabilities"]
        results.append(
            StoredResult(
                case_id=case,
                measurements_table=measurements[-1],
                probabilities_table=probabilities[-1] if probabilities else None,
                segmentation=(nodes.get("vtkMRMLSegmentationNode") or [None])[-1],
                probability_volume=(nodes.get("vtkMRMLScalarVolumeNode") or [None])[-1],
                charts=nodes.get("vtkMRMLPlotChartNode", []),
                roi=(nodes.get("vtkMRMLMarkupsROINode") or [None])[-1],
                **_assessment_of(measurements[-1]),
            )
        )
    return results


def stored_result(scene: Any, nodes: SceneNodes) -> StoredResult:
    """The :class:`StoredResult` of the nodes one load just made."""
    measurements = scene.GetNodeByID(nodes.measurements_table_id)
    charts = [scene.GetNodeByID(i) for i in (nodes.probabilities_chart_id, nodes.slices_chart_id) if i]
    return StoredResult(
        case_id=measurements.GetAttribute(NODE_ATTRIBUTE_PREFIX + "CaseId") or "",
        measurements_table=measurements,
        probabilities_table=scene.GetNodeByID(nodes.probabilities_table_id) if nodes.probabilities_table_id else None,
        segmentation=scene.GetNodeByID(nodes.segmentation_id),
        probability_volume=scene.GetNodeByID(nodes.probability_volume_id) if nodes.probability_volume_id else None,
        charts=charts,
        roi=scene.GetNodeByID(nodes.roi_id) if nodes.roi_id else None,
        **_assessment_of(measurements),
    )


def save_scene_bundle(scene: Any, mrb_path: str | Path) -> Path:
    """Save ``scene`` with its data as a Slicer data bundle (``.mrb``) without the Slicer application."""
    import slicer

    mrb_path = Path(mrb_path)
    if mrb_path.suffix.lower() != ".mrb":
        raise ValueError(f"{mrb_path}: a scene bundle must end in .mrb")
    application_logic = slicer.vtkMRMLApplicationLogic()
    application_logic.SetMRMLScene(scene)
    with tempfile.TemporaryDirectory(prefix="pmt-mrb-") as tmp:
        bundle = Path(tmp) / mrb_path.stem
        bundle.mkdir()
        messages = slicer.vtkMRMLMessageCollection()
        if not application_logic.SaveSceneToSlicerDataBundleDirectory(str(bundle), None, messages):
            raise RuntimeError(f"{mrb_path}: saving the scene failed: {messages.GetAllMessagesAsString().strip()}")
        mrb_path.parent.mkdir(parents=True, exist_ok=True)
        if not application_logic.Zip(str(mrb_path), str(bundle)):
            raise RuntimeError(f"{mrb_path}: writing the scene bundle failed")
    return mrb_path


def load_scene_bundle(scene: Any, mrb_path: str | Path, work_dir: str | Path) -> None:
    """Load a ``.mrb`` into ``scene``, unpacking it in ``work_dir``."""
    import slicer

    Path(work_dir).mkdir(parents=True, exist_ok=True)
    application_logic = slicer.vtkMRMLApplicationLogic()
    application_logic.SetMRMLScene(scene)
    messages = slicer.vtkMRMLMessageCollection()
    if not application_logic.OpenSlicerDataBundle(str(mrb_path), str(work_dir), messages):
        raise RuntimeError(f"{mrb_path}: loading the scene bundle failed: {messages.GetAllMessagesAsString().strip()}")
