"""The clerks' audio mix: hall and floor audio decoded, placed on the session's timeline
(t=0 at the session's start, silence where nobody spoke), summed and encoded as Opus mono
in Ogg. Offline, so it may transcode (the live path never does). Streaming: memory stays
a few blocks whatever the length of the session."""

from __future__ import annotations

import heapq
from pathlib import Path

import av
import numpy as np

RATE = 48000
BLOCK = 2880  # 60 ms, the encoder's frame size (fewer, larger frames: faster)
MIX_SLOTS = ("hall.audio", "floor.audio")


def _decoded(parts, t0: float, meter) -> "iter":
    """(start sample from t0, mono float32 samples) per decoded Opus packet."""
    from .media_export import opus_template

    for part in parts:
        template = opus_template()
        decoder = av.CodecContext.create("opus", "r")
        decoder.extradata = template.codec_context.extradata
        template.container.close()
        for pts_ms, data, _key in _precise(part, t0, meter):
            try:
                frames = decoder.decode(av.Packet(data))
            except av.error.FFmpegError:
                continue  # a damaged packet: a 20 ms hole
            for frame in frames:
                samples = frame.to_ndarray()
                if samples.shape[0] > 1:  # planar channels: down to mono
                    samples = samples.sum(axis=0, dtype=np.float32) / samples.shape[0]
                yield round(pts_ms * RATE / 1000), samples.reshape(-1).astype(np.float32,
                                                                           copy=False)


def _precise(part, t0: float, meter):
    """Like media_export.timed_frames, with the time in fractional ms (sample-exact)."""
    from .depacketize import ClockMap, opus_frames, ordered_packets
    from .trackfile import Reader

    reader = Reader(part.path)
    clock = ClockMap(part.clock_map, int(part.header["clock_rate"]))
    last = reader.offset
    for ts, data, key, arrival in opus_frames(ordered_packets(reader)):
        meter.advance(reader.offset - last)
        last = reader.offset
        pts = (clock.wall(ts, arrival) - t0) * 1000
        if pts >= 0:
            yield pts, data, key
    meter.advance(reader.offset - last)


def write_mix(path: Path, parts_by_slot: dict, t0: float, meter) -> None:
    sources = [_decoded(parts, t0, meter) for parts in parts_by_slot.values()]
    tmp = path.with_name(path.name + ".part")
    out = av.open(str(tmp), "w", format="ogg")
    try:
        stream = out.add_stream("libopus", rate=RATE, layout="mono")
        stream.bit_rate = 32000
        stream.options = {"frame_duration": "60"}
        written = 0  # next sample to encode
        buf = np.zeros(0, dtype=np.float32)  # covers [written, written + len(buf))

        def emit(upto: int) -> None:
            nonlocal written, buf
            while written + BLOCK <= upto:
                block = buf[:BLOCK]
                if len(block) < BLOCK:
                    block = np.concatenate([block, np.zeros(BLOCK - len(block), np.float32)])
                buf = buf[BLOCK:]
                frame = av.AudioFrame.from_ndarray(
                    np.clip(block, -1.0, 1.0).reshape(1, -1), format="flt", layout="mono")
                frame.sample_rate = RATE
                frame.pts = written
                for packet in stream.encode(frame):
                    out.mux(packet)
                written += BLOCK

        for start, samples in heapq.merge(*sources, key=lambda item: item[0]):
            emit(start)  # everything before this packet is final
            if start < written:
                samples = samples[written - start:]
                start = written
            end = start + len(samples)
            if end - written > len(buf):
                buf = np.concatenate([buf, np.zeros(end - written - len(buf), np.float32)])
            buf[start - written:end - written] += samples
        emit(written + len(buf) + BLOCK - 1)
        for packet in stream.encode(None):
            out.mux(packet)
    finally:
        out.close()
    tmp.replace(path)
