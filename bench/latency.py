"""End-to-end added latency through any SFU, measured in the load generator.

Publishers and subscribers live in one process (bench/loadgen.py), so one clock sees a
packet leave its publisher's socket and its forwarded copy reach each subscriber's socket.
RTP headers are in the clear in SRTP, so no decryption is needed: every SFU rewrites SSRC,
sequence number and timestamp by a constant offset per forwarded stream (Dewan's slots
and Janus's subscriptions alike), and the offsets are found from the packets themselves:

1. the timestamp offset: a packet received at ``t`` belongs to the newest frame (RTP
   timestamp) of its source that had started leaving before ``t``, as long as the added
   latency is below one frame interval (33 ms video, 20 ms audio); the most common
   difference over all packets is the offset;
2. the sequence offset: within a matched frame, the k-th packet received is the k-th
   sent; again the most common difference wins;
3. the latency of every received packet is its arrival minus the departure of the source
   packet with the matching sequence number.

The result is the same measurement for every SFU: publisher socket to subscriber socket,
loopback kernel hops included (a constant for both); the arrival time is the kernel's
timestamp of the datagram, so the load generator's own read delays do not count.
"""

from __future__ import annotations

import bisect
import collections
import fcntl
import time
from array import array

SIOCGSTAMPNS = 0x8907  # the kernel's arrival time of the last datagram read on a socket


class _Stream:
    __slots__ = ("seq", "ts", "t")

    def __init__(self) -> None:
        self.seq = array("H")
        self.ts = array("L")
        self.t = array("d")


class LatencyRecorder:
    def __init__(self) -> None:
        self.on = False
        self.sent_streams: dict[int, _Stream] = {}
        self.received_streams: dict[int, _Stream] = {}

    def start(self) -> None:
        self.sent_streams.clear()
        self.received_streams.clear()
        self.on = True

    @staticmethod
    def _add(table: dict, data: bytes, ssrc: int, seq: int, t: float) -> None:
        stream = table.get(ssrc)
        if stream is None:
            stream = table[ssrc] = _Stream()
        stream.seq.append(seq)
        stream.ts.append(int.from_bytes(data[4:8], "big"))
        stream.t.append(t)

    def sent(self, data: bytes) -> None:
        """Called just before the datagram is handed to the kernel."""
        self._add(self.sent_streams, data, int.from_bytes(data[8:12], "big"),
                  (data[2] << 8) | data[3], time.time())

    def received(self, data: bytes, ssrc: int, seq: int, sock) -> None:
        """Called from the protocol's datagram callback: the arrival time is the kernel's
        (SIOCGSTAMPNS), so however late the load generator reads its sockets (batched
        reads, a busy process), the figure is the SFU's and the network's alone."""
        try:
            stamp = fcntl.ioctl(sock, SIOCGSTAMPNS, bytes(16))
            t = int.from_bytes(stamp[:8], "little") + int.from_bytes(stamp[8:], "little") / 1e9
        except OSError:
            t = time.time()
        self._add(self.received_streams, data, ssrc, seq, t)

    def stop(self, pairs: list[tuple[int, int]]) -> dict:
        self.on = False
        samples = array("d")
        matched = 0
        for received_ssrc, source_ssrc in pairs:
            got = self.received_streams.get(received_ssrc)
            src = self.sent_streams.get(source_ssrc)
            if got is None or src is None or len(got.t) < 10 or len(src.t) < 10:
                continue
            lat = stream_latencies(src, got)
            if lat:
                matched += 1
                samples.extend(lat)
        self.sent_streams.clear()
        self.received_streams.clear()
        ordered = sorted(samples)

        def pct(q: float) -> float | None:
            if not ordered:
                return None
            return round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)

        return {"samples": len(ordered), "pairs": len(pairs), "pairs_matched": matched,
                "p50_ms": pct(0.50), "p99_ms": pct(0.99)}


def _mode(values) -> int | None:
    counts = collections.Counter(values)
    return counts.most_common(1)[0][0] if counts else None


def stream_latencies(src: _Stream, got: _Stream) -> list[float]:
    # frame starts of the source: (first departure, rtp timestamp)
    starts_t, starts_ts = array("d"), []
    last_ts = None
    for ts, t in zip(src.ts, src.t):
        if ts != last_ts:
            starts_t.append(t)
            starts_ts.append(ts)
            last_ts = ts
    ts_offsets = []
    for ts, t in zip(got.ts, got.t):
        i = bisect.bisect_right(starts_t, t) - 1
        if i >= 0:
            ts_offsets.append((ts - starts_ts[i]) & 0xFFFFFFFF)
    ts_off = _mode(ts_offsets)
    if ts_off is None:
        return []
    # packets per source frame, in departure order
    by_frame: dict[int, list[int]] = collections.defaultdict(list)
    for seq, ts in zip(src.seq, src.ts):
        by_frame[ts].append(seq)
    got_frames: dict[int, list[int]] = collections.defaultdict(list)
    for seq, ts in zip(got.seq, got.ts):
        got_frames[(ts - ts_off) & 0xFFFFFFFF].append(seq)
    seq_offsets = []
    for ts, seqs in got_frames.items():
        sent = by_frame.get(ts)
        if sent and len(sent) == len(seqs):
            for a, b in zip(sorted(seqs, key=lambda s: (s - seqs[0]) & 0xFFFF),
                            sorted(sent, key=lambda s: (s - sent[0]) & 0xFFFF)):
                seq_offsets.append((a - b) & 0xFFFF)
    seq_off = _mode(seq_offsets)
    if seq_off is None:
        return []
    departure = {}
    for seq, t in zip(src.seq, src.t):
        departure.setdefault(seq, t)  # the first departure (not a retransmission)
    out = []
    seen = set()
    for seq, t in zip(got.seq, got.t):
        if seq in seen:
            continue
        seen.add(seq)
        t0 = departure.get((seq - seq_off) & 0xFFFF)
        if t0 is not None and 0 <= t - t0 < 1.0:
            out.append(t - t0)
    return out
