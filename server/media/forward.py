"""Tap and rewrite: the packet path of the relay (no decoding, no encoding).

* :class:`Producer` taps one relay-side ``RTCRtpReceiver``: its private jitter buffer is
  replaced by :class:`TapJitterBuffer`, so every media packet (after SRTP, RTX unwrap and the
  stock NACK/RR bookkeeping towards the publisher) reaches the relay and no frame ever
  reaches a decoder. The stock REMB estimator is switched off (it was the costliest part
  of the packet path); the router sends the relay's own REMB once a second instead.
* :class:`Consumer` owns one negotiated relay-side ``RTCRtpSender`` (one slot of one
  subscriber). The sender is parked on a track that never yields (no encoder, no polling);
  the consumer rewrites SSRC, sequence number, timestamp, payload type, header extensions
  (mid, abs-send-time, audio level) and the VP8 picture ID / TL0PICIDX, and writes the packet
  with ``RTCDtlsTransport._send_rtp``. Subscriber NACKs are answered from the consumer's own
  cache (as RTX when negotiated); PLI/FIR become a throttled PLI to the producer; RR gives
  RTT and loss; the stock SR keeps running on counters the consumer maintains.

The hot path (``Producer._on_rtp`` -> ``Consumer.forward``) logs nothing and allocates only
the outgoing packet and its cache entry.
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
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    RtcpPsfbPacket,
    RtcpRrPacket,
    RtcpRtpfbPacket,
    RtcpSrPacket,
    RtpPacket,
    pack_remb_fci,
    unpack_remb_fci,
)

from .codecs import Vp8Rewriter, is_keyframe
from .rtpwire import RtpWriter, ntp_from_unix, ntp_now

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


def send_rtp_now(dtls, data: bytes) -> bool:
    """Protect and send one RTP packet synchronously when the selected ICE pair is a
    plain UDP socket (host/srflx/prflx): the same work as ``await dtls._send_rtp(data)``
    without its four coroutine hops (the relay's single hottest call). Returns False when
    the caller must use ``_send_rtp`` (TURN-relayed pair); raises ConnectionError when
    not connected. Skips aiortc's transport tx byte/packet stats (the relay counts its
    own)."""
    if dtls._state is not _DTLS_CONNECTED:
        raise ConnectionError("not connected")
    pair = dtls.transport._connection._nominated.get(1)  # private (see selfcheck)
    if pair is None:
        raise ConnectionError("not connected")
    protocol = pair.protocol
    if type(protocol) is not StunProtocol:
        return False
    protocol.transport.sendto(dtls._tx_srtp.protect(data), pair.remote_addr)
    return True


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


class TapJitterBuffer:
    """Stands in for the receiver's private JitterBuffer: records, returns no frame."""

    __slots__ = ("pending",)

    def __init__(self) -> None:
        self.pending: list[RtpPacket] = []

    def add(self, packet: RtpPacket):
        self.pending.append(packet)
        return False, None


