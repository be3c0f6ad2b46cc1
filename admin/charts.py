"""Charts drawn on the server as SVG: no script, no CDN, readable without colour (each bar has a title, and the
page shows the same figures in a table beside it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from kernel.money import format_yuan


@dataclass(frozen=True)
class Series:
    label: str
    colour: str
    values: Sequence[int]  # one per category: fen, or a count when the chart is not of money


def _nice_ceiling(value: int) -> int:
    """The smallest 1, 2 or 5 × 10ⁿ at or above ``value`` (so the axis reads in round numbers)."""
    if value <= 0:
        return 100
    magnitude = 1
    while magnitude * 10 <= value:
        magnitude *= 10
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude  # pragma: no cover


def _shown(value: int, money: bool) -> str:
    """A value as the chart writes it: ¥ with two decimals, or a count with thousands separators."""
    return f"¥{format_yuan(value)}" if money else f"{value:,}"


def _clip(label: str, limit: int) -> str:
    """A category label cut to its slot (each bar's title and the table beside the chart show it whole)."""
    return label if len(label) <= limit else label[: max(limit - 1, 1)] + "…"


def stacked_bars(
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    width: int = 560,
    height: int = 260,
    money: bool = True,
) -> str:
    """A stacked bar chart per category, of money (fen) or of counts (``money=False``), as an ``<svg>`` element;
    labels are escaped."""
    left, right, top, bottom = 72, 8, 12, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(s.values[i] for s in series) for i in range(len(categories))]
    highest = max(totals, default=0)
    # counts: a round step of whole units between the five ticks; money: a round top
    ceiling = _nice_ceiling(highest) if money else 4 * _nice_ceiling(max(1, -(-highest // 4)))
    slot = plot_w / max(len(categories), 1)
    bar = max(slot * 0.7, 1.0)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" class="chart"><title>{escape(title)}</title>'
    ]
    for tick in range(5):
        value = ceiling * tick // 4
        y = top + plot_h - plot_h * tick / 4
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#d0d7d0" stroke-width="1"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" fill="#444">'
            f"{escape(_shown(value, money).removesuffix('.00'))}</text>"
        )
    every = max(1, -(-len(categories) // 12))  # at most about twelve labels under the axis
    fits = max(2, int(slot * every // 12))  # characters of a label that fit its slot (12 px a CJK character)
    for i, category in enumerate(categories):
        x = left + slot * i + (slot - bar) / 2
        base = float(top + plot_h)
        for s in series:
            amount = s.values[i]
            if amount <= 0:
                continue
            h = plot_h * amount / ceiling
            base -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{base:.1f}" width="{bar:.1f}" height="{h:.1f}" fill="{s.colour}">'
                f"<title>{escape(category)} · {escape(s.label)} · {escape(_shown(amount, money))}</title></rect>"
            )
        if i % every == 0:
            label = category[5:] if len(category) == 10 and category[4] == "-" else _clip(category, fits)  # → 03-01
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{top + plot_h + 16}" text-anchor="middle" font-size="11" '
                f'fill="#444">{escape(label)}</text>'
            )
    legend_x = left
    for s in series:
        parts.append(
            f'<rect x="{legend_x}" y="{height - 16}" width="12" height="12" fill="{s.colour}"/>'
            f'<text x="{legend_x + 16}" y="{height - 6}" font-size="12" fill="#222">{escape(s.label)}</text>'
        )
        legend_x += 28 + 13 * len(s.label)
    parts.append("</svg>")
    return "".join(parts)
