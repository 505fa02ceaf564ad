"""Preview pictures: a PNG per case to see at a glance whether a segmentation is sane, and a contact sheet.

Drawn with matplotlib's Agg canvas (no display, no pyplot state). Names come from strangers' files (case,
subtype and model names), so every text is drawn literally: ``$`` is escaped (no math text) and LaTeX is off.
Views follow the radiological display convention: the patient's right on the image's left, anterior up (axial),
superior up (coronal); pixels keep their physical aspect ratio. Outlines use the Slicer segments' colours.
"""

from __future__ import annotations

import html
import os
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..engine.io import atomic_path
from ..engine.labels import LABEL_COLORS, LESION_LABEL, PANCREAS_LABEL, SERIES_COLORS
from ..engine.orientation import input_slice_indices
from ..engine.result import CaseResult

PREVIEW_FILE = "preview.png"
SHEET_FILE = "previews.png"
INDEX_FILE = "index.html"
WINDOW_WIDTH, WINDOW_LEVEL = 400.0, 40.0
FIGURE_SIZE_IN, DPI = (12.0, 6.5), 100
PREVIEW_SIZE_PX = (round(FIGURE_SIZE_IN[0] * DPI), round(FIGURE_SIZE_IN[1] * DPI))  # width, height
SHEET_ROW_WIDTH_PX, SHEET_MAX_ROWS = 900, 60


@dataclass
class DisplayPlanes:
    """An axial and a coronal plane in display convention, with what is needed to draw and label them."""

    axial: np.ndarray  # rows anterior -> posterior, columns patient right -> left
    axial_labels: np.ndarray
    coronal: np.ndarray  # rows superior -> inferior, columns patient right -> left
    coronal_labels: np.ndarray
    axial_aspect: float  # pixel height / width, from the spacing
    coronal_aspect: float
    axial_row: int  # the axial plane's row in the coronal view, and the coronal plane's row in the axial view
    coronal_row: int
    slice_k: int  # the axial plane's slice index along the input's own slice axis (as result.json's slices)


def display_planes(image: sitk.Image, segmentation: sitk.Image) -> DisplayPlanes:
    """The axial slice with the largest lesion area (else pancreas area, else the middle) and a coronal plane
    through the lesion (else the pancreas), both in radiological display convention."""
    ct = sitk.DICOMOrient(image, "LPS")
    labels = sitk.DICOMOrient(segmentation, "LPS")
    volume = sitk.GetArrayFromImage(ct).astype(np.float32)  # z (inferior -> superior), y (A -> P), x (R -> L)
    seg = sitk.GetArrayFromImage(labels)
    if volume.shape != seg.shape:
        raise ValueError(f"segmentation size {seg.shape[::-1]} differs from the image's {volume.shape[::-1]}")
    target = next((seg == label for label in (LESION_LABEL, PANCREAS_LABEL) if (seg == label).any()), None)
    if target is None:
        z, y = seg.shape[0] // 2, seg.shape[1] // 2
    else:
        z = int(np.argmax(target.sum(axis=(1, 2))))
        y = round(float(np.nonzero(target[z])[0].mean()))
    sx, sy, sz = ct.GetSpacing()
    # the same slice index as result.json's per-slice entries: along the input's own slice axis
    k = input_slice_indices(ct, image, z, 1)[0][0]
    return DisplayPlanes(
        axial=volume[z],
        axial_labels=seg[z],
        coronal=volume[::-1, y, :],
        coronal_labels=seg[::-1, y, :],
        axial_aspect=sy / sx,
        coronal_aspect=sz / sx,
        axial_row=seg.shape[0] - 1 - z,
        coronal_row=y,
        slice_k=k,
    )


def literal(text: object) -> str:
    """``text`` as matplotlib draws it literally: a ``$`` pair would start math text (``p$\\foo$q`` fails to parse)."""
    return str(text).replace("$", r"\$")


def _slice_axis(result: CaseResult) -> tuple[list[int], str]:
    """Per-slice x values: the input's own slice index k (``index`` in result.json)."""
    entries = result.subtype.slices if result.subtype is not None else []
    return [int(e.index) for e in entries], "input slice index k"


