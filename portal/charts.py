"""Server-side SVG charts (no script, no CDN): readable, printable, testable.

A chart is drawn in a 600 x 220 box and scales to its container (the jackpot page gives each
about 600 px at 1366 px wide, so the text is drawn near its own size)."""

from datetime import datetime
from decimal import Decimal

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from portal.money import payout

WIDTH, HEIGHT = 600, 220
LEFT, RIGHT, TOP, BOTTOM = 78, 14, 12, 40  # room for the value labels (left) and the times (below)
TICKS = 4


def _money(value: Decimal, digits: int) -> str:
    return f"{payout(value, digits):,.{digits}f}"


def _time_label(moment: datetime, first: datetime, last: datetime) -> str:
    """As precise as the axis needs: milliseconds over seconds, the date over days."""
    span = (last - first).total_seconds()
    if span < 10:
        return f"{moment:%H:%M:%S}.{moment.microsecond // 1000:03d}"
    if span < 600:
        return f"{moment:%H:%M:%S}"
    return f"{moment:%H:%M}" if first.date() == last.date() else f"{moment:%m-%d %H:%M}"


def value_chart(points: list[tuple[datetime, Decimal]], *, digits: int, currency: str, label: str) -> SafeString:
    """A pot's value over time: a line through (time, value) with a value axis (in `currency`,
    rounded down to `digits` places as everywhere else) and a UTC time axis."""
    if len(points) < 2:
        return mark_safe('<p class="muted">Not enough contributions yet for a chart.</p>')
    times = [t for t, _ in points]
    values = [v for _, v in points]
    first, last = min(times), max(times)
    low, high = min(values), max(values)
    if low == high:  # a flat line sits in the middle of a band around its value
        low, high = low - 1, high + 1
    seconds = (last - first).total_seconds()
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(index: int, moment: datetime) -> float:
        share = (moment - first).total_seconds() / seconds if seconds else index / (len(points) - 1)
        return LEFT + share * plot_w

    def y(value: Decimal) -> float:
        return TOP + plot_h - float((value - low) / (high - low)) * plot_h

    line = " ".join(f"{x(i, t):.1f},{y(v):.1f}" for i, (t, v) in enumerate(points))
    value_ticks = [low + (high - low) * Decimal(n) / (TICKS - 1) for n in range(TICKS)]
    # format_html escapes its arguments into text: numbers are formatted before they go in.
    grid = format_html_join("", '<line class="grid" x1="{}" x2="{}" y1="{}" y2="{}"/>'
                                '<text class="axis" x="{}" y="{}" text-anchor="end">{}</text>',
                            ((LEFT, WIDTH - RIGHT, f"{y(v):.1f}", f"{y(v):.1f}", LEFT - 6, f"{y(v) + 4:.1f}",
                              _money(v, digits)) for v in value_ticks))
    # Times at the start, the middle and the end of the axis (one label when all are at once).
    shares = [(0, "start"), (0.5, "middle"), (1, "end")] if seconds else [(0, "start")]
    clock = format_html_join("", '<line class="tick" x1="{0}" x2="{0}" y1="{1}" y2="{2}"/>'
                                 '<text class="axis" x="{0}" y="{3}" text-anchor="{4}">{5}</text>',
                             ((f"{LEFT + share * plot_w:.1f}", TOP + plot_h, TOP + plot_h + 4, TOP + plot_h + 18,
                               anchor, _time_label(first + (last - first) * share, first, last))
                              for share, anchor in shares))
    return format_html(
        '<figure class="chart"><svg viewBox="0 0 {w} {h}" width="100%" role="img" aria-label="{label}">'
        '<title>{label}</title>{grid}'
        '<line class="axis-line" x1="{left}" x2="{left}" y1="{top}" y2="{bottom}"/>'
        '<line class="axis-line" x1="{left}" x2="{right}" y1="{bottom}" y2="{bottom}"/>'
        '{clock}<text class="axis" x="{right}" y="{caption_y}" text-anchor="end">time (UTC) · value ({currency})</text>'
        '<polyline class="value" points="{line}"/></svg></figure>',
        w=WIDTH, h=HEIGHT, label=label, grid=grid, clock=clock, left=LEFT, right=WIDTH - RIGHT, top=TOP,
        bottom=TOP + plot_h, caption_y=HEIGHT - 4, currency=currency, line=line,
    )
