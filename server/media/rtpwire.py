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

URI_MID = "urn:ietf:params:rtp-hdrext:sdes:mid"
URI_ABS_SEND_TIME = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
URI_AUDIO_LEVEL = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"


def ntp_now() -> int:
    """64-bit NTP time now (what aiortc's clock.current_ntp_time gives, 20x cheaper)."""
    return ntp_from_unix(time.time())


def ntp_from_unix(seconds: float) -> int:
    return int((seconds + _NTP_EPOCH_OFFSET) * 4294967296.0)


class RtpWriter:
    """Serialise RTP packets with the header extensions negotiated on one sender."""

    __slots__ = ("_mid", "_ast", "_al")

    def __init__(self, header_extensions, mid: str | None) -> None:
        ids = {ext.uri: ext.id for ext in header_extensions}
        mid_id = ids.get(URI_MID)
        mid_bytes = (mid or "").encode("utf8")
        self._mid = (bytes([(mid_id << 4) | (len(mid_bytes) - 1)]) + mid_bytes
                     if mid_id and mid_bytes else b"")
        ast_id = ids.get(URI_ABS_SEND_TIME)
        self._ast = (ast_id << 4) | 2 if ast_id else 0
        al_id = ids.get(URI_AUDIO_LEVEL)
        self._al = (al_id << 4) if al_id else 0

    def write(self, payload_type: int, marker: int, seq: int, timestamp: int, ssrc: int,
              ntp: int, audio_level, payload: bytes) -> bytes:
        ext = self._mid
        if self._ast:
            ast = (ntp >> 14) & 0x00FFFFFF
            ext += bytes((self._ast, ast >> 16, (ast >> 8) & 0xFF, ast & 0xFF))
        if self._al and audio_level is not None:
            ext += bytes((self._al, (0x80 if audio_level[0] else 0) | (audio_level[1] & 0x7F)))
        if not ext:
            return _HEADER.pack(0x80, (marker << 7) | payload_type, seq, timestamp,
                                ssrc) + payload
        pad = -len(ext) & 3
        if pad:
            ext += b"\x00" * pad
        return _HEADER_EXT.pack(0x90, (marker << 7) | payload_type, seq, timestamp, ssrc,
                                0xBEDE, len(ext) >> 2) + ext + payload
