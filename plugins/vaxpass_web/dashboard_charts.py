"""Small inline SVG charts for the run history (no JavaScript, no CDN: the UI runs without internet)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape

from markupsafe import Markup

WIDTH, HEIGHT, PAD_LEFT, PAD_BOTTOM, PAD_TOP = 400, 160, 44, 22, 20


def _frame(chart_id: str, title: str, top: float, fmt: Callable[[float], str], body: str,
           labels: Sequence[str]) -> Markup:
    plot_h = HEIGHT - PAD_BOTTOM - PAD_TOP
    # the first and the last cycle's date under the axis (each bar/point names its cycle in its tooltip)
    ends = [(PAD_LEFT + 2, "start", labels[0].split()[0])] if labels else []
    if len(labels) > 1:
        ends.append((WIDTH - 2, "end", labels[-1].split()[0]))
    x_labels = "".join(f'<text x="{x}" y="{HEIGHT - 6}" text-anchor="{anchor}" font-size="10">{escape(text)}</text>'
                       for x, anchor, text in ends)
    axis = (f'<line x1="{PAD_LEFT}" y1="{PAD_TOP}" x2="{PAD_LEFT}" y2="{PAD_TOP + plot_h}" stroke="#a0aec0"/>'
            f'<line x1="{PAD_LEFT}" y1="{PAD_TOP + plot_h}" x2="{WIDTH}" y2="{PAD_TOP + plot_h}" stroke="#a0aec0"/>'
            f'<text x="{PAD_LEFT - 4}" y="{PAD_TOP + 4}" text-anchor="end" font-size="10">{escape(fmt(top))}</text>'
            f'<text x="{PAD_LEFT - 4}" y="{PAD_TOP + plot_h}" text-anchor="end" font-size="10">0</text>' + x_labels)
    return Markup(
        f'<svg class="chart" id="{escape(chart_id)}" role="img" aria-label="{escape(title)}" width="{WIDTH}" '
        f'height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" xmlns="http://www.w3.org/2000/svg">'
        f'<title>{escape(title)}</title><text x="4" y="13" font-size="11" font-weight="600">'
        f'{escape(title)}</text>{axis}{body}</svg>')


def bar_chart(chart_id: str, title: str, labels: Sequence[str], values: Sequence[float | None],
              fmt: Callable[[float], str] = lambda v: f"{v:,.0f}") -> Markup:
    """One bar per cycle (oldest left); each bar carries its label and value in a tooltip and `data-value`."""
    top = max([v for v in values if v is not None] + [1])
    plot_w, plot_h = WIDTH - PAD_LEFT - 4, HEIGHT - PAD_BOTTOM - PAD_TOP
    step = plot_w / max(len(values), 1)
    bars = []
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        v = value or 0
        h = plot_h * v / top
        x = PAD_LEFT + 2 + i * step
        shown = "—" if value is None else fmt(value)
        bars.append(f'<rect x="{x:.1f}" y="{PAD_TOP + plot_h - h:.1f}" width="{max(step - 3, 1):.1f}" '
                    f'height="{h:.1f}" fill="#3182ce" data-label="{escape(label)}" data-value="{escape(shown)}">'
                    f'<title>{escape(label)}: {escape(shown)}</title></rect>')
    return _frame(chart_id, title, top, fmt, "".join(bars), labels)


def line_chart(chart_id: str, title: str, labels: Sequence[str], values: Sequence[float | None],
               fmt: Callable[[float], str] = lambda v: f"{v:.0%}", top: float = 1.0) -> Markup:
    """A line over the cycles (gaps where a cycle has no value), points with tooltips and `data-value`."""
    top = max([v for v in values if v is not None] + [top])
    plot_w, plot_h = WIDTH - PAD_LEFT - 10, HEIGHT - PAD_BOTTOM - PAD_TOP
    step = plot_w / max(len(values) - 1, 1)
    points: list[str] = []
    segments: list[list[str]] = []
    current: list[str] = []
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        if value is None:
            segments.append(current)
            current = []
            continue
        x, y = PAD_LEFT + 5 + i * step, PAD_TOP + plot_h - plot_h * value / top
        current.append(f"{x:.1f},{y:.1f}")
        points.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#2f855a" data-label="{escape(label)}" '
                      f'data-value="{escape(fmt(value))}"><title>{escape(label)}: {escape(fmt(value))}</title>'
                      f'</circle>')
    segments.append(current)
    lines = "".join(f'<polyline fill="none" stroke="#2f855a" stroke-width="2" points="{" ".join(s)}"/>'
                    for s in segments if len(s) > 1)
    return _frame(chart_id, title, top, fmt, lines + "".join(points), labels)
