"""Tile slots: which point each of a console's fixed tile slots shows.

A chair console, the hall station and a technician dashboard get ``tile_slots`` video
m-lines (``tile-0`` ... ``tile-<N-1>``), never one per point: the relay re-points them the
way it re-points the floor slots (no renegotiation). Each viewer has its own
:class:`TileView`. The points in view are, in this order:

1. the floor holder, then the queue (in queue order);
2. the points this viewer pinned (in pin order);
3. the rest of the points (configuration order), one page at a time: a page is the slots
   left after 1 and 2.

A point that stays in view keeps its slot (no key frame wait, no picture jump); a point
coming into view takes the lowest free slot. Pure logic: no aiortc, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

MAX_PINNED = 64


@dataclass
class TileView:
    count: int
    page: int = 0
    pinned: list[str] = field(default_factory=list)
    #: slot index -> point id (None: the slot carries nothing)
    slots: list[Optional[str]] = field(default_factory=list)
    pages: int = 1
    per_page: int = 0

    def __post_init__(self) -> None:
        if not self.slots:
            self.slots = [None] * self.count

    def arrange(self, points: list[str], priority: list[str]) -> bool:
        """Recompute the slots from the point ids (configuration order, hall excluded) and
        the floor holder + queue (``priority``); return True when a slot changed."""
        known = set(points)
        fixed: list[str] = []
        for p in [*priority, *self.pinned]:
            if p in known and p not in fixed:
                fixed.append(p)
        fixed = fixed[: self.count]
        taken = set(fixed)
        rest = [p for p in points if p not in taken]
        self.per_page = self.count - len(fixed)
        if self.per_page > 0 and rest:
            self.pages = -(-len(rest) // self.per_page)
        else:
            self.pages = 1
        self.page = min(max(0, self.page), self.pages - 1)
        start = self.page * self.per_page
        shown = fixed + rest[start:start + self.per_page] if self.per_page > 0 else fixed
        wanted = set(shown)
        new: list[Optional[str]] = [p if p in wanted else None for p in self.slots]
        placed = {p for p in new if p is not None}
        free = iter([i for i, p in enumerate(new) if p is None])
        for p in shown:
            if p not in placed:
                new[next(free)] = p
        changed = new != self.slots
        self.slots = new
        return changed

    def to_json(self) -> dict:
        """The ``tiles`` event payload (see :mod:`server.media`)."""
        return {
            "slots": {f"tile-{i}": p for i, p in enumerate(self.slots)},
            "count": self.count,
            "page": self.page,
            "pages": self.pages,
            "per_page": self.per_page,
            "pinned": list(self.pinned),
        }


class TileBoard:
    """The tile views of every console of one router, and what fills them first (the
    floor holder and the queue). ``emit(participant, view_json)`` is called on a change."""

    def __init__(self, count: int, points: list[str], emit) -> None:
        self.count = count
        self.points = points  # configuration order, hall excluded
        self.views: dict[str, TileView] = {}
        self.floor: Optional[str] = None
        self.queue: list[str] = []
        self._emit = emit

    def open(self, participant: str, keep: Optional[TileView] = None) -> None:
        """A console's new connection (``keep``: its previous view: page and pins)."""
        view = self.views[participant] = TileView(
            self.count, page=keep.page if keep else 0, pinned=keep.pinned if keep else [])
        view.arrange(self.points, self._priority())
        self._emit(participant, view.to_json())

    def close(self, participant: str) -> Optional[TileView]:
        return self.views.pop(participant, None)

    def _priority(self) -> list[str]:
        return ([self.floor] if self.floor else []) + self.queue

    def arrange(self, only: Optional[str] = None) -> None:
        points, priority = self.points, self._priority()
        for participant, view in self.views.items():
            if (only is None or participant == only) and view.arrange(points, priority):
                self._emit(participant, view.to_json())

    def set_priority(self, floor: Optional[str], queue: list[str]) -> bool:
        known = set(self.points)
        queue = [p for p in dict.fromkeys(queue) if p in known]
        floor = floor if floor in known else None
        if (floor, queue) == (self.floor, self.queue):
            return False
        self.floor, self.queue = floor, queue
        self.arrange()
        return True

    def set_view(self, participant: str, page: Optional[int],
                 pinned: Optional[list[str]]) -> dict:
        """Page or pin; raises ValueError (unknown point, too many pins) or KeyError (no
        tile slots for this participant)."""
        view = self.views[participant]
        if pinned is not None:
            unknown = [p for p in pinned if p not in self.points]
            if unknown:
                raise ValueError(f"Unknown point {unknown[0]!r}.")
            if len(pinned) > MAX_PINNED:
                raise ValueError(f"At most {MAX_PINNED} pinned points.")
            view.pinned = list(dict.fromkeys(pinned))
        if page is not None:
            view.page = page
        self.arrange(only=participant)
        return view.to_json()

    def point_of(self, participant: str, index: int) -> Optional[str]:
        view = self.views.get(participant)
        return view.slots[index] if view is not None and index < view.count else None
