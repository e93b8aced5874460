"""The link figures of each point's publishing connection (``Router.link_stats``): rates
over ~2 s windows sampled once a second, plus the peer's current ICE/DTLS state."""

from __future__ import annotations

import collections
import time
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from .peer import Peer


class LinkSampler:
    def __init__(self) -> None:
        self._samples: dict[str, collections.deque] = {}

    @staticmethod
    def _peer_totals(peer: "Peer") -> tuple:
        prods = list(peer.producers.values())
        cons = list(peer.consumers.values())
        return (
            time.monotonic(),
            sum(p.bytes for p in prods),
            sum(c.bytes for c in cons),
            sum(p.frames for p in prods if p.track == "video"),
            sum(p.raw_expected for p in prods),
            sum(p.raw_received for p in prods),
            sum(p.frames for p in prods if p.track == "low"),
        )

    def sample(self, publishers: dict) -> None:
        """Once a second: the counters of every point's publishing connection."""
        for point_id, peer in publishers.items():
            samples = self._samples.get(point_id)
            if samples is None or samples[0][0] is not peer:
                samples = self._samples[point_id] = collections.deque(maxlen=4)
                samples.append((peer, None))
            samples.append((peer, self._peer_totals(peer)))
        for point_id in list(self._samples):
            if point_id not in publishers:
                del self._samples[point_id]

    def link(self, point_id: str, peer: Optional["Peer"]) -> dict:
        """The link figures of one point (see the package docstring, Statistics)."""
        stats = dict.fromkeys(
            ("ice_state", "dtls_state", "candidate_type", "rtt_ms", "loss_up", "loss_down",
             "jitter_ms", "bitrate_up_kbps", "bitrate_down_kbps", "fps_up",
             "media_silence_s", "packets_up", "packets_down"))
        if peer is None:
            return stats
        prods = list(peer.producers.values())
        cons = list(peer.consumers.values())
        stats["ice_state"] = peer.ice_state()
        stats["dtls_state"] = peer.dtls_state()
        stats["candidate_type"] = peer.candidate_type()
        rtts = [c.rtt_s for c in cons if c.rtt_s is not None]
        if rtts:
            stats["rtt_ms"] = round(1000 * sum(rtts) / len(rtts), 1)
        losses = [c.fraction_lost for c in cons if c.fraction_lost is not None]
        if losses:
            stats["loss_down"] = round(max(losses), 4)
        live = [p for p in prods if p.last_packet_at is not None]
        if live:
            stats["jitter_ms"] = round(max(p.jitter / p.clock_khz for p in live), 2)
            stats["media_silence_s"] = round(
                time.monotonic() - max(p.last_packet_at for p in live), 2)
        stats["packets_up"] = sum(p.packets for p in prods)
        stats["packets_down"] = sum(c.packets for c in cons)
        samples = [s for _, s in self._samples.get(point_id, ()) if s is not None]
        if len(samples) >= 2:
            old, new = samples[-3] if len(samples) >= 3 else samples[0], samples[-1]
            dt = new[0] - old[0]
            if dt > 0:
                stats["bitrate_up_kbps"] = round((new[1] - old[1]) * 8 / dt / 1000, 1)
                stats["bitrate_down_kbps"] = round((new[2] - old[2]) * 8 / dt / 1000, 1)
                # the camera's frame rate: its busier layer (high and low carry the same frames)
                stats["fps_up"] = round(max(new[3] - old[3], new[6] - old[6]) / dt, 1)
                expected = new[4] - old[4]
                received = new[5] - old[5]
                if expected > 0:
                    stats["loss_up"] = round(max(0.0, 1 - received / expected), 4)
        return stats
