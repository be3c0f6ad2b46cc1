"""Charts drawn on the server as inline SVG: no script, no CDN, readable on a phone and printable.

Every chart is a horizontal bar chart (labels never need rotating on a narrow screen). The page puts a table of
the same figures beside each chart; the SVG carries a ``<title>`` for the screen reader that meets it first.
Text is escaped; colours are presentation attributes (the Content-Security-Policy forbids inline styles).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 360
ROW = 30
LABEL_WIDTH = 112
VALUE_WIDTH = 78
BAR_COLOURS = ("#2f6b3a", "#5c8f4e", "#8fb573", "#b4cf8f", "#446b7a", "#7a9aa6")


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    text: str = ""  # the value as shown (defaults to the number with thousands separators)

    @property
    def shown(self) -> str:
        return self.text or f"{self.value:,}"


def bar_chart(bars: Sequence[Bar], *, title: str, chart_id: str, colour: str | None = None) -> Markup:
    """A horizontal bar chart of non-negative values, scaled to the largest; one ``colour`` for a series over
    time, a colour per bar for categories."""
    height = max(1, len(bars)) * ROW + 8
    top = max((b.value for b in bars), default=0)
    span = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    parts = [
        f'<svg class="chart" id="{escape(chart_id)}" viewBox="0 0 {WIDTH} {height}" width="100%" '
        f'role="img" aria-labelledby="{escape(chart_id)}-title" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>',
    ]
    if not bars:
        parts.append(f'<text x="0" y="20" font-size="13" fill="#5c6b60">{escape("—")}</text>')
    for i, bar in enumerate(bars):
        y = 4 + i * ROW
        length = 0 if top <= 0 else max(1 if bar.value > 0 else 0, round(span * max(bar.value, 0) / top))
        fill = colour or BAR_COLOURS[i % len(BAR_COLOURS)]
        parts.append(
            f'<text x="{LABEL_WIDTH - 6}" y="{y + 18}" font-size="12" text-anchor="end" fill="#1d2520">'
            f"{escape(_clip(bar.label))}</text>"
            f'<rect x="{LABEL_WIDTH}" y="{y + 5}" width="{length}" height="{ROW - 12}" rx="3" fill="{fill}"/>'
            f'<text x="{LABEL_WIDTH + length + 4}" y="{y + 18}" font-size="12" fill="#1d2520">'
            f"{escape(bar.shown)}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text and attribute above is escaped


def _clip(label: str, limit: int = 9) -> str:
    """Long labels are cut for the chart (the table beside it shows them whole)."""
    return label if len(label) <= limit else label[: limit - 1] + "…"


def outline_svg(paths: Sequence[str], *, size: int, title: str) -> Markup:
    """A parcel's outline (path data from :func:`registry.parcels.boundary_svg_paths`), north up."""
    body = "".join(f'<path d="{escape(d)}"/>' for d in paths)
    return Markup(  # noqa: S704 - the title and path data are escaped
        f'<svg class="outline" viewBox="0 0 {size} {size}" width="{size}" height="{size}" role="img" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
        f'<g fill="#cfe3c9" stroke="#2f6b3a" stroke-width="2" stroke-linejoin="round">{body}</g></svg>'
    )