def _draw_plane(ax, plane: np.ndarray, labels: np.ndarray, aspect: float, marks: tuple[str, str, str, str]) -> None:
    low, high = WINDOW_LEVEL - WINDOW_WIDTH / 2, WINDOW_LEVEL + WINDOW_WIDTH / 2
    ax.imshow(plane, cmap="gray", vmin=low, vmax=high, aspect=aspect, interpolation="nearest")
    for label in (PANCREAS_LABEL, LESION_LABEL):
        mask = labels == label
        if mask.any():
            ax.contour(mask.astype(np.float32), levels=[0.5], colors=[LABEL_COLORS[label]], linewidths=1.6)
    top, bottom, left, right = marks
    style = {"color": "white", "fontsize": 9, "fontweight": "bold", "transform": ax.transAxes}
    ax.text(0.5, 0.98, top, ha="center", va="top", **style)
    ax.text(0.5, 0.02, bottom, ha="center", va="bottom", **style)
    ax.text(0.02, 0.5, left, ha="left", va="center", **style)
    ax.text(0.98, 0.5, right, ha="right", va="center", **style)
    ax.set_xticks([])
    ax.set_yticks([])


def case_figure(image: sitk.Image, segmentation: sitk.Image, result: CaseResult):
    """The preview of one case as a matplotlib Figure (not drawn yet)."""
    from matplotlib.figure import Figure

    planes = display_planes(image, segmentation)
    fig = Figure(figsize=FIGURE_SIZE_IN, dpi=DPI)
    grid = fig.add_gridspec(2, 3, height_ratios=(2.3, 1.0), width_ratios=(1.0, 1.0, 0.9), hspace=0.35, wspace=0.25)
    m = result.measurements
    fig.suptitle(
        literal(
            f"{result.case_id}: {result.verdict()}\nlesion {m.lesion_volume_ml:.1f} mL, largest axial diameter "
            f"{m.lesion_max_axial_diameter_mm:.1f} mm; pancreas {m.pancreas_volume_ml:.1f} mL; "
            f"model {result.provenance.model_name}, folds {', '.join(result.provenance.folds)}"
        ),
        fontsize=10,
    )

    axial = fig.add_subplot(grid[0, 0])
    _draw_plane(axial, planes.axial, planes.axial_labels, planes.axial_aspect, ("A", "P", "R", "L"))
    axial.axhline(planes.coronal_row, color="yellow", linewidth=0.6, linestyle=":")
    axial.set_title(f"axial, slice k = {planes.slice_k} (largest lesion)", fontsize=9)
    coronal = fig.add_subplot(grid[0, 1])
    _draw_plane(coronal, planes.coronal, planes.coronal_labels, planes.coronal_aspect, ("S", "I", "R", "L"))
    coronal.axhline(planes.axial_row, color="yellow", linewidth=0.6, linestyle=":")
    coronal.set_title("coronal (dotted: the other view's plane)", fontsize=9)

    bars = fig.add_subplot(grid[0, 2])
    curve = fig.add_subplot(grid[1, :])
    if result.subtype is None or result.subtype.predicted is None:
        reason = (
            "segmentation only: no subtype classifier"
            if result.subtype is None
            else "\n".join(textwrap.wrap(result.verdict(), 60))
        )
        for ax in (bars, curve):
            ax.text(0.5, 0.5, reason, ha="center", va="center", fontsize=9, wrap=True)
            ax.set_axis_off()
        return fig
    s = result.subtype
    names = list(s.names)
    colours = [SERIES_COLORS[i % len(SERIES_COLORS)] for i in range(len(names))]
    y = np.arange(len(names))
    bars.barh(y, [s.probabilities[n] for n in names], height=0.6, color=colours, alpha=0.85)
    for probabilities in s.fold_probabilities.values():
        bars.plot([probabilities[n] for n in names], y, "k|", markersize=12)
    for i, name in enumerate(names):
        bars.text(0.01, i - 0.34, literal(f"{name}  {s.probabilities[name]:.2f}"), fontsize=9, va="bottom")
    bars.set_yticks([])
    bars.set_ylim(len(names) - 0.5, -0.75)
    bars.set_xlim(0, 1)
    bars.set_xlabel("probability (bars: ensemble, ticks: folds)", fontsize=8)
    flag = "UNCERTAIN" if s.uncertainty.uncertain else "confident"
    bars.set_title(literal(f"{s.predicted} p = {s.probability:.2f}, {flag}"), fontsize=9, fontweight="bold")

    x, axis_name = _slice_axis(result)
    if x:
        probabilities = np.asarray([e.probabilities for e in s.slices], dtype=float)
        weights = np.asarray([e.weight for e in s.slices], dtype=float)
        if weights.max() > 0:
            curve.fill_between(x, 0, weights / weights.max(), step="mid", color="0.85", label="pooling weight")
        for i, name in enumerate(names):
            curve.plot(x, probabilities[:, i], marker=".", color=colours[i], label=literal(name))
        curve.axvline(planes.slice_k, color="0.3", linestyle="--", linewidth=0.8, label="axial view")
        curve.legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(names) + 2, frameon=False)
    curve.set_ylim(0, 1.02)
    curve.set_xlabel(literal(f"{axis_name}    (case probabilities: {s.pooling_used} pooling)"), fontsize=9)
    curve.set_ylabel("per-slice p", fontsize=9)
    return fig


