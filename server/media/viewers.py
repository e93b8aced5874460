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
        else:  # no REMB from this viewer: its receiver reports' loss on what it gets
            # each receiver report counts once (audio reports come every ~5 s: one lossy
            # report must not read as five lossy seconds)
            losses = [c.fraction_lost for c in peer.consumers.values()
                      if c.source is not None and c.fraction_lost is not None
                      and c.rr_at > viewer.reports_read_at]
            viewer.reports_read_at = now
            sending = sum(self._rate.get(id(c.source), 0.0) for c in peer.consumers.values()
                          if c.source is not None)
            budget = viewer.from_loss(max(losses) if losses else None, sending, now)
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
