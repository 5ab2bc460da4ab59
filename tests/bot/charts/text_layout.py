"""Measure a drawn chart's text: the pixel box of every text matplotlib draws, and which boxes overlap."""

from __future__ import annotations

import itertools

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.transforms import Bbox


def text_boxes(fig: Figure) -> list[tuple[str, Bbox]]:
    """Draw the figure and return (text, pixel box) of every text drawn: visible, non-empty, in view."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    undrawn = _ticks_out_of_view(fig)
    found = []
    for text in fig.findobj(Text):
        assert isinstance(text, Text)
        if text.get_visible() and text.get_text().strip() and id(text) not in undrawn:
            # The characters' box; an annotation's leader line is a line, not text.
            found.append((text.get_text(), Text.get_window_extent(text, renderer)))
    return found


def _ticks_out_of_view(fig: Figure) -> set[int]:
    """Return the ids of tick labels matplotlib keeps but does not draw: ticks beyond the axis limits."""
    hidden = set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            low, high = sorted(axis.get_view_interval())
            slack = (high - low) * 1e-9
            for tick in axis.get_major_ticks():
                if not low - slack <= tick.get_loc() <= high + slack:
                    hidden |= {id(tick.label1), id(tick.label2)}
    return hidden


def overlapping(fig: Figure) -> list[tuple[str, str]]:
    """Return the pairs of texts whose boxes overlap."""
    boxes = text_boxes(fig)
    return [(a, b) for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2) if box_a.overlaps(box_b)]


def outside(fig: Figure) -> list[str]:
    """Return the texts whose boxes run past the figure's edges (cut off in the PNG)."""
    width, height = fig.bbox.width, fig.bbox.height
    return [
        text for text, box in text_boxes(fig) if box.x0 < 0 or box.y0 < 0 or box.x1 > width or box.y1 > height
    ]
