"""RTP serialisation for the hot path.

aiortc's ``RtpPacket(...).serialize(HeaderExtensionsMap)`` costs several times the rest of
the forwarding work (a packet object, a datetime-based NTP clock, generic extension
packing). A consumer's outgoing packets always carry the same SSRC/PT and the same
extensions (mid, abs-send-time, audio level), so :class:`RtpWriter` pre-builds what is
constant and packs the rest with one ``struct.pack``. Output is byte-identical to aiortc's
(see tests/media/test_units.py).
"""

from __future__ import annotations

import struct
import time

_NTP_EPOCH_OFFSET = 2208988800  # seconds from 1900-01-01 to 1970-01-01
_HEADER = struct.Struct("!BBHLL")
_HEADER_EXT = struct.Struct("!BBHLLHH")
_SR = struct.Struct("!BBHLQLLL")
_SEQ_TS = struct.Struct("!HL")
_EXT_HEAD = struct.Struct("!HH")

URI_MID = "urn:ietf:params:rtp-hdrext:sdes:mid"
URI_ABS_SEND_TIME = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
URI_AUDIO_LEVEL = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"


def ntp_now() -> int:
    """64-bit NTP time now (what aiortc's clock.current_ntp_time gives, 20x cheaper)."""
    return ntp_from_unix(time.time())


def ntp_from_unix(seconds: float) -> int:
    return int((seconds + _NTP_EPOCH_OFFSET) * 4294967296.0)


def abs_send_time(seconds: float) -> bytes:
    """The 3-byte abs-send-time value (6.18 fixed point NTP seconds) for a unix time."""
    return (int((seconds + _NTP_EPOCH_OFFSET) * 262144.0) & 0x00FFFFFF).to_bytes(3, "big")


def sender_report(ssrc: int, ntp: int, rtp_timestamp: int, packet_count: int,
                  octet_count: int) -> bytes:
    """An RTCP sender report without report blocks (what aiortc's RtcpSrPacket gives)."""
    return _SR.pack(0x80, 200, 6, ssrc, ntp, rtp_timestamp, packet_count & 0xFFFFFFFF,
                    octet_count & 0xFFFFFFFF)


def parse_rtp(data: bytes, audio_level_id: int):
    """Parse a decrypted RTP packet for forwarding, reading only what the relay uses:
    ``(payload_type, sequence_number, timestamp, marker, payload, audio_level)`` with
    ``audio_level`` as aiortc gives it ((voice activity, level) or None; read only when
    ``audio_level_id`` is not 0), or None for a malformed packet. CSRCs, padding and the
    extension block are skipped (same result as aiortc's ``RtpPacket.parse``)."""
    n = len(data)
    if n < 12 or data[0] >> 6 != 2:
        return None
    b0 = data[0]
    b1 = data[1]
    seq, ts = _SEQ_TS.unpack_from(data, 2)
    pos = 12 + ((b0 & 0x0F) << 2)
    level = None
    if b0 & 0x10:
        if pos + 4 > n:
            return None
        profile, words = _EXT_HEAD.unpack_from(data, pos)
        start = pos + 4
        pos = start + (words << 2)
        if audio_level_id and profile == 0xBEDE and pos <= n:
            level = _audio_level(data, start, pos, audio_level_id)
    end = n
    if b0 & 0x20:
        end -= data[-1]
    if pos > end or (b0 & 0x20 and not data[-1]):
        return None
    return b1 & 0x7F, seq, ts, b1 >> 7, data[pos:end], level


def parse_header(data: bytes):
    """The clear RTP header of an SRTP (or RTP) packet: ``(payload_type, sequence_number,
    timestamp, marker, payload_size)`` where ``payload_size`` counts everything after the
    header (payload, padding, SRTP tag), or None for a malformed packet."""
    n = len(data)
    if n < 12 or data[0] >> 6 != 2:
        return None
    b0 = data[0]
    seq, ts = _SEQ_TS.unpack_from(data, 2)
    pos = 12 + ((b0 & 0x0F) << 2)
    if b0 & 0x10:
        if pos + 4 > n:
            return None
        pos += 4 + (_EXT_HEAD.unpack_from(data, pos)[1] << 2)
    if pos > n:
        return None
    b1 = data[1]
    return b1 & 0x7F, seq, ts, b1 >> 7, n - pos


def _audio_level(data: bytes, pos: int, end: int, ext_id: int):
    """The ssrc-audio-level in a one-byte-header extension block, or None."""
    while pos < end:
        b = data[pos]
        if b == 0:  # padding between elements
            pos += 1
            continue
        ident = b >> 4
        if ident == 15:  # reserved: stop, as RFC 8285 says
            return None
        if ident == ext_id:
            if pos + 1 < end:
                v = data[pos + 1]
                return (v & 0x80 == 0x80, v & 0x7F)
            return None
        pos += 2 + (b & 0x0F)
    return None


class RtpWriter:
    """Serialise RTP packets with the header extensions negotiated on one sender. The
    extension block's constant parts (mid, the abs-send-time element's id, the padding and
    length for packets with and without an audio level) are built once."""

    __slots__ = ("_pre", "_ast_on", "_al", "_tail", "_words", "_tail_al", "_words_al")

    def __init__(self, header_extensions, mid: str | None) -> None:
        ids = {ext.uri: ext.id for ext in header_extensions}
        mid_id = ids.get(URI_MID)
        mid_bytes = (mid or "").encode("utf8")
        pre = (bytes([(mid_id << 4) | (len(mid_bytes) - 1)]) + mid_bytes
               if mid_id and mid_bytes else b"")
        ast_id = ids.get(URI_ABS_SEND_TIME)
        if ast_id:
            pre += bytes(((ast_id << 4) | 2,))
        self._pre = pre
        self._ast_on = bool(ast_id)
        size = len(pre) + (3 if ast_id else 0)  # the 3 abs-send-time bytes come per packet
        self._tail = b"\x00" * (-size & 3)
        self._words = (size + len(self._tail)) >> 2
        al_id = ids.get(URI_AUDIO_LEVEL)
        self._al = (al_id << 4) if al_id else 0
        self._tail_al = b"\x00" * (-(size + 2) & 3)
        self._words_al = (size + 2 + len(self._tail_al)) >> 2

    def write(self, payload_type: int, marker: int, seq: int, timestamp: int, ssrc: int,
              ast: bytes, audio_level, payload: bytes) -> bytes:
        """``ast``: the abs-send-time bytes (see :func:`abs_send_time`)."""
        if self._al and audio_level is not None:
            tail = bytes((self._al, (0x80 if audio_level[0] else 0) | (audio_level[1] & 0x7F))) \
                + self._tail_al
            words = self._words_al
        else:
            tail = self._tail
            words = self._words
            if not words:
                return _HEADER.pack(0x80, (marker << 7) | payload_type, seq, timestamp,
                                    ssrc) + payload
        return b"".join((_HEADER_EXT.pack(0x90, (marker << 7) | payload_type, seq, timestamp,
                                          ssrc, 0xBEDE, words),
                         self._pre, ast if self._ast_on else b"", tail, payload))
