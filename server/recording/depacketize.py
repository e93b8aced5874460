"""From a track file back to timed codec frames (no decoding): reorder by sequence number,
drop duplicates, rebuild VP8 frames (RFC 7741) and Opus packets, place each on the wall
clock with the track's clock map.

* :func:`ordered_packets` - the records in sequence order, duplicates dropped: packets are
  held in a window of ``REORDER_WINDOW_S`` of arrival time, so a retransmission that
  arrives late still takes its place; one later than that is dropped.
* :func:`vp8_frames` / :func:`opus_frames` - frames with their unwrapped RTP timestamp;
  after a lost packet, VP8 frames are dropped until the next key frame.
* :class:`ClockMap` - unwrapped RTP timestamp -> wall time, from the recorder's points
  (the manifest) or, when the manifest does not list the track (a crash before it was
  rewritten), from the first record's arrival time (the recorder keeps its RTP clock a
  wall clock across source changes, see :mod:`.sink`).
"""

from __future__ import annotations

import heapq
import struct
from dataclasses import dataclass
from typing import Iterable, Iterator, Optional

from server.media.rtpwire import parse_rtp

from .trackfile import Reader

REORDER_WINDOW_S = 2.0
REORDER_MAX_PACKETS = 5000


@dataclass(slots=True)
class Packet:
    seq: int  # unwrapped
    ts: int  # unwrapped
    marker: int
    payload: bytes
    arrival: float


def _unwrapper(bits: int):
    mod = 1 << bits
    half = mod >> 1
    last = None

    def unwrap(value: int) -> int:
        nonlocal last
        if last is None:
            last = value
            return value
        d = (value - last) % mod
        ext = last + (d - mod if d >= half else d)
        if ext > last:
            last = ext
        return ext

    return unwrap


def ordered_packets(reader: Reader) -> Iterator[Packet]:
    """The reader's RTP packets in sequence order, each once."""
    seq_of = _unwrapper(16)
    ts_of = _unwrapper(32)
    heap: list = []
    next_seq: Optional[int] = None  # everything below was emitted (or given up)
    for arrival, data in reader:
        parsed = parse_rtp(data, 0)
        if parsed is None:
            continue
        _, seq, ts, marker, payload, _ = parsed
        ext = seq_of(seq)
        if next_seq is not None and ext < next_seq:
            continue  # a duplicate, or later than the window
        heapq.heappush(heap, (ext, arrival, ts_of(ts), marker, payload))
        while heap and (len(heap) > REORDER_MAX_PACKETS
                        or arrival - heap[0][1] > REORDER_WINDOW_S):
            item = heapq.heappop(heap)
            if next_seq is None or item[0] >= next_seq:
                next_seq = item[0] + 1
                yield Packet(item[0], item[2], item[3], item[4], item[1])
    while heap:
        item = heapq.heappop(heap)
        if next_seq is None or item[0] >= next_seq:
            next_seq = item[0] + 1
            yield Packet(item[0], item[2], item[3], item[4], item[1])


def vp8_descriptor_size(payload: bytes) -> int:
    """Bytes of the VP8 payload descriptor (RFC 7741 §4.2), or -1 if malformed."""
    n = len(payload)
    if n < 1:
        return -1
    pos = 1
    if payload[0] & 0x80:
        if n < 2:
            return -1
        b1 = payload[1]
        pos = 2
        if b1 & 0x80:
            if pos >= n:
                return -1
            pos += 2 if payload[pos] & 0x80 else 1
        if b1 & 0x40:
            pos += 1
        if b1 & 0x30:
            pos += 1
    return pos if pos <= n else -1


def vp8_frames(packets: Iterable[Packet]) -> Iterator[tuple[int, bytes, bool, float]]:
    """(timestamp, VP8 frame, key frame?, first packet's arrival) of every complete
    frame; after any loss nothing until the next key frame."""
    need_key = True
    parts: list[bytes] = []
    frame_ts = None
    expect_seq = None
    first_arrival = 0.0
    broken = False
    for p in packets:
        lost = expect_seq is not None and p.seq != expect_seq
        expect_seq = p.seq + 1
        if lost:
            need_key = True
            broken = True
        size = vp8_descriptor_size(p.payload)
        if size < 0:
            broken = need_key = True
            continue
        start = bool(p.payload[0] & 0x10) and (p.payload[0] & 0x0F) == 0
        if start or p.ts != frame_ts:
            parts = []
            frame_ts = p.ts
            first_arrival = p.arrival
            broken = not start
        if broken:
            continue
        parts.append(p.payload[size:])
        if p.marker:
            data = b"".join(parts)
            parts = []
            broken = True  # until the next frame's first packet
            key = bool(data) and (data[0] & 0x01) == 0
            if key:
                need_key = False
            if not need_key and data:
                yield frame_ts, data, key, first_arrival


def vp8_size(frame: bytes) -> Optional[tuple[int, int]]:
    """(width, height) from a VP8 key frame header, without decoding."""
    if len(frame) < 10 or frame[0] & 0x01 or frame[3:6] != b"\x9d\x01\x2a":
        return None
    width, height = struct.unpack_from("<HH", frame, 6)
    return width & 0x3FFF, height & 0x3FFF


def opus_frames(packets: Iterable[Packet]) -> Iterator[tuple[int, bytes, bool, float]]:
    for p in packets:
        if p.payload:
            yield p.ts, p.payload, True, p.arrival


class ClockMap:
    """Unwrapped RTP timestamp -> wall time (seconds since the epoch)."""

    def __init__(self, points: Optional[list], clock_rate: int) -> None:
        self.points = sorted((int(ts), float(wall)) for ts, wall in points or ())
        self.rate = float(clock_rate)
        self._i = 0

    def wall(self, ts: int, arrival: float) -> float:
        """Place ``ts``: from the last point at or before it (``arrival`` starts the map
        when it has no point)."""
        points = self.points
        if not points:
            points.append((ts, arrival))
        i = self._i
        if ts < points[i][0]:
            i = 0
        while i + 1 < len(points) and points[i + 1][0] <= ts:
            i += 1
        self._i = i
        p_ts, p_wall = points[i]
        return p_wall + (ts - p_ts) / self.rate
