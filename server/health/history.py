"""One point's recent history: a compact fixed-capacity ring buffer, and the `health:history`
payload built from it.

A row is `(t, rtt_ms, loss_up, loss_down, bitrate_up_kbps, bitrate_down_kbps, fps, jitter_ms,
rating)`: the figures are floats or None, the rating an int 0..3. The ring keeps the times in an
`array('d')`, each figure in an `array('d')` (None stored as NaN, given back as None) and the
ratings in an `array('b')`, all allocated at full capacity when the point is created: its memory
is a fixed number of bytes (`nbytes`, about 65 bytes a row), however many updates arrive. The
figures stay 64-bit floats so the payload is the same, to the last digit, as the tuples it
replaced.
"""

from __future__ import annotations

import math
from array import array
from typing import Any, Iterable, Sequence

from .rating import _round

__all__ = ["HISTORY_SERIES", "History", "history_payload"]

HISTORY_SERIES: tuple[str, ...] = (
    "rtt_ms",
    "loss_up",
    "loss_down",
    "bitrate_up_kbps",
    "bitrate_down_kbps",
    "fps",
    "jitter_ms",
    "rating",
)
_HISTORY_MIN_STEP_S = 1.0  # updates closer than this are merged into one history sample
_FIGURES = len(HISTORY_SERIES) - 1  # every series but the last (rating) is a float figure
_NO_RATING = -1
_NAN = math.nan

Row = tuple  # (t, *figures, rating)


class History:
    """A ring of at most `maxlen` rows, oldest first. When full, appending drops the oldest
    row (as `deque(maxlen=...)` does)."""

    __slots__ = ("maxlen", "_t", "_cols", "_rating", "_head", "_len")

    def __init__(self, maxlen: int) -> None:
        if maxlen < 0:
            raise ValueError("maxlen must be non-negative")
        self.maxlen = int(maxlen)
        self._t = array("d", [0.0]) * self.maxlen
        self._cols = [array("d", [_NAN]) * self.maxlen for _ in range(_FIGURES)]
        self._rating = array("b", [_NO_RATING]) * self.maxlen
        self._head = 0  # index of the oldest row
        self._len = 0

    def __len__(self) -> int:
        return self._len

    @property
    def nbytes(self) -> int:
        """The bytes held by the arrays (fixed at creation)."""
        arrays = [self._t, self._rating, *self._cols]
        return sum(a.buffer_info()[1] * a.itemsize for a in arrays)

    def _index(self, i: int) -> int:
        return (self._head + i) % self.maxlen

    def last_time(self) -> float | None:
        return self._t[self._index(self._len - 1)] if self._len else None

    def append(self, t: float, values: Sequence[Any]) -> None:
        """Add a row: `values` are the HISTORY_SERIES values (None when unknown)."""
        if not self.maxlen:
            return
        if self._len == self.maxlen:
            self._head = (self._head + 1) % self.maxlen
            self._len -= 1
        i = self._index(self._len)
        self._len += 1
        self._t[i] = t
        for col, v in zip(self._cols, values):
            col[i] = _NAN if v is None else v
        rating = values[_FIGURES]
        self._rating[i] = _NO_RATING if rating is None else rating

    def merge_last(self, values: Sequence[Any]) -> None:
        """Fold `values` into the newest row: it keeps its time and takes every known value."""
        i = self._index(self._len - 1)
        for col, v in zip(self._cols, values):
            if v is not None:
                col[i] = v
        if values[_FIGURES] is not None:
            self._rating[i] = values[_FIGURES]

    def record(
        self, t: float, values: Sequence[Any], min_step: float = _HISTORY_MIN_STEP_S
    ) -> None:
        """Append a row, or merge it into the newest one when it follows that by less than
        `min_step` seconds (and not before it)."""
        last = self.last_time()
        if last is not None and t - last < min_step and t >= last:
            self.merge_last(values)
        else:
            self.append(t, values)

    def drop_before(self, cutoff: float) -> None:
        """Drop the oldest rows while they are older than `cutoff`."""
        t = self._t
        while self._len and t[self._head] < cutoff:
            self._head = (self._head + 1) % self.maxlen
            self._len -= 1

    def _columns(self) -> list[list[Any]]:
        """Every column, oldest row first, as lists."""
        head, n, cap = self._head, self._len, self.maxlen

        def ordered(a: array) -> list[Any]:
            if head + n <= cap:
                return a[head: head + n].tolist()
            return a[head:].tolist() + a[: head + n - cap].tolist()

        cols = [ordered(self._t)]
        cols += [[None if v != v else v for v in ordered(c)] for c in self._cols]
        cols.append([None if r == _NO_RATING else r for r in ordered(self._rating)])
        return cols

    def rows(self, since: float | None = None) -> list[Row]:
        """The rows (oldest first) whose time is at least `since` (all when None)."""
        rows = zip(*self._columns())
        if since is None:
            return list(rows)
        return [r for r in rows if r[0] >= since]


def history_payload(
    point_id: str,
    history: History | None,
    incidents: Iterable[dict[str, Any]],
    cutoff: float,
    max_points: int | None = None,
    since: float | None = None,
) -> dict[str, Any]:
    """The `health:history` answer for one point: rows and incidents not older than `cutoff`
    (and rows not older than `since`); `max_points` averages the rows into that many buckets
    (rating: the worst)."""
    if history is None:
        return {"point": point_id, "t": [], "series": {k: [] for k in HISTORY_SERIES},
                "incidents": []}
    rows = [r for r in history.rows(cutoff) if since is None or r[0] >= since]
    if max_points is not None and max_points > 0 and len(rows) > max_points:
        rows = _downsample(rows, int(max_points))
    t = [_round(float(r[0])) for r in rows]
    series = {name: [_round(r[i + 1]) for r in rows] for i, name in enumerate(HISTORY_SERIES)}
    return {
        "point": point_id,
        "t": t,
        "series": series,
        "incidents": [
            {**i, "reasons": [dict(r) for r in i["reasons"]]}
            for i in incidents
            if i["at"] >= cutoff
        ],
    }


def _downsample(rows: list[Row], n: int) -> list[Row]:
    out: list[Row] = []
    size = len(rows) / n
    for i in range(n):
        chunk = rows[int(i * size): int((i + 1) * size)] or [rows[min(int(i * size), len(rows) - 1)]]
        cols: list[Any] = [chunk[-1][0]]
        width = len(chunk[0])
        for c in range(1, width):
            vals = [r[c] for r in chunk if r[c] is not None]
            if not vals:
                cols.append(None)
            elif c == width - 1:  # rating: the worst
                cols.append(max(vals))
            else:
                cols.append(sum(vals) / len(vals))
        out.append(tuple(cols))
    return out
