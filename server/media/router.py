"""Router: one per conference. Holds the peers, the producers by point id, the consumers
(slots) of every subscriber, the floor, mutes and technician previews, and decides which
producer feeds which slot. Floor rules are enforced here, whatever a browser does."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable, Optional

from .errors import MediaError
from .forward import Consumer, Producer, spawn
from .gcpolicy import AfterPeerClose
from .ice import NO_CANDIDATE_WARNING, configure_host_addresses, host_addresses, rtc_configuration
from .peer import Peer
from .settings import MediaSettings
from .linkstats import LinkSampler
from .slots import KINDS, TILE_KINDS, layout
from .tiles import TileBoard
from .turn import browser_ice_servers
from .udpmux import UdpMux
from .viewers import PROBE_TICK_S, Viewers

logger = logging.getLogger(__name__)

PUBLISHER_KINDS = ("hall", "point")
_SAMPLE_INTERVAL_S = 1.0
_COUNTER_KEYS = (
    "packets_forwarded", "bytes_forwarded", "packets_received", "bytes_received",
    "plis_sent", "plis_received", "nacks_received", "retransmissions", "keyframes",
    "send_dropped",
)


class Router:
    """See the package docstring for the slot layout and the forwarding rules."""

    def __init__(
        self,
        conference_id: str,
        hall_id: str,
        point_ids: list[str],
        settings: MediaSettings,
        on_event: Optional[Callable[[str, dict], None]] = None,
    ) -> None:
        self.conference_id = conference_id
        self.hall_id = hall_id
        self.point_ids = list(dict.fromkeys([hall_id, *point_ids]))
        self.settings = settings
        self._on_event = on_event
        self._configuration = rtc_configuration(settings.ice_servers)
        if settings.ice_host_addresses:
            configure_host_addresses(settings.ice_host_addresses)
        self.peers: dict[str, Peer] = {}
        #: (point_id, "audio"|"video"|"presentation") -> Producer
        self.producers: dict[tuple[str, str], Producer] = {}
        self._publisher_of_point: dict[str, Peer] = {}
        self.floor: Optional[str] = None
        self._muted: set[str] = set()
        self._preview: dict[str, str] = {}
        #: recording sinks (server.recording.sink): slots with no peer, same rules
        self.sinks: list = []
        self._collect_after_close = AfterPeerClose()
        self._viewers = Viewers(lambda peer, v: self._emit("layers", {
            "participant": peer.participant, "point": peer.point_id, **v.to_json()}))
        #: the tile views of the consoles (tile slots)
        self._tiles = TileBoard(settings.tile_slots, [p for p in self.point_ids if p != hall_id],
                                lambda who, view: self._emit("tiles", {"participant": who, **view}))
        self._retired = dict.fromkeys(_COUNTER_KEYS, 0)
        self._links = LinkSampler()
        self._sampler: Optional[asyncio.Task] = None
        self.mux: Optional[UdpMux] = None
        self.closed = False

    async def open(self) -> None:
        """Bind the shared UDP port (at start-up; else before the first peer). Logs one
        warning line when no address is usable; raises MediaError when the port is taken."""
        if self.mux is not None or self.settings.udp_port is None:
            return
        addresses = host_addresses(self.settings.ice_host_addresses, self.settings.listen_host)
        if not addresses:
            logger.warning(NO_CANDIDATE_WARNING)
        mux = UdpMux(addresses, self.settings.udp_port, self.settings.announced_address,
                     max(self.settings.socket_buffer_bytes, 4 << 20))
        await mux.open()
        self.mux = mux

    def browser_ice_servers(self, user: str) -> list[dict]:
        """Fresh ``iceServers`` for one browser's offer (TURN credentials, see .turn)."""
        s = self.settings
        return browser_ice_servers(s.turn_urls, s.turn_secret, s.turn_ttl_s, user)

    # -- events -------------------------------------------------------------------------
    def _emit(self, name: str, payload: dict) -> None:
        if self._on_event is None:
            return
        try:
            self._on_event(name, payload)
        except Exception:
            logger.exception("on_event(%s) failed", name)

    def _on_peer_state(self, peer: Peer, state: str) -> None:
        if state == "new":
            return
        self._emit("peer_state", {"participant": peer.participant, "point": peer.point_id,
                                  "kind": peer.kind, "state": state})
        if state in ("failed", "closed") and not peer.closed:
            # ICE/DTLS failure, or aiortc closed the connection itself (DTLS closed):
            # drop the peer; the client recovers with a new rtc:start
            spawn(self._close_if_current(peer, state), "close dead peer")

    async def _close_if_current(self, peer: Peer, reason: str) -> None:
        if self.peers.get(peer.participant) is peer:
            await self.close_peer(peer.participant, reason)

    # -- peers --------------------------------------------------------------------------
    async def start_peer(self, participant: str, kind: str, point_id: Optional[str]) -> str:
        """Build a new peer connection (closing any previous one of ``participant``) and
        return the relay's SDP offer."""
        if self.closed:
            raise MediaError("unavailable", "The conference's media relay is closed.")
        if kind not in KINDS:
            raise MediaError("bad_request", f"Unknown participant kind {kind!r}.")
        if kind in PUBLISHER_KINDS:
            if point_id is None or point_id not in self.point_ids:
                raise MediaError("not_found", f"Unknown point {point_id!r}.")
            if kind == "hall" and point_id != self.hall_id:
                raise MediaError("bad_request", "The hall station publishes the hall point.")
            if kind == "point" and point_id == self.hall_id:
                raise MediaError("bad_request", "The hall point is published by the hall.")
        else:
            point_id = None
        old = self._tiles.views.get(participant)  # a new connection keeps page and pins
        await self.close_peer(participant, "replaced")
        await self.open()
        peer = Peer(participant, kind, point_id,
                    layout(kind, self.settings.tile_slots), self.settings,
                    self._configuration, self._on_peer_state, self.mux)
        self.peers[participant] = peer
        if point_id is not None:
            self._publisher_of_point[point_id] = peer
        if kind in TILE_KINDS:
            self._tiles.open(participant, old)
        self._ensure_sampler()
        self._refresh()
        try:
            return await peer.create_offer()
        except Exception:
            logger.exception("creating the offer for %s failed", participant)
            await self.close_peer(participant, "error")
            raise MediaError("unavailable", "The relay could not create an offer.") from None

    async def accept_answer(self, participant: str, sdp: str) -> None:
        peer = self.peers.get(participant)
        if peer is None:
            raise MediaError("not_found", "No media connection was started; send rtc:start.")
        active = await peer.accept_answer(sdp)
        if self.peers.get(participant) is not peer:  # closed meanwhile
            return
        for producer in active if peer.kind in PUBLISHER_KINDS else ():
            key = (producer.point_id, producer.track)
            old = self.producers.get(key)
            if old is not None and old is not producer:
                self._retire_producer(old)
            self.producers[key] = producer
            producer.muted = producer.kind == "audio" and producer.point_id in self._muted
            if producer.kind == "video":
                producer.on_wake = self._refresh  # a layer turned on: re-point at it
            self._emit("producer", {"point": producer.point_id, "track": producer.track,
                                    "state": "added"})
        self._refresh()

    async def close_peer(self, participant: str, reason: str) -> None:
        """Close ``participant``'s peer connection; idempotent. ``reason`` is logged and
        carried in the ``peer_state`` event (``closed``)."""
        peer = self.peers.pop(participant, None)
        if peer is None:
            return
        self._preview.pop(participant, None)
        self._tiles.close(participant)
        self._viewers.forget(participant)
        if peer.point_id is not None and self._publisher_of_point.get(peer.point_id) is peer:
            del self._publisher_of_point[peer.point_id]
        for producer in peer.producers.values():
            if self.producers.get((producer.point_id, producer.track)) is producer:
                del self.producers[(producer.point_id, producer.track)]
                self._emit("producer", {"point": producer.point_id,
                                        "track": producer.track, "state": "removed"})
            self._retire_producer(producer)
        for consumer in peer.consumers.values():
            self._retire_consumer(consumer)
        self._refresh()
        await peer.close()
        if not self.closed:
            self._collect_after_close.peer_closed()
        self._emit("peer_closed", {"participant": participant, "point": peer.point_id,
                                   "kind": peer.kind, "reason": reason})

    def _retire_producer(self, producer: Producer) -> None:
        if producer.closed:
            return
        for consumer in producer.consumers:
            consumer.drop_producer(producer)
        self._retired["packets_received"] += producer.packets
        self._retired["bytes_received"] += producer.bytes
        self._retired["plis_sent"] += producer.plis_sent
        producer.close()

    def _retire_consumer(self, consumer: Consumer) -> None:
        if consumer.closed:
            return
        for key, value in self._consumer_counts(consumer).items():
            self._retired[key] += value
        consumer.close()

    @staticmethod
    def _consumer_counts(c: Consumer) -> dict:
        return {"packets_forwarded": c.packets, "bytes_forwarded": c.bytes,
                "plis_received": c.plis_received, "nacks_received": c.nacks_received,
                "retransmissions": c.retransmissions, "keyframes": c.keyframes,
                "send_dropped": c.send_dropped}

    # -- forwarding rules ---------------------------------------------------------------
    def _source_for(self, peer: Peer, slot: str) -> Optional[Producer]:
        stream, _, rest = slot.partition(".")
        track = rest.rpartition(".")[2]
        hall = self.hall_id
        if track == "video" and stream != "echo":  # per-viewer layers (see .viewers)
            layer = self._viewers.choice(peer.participant, slot,
                                         "low" if stream == "tile" else "video")
            if layer is None:
                return None  # the viewer's estimate leaves no room for this slot
        if stream == "hall":
            return self._video(hall, layer) if track == "video" else self.producers.get((hall, track))
        if stream == "presentation":
            return self.producers.get((hall, "presentation"))
        if stream == "floor":
            holder = self.floor
            if holder is None or holder == hall or holder == peer.point_id:
                return None
            return self._video(holder, layer) if track == "video" else self.producers.get((holder, track))
        if stream == "tile":
            point = self._tiles.point_of(peer.participant, int(rest.partition(".")[0]))
            return self._video(point, "low") if point is not None else None
        if stream == "echo":  # a pre-join check's loopback: its own, private producers
            return peer.producers.get(track)
        if stream == "preview":
            target = self._preview.get(peer.participant)
            if target is None:
                return None
            return self._video(target, "video") if track == "video" else self.producers.get((target, track))
        return None

    def _layers_of(self, peer: Peer, slot: str) -> tuple:
        """(high producer | None, low producer | None) that ``slot`` could carry now."""
        stream, _, rest = slot.partition(".")
        if stream == "presentation":
            return self.producers.get((self.hall_id, "presentation")), None
        point = {"hall": self.hall_id, "floor": self.floor,
                 "preview": self._preview.get(peer.participant)}.get(stream)
        if stream == "floor" and point == peer.point_id:
            point = None
        if stream == "tile":  # only low; a one-layer publisher's one layer is never cut
            point = self._tiles.point_of(peer.participant, int(rest.partition(".")[0]))
            low = self.producers.get((point, "low"))
            return (None, low) if low is not None else (self.producers.get((point, "video")), None)
        if point is None:
            return None, None
        return self.producers.get((point, "video")), self.producers.get((point, "low"))

    def layer_report(self) -> dict[str, dict]:
        """Per point: the layer its own page receives and why (the dashboard shows it)."""
        out = {}
        for point_id, peer in self._publisher_of_point.items():
            viewer = self._viewers.by_participant.get(peer.participant)
            if viewer is not None:
                out[point_id] = viewer.to_json()
        return out

    def _video(self, point: str, prefer: str) -> Optional[Producer]:
        """A point's camera: the ``prefer``red layer ("video" = high, "low") while it is
        turned on, else the other one while that is on, else whichever exists (a
        publisher with one layer: aiortc peers, older pages)."""
        first = self.producers.get((point, prefer))
        second = self.producers.get((point, "low" if prefer == "video" else "video"))
        now = time.monotonic()
        if first is not None and first.active(now):
            return first
        if second is not None and second.active(now):
            return second
        return first or second

    def _refresh(self) -> None:
        """Point every slot at the producer the rules give it (no-op where unchanged)."""
        for peer in self.peers.values():
            for name, consumer in peer.consumers.items():
                consumer.set_source(self._source_for(peer, name))
        for sink in self.sinks:  # the recorder: a "peer" of no point (point_id None)
            sink.set_source(self._source_for(sink, sink.slot))

    def add_sink(self, sink) -> None:
        """Add a recording sink (server.recording.sink.RecorderSink: ``slot``,
        ``participant``, ``point_id`` None, duck-typed Consumer). Once two-layer publishing
        lands, a sink gets the high layer (``sink.layer``)."""
        self.sinks.append(sink)
        sink.set_source(self._source_for(sink, sink.slot))

    def remove_sink(self, sink) -> None:
        if sink in self.sinks:
            self.sinks.remove(sink)
        sink.close()

    def set_floor(self, point_id: Optional[str]) -> None:
        """Give the floor slots to ``point_id`` (None or the hall id: floor slots carry
        nothing). Subscribers see no SDP change; the new holder gets one PLI."""
        if point_id is not None and point_id not in self.point_ids:
            raise MediaError("not_found", f"Unknown point {point_id!r}.")
        self.floor = None if point_id == self.hall_id else point_id
        self._tiles.set_priority(self.floor, self._tiles.queue)
        self._refresh()

    # -- tile slots (see .tiles) --------------------------------------------------------
    def set_queue(self, point_ids: list[str]) -> None:
        """The speaker queue in order: its points come first in every tile view."""
        if self._tiles.set_priority(self.floor, point_ids):
            self._refresh()

    def set_tiles(self, participant: str, page: Optional[int] = None,
                  pinned: Optional[list[str]] = None) -> dict:
        """Page through the points or pin some on ``participant``'s tile slots; returns
        the view (the ``tiles`` payload)."""
        try:
            view = self._tiles.set_view(participant, page, pinned)
        except KeyError:
            raise MediaError("not_found", "This media connection has no tile slots.") from None
        except ValueError as exc:
            raise MediaError("not_found" if "Unknown" in str(exc) else "bad_request",
                             str(exc)) from None
        self._refresh()
        return view

    def tile_view(self, participant: str) -> Optional[dict]:
        view = self._tiles.views.get(participant)
        return view.to_json() if view is not None else None

    def set_muted(self, point_id: str, muted: bool) -> None:
        """A muted point's audio is forwarded nowhere (floor, preview alike)."""
        if muted:
            self._muted.add(point_id)
        else:
            self._muted.discard(point_id)
        producer = self.producers.get((point_id, "audio"))
        if producer is not None:
            producer.muted = muted

    def set_preview(self, participant: str, point_id: Optional[str]) -> None:
        """Point a technician's preview slots at ``point_id`` (None: nothing)."""
        peer = self.peers.get(participant)
        if peer is None or peer.kind != "technician":
            raise MediaError("not_found", "No technician media connection for this client.")
        if point_id is None:
            self._preview.pop(participant, None)
        elif point_id not in self.point_ids:
            raise MediaError("not_found", f"Unknown point {point_id!r}.")
        else:
            self._preview[participant] = point_id
        self._refresh()

    # -- test-only fault injection ------------------------------------------------------
    def impair(self, point_id: str, drop_up: float = 0.0, drop_down: float = 0.0) -> None:
        """TEST ONLY: drop a fraction of the RTP datagrams from ``point_id``'s publisher
        (before the relay reads them, so it NACKs) and of the fresh packets sent to it
        (kept in the NACK cache, so its NACKs are answered)."""
        peer = self._publisher_of_point.get(point_id)
        if peer is None:
            raise MediaError("not_found", f"No publisher connected for {point_id!r}.")
        peer.impair(drop_up, drop_down)

    def impair_participant(self, participant: str, drop_down: float = 0.0) -> None:
        """TEST ONLY: like :meth:`impair` for any participant (e.g. a chair console)."""
        self.peers[participant].impair(0.0, drop_down)

    # -- statistics ---------------------------------------------------------------------
    def counters(self) -> dict:
        """Totals since the router started (for Prometheus counters)."""
        totals = dict(self._retired)
        for peer in self.peers.values():
            for c in peer.consumers.values():
                for key, value in self._consumer_counts(c).items():
                    totals[key] += value
            for p in peer.producers.values():
                if not p.closed:
                    totals["packets_received"] += p.packets
                    totals["bytes_received"] += p.bytes
                    totals["plis_sent"] += p.plis_sent
        totals["peers"] = len(self.peers)
        totals["producers"] = len(self.producers)
        totals["consumers_active"] = sum(
            1 for peer in self.peers.values() for c in peer.consumers.values()
            if c.source is not None)
        return totals

    def _ensure_sampler(self) -> None:
        if self._sampler is None or self._sampler.done():
            self._sampler = spawn(self._run_sampler(), "stats sampler")

    async def _run_sampler(self) -> None:
        """Once a second: sample link counters, choose each viewer's layers, send the
        relay's REMB to publishers; every ``PROBE_TICK_S``: bandwidth probes."""
        remb = self.settings.publisher_max_kbps * 1000
        next_sample = time.monotonic()
        while not self.closed:
            try:
                now = time.monotonic()
                if now >= next_sample:
                    # a steady 1 s cadence (rates over ~2 s windows), no catch-up bursts
                    next_sample = max(next_sample + _SAMPLE_INTERVAL_S, now + 0.5)
                    self._links.sample(self._publisher_of_point)
                    self._viewers.measure(self.producers.values())
                    for peer in self.peers.values():
                        if peer.kind != "precheck":
                            self._viewers.update(peer, self._layers_of)
                    self._refresh()  # layers chosen, or turned off: re-point the slots
                    for producer in self.producers.values():
                        producer.send_remb(remb)
                self._viewers.probe(self.peers.values())
            except Exception:
                logger.exception("stats sampling failed")
            await asyncio.sleep(max(0.0, min(PROBE_TICK_S, next_sample - time.monotonic())))

    def link_stats(self) -> dict[str, dict]:
        """Per point id (hall included): the link figures the health monitor reads."""
        return {point_id: self._links.link(point_id, self._publisher_of_point.get(point_id))
                for point_id in self.point_ids}

    async def close(self) -> None:
        """Close every peer; idempotent."""
        if self.closed:
            return
        self.closed = True
        for participant in list(self.peers):
            await self.close_peer(participant, "conference_closed")
        self._collect_after_close.cancel()
        if self._sampler is not None:
            self._sampler.cancel()
        if self.mux is not None:
            self.mux.close()
