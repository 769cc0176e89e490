"""Small server-side SVG charts (no script, no CDN): readable, printable, testable."""

from decimal import Decimal

from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe


def sparkline(values: list[Decimal], *, width: int = 320, height: int = 64, label: str = "") -> SafeString:
    """A polyline of values over their order; empty when there is nothing to draw."""
    if len(values) < 2:
        return mark_safe('<p class="muted">Not enough contributions yet for a chart.</p>')
    low, high = min(values), max(values)
    span = (high - low) or Decimal(1)
    step = width / (len(values) - 1)
    points = " ".join(
        f"{i * step:.1f},{height - 4 - float((v - low) / span) * (height - 8):.1f}" for i, v in enumerate(values)
    )
    return format_html(
        '<svg class="spark" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="{label}">'
        '<polyline fill="none" stroke="currentColor" stroke-width="1.5" points="{points}"/></svg>'
        '<div class="muted spark-scale">{low} – {high}</div>',
        w=width, h=height, label=label, points=points, low=f"{low:,.2f}", high=f"{high:,.2f}",
    )
