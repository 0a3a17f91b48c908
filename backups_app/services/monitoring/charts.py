"""Small bar charts as inline SVG, drawn on the server: no script, no CDN, works offline.

One bar per run, oldest on the left, on a time axis labelled with the first
and last run's dates. A failed run is a red mark (its duration when it has
one, else a short tick), so gaps in the good runs are visible. Each bar
carries a <title>, which browsers show as a tooltip. Values are numbers and
labels are escaped, so the markup is safe to mark as such.
"""

from dataclasses import dataclass
from html import escape

from django.utils.safestring import mark_safe

WIDTH, HEIGHT, PAD, AXIS = 270, 64, 14, 14
FAILED_TICK = 6


@dataclass(frozen=True)
class Bar:
    value: float | None
    label: str
    highlight: bool = False
    failed: bool = False


def bar_chart(bars: list[Bar], *, title: str, top_label: str, css_class: str = "bc-chart", start: str = "",
              end: str = "", bar_class: str = "bc-bar"):
    """An SVG of one bar per run, scaled to the largest; start and end label the time axis.

    Empty string when there is nothing to draw (no value and no failure).
    """
    values = [b.value for b in bars if b.value is not None]
    if not values and not any(b.failed for b in bars):
        return ""
    peak = max(values, default=0) or 1
    step = WIDTH / max(len(bars), 1)
    base = HEIGHT + PAD
    parts = [f'<svg class="{css_class}" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{base + AXIS}" '
             f'viewBox="0 0 {WIDTH} {base + AXIS}" role="img" aria-label="{escape(title)}">',
             f"<title>{escape(title)}</title>",
             f'<text x="0" y="10" class="bc-chart-label">{escape(top_label)}</text>',
             f'<line x1="0" y1="{base}" x2="{WIDTH}" y2="{base}" class="bc-chart-axis"/>']
    parts += [_bar(i, b, step, peak, bar_class) for i, b in enumerate(bars) if b.value is not None or b.failed]
    if start:
        parts.append(f'<text x="0" y="{base + AXIS - 2}" class="bc-chart-tick">{escape(start)}</text>')
    if end and end != start:
        parts.append(f'<text x="{WIDTH}" y="{base + AXIS - 2}" text-anchor="end" class="bc-chart-tick">'
                     f"{escape(end)}</text>")
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 -- numbers and escaped text only


def _bar(index: int, bar: Bar, step: float, peak: float, bar_class: str) -> str:
    height = max(1.0, bar.value / peak * HEIGHT) if bar.value is not None else FAILED_TICK
    if bar.failed:
        height, kind = max(height, FAILED_TICK), "bc-bar-failed"
    else:
        kind = f"{bar_class} bc-bar-hi" if bar.highlight else bar_class
    return (f'<rect class="{kind}" x="{index * step:.1f}" y="{HEIGHT + PAD - height:.1f}" '
            f'width="{max(step - 1, 1):.1f}" height="{height:.1f}"><title>{escape(bar.label)}</title></rect>')
