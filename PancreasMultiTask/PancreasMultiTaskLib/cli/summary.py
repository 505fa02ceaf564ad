"""``summary.csv``: one row per case, in one schema, written by the CLI and by batch mode alike.

Columns, always in this order:

``case_id``
    the case's name, from its file or folder name (``result.json``'s ``case_id``)
``folder``
    the case's output folder under OUTDIR (the case id, or a safe name for it: ``engine.io.case_folder_name``);
    empty for a failed case, as nothing of this run was written for it
``status``
    ``ok`` or ``failed``
``assessment``
    ``answered``, ``answered-with-warnings`` or ``withheld`` (``result.json``'s ``assessment.status``); empty for
    a failed case
``subtype``, ``probability``, ``uncertain``
    the predicted subtype, its probability (0..1, 4 decimals) and ``true``/``false``; empty for a failed case,
    a segmentation-only model, a withheld answer and "no lesion found" (``subtype`` then says ``no lesion``)
``pancreas_volume_ml``, ``lesion_volume_ml``, ``lesion_max_axial_diameter_mm``
    the measurements (3, 3 and 2 decimals); empty for a failed case
``feature_distance``, ``feature_limit``
    how unlike the model's training images the case is, and the limit beyond which it is withheld (3 decimals;
    ``result.json``'s ``assessment``); empty where the model has no feature reference
``p_<subtype>`` ...
    each subtype's case probability (4 decimals), in the model's order; these columns exist when some case
    has a subtype (not for a segmentation-only model, nor when every case failed)
``reasons``
    the assessment's reasons, ``; ``-separated (why an answer was withheld or warned)
``notice``
    the model's notice beside every verdict (a synthetic model: ``synthetic demo model: not for clinical images``)
``message``
    why a case failed, or a note on an ``ok`` case (batch mode: ``segmentation.seg.nrrd not written: ...``)

Text cells that start with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return get a leading ``'`` (OWASP's
advice against CSV formula injection: case names, subtype names and messages come from strangers'
files); numbers we write stay numbers, a negative one included.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path

from ..engine.result import CaseResult

SUMMARY_FILE = "summary.csv"
LEADING_COLUMNS = (
    "case_id",
    "folder",
    "status",
    "assessment",
    "subtype",
    "probability",
    "uncertain",
    "pancreas_volume_ml",
    "lesion_volume_ml",
    "lesion_max_axial_diameter_mm",
    "feature_distance",
    "feature_limit",
)
TRAILING_COLUMNS = ("reasons", "notice", "message")
PROBABILITY_PREFIX = "p_"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

Cell = str | int | float
Row = dict[str, Cell]


def summary_name(part_id: int = 0, num_parts: int = 1) -> str:
    """``summary.csv``, or ``summary_part<i>of<n>.csv`` for a shard, so shards in one folder never collide."""
    return SUMMARY_FILE if num_parts == 1 else f"summary_part{part_id}of{num_parts}.csv"


def case_row(case_id: str, result: CaseResult | None, folder: str = "", message: str = "") -> Row:
    """The row of a finished case (``result``) or of a failed one (``None``, with ``message`` saying why)."""
    row: Row = {"case_id": case_id, "folder": folder if result is not None else "", "message": message}
    row["status"] = "ok" if result is not None else "failed"
    if result is None:
        return row
    m = result.measurements
    row["pancreas_volume_ml"] = round(float(m.pancreas_volume_ml), 3)
    row["lesion_volume_ml"] = round(float(m.lesion_volume_ml), 3)
    row["lesion_max_axial_diameter_mm"] = round(float(m.lesion_max_axial_diameter_mm), 2)
    a = result.assessment
    row.update(assessment=a.status, reasons="; ".join(a.reasons), notice=a.notice or "")
    if a.feature_distance is not None and a.feature_limit is not None:
        row.update(feature_distance=round(a.feature_distance, 3), feature_limit=round(a.feature_limit, 3))
    s = result.subtype
    if s is not None and s.predicted is None and a.status != "withheld" and not a.lesion_found:
        row["subtype"] = "no lesion"
    elif s is not None and s.predicted is not None:
        row.update(subtype=s.predicted, probability=round(float(s.probability), 4))
        row["uncertain"] = "true" if s.uncertainty.uncertain else "false"
        for name in s.names:
            row[PROBABILITY_PREFIX + name] = round(float(s.probabilities[name]), 4)
    return row


def columns(rows: Iterable[Row]) -> list[str]:
    """The fixed columns, the ``p_<subtype>`` columns in the order first met, then reasons, notice and message."""
    probability_columns: list[str] = []
    for row in rows:
        probability_columns += [c for c in row if c.startswith(PROBABILITY_PREFIX) and c not in probability_columns]
    return [*LEADING_COLUMNS, *probability_columns, *TRAILING_COLUMNS]


def neutralized(cell: Cell) -> Cell:
    """A text cell a spreadsheet will not run as a formula; numbers (ours, never text) pass unchanged."""
    if isinstance(cell, str) and cell.startswith(FORMULA_STARTS):
        return "'" + cell
    return cell


def write_summary(path: str | Path, rows: Sequence[Row]) -> Path:
    """Write ``rows`` as ``summary.csv`` atomically (temporary name, then rename), every text cell neutralized."""
    from ..engine.io import atomic_path

    path = Path(path)
    header = columns(rows)
    with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8", errors="backslashreplace") as handle:
        writer = csv.writer(handle)
        writer.writerow([neutralized(c) for c in header])
        for row in rows:
            writer.writerow([neutralized(row.get(c, "")) for c in header])
    return path
