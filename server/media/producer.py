"""The producer side of the packet path (see :mod:`server.media.forward`): one incoming
track of a publisher, its tap on aiortc's receiver, and the fan-out to consumers."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Optional

from aiortc import RTCRtpReceiver
from aiortc.codecs import is_rtx
from aiortc.rtcrtpreceiver import StreamStatistics
from aiortc.rtp import RTCP_PSFB_APP, RtcpPsfbPacket, RtpPacket, pack_remb_fci

from .rtpwire import URI_AUDIO_LEVEL, abs_send_time, parse_header, parse_rtp
from .runtime import log_once, route_rtx_by_ssrc, run_now

if TYPE_CHECKING:
    from .consumer import Consumer
    from .settings import MediaSettings

#: a producer silent this long is idle (a layer turned off); packets again wake it
WAKE_IDLE_S = 1.0
#: an unviewed producer's packets are counted from their clear RTP header; one in this many
#: is still decrypted, to keep libsrtp's packet index (rollover counter) in step
DECRYPT_EVERY = 256
#: bytes after an SRTP payload (the authentication tag of AES-CM/HMAC-SHA1-80; GCM's is 16)
SRTP_TAG_BYTES = 10


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
        self.track = track  # "audio" | "video" (high layer) | "low" | "presentation"
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
        #: called (soon, not in the packet path) when media starts or resumes after
        #: ``WAKE_IDLE_S`` of silence: the router re-points slots at a layer turned on
        self.on_wake = None
        self._last_pli = -1e9
        self._streams = receiver._RTCRtpReceiver__remote_streams  # private (see selfcheck)
        self._stats: Optional[StreamStatistics] = None  # of the media SSRC
        self._nack = receiver._RTCRtpReceiver__nack_generator  # private; None for audio
        self._undecrypted = 0
        self._header = InPacket(0, 0, 0, b"", None)  # reused by on_unviewed

        receiver._RTCRtpReceiver__jitter_buffer = TapJitterBuffer(self)  # private
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

    def on_unviewed(self, data: bytes, ssrc: int) -> bool:
        """One still-encrypted SRTP datagram, when nobody takes this producer's packets
        (no consumer, or muted): most points' audio and low video at 130 points. The RTP
        header is not encrypted (RFC 3711), so the receiver's statistics (its reports to
        the publisher, the technicians' loss and jitter), the counters and the wake-up are
        fed from it without decrypting, parsing the payload or generating NACKs (nobody
        needs a repair). Returns False when the normal path must take the datagram: the
        producer is viewed, the packet is not fresh media, or it is time for the periodic
        real decryption that keeps libsrtp's rollover counter in step (it guesses each
        packet's index from the last one it decrypted, which works within 2^15 packets)."""
        if self._targets and not self.muted:
            return False
        self._undecrypted += 1
        if self._undecrypted >= DECRYPT_EVERY:
            self._undecrypted = 0
            return False
        header = parse_header(data)
        if header is None or header[0] != self.payload_type:
            return False
        _, seq, ts, marker, size = header
        if ssrc != self.media_ssrc:
            self._media_stats(ssrc)
        probe = self._header
        probe.sequence_number = seq
        probe.timestamp = ts
        self._stats.add(probe)
        nack = self._nack
        if nack is not None and nack.max_seq is not None:
            nack.max_seq = None  # resume cleanly: no run of "missing" packets later
            nack.missing.clear()
        self.packets += 1
        self.bytes += max(0, size - SRTP_TAG_BYTES)
        if marker:
            self.frames += 1
        self._touch()
        return True

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
        self._touch()
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

    def _touch(self) -> None:
        now = time.monotonic()
        last = self.last_packet_at
        self.last_packet_at = now
        if (last is None or now - last > WAKE_IDLE_S) and self.on_wake is not None:
            # re-point the slots now, not on the next loop turn: this packet is the first of
            # the layer's key frame, and a slot switching to it starts at a key frame (one
            # missed here costs a PLI round and the encoder's next key frame, ~1 s)
            try:
                self.on_wake()
            except Exception:
                log_once("producer-wake", "re-pointing the slots failed")

    def active(self, now: float) -> bool:
        """Media within the last ``WAKE_IDLE_S`` (a layer that is turned on)."""
        return self.last_packet_at is not None and now - self.last_packet_at <= WAKE_IDLE_S

    def close(self) -> None:
        self.closed = True
        self.on_wake = None
        self._targets = ()
