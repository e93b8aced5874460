"""The router's side of per-viewer layers (see :mod:`.layers`): once a second it measures
every producer's bitrate, reads each viewer's REMB, lets the viewer's
:class:`~.layers.ViewerLayers` choose, and probes viewers held below what they could get
with RTX padding (copies of recently sent packets), paced every ``PROBE_TICK_S``."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Callable, Optional

from .layers import Demand, ViewerLayers

if TYPE_CHECKING:
    from .peer import Peer
    from .producer import Producer

REMB_MAX_AGE_S = 5.0
PROBE_TICK_S = 0.1
#: probes come in bursts (PROBE_ON_S out of every PROBE_CYCLE_S), so a link that is really
#: full is not kept full by them
PROBE_ON_S, PROBE_CYCLE_S = 1.5, 6.0
#: video slots by priority (the split of one REMB): floor, hall, presentation, tiles
PRIORITY = ("floor.video", "hall.video", "presentation.video", "preview.video")


def _priority(name: str) -> tuple:
    if name in PRIORITY:
        return (PRIORITY.index(name), 0)
    if name.startswith("tile."):
        return (len(PRIORITY), int(name.split(".")[1]))
    return (99, 0)


#: fewer packets than this since the last reading: no loss figure yet
MIN_EXPECTED = 8


def interval_loss(consumers) -> Optional[float]:
    """The share of packets a viewer lost since the last reading, over all its slots, from
    the cumulative counters of its receiver reports (None: fewer than ``MIN_EXPECTED``
    packets reported since; they count towards the next reading). Not the reports' own
    "fraction lost": Chrome sends a report with every NACK, so the latest one often covers
    a few milliseconds and reads 0 on a link that loses a third of the packets."""
    lost = expected = 0
    fresh = []
    for c in consumers:
        if c.rr_highest is None:
            continue
        now = (c.rr_lost, c.rr_highest)
        if c.rr_read is None or c.source is None:
            c.rr_read = now  # a baseline, nothing to compare yet
            continue
        d_expected = now[1] - c.rr_read[1]
        if not 0 <= d_expected < 0x8000:  # a restarted or wrapped counter: new baseline
            c.rr_read = now
            continue
        expected += d_expected
        lost += max(0, now[0] - c.rr_read[0])
        fresh.append((c, now))
    if expected < MIN_EXPECTED:
        return None
    for c, now in fresh:
        c.rr_read = now
    return min(1.0, lost / expected)


class Viewers:
    def __init__(self, on_change: Callable[["Peer", ViewerLayers], None]) -> None:
        self.by_participant: dict[str, ViewerLayers] = {}
        self._rate: dict[int, float] = {}  # id(producer) -> bit/s
        self._bytes: dict[int, tuple[float, int]] = {}
        self._on_change = on_change

    def forget(self, participant: str) -> None:
        self.by_participant.pop(participant, None)

    def choice(self, participant: str, slot: str, default: Optional[str]) -> Optional[str]:
        """The layer ("video" | "low") or None (nothing) for one of a viewer's slots."""
        viewer = self.by_participant.get(participant)
        if viewer is None or slot not in viewer.choice:
            return default
        return viewer.choice[slot]

    def rate(self, producer: Optional["Producer"]) -> Optional[float]:
        if producer is None or not producer.active(time.monotonic()):
            return None
        return self._rate.get(id(producer))

    def measure(self, producers) -> None:
        now = time.monotonic()
        seen = set()
        for p in producers:
            key = id(p)
            seen.add(key)
            last = self._bytes.get(key)
            self._bytes[key] = (now, p.bytes)
            if last is not None and now > last[0]:
                bps = (p.bytes - last[1]) * 8 / (now - last[0])
                old = self._rate.get(key)
                self._rate[key] = bps if old is None else 0.5 * old + 0.5 * bps
        for key in set(self._bytes) - seen:
            self._bytes.pop(key, None)
            self._rate.pop(key, None)

    def update(self, peer: "Peer", layers_of: Callable[["Peer", str], tuple]) -> None:
        """``layers_of(peer, slot) -> (high producer | None, low producer | None)``: what
        the slot could carry now."""
        now = time.monotonic()
        viewer = self.by_participant.get(peer.participant)
        if viewer is None:
            viewer = self.by_participant[peer.participant] = ViewerLayers(started_at=now)
        demands = []
        for name in sorted((n for n, c in peer.consumers.items() if c.kind == "video"),
                           key=_priority):
            high, low = layers_of(peer, name)
            high_bps, low_bps = self.rate(high), self.rate(low)
            if high_bps is not None or low_bps is not None:
                demands.append(Demand(name, high_bps, low_bps))
        remb = [c.remb_bps for c in [peer, *peer.consumers.values()]
                if c.remb_bps is not None and now - c.remb_at <= REMB_MAX_AGE_S]
        audio = sum(1 for c in peer.consumers.values()
                    if c.kind == "audio" and c.source is not None and not c.source.muted)
        viewer.from_remb = bool(remb)
        if remb:
            budget = max(remb)
        else:  # no REMB from this viewer: its receiver reports (loss, round trip)
            sending = sum(self._rate.get(id(c.source), 0.0) for c in peer.consumers.values()
                          if c.source is not None)
            loss = interval_loss(peer.consumers.values())
            rtts = [c.rtt_s for c in peer.consumers.values()
                    if c.source is not None and c.rtt_s is not None
                    and c.rr_at > viewer.reports_read_at]
            viewer.reports_read_at = now
            budget = viewer.from_reports(loss, max(rtts) if rtts else None, sending, now)
        before = (viewer.level, viewer.reason)
        changed = viewer.update(budget, audio, demands, now)
        if changed or (viewer.level, viewer.reason) != before:
            self._on_change(peer, viewer)

    def probe(self, peers) -> None:
        """One pacing tick: padding for the viewers held below what they could get."""
        now = time.monotonic()
        for peer in peers:
            viewer = self.by_participant.get(peer.participant)
            if viewer is None or not viewer.from_remb \
                    or (now - viewer.started_at) % PROBE_CYCLE_S > PROBE_ON_S:
                continue  # a loss-based estimate climbs by itself: no padding
            sending = sum(self._rate.get(id(c.source), 0.0) for c in peer.consumers.values()
                          if c.source is not None)
            bps = viewer.probe_bps(sending)
            if bps <= 0:
                continue
            video = [c for c in peer.consumers.values() if c.kind == "video" and c.ready]
            video.sort(key=lambda c: _priority(c.slot))
            for consumer in video:  # the first slot with something cached to copy
                if consumer.pad(int(bps / 8 * PROBE_TICK_S)):
                    break
