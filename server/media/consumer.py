"""The consumer side of the packet path (see :mod:`server.media.forward`): one slot of one
subscriber, fed by rewritten packets."""

from __future__ import annotations

import random
import time
from typing import TYPE_CHECKING, Optional

from aioice.ice import StunProtocol
from aiortc import RTCRtpSender
from aiortc.codecs import is_rtx
from aiortc.rtcdtlstransport import State as _DtlsState
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    RtcpPsfbPacket,
    RtcpRrPacket,
    RtcpRtpfbPacket,
    RtcpSdesPacket,
    RtcpSrPacket,
    unpack_remb_fci,
)

from .codecs import Vp8Rewriter, is_keyframe
from .rtpwire import RtpWriter, abs_send_time, ntp_from_unix, ntp_now, sender_report
from .runtime import log_once, run_now
from .srtpfast import protector

if TYPE_CHECKING:
    from .producer import InPacket, Producer
    from .settings import MediaSettings

_DTLS_CONNECTED = _DtlsState.CONNECTED


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
        self.send_dropped = 0  # the socket's send buffer was full
        self.remb_bps: Optional[int] = None
        self.remb_at = 0.0
        self.rr_at = 0.0
        self.padding_bytes = 0  # bandwidth probes (RTX copies of recent packets)
        self.rtt_s: Optional[float] = None
        self.fraction_lost: Optional[float] = None
        #: the subscriber's cumulative counters (last receiver report): packets lost, and
        #: the extended highest sequence number received; loss over any interval follows
        #: from them however often reports come (see Viewers.update)
        self.rr_lost = 0
        self.rr_highest: Optional[int] = None
        self.rr_read: Optional[tuple[int, int]] = None  # (lost, highest) when last read

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
        # _send, inlined for the common case (the relay's hottest lines)
        if (self.transport._state is _DTLS_CONNECTED and self._sendto is not None
                and self._nominated.get(1) is self._pair):
            try:
                self._sendto(self._protect(data), self._addr)
            except (BlockingIOError, InterruptedError):
                self.send_dropped += 1  # send buffer full: UDP drops, NACK/PLI repair
                return
            except Exception:  # a closing socket; the peer's state machine handles the rest
                self.send_errors += 1
                return
        elif not self._send(data):
            return
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
        except (BlockingIOError, InterruptedError):
            self.send_dropped += 1
            return False
        except Exception:  # a closing socket; the peer's state machine handles the rest
            self.send_errors += 1
            return False
        return True

    def _retarget(self, pair) -> None:
        self._pair = pair
        protocol = pair.protocol
        socket_transport = getattr(protocol, "transport", None)
        if type(protocol) is StunProtocol and socket_transport is not None:
            self._addr = pair.remote_addr
            direct = getattr(socket_transport, "direct_sendto", None)  # the shared port
            self._sendto = direct(self._addr) if direct is not None else socket_transport.sendto
            if self._sendto is None:  # closing
                self._addr = self._protect = self._protect_rtcp = None
                return
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

    def pad(self, nbytes: int) -> int:
        """Bandwidth probe: about ``nbytes`` of RTX copies of the most recent packets (the
        viewer drops them as duplicates; its estimator counts them). Returns bytes sent."""
        if not self.ready or self._out_seq is None or self.rtx_payload_type is None:
            return 0
        ast = abs_send_time(time.time())
        sent, seq = 0, self._out_seq
        for _ in range(self._cache_size):
            if sent >= nbytes:
                break
            entry = self._cache[seq % self._cache_size]
            if entry is None or entry[0] != seq:
                break
            _, ts, marker, payload = entry
            data = self._writer.write(self.rtx_payload_type, marker, self._rtx_seq, ts,
                                      self.rtx_ssrc, ast, None, seq.to_bytes(2, "big") + payload)
            self._rtx_seq = (self._rtx_seq + 1) & 0xFFFF
            if not self._send(data):
                break
            sent += len(data)
            seq = (seq - 1) & 0xFFFF
        self.padding_bytes += sent
        return sent

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
                        self.remb_at = time.monotonic()
                    except ValueError:
                        pass
                return
            if isinstance(packet, (RtcpRrPacket, RtcpSrPacket)):
                for report in packet.reports:
                    if report.ssrc == self.ssrc:
                        self.fraction_lost = report.fraction_lost / 256.0
                        self.rr_lost = report.packets_lost
                        self.rr_highest = report.highest_sequence
                        self.rr_at = time.monotonic()
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
        # free the retransmission cache (up to nack_cache_packets payloads, ~300 kB for video)
        # now: a closed peer's objects form cycles that only a full collection frees, and
        # until then every rejoin kept its caches (the soak's RSS grew ~0.5 MB a rejoin)
        self._cache = [None] * self._cache_size
