"""The history ring: fixed memory per point, and the same payload as the deque of tuples it
replaced (kept below as the reference)."""

import json
import math
import random
import tracemalloc
from collections import deque

import pytest

from server.health.history import HISTORY_SERIES, History, history_payload
from server.health.monitor import HealthMonitor
from server.health.rating import _round
from server.health.report import parse_report

from .conftest import good_stats

BYTES_PER_ROW = 8 + 8 * (len(HISTORY_SERIES) - 1) + 1  # time, figures (float64), rating (int8)


# ---------------------------------------------------------------- the former implementation
class DequeHistory:
    """The history as it was: a deque of (t, *figures, rating) tuples."""

    def __init__(self, maxlen):
        self.rows = deque(maxlen=maxlen)

    def record(self, now, row, history_s):
        row = (now, *row)
        h = self.rows
        if h and now - h[-1][0] < 1.0 and now >= h[-1][0]:
            prev = h[-1]
            h[-1] = tuple([prev[0]] + [n if n is not None else o for o, n in zip(prev[1:], row[1:])])
        else:
            h.append(row)
        cutoff = now - history_s
        while h and h[0][0] < cutoff:
            h.popleft()

    def payload(self, point_id, cutoff, max_points=None, since=None):
        rows = [r for r in self.rows if r[0] >= cutoff and (since is None or r[0] >= since)]
        if max_points is not None and max_points > 0 and len(rows) > max_points:
            rows = _old_downsample(rows, int(max_points))
        return {
            "point": point_id,
            "t": [_round(float(r[0])) for r in rows],
            "series": {n: [_round(r[i + 1]) for r in rows] for i, n in enumerate(HISTORY_SERIES)},
        }


def _old_downsample(rows, n):
    out = []
    size = len(rows) / n
    for i in range(n):
        chunk = rows[int(i * size): int((i + 1) * size)] or [rows[min(int(i * size), len(rows) - 1)]]
        cols = [chunk[-1][0]]
        width = len(chunk[0])
        for c in range(1, width):
            vals = [r[c] for r in chunk if r[c] is not None]
            if not vals:
                cols.append(None)
            elif c == width - 1:
                cols.append(max(vals))
            else:
                cols.append(sum(vals) / len(vals))
        out.append(tuple(cols))
    return out


def _same(a, b):
    """Payloads equal, value for value and type for type (2 is not 2.0 in JSON)."""
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


# ---------------------------------------------------------------- the ring on its own
@pytest.mark.parametrize(
    "maxlen,history_s", [(0, 60.0), (1, 60.0), (5, 60.0), (68, 60.0), (3608, 3600.0)]
)
def test_ring_matches_the_deque_it_replaced(maxlen, history_s):
    rnd = random.Random(maxlen)
    ring, ref = History(maxlen), DequeHistory(maxlen)
    t = 5_000.0
    for step in range(5000):
        t += rnd.choice([0.2, 0.5, 1.0, 1.0, 1.0, 1.7, 9.0])
        if rnd.random() < 0.02:
            t -= 4.0  # the clock steps back: rows out of order, as the deque allowed
        row = [None if rnd.random() < 0.2 else rnd.uniform(0, 3000) for _ in HISTORY_SERIES[:-1]]
        row.append(rnd.randrange(4))
        ring.record(t, row)
        ring.drop_before(t - history_s)
        ref.record(t, row, history_s)
        if step % 500 == 0 or step == 4999:
            assert ring.rows() == list(ref.rows)
    cutoff = t - history_s
    for max_points in (None, 0, 1, 7, 360, 10_000):
        for since in (None, t - 30.0, t - 1e6, math.nan):
            got = history_payload("p", ring, [], cutoff, max_points, since)
            assert got.pop("incidents") == []
            _same(got, ref.payload("p", cutoff, max_points, since))


def test_ring_storage_is_allocated_once():
    ring = History(3608)
    size = ring.nbytes
    assert size == 3608 * BYTES_PER_ROW
    for i in range(3 * 3608):
        ring.record(float(i), [float(i)] * (len(HISTORY_SERIES) - 1) + [i % 4])
    assert ring.nbytes == size and len(ring) == 3608
    assert ring.rows()[0][0] == 2 * 3608 and ring.rows()[-1][0] == 3 * 3608 - 1


