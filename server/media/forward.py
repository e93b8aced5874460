"""Tap and rewrite: the packet path of the relay (no decoding, no encoding).

* :class:`Producer` is one relay-side ``RTCRtpReceiver``. Its packets normally come from the
  peer's :class:`~.ingress.Ingress` (decrypted datagram -> :meth:`Producer.on_rtp`, in the
  socket's callback); the producer parses only what it forwards, feeds the receiver's own
  statistics and NACK generator (so aiortc's receiver reports and NACKs to the publisher
  stay right), unwraps RTX, and hands the packet to its consumers. The receiver's jitter
  buffer is replaced by :class:`TapJitterBuffer`, so the packets aiortc's own path still
  carries (the first of a new SSRC) reach the producer too and no frame ever reaches a
  decoder. The stock REMB estimator is switched off; the router sends the relay's own
  REMB once a second instead.
* :class:`Consumer` owns one negotiated relay-side ``RTCRtpSender`` (one slot of one
  subscriber). The sender is parked on a track that never yields (no encoder, no polling);
  the consumer rewrites SSRC, sequence number, timestamp, payload type, header extensions
  (mid, abs-send-time, audio level) and the VP8 picture ID / TL0PICIDX, protects the packet
  with the connection's SRTP session and writes it to the selected ICE pair's socket.
  Subscriber NACKs are answered from the consumer's own cache (as RTX when negotiated);
  PLI/FIR become a throttled PLI to the producer; RR gives RTT and loss; the consumer sends
  its own sender reports (on the stock sender's RTCP timer) once it has forwarded something.

The hot path (``Producer.on_rtp`` -> ``Consumer.forward``) is synchronous (no task, no
coroutine per packet), logs nothing and allocates only the outgoing packet and its cache
entry.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import TYPE_CHECKING, Optional

from aioice.ice import StunProtocol
from aiortc import MediaStreamTrack, RTCRtpReceiver, RTCRtpSender
from aiortc.codecs import is_rtx
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcdtlstransport import State as _DtlsState
from aiortc.rtcrtpreceiver import StreamStatistics
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    RtcpPsfbPacket,
    RtcpRrPacket,
    RtcpSdesPacket,
    RtcpRtpfbPacket,
    RtcpSrPacket,
    RtpPacket,
    pack_remb_fci,
    unpack_remb_fci,
)

from .codecs import Vp8Rewriter, is_keyframe
from .rtpwire import (
    URI_AUDIO_LEVEL,
    RtpWriter,
    abs_send_time,
    ntp_from_unix,
    ntp_now,
    parse_rtp,
    sender_report,
)
from .srtpfast import protector

if TYPE_CHECKING:
    from .settings import MediaSettings

logger = logging.getLogger(__name__)
_DTLS_CONNECTED = _DtlsState.CONNECTED

_error_logged: set[str] = set()


def log_once(key: str, msg: str, *args: object) -> None:
    """Log an unexpected hot-path exception once per key (never per packet)."""
    if key not in _error_logged:
        _error_logged.add(key)
        logger.exception(msg, *args)


def spawn(coro, what: str) -> asyncio.Task:
    """Run a background coroutine whose failure is logged, never raised into the loop."""

    def done(task: asyncio.Task) -> None:
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            if not isinstance(exc, ConnectionError):
                logger.error("%s failed: %r", what, exc)

    task = asyncio.ensure_future(coro)
    task.add_done_callback(done)
    return task


def run_now(coro, what: str) -> None:
    """Run a coroutine in this call as far as it goes without waiting; if it does wait
    (a TURN socket, say), a task finishes it. aiortc's send paths are coroutines that
    almost never wait: this saves a task, and its wake-up, per packet."""
    try:
        waiting_on = coro.send(None)
    except StopIteration:
        return
    except ConnectionError:
        return
    except Exception:
        log_once(what, "%s failed", what)
        return
    spawn(_finish(coro, waiting_on), what)


async def _finish(coro, waiting_on) -> None:
    """Drive a coroutine that :func:`run_now` started and that is waiting on
    ``waiting_on`` (a future, or None for a bare yield) to its end."""
    while True:
        try:
            if waiting_on is None:
                await asyncio.sleep(0)
            else:
                # what a Task does with a yielded future: take the "blocking" mark off,
                # then wait for it (awaiting a pending future still marked raises)
                waiting_on._asyncio_future_blocking = False
                await waiting_on
        except BaseException as exc:  # let the coroutine see what its await raised
            try:
                waiting_on = coro.throw(exc)
            except StopIteration:
                return
            continue
        try:
            waiting_on = coro.send(None)
        except StopIteration:
            return


def route_rtx_by_ssrc(receiver: RTCRtpReceiver, parameters) -> None:
    """Register a receiver's RTX SSRCs with the transport's RtpRouter.

    aiortc registers only the media SSRCs and routes anything else by payload type if
    exactly ONE receiver has it; with two or more video m-lines in one BUNDLE (the hall's
    camera + presentation, a chair's tiles) every RTX packet would be dropped and NACKs
    never repaired. Call after ``receiver.receive(parameters)``."""
    table = receiver.transport._rtp_router.ssrc_table  # private (see selfcheck)
    for encoding in parameters.encodings:
        if encoding.rtx is not None and encoding.rtx.ssrc:
            table[encoding.rtx.ssrc] = receiver


class ParkedTrack(MediaStreamTrack):
    """A track whose ``recv()`` never returns: the sender's media loop waits forever, so
    no encoder is created and the sender does not poll. ``track_id`` becomes the msid
    track id in the offer."""

    def __init__(self, kind: str, track_id: str) -> None:
        super().__init__()
        self.kind = kind
        self._id = track_id
        self._never: asyncio.Future = asyncio.get_event_loop().create_future()

    async def recv(self):
        await self._never
        raise MediaStreamError

    def stop(self) -> None:
        super().stop()
        if not self._never.done():
            self._never.cancel()


class InPacket:
    """The fields of a received RTP packet the relay forwards (no aiortc object)."""

    __slots__ = ("sequence_number", "timestamp", "marker", "payload", "audio_level")

    def __init__(self, sequence_number: int, timestamp: int, marker: int, payload: bytes,
                 audio_level) -> None:
        self.sequence_number = sequence_number
        self.timestamp = timestamp
        self.marker = marker
        self.payload = payload
        self.audio_level = audio_level  # (voice activity, level) or None


class TapJitterBuffer:
    """Stands in for the receiver's private JitterBuffer on aiortc's own (slow) path:
    hands each media packet to the producer, returns no frame (so nothing is decoded)."""

    __slots__ = ("producer",)

    def __init__(self, producer: "Producer") -> None:
        self.producer = producer

    def add(self, packet: RtpPacket):
        self.producer.deliver(
            InPacket(packet.sequence_number, packet.timestamp, packet.marker, packet.payload,
                     packet.extensions.audio_level),
            packet.ssrc)
        return False, None


class Producer:
    """One incoming track of a publisher (one relay-side receiver).

    Packets arrive by two paths: normally :meth:`on_rtp`, called by the peer's
    :class:`~.ingress.Ingress` with the decrypted datagram; the first packets of a new
    SSRC (and anything the fast path leaves alone) through aiortc's receiver, whose jitter
    buffer is replaced by :class:`TapJitterBuffer`. Both end in :meth:`deliver`."""

    def __init__(
        self,
        receiver: RTCRtpReceiver,
        point_id: Optional[str],
        track: str,
        kind: str,
        settings: "MediaSettings",
    ) -> None:
        self.receiver = receiver
        self.point_id = point_id
        self.track = track  # "audio" | "video" | "presentation"
        self.kind = kind
        self.settings = settings
        self.codec_name: Optional[str] = None
        self.payload_type: Optional[int] = None
        self.rtx_payload_type: Optional[int] = None
        self.clock_khz = 90 if kind == "video" else 48
        self._clock_rate = self.clock_khz * 1000
        self._audio_level_id = 0
        self.muted = False
        self.closed = False
        self.media_ssrc: Optional[int] = None
        self._targets: tuple[Consumer, ...] = ()
        # statistics (cumulative; rates are computed by the router's sampler)
        self.packets = 0
        self.bytes = 0
        self.frames = 0
        self.plis_sent = 0
        self.last_packet_at: Optional[float] = None
        self._last_pli = -1e9
        self._streams = receiver._RTCRtpReceiver__remote_streams  # private (see selfcheck)
        self._stats: Optional[StreamStatistics] = None  # of the media SSRC
        self._nack = receiver._RTCRtpReceiver__nack_generator  # private; None for audio

        receiver._RTCRtpReceiver__jitter_buffer = TapJitterBuffer(self)  # private
        # aiortc's receive-side bandwidth estimator costs more CPU than all the rest of
        # the relay's packet path; the relay sends its own REMB instead (send_remb)
        receiver._RTCRtpReceiver__remote_bitrate_estimator = None
        original_receive = receiver.receive

        async def receive(parameters) -> None:
            self._configure(parameters)
            await original_receive(parameters)
            route_rtx_by_ssrc(receiver, parameters)

        receiver.receive = receive

    def _configure(self, parameters) -> None:
        for codec in parameters.codecs:
            if not is_rtx(codec):
                self.codec_name = codec.name
                self.payload_type = codec.payloadType
                self._clock_rate = codec.clockRate
                self.clock_khz = max(1, codec.clockRate // 1000)
                break
        for codec in parameters.codecs:
            if is_rtx(codec) and codec.parameters.get("apt") == self.payload_type:
                self.rtx_payload_type = codec.payloadType
        for ext in parameters.headerExtensions:
            if ext.uri == URI_AUDIO_LEVEL and 0 < ext.id < 15:
                self._audio_level_id = ext.id

    # -- consumers ---------------------------------------------------------------------
    def attach(self, consumer: "Consumer") -> None:
        if consumer not in self._targets:
            self._targets = self._targets + (consumer,)

    def detach(self, consumer: "Consumer") -> None:
        if consumer in self._targets:
            self._targets = tuple(c for c in self._targets if c is not consumer)

    @property
    def consumers(self) -> tuple["Consumer", ...]:
        return self._targets

    def request_keyframe(self) -> bool:
        """PLI to the publisher, at most one per ``pli_min_interval_s``."""
        if self.kind != "video" or self.closed or self.media_ssrc is None:
            return False
        now = time.monotonic()
        if now - self._last_pli < self.settings.pli_min_interval_s:
            return False
        self._last_pli = now
        self.plis_sent += 1
        run_now(self.receiver._send_rtcp_pli(self.media_ssrc), "PLI")
        return True

    def send_remb(self, bitrate_bps: int) -> None:
        """Tell the publisher the bitrate the relay wants (REMB), replacing the stock
        receiver's estimate."""
        if self.kind != "video" or self.closed or self.media_ssrc is None:
            return
        packet = RtcpPsfbPacket(
            fmt=RTCP_PSFB_APP,
            ssrc=self.receiver._RTCRtpReceiver__rtcp_ssrc or 1,  # private (see selfcheck)
            media_ssrc=0,
            fci=pack_remb_fci(bitrate_bps, [self.media_ssrc]),
        )
        run_now(self.receiver._send_rtcp(packet), "REMB")

    # -- statistics of the publisher's link (media SSRC, before repair) --------------------
    @property
    def raw_received(self) -> int:
        return self._stats.packets_received if self._stats is not None else 0

    @property
    def raw_expected(self) -> int:
        stats = self._stats
        return stats.packets_expected if stats is not None and stats.max_seq is not None else 0

    @property
    def jitter(self) -> float:
        """RFC 3550 interarrival jitter in RTP clock units."""
        return self._stats.jitter if self._stats is not None else 0.0

    # -- hot path ----------------------------------------------------------------------
    def on_rtp(self, data: bytes, ssrc: int) -> None:
        """One decrypted RTP datagram of this producer's media or RTX SSRC (fast path):
        parse what is forwarded, feed the receiver's statistics and NACK generator (so
        aiortc's receiver reports and NACKs to the publisher stay right), deliver."""
        parsed = parse_rtp(data, self._audio_level_id)
        if parsed is None:
            return
        pt, seq, ts, marker, payload, level = parsed
        if pt == self.payload_type:
            stats = self._stats
            if stats is None or ssrc != self.media_ssrc:
                stats = self._media_stats(ssrc)
            packet = InPacket(seq, ts, marker, payload, level)
            stats.add(packet)
        elif pt == self.rtx_payload_type and self.media_ssrc is not None:
            if len(payload) < 2:  # padding only (bandwidth probe)
                return
            ssrc = self.media_ssrc
            packet = InPacket((payload[0] << 8) | payload[1], ts, marker, payload[2:], level)
        else:
            return
        nack = self._nack
        if nack is not None and nack.add(packet):
            run_now(self.receiver._send_rtcp_nack(ssrc, sorted(nack.missing)), "NACK")
        self.deliver(packet, ssrc)

    def _media_stats(self, ssrc: int) -> StreamStatistics:
        stats = self._streams.get(ssrc)
        if stats is None:
            stats = self._streams[ssrc] = StreamStatistics(self._clock_rate)
        self._stats = stats
        self.media_ssrc = ssrc
        return stats

    def deliver(self, packet: InPacket, ssrc: int) -> None:
        """Forward one media packet (fresh or repaired) to every consumer of this
        producer, and to a consumer switching to it."""
        self.packets += 1
        self.bytes += len(packet.payload)
        if packet.marker:
            self.frames += 1
        if ssrc != self.media_ssrc:
            self._media_stats(ssrc)
        self.last_packet_at = time.monotonic()
        if self.muted or not self._targets:
            return
        now = time.time()
        ast = abs_send_time(now)
        for consumer in self._targets:
            try:  # one consumer's failure never costs the later consumers this packet
                if consumer.source is self:  # may have been re-pointed meanwhile
                    consumer.forward(packet, now, ast)
                elif consumer.next_source is self:
                    consumer.switch_on(packet, now, ast)
            except Exception:  # never let a forwarding bug break the transport
                log_once("producer-forward", "forwarding failed")

    def close(self) -> None:
        self.closed = True
        self._targets = ()


class Consumer:
    """One slot of one subscriber: a parked, negotiated sender fed by rewritten packets."""

    def __init__(
        self, sender: RTCRtpSender, slot: str, kind: str, settings: "MediaSettings"
    ) -> None:
        self.sender = sender
        self.slot = slot
        self.kind = kind
        self.settings = settings
        self.source: Optional[Producer] = None
        self.next_source: Optional[Producer] = None  # switching to it at its key frame
        self.ready = False
        self.closed = False
        self.drop = 0.0  # test-only fault injection on this leg (fresh packets)
        self.waiting_keyframe = kind == "video"
        self._resync = True
        self._vp8: Optional[Vp8Rewriter] = None
        self.codec_name: Optional[str] = None
        self.payload_type = 0
        self.rtx_payload_type: Optional[int] = None
        self.clock_rate = 90000
        self.mid: Optional[str] = None
        self._writer: Optional[RtpWriter] = None
        self.transport = None
        self._nominated: dict = {}
        self._pair = None  # the ICE pair _sendto/_addr were resolved for
        self._sendto = None  # the pair's socket sendto (None: use aiortc's _send_rtp)
        self._addr = None
        self._protect = None
        self._protect_rtcp = None
        self._sdes: Optional[bytes] = None  # the stock sender's SDES (CNAME), serialised once
        self.ssrc = sender._ssrc
        self.rtx_ssrc = sender._rtx_ssrc
        self._seq_offset = 0
        self._ts_offset = 0
        self._out_seq: Optional[int] = None
        self._last_ts: Optional[int] = None
        self._last_ts_at = 0.0
        self._rtx_seq = random.randint(0, 0x7FFF)
        size = max(16, settings.nack_cache_packets)
        self._cache: list = [None] * size
        self._cache_size = size
        # statistics
        self.packets = 0
        self.bytes = 0
        self.keyframes = 0
        self.nacks_received = 0
        self.retransmissions = 0
        self.plis_received = 0
        self.send_errors = 0
        self.remb_bps: Optional[int] = None
        self.rtt_s: Optional[float] = None
        self.fraction_lost: Optional[float] = None

        original_send = sender.send

        async def send(parameters) -> None:
            self._configure(parameters)
            await original_send(parameters)

        sender.send = send
        self._original_rtcp = sender._handle_rtcp_packet
        sender._handle_rtcp_packet = self._on_rtcp
        self._original_send_rtcp = sender._send_rtcp
        sender._send_rtcp = self._send_rtcp

    def _configure(self, parameters) -> None:
        codec = parameters.codecs[0]
        self.codec_name = codec.name
        self.payload_type = codec.payloadType
        self.clock_rate = codec.clockRate
        for c in parameters.codecs:
            if is_rtx(c) and c.parameters.get("apt") == self.payload_type:
                self.rtx_payload_type = c.payloadType
        self.mid = parameters.muxId
        self._writer = RtpWriter(parameters.headerExtensions, parameters.muxId)
        self.transport = self.sender.transport
        self._nominated = self.transport.transport._connection._nominated  # private
        self._pair = None
        self.ssrc = self.sender._ssrc
        self.rtx_ssrc = self.sender._rtx_ssrc
        self._vp8 = Vp8Rewriter() if codec.name == "VP8" else None
        self.ready = True
        if self.waiting_keyframe and self.source is not None:
            self.source.request_keyframe()  # key frames sent before now were not ours

    # -- source ------------------------------------------------------------------------
    def set_source(self, producer: Optional[Producer]) -> None:
        """Point this slot at another producer (or at nothing). The subscriber sees the
        same SSRC and continuous numbering. A video slot that is showing a picture keeps
        showing the old source until the new one's key frame arrives (make before break:
        no frozen or black frame while the new speaker's key frame is on its way)."""
        if producer is not None and producer is self.next_source:
            return
        if self.next_source is not None:  # a switch still waiting for its key frame
            self.next_source.detach(self)
            self.next_source = None
        if producer is self.source:
            return
        if (producer is not None and self.source is not None and self.kind == "video"
                and self.ready and not self.waiting_keyframe):
            self.next_source = producer
            producer.attach(self)
            producer.request_keyframe()
            return
        if self.source is not None:
            self.source.detach(self)
        self.source = producer
        if producer is None:
            return
        self.waiting_keyframe = self.kind == "video"
        self._resync = True
        producer.attach(self)
        if self.waiting_keyframe and self.ready:
            producer.request_keyframe()

    def drop_producer(self, producer: Producer) -> None:
        """``producer`` is going away: stop using it (as the source or as the next one)."""
        if producer is self.next_source:
            producer.detach(self)
            self.next_source = None
        elif producer is self.source:
            self.set_source(None)

    def switch_on(self, pkt: InPacket, now: float, ast: bytes) -> None:
        """A packet of the source this slot is switching to: switch at its key frame."""
        if not is_keyframe(self.codec_name, pkt.payload):
            self.next_source.request_keyframe()  # throttled per producer
            return
        old, self.source, self.next_source = self.source, self.next_source, None
        if old is not None:
            old.detach(self)
        self.waiting_keyframe = False
        self._resync = True
        self.forward(pkt, now, ast)

    # -- hot path ----------------------------------------------------------------------
    def forward(self, pkt: InPacket, now: float, ast: bytes) -> None:
        """Rewrite one packet of the source for this subscriber and send it. ``now`` is
        the wall time and ``ast`` the abs-send-time bytes, computed once per packet by
        the producer for all its consumers."""
        if not self.ready:
            return
        payload = pkt.payload
        if self._resync:
            if self.waiting_keyframe and not is_keyframe(self.codec_name, payload):
                self.source.request_keyframe()
                return
            self.waiting_keyframe = False
            self._resync = False
            if self.kind == "video":
                self.keyframes += 1
            self._rebase(pkt, now)
            if self._vp8 is not None:
                self._vp8.reset()
        seq = (pkt.sequence_number + self._seq_offset) & 0xFFFF
        ts = (pkt.timestamp + self._ts_offset) & 0xFFFFFFFF
        if (seq - self._out_seq) & 0xFFFF < 0x8000:  # newer (or equal)
            self._out_seq = seq
            self._last_ts = ts
            self._last_ts_at = now
        if self._vp8 is not None:
            payload = self._vp8.rewrite(payload)
        marker = pkt.marker
        self._cache[seq % self._cache_size] = (seq, ts, marker, payload)
        if self.drop and random.random() < self.drop:
            return
        data = self._writer.write(self.payload_type, marker, seq, ts, self.ssrc, ast,
                                  pkt.audio_level, payload)
        if self._send(data):
            self.packets += 1
            self.bytes += len(payload)

    def _send(self, data: bytes, rtcp: bool = False) -> bool:
        """Protect and send one RTP packet on the subscriber's selected ICE pair, in this
        call when the pair is a plain UDP socket (host/srflx/prflx): the work of
        ``await dtls._send_rtp(data)`` without its coroutine hops or its per-call lookups
        (the relay's hottest call). A TURN-relayed pair goes through aiortc's own path."""
        transport = self.transport
        if transport._state is not _DTLS_CONNECTED:
            self.send_errors += 1
            return False
        pair = self._nominated.get(1)
        if pair is not self._pair:
            if pair is None:
                self.send_errors += 1
                return False
            self._retarget(pair)
        sendto = self._sendto
        if sendto is None:
            run_now(self._send_slow(data), "RTP send")
            return True
        try:
            sendto(self._protect_rtcp(data) if rtcp else self._protect(data), self._addr)
        except Exception:  # a closing socket; the peer's state machine handles the rest
            self.send_errors += 1
            return False
        return True

    def _retarget(self, pair) -> None:
        self._pair = pair
        protocol = pair.protocol
        socket_transport = getattr(protocol, "transport", None)
        if type(protocol) is StunProtocol and socket_transport is not None:
            self._sendto = socket_transport.sendto
            self._addr = pair.remote_addr
            session = self.transport._tx_srtp  # private (see selfcheck)
            self._protect = protector(session)
            self._protect_rtcp = session.protect_rtcp
        else:
            self._sendto = self._addr = self._protect = self._protect_rtcp = None

    async def _send_slow(self, data: bytes) -> None:
        try:
            await self.transport._send_rtp(data)
        except ConnectionError:
            self.send_errors += 1

    def _rebase(self, pkt: InPacket, now: float) -> None:
        if self._out_seq is None:
            next_seq = random.randint(0, 0x7FFF)
            next_ts = random.getrandbits(32)
        else:
            next_seq = self._out_seq + 1
            elapsed = now - self._last_ts_at
            next_ts = self._last_ts + max(1, int(elapsed * self.clock_rate))
        self._seq_offset = (next_seq - pkt.sequence_number) & 0xFFFF
        self._ts_offset = (next_ts - pkt.timestamp) & 0xFFFFFFFF
        self._out_seq = (next_seq - 1) & 0xFFFF

    def _retransmit(self, seq: int, ast: bytes) -> None:
        entry = self._cache[seq % self._cache_size]
        if entry is None or entry[0] != seq:
            return
        _, ts, marker, payload = entry
        if self.rtx_payload_type is not None:
            data = self._writer.write(self.rtx_payload_type, marker, self._rtx_seq, ts,
                                      self.rtx_ssrc, ast, None,
                                      seq.to_bytes(2, "big") + payload)
            self._rtx_seq = (self._rtx_seq + 1) & 0xFFFF
        else:
            data = self._writer.write(self.payload_type, marker, seq, ts, self.ssrc,
                                      ast, None, payload)
        if self._send(data):
            self.retransmissions += 1

    async def _on_rtcp(self, packet) -> None:
        try:
            if isinstance(packet, RtcpRtpfbPacket) and packet.fmt == RTCP_RTPFB_NACK:
                self.nacks_received += 1
                if self.ready:
                    ast = abs_send_time(time.time())
                    for seq in packet.lost:
                        self._retransmit(seq, ast)
                return
            if isinstance(packet, RtcpPsfbPacket):
                if packet.fmt in (RTCP_PSFB_PLI, RTCP_PSFB_FIR):
                    self.plis_received += 1
                    if self.source is not None:
                        self.source.request_keyframe()
                elif packet.fmt == RTCP_PSFB_APP:
                    try:
                        self.remb_bps = unpack_remb_fci(packet.fci)[0]
                    except ValueError:
                        pass
                return
            if isinstance(packet, (RtcpRrPacket, RtcpSrPacket)):
                for report in packet.reports:
                    if report.ssrc == self.ssrc:
                        self.fraction_lost = report.fraction_lost / 256.0
                        if report.lsr:
                            now = (ntp_now() >> 16) & 0xFFFFFFFF
                            rtt = ((now - report.lsr - report.dlsr) & 0xFFFFFFFF) / 65536
                            if rtt < 60:
                                self.rtt_s = rtt
            await self._original_rtcp(packet)
        except Exception:
            log_once("consumer-rtcp", "subscriber RTCP handling failed")

    async def _send_rtcp(self, packets: list) -> None:
        """Replaces the stock sender's RTCP. Its loop asks about once a second for a
        sender report plus SDES; the consumer sends them only once it has forwarded
        something, with the report made true at the moment it is sent (NTP now, the RTP
        time this slot's clock shows now, the packets and bytes forwarded) and serialised
        and sent without the stock path's objects and coroutine hops (with ~200 slots it
        was a fifth of the relay's CPU). Browsers lip-sync audio and video with this pair,
        and the subscriber's receiver report echoes it, so the round-trip time is right
        even when the slot has been quiet (a floor slot while the hall speaks). Anything
        else (the BYE when the sender stops) takes the stock path."""
        if (len(packets) != 2 or not isinstance(packets[0], RtcpSrPacket)
                or not isinstance(packets[1], RtcpSdesPacket) or not self.ready):
            await self._original_send_rtcp(packets)
            return
        if self._last_ts is None:  # nothing forwarded yet: nothing to report
            return
        try:  # an exception here would end aiortc's RTCP task, and pc.close() waits on it
            if self._sdes is None:
                self._sdes = bytes(packets[1])
            now = time.time()
            rtp_ts = (self._last_ts + int((now - self._last_ts_at) * self.clock_rate)) \
                & 0xFFFFFFFF
            data = sender_report(self.ssrc, ntp_from_unix(now), rtp_ts, self.packets,
                                 self.bytes) + self._sdes
            self._send(data, rtcp=True)
        except Exception:
            log_once("consumer-sr", "sender report failed")

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.set_source(None)
        self.ready = False
