"""The pydantic base of every config section, in the lowest layer so that every other may import it.

``feeds.config`` (the feed sections) and ``bot.config`` (the rest, composing them) both build on it. It
lives here, not in either of them: ``bot.config`` already imports ``feeds.config``, so a base kept in
``bot.config`` would make the two modules import each other, and ``feeds`` must never import ``bot``.
Storage is the one package every layer (detectors, feeds, bot) may import and that imports none of them.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """A config section: unknown keys are errors, values are immutable once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)
