"""Small bar charts as inline SVG, drawn on the server: no script, no CDN, works offline.

Each bar carries a <title>, which browsers show as a tooltip. Values are
numbers and labels are escaped, so the markup is safe to mark as such.
"""

from dataclasses import dataclass
from html import escape

from django.utils.safestring import mark_safe

WIDTH, HEIGHT, PAD = 270, 64, 14


@dataclass(frozen=True)
class Bar:
    value: float
    label: str
    highlight: bool = False


def bar_chart(bars: list[Bar], *, title: str, top_label: str, css_class: str = "bc-chart"):
    """An SVG of one bar per value, scaled to the largest; empty string when there is nothing to draw."""
    values = [b.value for b in bars if b.value is not None]
    if not values:
        return ""
    peak = max(values) or 1
    step = WIDTH / max(len(bars), 1)
    parts = [f'<svg class="{css_class}" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT + PAD}" '
             f'viewBox="0 0 {WIDTH} {HEIGHT + PAD}" role="img" aria-label="{escape(title)}">',
             f"<title>{escape(title)}</title>",
             f'<text x="0" y="10" class="bc-chart-label">{escape(top_label)}</text>',
             f'<line x1="0" y1="{HEIGHT + PAD}" x2="{WIDTH}" y2="{HEIGHT + PAD}" class="bc-chart-axis"/>']
    parts += [_bar(i, b, step, peak) for i, b in enumerate(bars) if b.value is not None]
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 -- numbers and escaped text only


def _bar(index: int, bar: Bar, step: float, peak: float) -> str:
    height = max(1.0, bar.value / peak * HEIGHT)
    kind = "bc-bar bc-bar-hi" if bar.highlight else "bc-bar"
    return (f'<rect class="{kind}" x="{index * step:.1f}" y="{HEIGHT + PAD - height:.1f}" '
            f'width="{max(step - 1, 1):.1f}" height="{height:.1f}"><title>{escape(bar.label)}</title></rect>')