def save_figure(fig, path: Path) -> Path:
    """Render a Figure with the Agg canvas to a PNG, atomically (temporary name, then rename)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=fig.dpi)
    return path


def _plain_text():
    """Matplotlib settings under which figures are made: no LaTeX (a user's matplotlibrc may turn it on)."""
    import matplotlib

    return matplotlib.rc_context({"text.usetex": False})


def write_case_preview(case_dir: str | Path, image: sitk.Image | None = None) -> Path:
    """``case_dir/preview.png`` from the case's ``result.json``, its segmentation and the input image."""
    from ..engine.io import read_image

    case_dir = Path(case_dir)
    result = CaseResult.read_json(case_dir / "result.json")
    if not result.segmentation_file:
        raise ValueError(f"{case_dir / 'result.json'}: names no segmentation file")
    segmentation = sitk.ReadImage(str(case_dir / result.segmentation_file))
    if image is None:
        image = read_image(result.input_path)
    with _plain_text():
        return save_figure(case_figure(image, segmentation, result), case_dir / PREVIEW_FILE)


@dataclass
class SheetRow:
    """One case on the contact sheet: its preview, or why it has none."""

    case_id: str
    preview: Path | None
    error: str = ""
    #: The case's verdict line (with the model's notice), written beside its picture in ``index.html``.
    verdict: str = ""


def write_contact_sheet(output_dir: str | Path, rows: list[SheetRow]) -> Path:
    """``previews.png``: one row per case (at most ``SHEET_MAX_ROWS``), failed cases marked, beside an
    ``index.html`` that lists every case (written first, so it is there even if the picture fails)."""
    output_dir = Path(output_dir)
    _write_index(output_dir, rows)
    with _plain_text():
        return save_figure(_sheet_figure(rows), output_dir / SHEET_FILE)


def _sheet_figure(rows: list[SheetRow]):
    """The contact sheet as a matplotlib Figure: a case's preview, or its name and why it has none."""
    from matplotlib.figure import Figure
    from matplotlib.image import imread

    shown = rows[:SHEET_MAX_ROWS]
    width_in = SHEET_ROW_WIDTH_PX / DPI
    row_in = width_in * PREVIEW_SIZE_PX[1] / PREVIEW_SIZE_PX[0]
    fig = Figure(figsize=(width_in, row_in * len(shown) + 0.4), dpi=DPI)
    grid = fig.add_gridspec(len(shown), 1, hspace=0.02, left=0, right=1, bottom=0, top=1 - 0.4 / fig.get_figheight())
    fig.suptitle(
        f"{len(rows)} cases, {sum(1 for r in rows if r.error)} failed"
        + (f" (first {len(shown)} shown; all in {INDEX_FILE})" if len(rows) > len(shown) else ""),
        fontsize=10,
    )
    for i, row in enumerate(shown):
        ax = fig.add_subplot(grid[i, 0])
        ax.set_axis_off()
        if row.error or row.preview is None:
            ax.add_patch(_failed_patch(ax))
            text = literal(f"{row.case_id}: FAILED\n{row.error or 'no preview'}")
            ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True, transform=ax.transAxes)
        else:
            ax.imshow(imread(row.preview), interpolation="antialiased")
    return fig


def _failed_patch(ax):
    from matplotlib.patches import Rectangle

    return Rectangle((0, 0), 1, 1, transform=ax.transAxes, facecolor="0.9", edgecolor="black", hatch="//")


def _write_index(output_dir: Path, rows: list[SheetRow]) -> Path:
    """``index.html``: every case's preview (or its failure) in one page, beside ``summary.csv``."""
    items = []
    for row in rows:
        name = html.escape(row.case_id)
        if row.error or row.preview is None:
            items.append(f'<section class="failed"><h2>{name}: FAILED</h2><p>{html.escape(row.error)}</p></section>')
        else:
            link = html.escape(os.path.relpath(row.preview, output_dir).replace(os.sep, "/"))
            verdict = f"<p>{html.escape(row.verdict)}</p>" if row.verdict else ""
            items.append(
                f'<section><h2>{name}</h2>{verdict}<a href="{link}"><img src="{link}" width="900"></a></section>'
            )
    page = (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>pancreas-mt previews</title>'
        "<style>body{font-family:sans-serif} .failed{background:#eee;border:2px solid #000;padding:4px}</style>"
        '</head><body><h1>pancreas-mt previews</h1><p><a href="summary.csv">summary.csv</a></p>\n'
        + "\n".join(items)
        + "\n</body></html>\n"
    )
    path = output_dir / INDEX_FILE
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return path
