"""What the panel shows for a result, decided without Qt: the verdict's text and colour from the assessment, and
the research notice beside it. The widget only puts the returned text and colour on its labels.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass

#: One colour per outcome; a withheld subtype is red and never the colour of an answer, "no lesion" is blue.
COLORS = {
    "answered": "#1b7f3b",
    "answered-with-warnings": "#b35900",
    "withheld": "#c0001a",
    "no-lesion": "#1f5fa8",
    "segmentation-only": "#505050",
    "none": "#505050",
}


@dataclass(frozen=True)
class VerdictDisplay:
    """The verdict as the panel shows it: a headline, the reasons under it, its colour and the notice beside it."""

    outcome: str
    headline: str
    reasons: list[str]
    color: str
    notice: str

    def html(self) -> str:
        """Rich text for a QLabel: the headline in bold, one line per reason."""
        lines = [f"<b>{html.escape(self.headline)}</b>"] + [f"&bull; {html.escape(r)}" for r in self.reasons]
        return "<br>".join(lines)

    def style_sheet(self) -> str:
        return f"color: {self.color};"


def outcome_of(status: str, lesion_found: bool, has_subtype: bool, predicted: str | None) -> str:
    """Which of the panel's outcomes a result is: withheld wins over everything, then no lesion, then the answer."""
    if status == "withheld":
        return "withheld"
    if not has_subtype:
        return "segmentation-only"
    if not lesion_found or predicted is None:
        return "no-lesion"
    return "answered-with-warnings" if status == "answered-with-warnings" else "answered"


def verdict_display(
    verdict: str,
    *,
    status: str = "answered",
    reasons: list[str] | tuple[str, ...] = (),
    lesion_found: bool = True,
    notice: str | None = None,
    has_subtype: bool = True,
    predicted: str | None = None,
    tr: Callable[[str], str] = str,
) -> VerdictDisplay:
    """The panel's verdict for one result (``result.json``'s ``assessment`` and the engine's one-line verdict).

    ``tr`` translates the fixed words (the module passes Slicer's ``_``); the verdict and reasons come from the
    engine as they are.
    """
    outcome = outcome_of(status, lesion_found, has_subtype, predicted)
    headlines = {
        "withheld": tr("Subtype withheld: no answer for this case"),
        "segmentation-only": tr("Segmentation only: this model has no subtype classifier"),
        "no-lesion": tr("No lesion found"),
    }
    headline = headlines.get(outcome) or _without_notice(verdict, notice)
    if outcome == "answered-with-warnings":
        headline = _without_notice(verdict, notice).split("; warning:")[0] + tr(" (with warnings)")
    return VerdictDisplay(outcome, headline, list(reasons), COLORS[outcome], notice or "")


def no_result(tr: Callable[[str], str] = str) -> VerdictDisplay:
    """What the panel shows before any result."""
    return VerdictDisplay("none", tr("No result yet."), [], COLORS["none"], "")


def _without_notice(verdict: str, notice: str | None) -> str:
    """The engine's verdict line without its trailing ``[notice]`` (the panel shows the notice on its own)."""
    suffix = f" [{notice}]" if notice else ""
    return verdict[: -len(suffix)] if suffix and verdict.endswith(suffix) else verdict
