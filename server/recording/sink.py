"""RecorderSink: one recorded slot, a consumer of the relay without an RTCRtpSender.

The router points it at a producer exactly as it points a viewer's slot (``set_source``,
duck-typed for ``Router._refresh`` and ``Producer.deliver``): a video sink keeps recording
the previous source until the new one's key frame arrives (make before break), and
sequence numbers and timestamps are rewritten so the slot is ONE continuous stream across
speaker changes (as :class:`server.media.forward.Consumer` does). Across a change, or after
a time with no source (idle floor), the timestamp advances by the wall time that passed, so
the recorded RTP clock stays a wall clock; ``clock_map`` gives the exact points: one per
source change and one every ``CLOCK_POINT_EVERY_S`` (the sources' clocks drift), each
placed by the packet of its span that arrived with the least delay (as a jitter buffer
does: the first key frame after a PLI is often late, its timestamp is not).

The hot path (``forward``) only rewrites the 12-byte header and appends
``(arrival time, RTP bytes)`` to ``batch``; the recorder hands the batch to the writer
thread. Loss (a sequence gap not repaired by a retransmission within ``LOSS_WAIT_S``) asks
the source for a key frame, so the export can resume soon after.

Two-layer publishing (another branch): a recorder sink has ``layer = "high"``; the router's
layer choice must give it the high layer whatever a viewer's link carries.
"""

from __future__ import annotations

import random
import struct
import time
from typing import Optional

from server.media.codecs import is_keyframe

_HEADER = struct.Struct("!BBHLL")
LOSS_WAIT_S = 1.0  # a gap not repaired by NACK/RTX within this is a loss (the export
# waits 2 s for late packets)
LOSS_KEYFRAME_MIN_S = 3.0  # a key frame goes to every viewer too: ask at most this often
CLOCK_POINT_EVERY_S = 10.0
_PAYLOAD_TYPES = {"audio": 111, "video": 96}


