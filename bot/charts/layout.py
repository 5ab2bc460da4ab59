"""Lay text out on a chart so that no two labels overlap, and lay out the key line above the panels.

matplotlib draws text where it is told, overlaps included. Labels here are placed by measuring them:
``LabelPlacer`` tries each label's candidate offsets in order and keeps the first whose box stays inside
its panel and meets no box already taken (other labels, markers, panel names). The search is a few
candidates per label, a few dozen labels per chart, so it costs milliseconds and always gives the same
picture for the same spec.

Why not a label-placement library (adjustText, textalloc): they move labels until the overlaps are small,
or drop the ones that do not fit. A chart must not drop an alert's name silently, so labels that cannot be
placed are reported back, and the chart then keys its markers by number with the names in ``KeyLine``
above the panels, where they always fit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from matplotlib.backend_bases import RendererBase
from matplotlib.figure import Figure
from matplotlib.text import Annotation, Text
from matplotlib.transforms import Bbox

# Room kept around every taken box, in pixels, so labels do not touch.
PAD_PX = 2.0
# A label further than this from its point (pixels) gets a leader line to it.
LEADER_FROM_PX = 14.0


def text_box(text: Text, renderer: RendererBase) -> Bbox:
    """Return the box of a text's characters in pixels (for an annotation, without its leader line)."""
    if isinstance(text, Annotation):
        # An annotation's text position follows its offset only once updated (drawing does it too).
        text.update_positions(renderer)
    return Text.get_window_extent(text, renderer)


# A label's offset from its point: dx, dy in points, horizontal and vertical alignment.
Offset = tuple[float, float, str, str]


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a label fits: its offset, and whether it is far enough from its point to need a leader."""

    offset: Offset
    leader: bool


@dataclass
class LabelPlacer:
    """Place labels one by one where they overlap nothing placed before."""

    renderer: RendererBase
    taken: list[Bbox] = field(default_factory=list)

    def reserve(self, box: Bbox) -> None:
        """Keep labels off an area (a marker, a panel name), in pixels."""
        self.taken.append(box.padded(PAD_PX))

    def reserve_text(self, texts: Iterable[Text]) -> None:
        """Keep labels off texts already drawn."""
        for text in texts:
            if text.get_visible() and text.get_text():
                self.reserve(text_box(text, self.renderer))

    def fits(self, box: Bbox, inside: Bbox) -> bool:
        """Return True when ``box`` lies within ``inside`` and meets no taken box."""
        within = box.x0 >= inside.x0 and box.x1 <= inside.x1 and box.y0 >= inside.y0 and box.y1 <= inside.y1
        return within and not any(box.overlaps(other) for other in self.taken)

    def place(
        self,
        label: Annotation,
        offsets: Sequence[Offset],
        inside: Bbox,
        point: tuple[float, float],
    ) -> Placement | None:
        """Move ``label`` to the first of ``offsets`` where it fits and take that room; None if none fits.

        ``point`` is the pixel the label names. A label away from its point needs a leader line to it
        (``Placement.leader``): that line is kept clear of other labels too.
        """
        for offset in offsets:
            dx, dy, ha, va = offset
            label.xyann = (dx, dy)
            label.set_horizontalalignment(ha)  # type: ignore[arg-type]
            label.set_verticalalignment(va)  # type: ignore[arg-type]
            box = text_box(label, self.renderer)
            leader = leader_box(point, box)
            if self.fits(box, inside) and (leader is None or self.fits(leader, inside)):
                self.reserve(box)
                if leader is not None:
                    self.taken.append(leader)
                return Placement(offset, leader is not None)
        return None


def leader_box(point: tuple[float, float], box: Bbox) -> Bbox | None:
    """Return the box of a leader line from a label's box to its point, or None when the label is close.

    The line runs vertically from the point to the label's nearer edge; its ends are left out (one touches
    the marker, the other the label itself).
    """
    px, py = point
    if box.y0 - LEADER_FROM_PX <= py <= box.y1 + LEADER_FROM_PX:
        return None
    x = min(max(px, box.x0), box.x1)
    low, high = (py, box.y0) if py < box.y0 else (box.y1, py)
    return Bbox([[x - 1, low + 6], [x + 1, high - 1]])


@dataclass
class KeyLine:
    """Text items laid left to right in rows above the panels, wrapping at the right edge."""

    fig: Figure
    renderer: RendererBase
    top_px: float
    left: float
    right: float
    row_px: float = 16.0
    gap_px: float = 14.0
    items: list[Text] = field(default_factory=list)
    rows: int = 0
    _x: float = 0.0

    def add(self, text: str, **style: Any) -> Text:
        """Add one item; start a new row when it would cross the right edge."""
        width_px = self.fig.bbox.width
        if self.rows == 0:
            self.rows, self._x = 1, self.left
        item = self.fig.text(self._x, self._y(), text, va="center", ha="left", **style)
        width = text_box(item, self.renderer).width / width_px
        if self._x > self.left and self._x + width > self.right:
            self.rows += 1
            self._x = self.left
            item.set_position((self._x, self._y()))
        self._x += width + self.gap_px / width_px
        self.items.append(item)
        return item

    def newline(self) -> None:
        """Start the next item on a new row (nothing happens before the first item)."""
        if self.rows and self._x > self.left:
            self.rows += 1
            self._x = self.left

    def bottom_px(self) -> float:
        """Return how far below the figure's top the last row ends, in pixels."""
        return self.top_px + self.rows * self.row_px

    def _y(self) -> float:
        height = self.fig.bbox.height
        return 1 - (self.top_px + (self.rows - 0.5) * self.row_px) / height
