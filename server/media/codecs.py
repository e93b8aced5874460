"""Codec knowledge the relay needs without decoding: key-frame detection (VP8, H264) and
the per-consumer VP8 payload-descriptor rewrite (picture ID, TL0PICIDX).

VP8 payload descriptor (RFC 7741 §4.2)::

     X|R|N|S|R| PID       byte 0
     I|L|T|K| RSV         byte 1 (only if X)
     M| PictureID         1 or 2 bytes (only if I; M=1 -> 15 bit)
     TL0PICIDX            1 byte (only if L)
     TID|Y|KEYIDX         1 byte (only if T or K)
"""

from __future__ import annotations


def vp8_is_keyframe(payload: bytes) -> bool:
    """True if this VP8 RTP payload is the first packet of a key frame."""
    n = len(payload)
    if n < 2:
        return False
    b0 = payload[0]
    # S=1 (start of partition) and PID=0
    if not (b0 & 0x10) or (b0 & 0x0F):
        return False
    pos = 1
    if b0 & 0x80:
        b1 = payload[1]
        pos = 2
        if b1 & 0x80:  # I
            if pos >= n:
                return False
            pos += 2 if payload[pos] & 0x80 else 1
        if b1 & 0x40:  # L
            pos += 1
        if b1 & 0x30:  # T or K
            pos += 1
    # VP8 frame header: P bit (bit 0 of the first byte) 0 = key frame
    return pos < n and (payload[pos] & 0x01) == 0


def h264_is_keyframe(payload: bytes) -> bool:
    """True if this H264 RTP payload carries the start of an IDR picture or an SPS."""
    if not payload:
        return False
    nal_type = payload[0] & 0x1F
    if nal_type in (5, 7):
        return True
    if nal_type == 24:  # STAP-A
        pos = 1
        while pos + 2 < len(payload):
            size = int.from_bytes(payload[pos : pos + 2], "big")
            if payload[pos + 2] & 0x1F in (5, 7):
                return True
            pos += 2 + size
        return False
    if nal_type == 28 and len(payload) > 1:  # FU-A, start bit + IDR
        return bool(payload[1] & 0x80) and (payload[1] & 0x1F) == 5
    return False


def is_keyframe(codec_name: str, payload: bytes) -> bool:
    if codec_name == "VP8":
        return vp8_is_keyframe(payload)
    if codec_name == "H264":
        return h264_is_keyframe(payload)
    return True  # audio and unknown codecs: every packet is a fine starting point


class Vp8Rewriter:
    """Per-consumer VP8 picture ID / TL0PICIDX rewrite, so that a change of source inside
    one slot looks like one continuous stream to the subscriber's decoder.

    Output picture IDs are always 15 bit. Each source value is mapped by its (signed)
    distance to the last source value seen, so 7- and 15-bit sources, wrap-around and
    reordered retransmissions all map consistently. Call :meth:`reset` when the source
    changes (at the key frame the consumer restarts on)."""

    __slots__ = ("_in_pid", "_out_pid", "_in_tl0", "_out_tl0", "_sync")

    def __init__(self) -> None:
        self._in_pid = 0
        self._out_pid = -1
        self._in_tl0 = 0
        self._out_tl0 = -1
        self._sync = True

    def reset(self) -> None:
        """Next packet starts a new source: continue numbering from the last output."""
        self._sync = True

    def rewrite(self, payload: bytes) -> bytes:
        n = len(payload)
        if n < 3 or not payload[0] & 0x80:
            return payload  # no extension byte: nothing to rewrite
        b1 = payload[1]
        if not b1 & 0xC0:
            return payload
        need = 2 + ((2 if payload[2] & 0x80 else 1) if b1 & 0x80 else 0) + (1 if b1 & 0x40 else 0)
        if n < need:
            return payload  # truncated descriptor: forward untouched, keep the mapping as it was
        pos = 2
        head = payload[:2]
        pid_bytes = b""
        if b1 & 0x80:
            if payload[2] & 0x80:
                in_pid = ((payload[2] & 0x7F) << 8) | payload[3]
                in_mod = 0x8000
                pos = 4
            else:
                in_pid = payload[2]
                in_mod = 0x80
                pos = 3
            if self._sync:
                out = (self._out_pid + 1) & 0x7FFF
            else:
                d = (in_pid - self._in_pid) % in_mod
                if d >= in_mod >> 1:
                    d -= in_mod
                out = (self._out_pid + d) & 0x7FFF
                if d < 0:
                    pid_bytes = bytes(((out >> 8) | 0x80, out & 0xFF))
                    out = None  # older packet: do not move the reference
            if out is not None:
                self._in_pid, self._out_pid = in_pid, out
                pid_bytes = bytes(((out >> 8) | 0x80, out & 0xFF))
        tl0_bytes = b""
        if b1 & 0x40:
            in_tl0 = payload[pos]
            pos += 1
            if self._sync:
                out_tl0 = (self._out_tl0 + 1) & 0xFF
            else:
                d = (in_tl0 - self._in_tl0) & 0xFF
                if d >= 0x80:
                    d -= 0x100
                out_tl0 = (self._out_tl0 + d) & 0xFF
            if self._sync or d >= 0:
                self._in_tl0, self._out_tl0 = in_tl0, out_tl0
            tl0_bytes = bytes((out_tl0,))
        self._sync = False
        return head + pid_bytes + tl0_bytes + payload[pos:]