def test_none_round_trips_and_rating_stays_an_int():
    ring = History(4)
    ring.record(1.0, [None, 0.5, None, 1.0, None, 30.0, None, 2])
    ring.record(1.5, [40.0, None, None, None, None, None, None, 3])  # merged into t=1.0
    assert ring.rows() == [(1.0, 40.0, 0.5, None, 1.0, None, 30.0, None, 3)]
    assert type(ring.rows()[0][-1]) is int


# ---------------------------------------------------------------- through the monitor
def _stats(rnd, i):
    s = good_stats(rtt_ms=40.0 + rnd.random() * 20, loss_up=rnd.random() / 100,
                   bitrate_up_kbps=900.0 + i % 50, fps_up=30.0 - rnd.random())
    if i % 7 == 0:
        s["rtt_ms"] = None  # unknown: the browser's figure, or None, is stored
    if i % 11 == 0:
        s["jitter_ms"] = None
    return s


def test_monitor_keeps_one_hour_in_fixed_memory_for_130_points():
    """130 points get their full history storage when they appear; three of them are then fed
    3,700 one-second updates through the monitor (all 130 would take ~7 s): they keep exactly
    the last hour, the same payload as the deque did, and nothing in server/health grows."""
    mon = HealthMonitor()
    t0 = 1_700_000_000.0
    points = [f"p{k}" for k in range(130)]
    for pid in points:
        mon.set_online(pid, True, t0)
    per_point = {pid: mon._points[pid].history.nbytes for pid in points}
    assert set(per_point.values()) == {3608 * BYTES_PER_ROW}  # ~235 kB each, from the start
    assert sum(per_point.values()) < 31e6  # 130 points: ~30 MB, never more

    sample = ["p0", "p64", "p129"]
    refs = {pid: DequeHistory(3608) for pid in sample}
    rnd = random.Random(1)
    no_rtt = parse_report({"outbound": {"video": {"fps": 24}}, "ice_state": "connected"})
    in_health = [tracemalloc.Filter(True, "*server/health/*")]  # not the reference deques
    tracing = tracemalloc.is_tracing()  # e.g. python -X tracemalloc: leave it on
    try:
        for i in range(1, 3701):  # 3,700 one-second updates
            t = t0 + i
            for pid in sample:
                stats = _stats(rnd, i)
                if 300 <= i < 400 and pid != "p0":
                    stats["loss_down"] = 0.2  # a bad spell: the stored rating moves
                mon.update_server(pid, stats, t)
                if i % 5 == 0:  # the page's report half a second later: merged into the same row
                    mon.update_browser(pid, no_rtt, t + 0.5)
                p = mon._points[pid]
                f = p.figures(t)
                refs[pid].record(t, [f[k] for k in HISTORY_SERIES[:-1]] + [p.rating], 3600.0)
            if i % 30 == 0:
                mon.evaluate(t)
            if i == 2000:
                tracemalloc.start()  # traces what is allocated from now on
            if i == 2100:  # objects replaced in place (figures, reasons) are traced by now
                before = tracemalloc.take_snapshot().filter_traces(in_health)
        after = tracemalloc.take_snapshot().filter_traces(in_health)
    finally:
        if not tracing:
            tracemalloc.stop()
    grown = sum(s.size for s in after.statistics("filename")) - sum(
        s.size for s in before.statistics("filename"))
    # the deque of tuples grew here by 545 kB (its 9-tuples, 113 bytes a row, 3 points x 1,600
    # rows; the figures' floats, allocated by the caller, on top); the ring by 448 bytes
    assert grown < 50_000, after.statistics("lineno")[:5]

    cutoff = mon._now - 3600.0
    for pid in sample:
        p = mon._points[pid]
        assert p.history.nbytes == per_point[pid]
        h = mon.history(pid)
        # exactly the last hour (the newest update was the page's at t0 + 3700.5), one row a second
        assert h["t"] == [t0 + i for i in range(101, 3701)]
        assert None in h["series"]["rtt_ms"] and None in h["series"]["jitter_ms"]
        assert set(h["series"]["rating"]) == ({0} if pid == "p0" else {0, 2})
        for max_points, since in ((None, None), (360, None), (None, mon._now - 60), (100, t0)):
            got = mon.history(pid, max_points=max_points, since=since)
            got.pop("incidents")
            _same(got, refs[pid].payload(pid, cutoff, max_points, since))
    assert mon.history("p1")["t"] == []  # never reported: an empty ring, still its full size
    assert mon._points["p1"].history.nbytes == per_point["p1"]
