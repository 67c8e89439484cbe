"""Small bar charts as inline SVG, drawn on the server (no script, no CDN).

Only numbers and escaped labels go into the markup, so the result is safe to mark as such.
"""

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 560, 150
PAD_LEFT, PAD_BOTTOM, PAD_TOP = 44, 22, 10


def bar_chart(
    values: list[float | None],
    labels: list[str],
    *,
    title: str,
    unit: str = "",
    fmt=lambda v: f"{v:g}",
    css_class: str = "",
) -> SafeString:
    """One bar per bucket; a missing value (None) leaves a gap. ``fmt`` renders a value."""
    n = max(len(values), 1)
    top = max((v for v in values if v is not None), default=0) or 1
    plot_w, plot_h = WIDTH - PAD_LEFT - 6, HEIGHT - PAD_BOTTOM - PAD_TOP
    step = plot_w / n
    bar_w = max(step * 0.7, 1)
    parts = [
        f'<svg class="dora-chart {escape(css_class)}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{PAD_LEFT}" y1="{PAD_TOP + plot_h}" x2="{WIDTH - 6}" y2="{PAD_TOP + plot_h}" '
        'stroke="#adb5bd" stroke-width="1"/>',
        f'<text x="{PAD_LEFT - 4}" y="{PAD_TOP + 8}" text-anchor="end" font-size="10" '
        f'fill="#6c757d">{escape(fmt(top))}{escape(unit)}</text>',
        f'<text x="{PAD_LEFT - 4}" y="{PAD_TOP + plot_h}" text-anchor="end" font-size="10" '
        'fill="#6c757d">0</text>',
    ]
    label_every = max(1, round(n / 8))
    for i, (value, label) in enumerate(zip(values, labels, strict=False)):
        x = PAD_LEFT + i * step + (step - bar_w) / 2
        if value is not None:
            h = max(plot_h * value / top, 1 if value else 0)
            parts.append(
                f'<rect x="{x:.1f}" y="{PAD_TOP + plot_h - h:.1f}" width="{bar_w:.1f}" '
                f'height="{h:.1f}" rx="1" fill="currentColor" data-value="{value:g}">'
                f"<title>{escape(label)}: {escape(fmt(value))}{escape(unit)}</title></rect>"
            )
        if i % label_every == 0:
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{HEIGHT - 6}" text-anchor="middle" '
                f'font-size="10" fill="#6c757d">{escape(label)}</text>'
            )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 (numbers and escaped text only)