class Producer:
    """One incoming track of a publisher (one relay-side receiver)."""

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
        self.clock_khz = 90 if kind == "video" else 48
        self.muted = False
        self.closed = False
        self.media_ssrc: Optional[int] = None
        self._targets: tuple[Consumer, ...] = ()
        # statistics (cumulative; rates are computed by the router's sampler)
        self.packets = 0
        self.bytes = 0
        self.frames = 0
        self.keyframes = 0
        self.plis_sent = 0
        self.last_packet_at: Optional[float] = None
        self.raw_received = 0  # media-SSRC packets before repair (for loss_up)
        self.raw_expected = 0
        self._max_seq: Optional[int] = None
        self._transit: Optional[int] = None
        self.jitter = 0.0  # in RTP clock units
        self._last_pli = -1e9

        self._tap = TapJitterBuffer()
        receiver._RTCRtpReceiver__jitter_buffer = self._tap  # private (see selfcheck)
        # aiortc's receive-side bandwidth estimator costs more CPU than all the rest of
        # the relay's packet path; the relay sends its own REMB instead (send_remb)
        receiver._RTCRtpReceiver__remote_bitrate_estimator = None
        self._original_handle = receiver._handle_rtp_packet
        receiver._handle_rtp_packet = self._on_rtp  # the RtpRouter calls the instance attr
        original_receive = receiver.receive

        async def receive(parameters) -> None:
            for codec in parameters.codecs:
                if not is_rtx(codec):
                    self.codec_name = codec.name
                    self.payload_type = codec.payloadType
                    self.clock_khz = max(1, codec.clockRate // 1000)
                    break
            await original_receive(parameters)
            route_rtx_by_ssrc(receiver, parameters)

        receiver.receive = receive

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
        spawn(self.receiver._send_rtcp_pli(self.media_ssrc), "PLI")
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
        spawn(self.receiver._send_rtcp(packet), "REMB")

    # -- hot path ----------------------------------------------------------------------
    async def _on_rtp(self, packet: RtpPacket, arrival_time_ms: int) -> None:
        if packet.payload_type == self.payload_type:
            self._account(packet, arrival_time_ms)
        await self._original_handle(packet, arrival_time_ms)
        tap = self._tap
        if not tap.pending:
            return
        pending, tap.pending = tap.pending, []
        now = time.monotonic()
        self.last_packet_at = now
        try:
            for pkt in pending:
                self.packets += 1
                self.bytes += len(pkt.payload)
                if pkt.marker:
                    self.frames += 1
                self.media_ssrc = pkt.ssrc
                if self.muted:
                    continue
                for consumer in self._targets:
                    if consumer.source is self:  # may have been re-pointed meanwhile
                        await consumer.forward(pkt)
                    elif consumer.next_source is self:
                        await consumer.switch_on(pkt)
        except Exception:  # never let a forwarding bug kill the transport's read loop
            log_once("producer-forward", "forwarding failed")

    def _account(self, packet: RtpPacket, arrival_time_ms: int) -> None:
        self.raw_received += 1
        seq = packet.sequence_number
        if self._max_seq is None:
            self._max_seq = seq
            self.raw_expected = 1
        else:
            d = (seq - self._max_seq) & 0xFFFF
            if 0 < d < 0x8000:
                self.raw_expected += d
                self._max_seq = seq
        # RFC 3550 interarrival jitter, in RTP clock units
        transit = arrival_time_ms * self.clock_khz - packet.timestamp
        if self._transit is not None:
            d = (transit - self._transit) & 0xFFFFFFFF
            if d >= 0x80000000:
                d = 0x100000000 - d
            self.jitter += (d - self.jitter) / 16.0
        self._transit = transit

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

    async def switch_on(self, pkt: RtpPacket) -> None:
        """A packet of the source this slot is switching to: switch at its key frame."""
        if not is_keyframe(self.codec_name, pkt.payload):
            self.next_source.request_keyframe()  # throttled per producer
            return
        old, self.source, self.next_source = self.source, self.next_source, None
        if old is not None:
            old.detach(self)
        self.waiting_keyframe = False
        self._resync = True
        await self.forward(pkt)

    # -- hot path ----------------------------------------------------------------------
    async def forward(self, pkt: RtpPacket) -> None:
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
            self._rebase(pkt)
            if self._vp8 is not None:
                self._vp8.reset()
        seq = (pkt.sequence_number + self._seq_offset) & 0xFFFF
        ts = (pkt.timestamp + self._ts_offset) & 0xFFFFFFFF
        now = time.time()
        if (seq - self._out_seq) & 0xFFFF < 0x8000:  # newer (or equal)
            self._out_seq = seq
            self._last_ts = ts
            self._last_ts_at = now
        if self._vp8 is not None:
            payload = self._vp8.rewrite(payload)
        self._cache[seq % self._cache_size] = (seq, ts, pkt.marker, payload)
        if self.drop and random.random() < self.drop:
            return
        ntp = ntp_from_unix(now)
        data = self._writer.write(self.payload_type, pkt.marker, seq, ts, self.ssrc, ntp,
                                  pkt.extensions.audio_level, payload)
        try:
            if not send_rtp_now(self.transport, data):
                await self.transport._send_rtp(data)
        except ConnectionError:
            self.send_errors += 1
            return
        self.packets += 1
        self.bytes += len(payload)

    def _rebase(self, pkt: RtpPacket) -> None:
        if self._out_seq is None:
            next_seq = random.randint(0, 0x7FFF)
            next_ts = random.getrandbits(32)
        else:
            next_seq = self._out_seq + 1
            elapsed = time.time() - self._last_ts_at
            next_ts = self._last_ts + max(1, int(elapsed * self.clock_rate))
        self._seq_offset = (next_seq - pkt.sequence_number) & 0xFFFF
        self._ts_offset = (next_ts - pkt.timestamp) & 0xFFFFFFFF
        self._out_seq = (next_seq - 1) & 0xFFFF

    async def _retransmit(self, seq: int) -> None:
        entry = self._cache[seq % self._cache_size]
        if entry is None or entry[0] != seq:
            return
        _, ts, marker, payload = entry
        if self.rtx_payload_type is not None:
            data = self._writer.write(self.rtx_payload_type, marker, self._rtx_seq, ts,
                                      self.rtx_ssrc, ntp_now(), None,
                                      seq.to_bytes(2, "big") + payload)
            self._rtx_seq = (self._rtx_seq + 1) & 0xFFFF
        else:
            data = self._writer.write(self.payload_type, marker, seq, ts, self.ssrc,
                                      ntp_now(), None, payload)
        try:
            await self.transport._send_rtp(data)
        except ConnectionError:
            return
        self.retransmissions += 1

    async def _on_rtcp(self, packet) -> None:
        try:
            if isinstance(packet, RtcpRtpfbPacket) and packet.fmt == RTCP_RTPFB_NACK:
                self.nacks_received += 1
                for seq in packet.lost:
                    await self._retransmit(seq)
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
        """The stock sender's RTCP, with its sender report made true at the moment it is
        sent: NTP now, the RTP time this slot's clock shows now, and the packets and bytes
        the relay forwarded. Browsers lip-sync audio and video with this pair, and the
        subscriber's receiver report echoes it, so the round-trip time is right even when
        the slot has been quiet (a floor slot while the hall speaks)."""
        for packet in packets:
            if isinstance(packet, RtcpSrPacket) and packet.ssrc == self.ssrc:
                now = time.time()
                info = packet.sender_info
                info.ntp_timestamp = ntp_from_unix(now)
                if self._last_ts is not None:
                    info.rtp_timestamp = (self._last_ts + int((now - self._last_ts_at) * self.clock_rate)) & 0xFFFFFFFF
                info.packet_count = self.packets & 0xFFFFFFFF
                info.octet_count = self.bytes & 0xFFFFFFFF
        await self._original_send_rtcp(packets)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.set_source(None)
        self.ready = False