class RecorderSink:
    participant = "recorder"  # what Router._source_for reads of a "peer"
    point_id: Optional[str] = None  # floor slots record every holder
    layer = "high"

    def __init__(self, slot: str, kind: str) -> None:
        self.slot = slot
        self.kind = kind
        self.source = None
        self.next_source = None
        self.ready = True
        self.closed = False
        self.waiting_keyframe = kind == "video"
        self._resync = True
        self.codec_name: Optional[str] = None
        self.payload_type = _PAYLOAD_TYPES[kind]
        self.clock_rate = 90000 if kind == "video" else 48000
        self.ssrc = random.getrandbits(32)
        self.header: Optional[dict] = None  # the track file header, once the codec is known
        self._seq_offset = 0
        self._ts_offset = 0
        self._span_start = 0
        self._out_seq: Optional[int] = None
        self._last_ts: Optional[int] = None
        self._last_ts_at = 0.0
        self._ext_ts: Optional[int] = None  # last unwrapped timestamp (see _unwrap)
        self._span_ts = 0  # timestamp of the current clock-map point
        self._span_wall = 0.0  # its wall time: the least-delayed packet's estimate
        self._point: Optional[list] = None  # the current clock-map point
        self._holes: set[int] = set()
        self._hole_since = 0.0
        self.batch: list = []
        # statistics (manifest)
        self.packets = 0
        self.bytes = 0
        self.frames = 0
        self.keyframes = 0
        self.losses = 0
        self.first_ts: Optional[int] = None
        self.clock_map: list[list] = []  # [[unwrapped rtp ts, wall time], ...]
        self.last_keyframe_at = 0.0
        self._loss_keyframe_at = -1e9

    # -- source (as Consumer) ---------------------------------------------------------
    def set_source(self, producer) -> None:
        if producer is not None and producer is self.next_source:
            return
        if self.next_source is not None:
            self.next_source.detach(self)
            self.next_source = None
        if producer is self.source:
            return
        if (producer is not None and self.source is not None and self.kind == "video"
                and not self.waiting_keyframe):
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
        if self.waiting_keyframe:
            producer.request_keyframe()

    def drop_producer(self, producer) -> None:
        if producer is self.next_source:
            producer.detach(self)
            self.next_source = None
        elif producer is self.source:
            self.set_source(None)

    def switch_on(self, pkt, now: float, ast: bytes) -> None:
        if not is_keyframe(self.next_source.codec_name, pkt.payload):
            self.next_source.request_keyframe()
            return
        old, self.source, self.next_source = self.source, self.next_source, None
        if old is not None:
            old.detach(self)
        self.waiting_keyframe = False
        self._resync = True
        self.forward(pkt, now, ast)

    # -- hot path ---------------------------------------------------------------------
    def forward(self, pkt, now: float, ast: bytes) -> None:
        payload = pkt.payload
        if self._resync:
            source = self.source
            if self.codec_name is None:
                self._open(source)
            elif source.codec_name != self.codec_name:
                return  # one codec per track file (the relay offers VP8 / Opus only)
            if self.waiting_keyframe and not is_keyframe(self.codec_name, payload):
                source.request_keyframe()
                return
            self.waiting_keyframe = False
            self._resync = False
            self._rebase(pkt, now)
        seq = (pkt.sequence_number + self._seq_offset) & 0xFFFF
        ts = (pkt.timestamp + self._ts_offset) & 0xFFFFFFFF
        d = (seq - self._out_seq) & 0xFFFF
        fresh = True  # not a copy of a packet already recorded (frame counts)
        if d < 0x8000:  # newer (or equal)
            if d > 1 and self.kind == "video":
                self._gap(seq, d, now)
            fresh = d != 0
            self._out_seq = seq
            self._last_ts = ts
            self._last_ts_at = now
            # the point's wall time from the packet that waited least on its way here
            dts = (ts - self._span_ts) & 0xFFFFFFFF
            if dts < 0x80000000:
                wall = now - dts / self.clock_rate
                if wall < self._span_wall:
                    self._span_wall = wall
        elif (seq - self._span_start) & 0xFFFF >= 0x8000:
            return  # older than this source's first packet here: not part of the track
        elif seq in self._holes:
            self._holes.discard(seq)  # repaired by a retransmission
        else:
            fresh = False  # a duplicate (or a repair later than the loss was declared)
        marker = pkt.marker
        self.batch.append((now, _HEADER.pack(0x80, (marker << 7) | self.payload_type, seq, ts,
                                             self.ssrc) + payload))
        self.packets += 1
        self.bytes += len(payload)
        if self.kind == "video" and fresh:
            if marker:
                self.frames += 1
            if payload and payload[0] & 0x10 and is_keyframe(self.codec_name, payload):
                self.keyframes += 1
                self.last_keyframe_at = now

    def _gap(self, seq: int, d: int, now: float) -> None:
        if not self._holes:
            self._hole_since = now
        if d > 64 or len(self._holes) > 256:
            self._holes.add(-1)  # a burst: counted as lost at the next check
            self._hole_since = 0.0
        else:
            for missing in range(1, d):
                self._holes.add((seq - missing) & 0xFFFF)

    def _open(self, source) -> None:
        self.codec_name = source.codec_name
        self.clock_rate = source.clock_khz * 1000
        self.header = {"slot": self.slot, "kind": self.kind, "codec": self.codec_name,
                       "clock_rate": self.clock_rate, "payload_type": self.payload_type,
                       "ssrc": self.ssrc, "created_at": time.time()}

    def _rebase(self, pkt, now: float) -> None:
        if self._out_seq is None:
            next_seq = random.randint(0, 0x7FFF)
            next_ts = random.getrandbits(32)
        else:
            next_seq = (self._out_seq + 1) & 0xFFFF
            elapsed = now - self._last_ts_at
            next_ts = (self._last_ts + max(1, int(elapsed * self.clock_rate))) & 0xFFFFFFFF
        self._seq_offset = (next_seq - pkt.sequence_number) & 0xFFFF
        self._ts_offset = (next_ts - pkt.timestamp) & 0xFFFFFFFF
        self._out_seq = (next_seq - 1) & 0xFFFF
        self._span_start = next_seq
        self._holes.clear()
        ext = self._unwrap(next_ts)
        if self.first_ts is None:
            self.first_ts = ext
        self._new_point(ext, next_ts, now)

    def _new_point(self, ext: int, ts: int, wall: float) -> None:
        """A clock-map point: ``ts`` was at ``wall``, or earlier if a later packet of this
        span shows that ``wall`` came late (a key frame after a PLI often does)."""
        self._span_ts = ts
        self._span_wall = wall
        self._point = [ext, round(wall, 6)]
        self.clock_map.append(self._point)

    def _unwrap(self, ts: int) -> int:
        """The timestamp counted on from the first one without 32-bit wrap-around (the
        export unwraps the file's timestamps the same way)."""
        last = self._ext_ts
        if last is None:
            ext = ts
        else:
            d = (ts - last) & 0xFFFFFFFF
            ext = last + (d - (1 << 32) if d >= 0x80000000 else d)
        if last is None or ext > last:
            self._ext_ts = ext
        return ext

    # -- the recorder's tick (4x a second, on the loop) -----------------------------------
    def take_batch(self) -> list:
        batch, self.batch = self.batch, []
        return batch

    def check(self, now: float, keyframe_interval_s: float) -> None:
        """Unrepaired loss or no key frame for ``keyframe_interval_s``: ask for one.
        Adds a clock-map point now and then (the sources' clocks drift from the wall)."""
        if self._last_ts is None:
            return
        last_ext = self._unwrap(self._last_ts)
        self.settle()
        if self.source is not None and self.kind == "video":
            if self._holes and now - self._hole_since >= LOSS_WAIT_S:
                self._holes.clear()
                self.losses += 1
                if now - max(self._loss_keyframe_at, self.last_keyframe_at) \
                        >= LOSS_KEYFRAME_MIN_S:
                    self._loss_keyframe_at = now
                    self.source.request_keyframe()
            elif now - self.last_keyframe_at >= keyframe_interval_s:
                self.source.request_keyframe()
        if (self.source is not None and now - self._last_ts_at < 0.5
                and now - self.clock_map[-1][1] >= CLOCK_POINT_EVERY_S):
            wall = self._span_wall + ((self._last_ts - self._span_ts) & 0xFFFFFFFF) \
                / self.clock_rate
            self._new_point(last_ext, self._last_ts, wall)

    def settle(self) -> None:
        """Fold the packets since the last check into the current clock-map point."""
        if self._point is not None:
            self._point[1] = round(self._span_wall, 6)

    @property
    def last_ts(self) -> Optional[int]:
        return self._ext_ts

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.set_source(None)
