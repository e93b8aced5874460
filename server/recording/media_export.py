"""Export of a recording session's media (run it niced: see the CLI and web export).

    export_media(session_dir, manifest, out_dir, t0, progress) -> [paths]

writes, in ``out_dir``:

* ``hall.webm``, ``floor.webm`` (VP8 + Opus) and ``presentation.webm`` (VP8): the recorded
  packets muxed with PyAV WITHOUT re-encoding (``add_mux_stream`` for VP8; the Opus track's
  CodecPrivate is an OpusHead written here). Packets are reordered by sequence number and
  duplicates dropped (:mod:`.depacketize`); after a lost packet video frames are dropped
  until the next key frame, and nothing later is moved in time. Every file has t=0 at
  ``t0`` (the session's start): a stream that starts later, or an idle floor, is a gap.
  At the very start of a file, audio that precedes the first picture by less than
  ``AUDIO_LEAD_TRIM_S`` is left out, so a file's audio and video start together (the
  picture of a new source waits for its key frame).
* ``audio-mix.ogg``: hall and floor audio decoded and mixed for the clerks, Opus mono
  (this one transcodes; see :mod:`.audio_mix`).

Segments (``manifest["segments"]``, each with ``dir`` and ``tracks``) are placed on the
wall clock; track files in a segment folder that the manifest does not list (a crash) are
exported too. A malformed file raises :class:`~.trackfile.RecordingFileError`.
"""

from __future__ import annotations

import heapq
import io
import logging
import struct
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterator, Optional

import av

from .depacketize import ClockMap, opus_frames, ordered_packets, vp8_frames, vp8_size
from .trackfile import Reader, RecordingFileError

logger = logging.getLogger(__name__)

STREAMS = ("hall", "floor", "presentation")
AUDIO_LEAD_TRIM_S = 1.0
_MS = Fraction(1, 1000)
_FRAMES = {"VP8": vp8_frames, "opus": opus_frames}


@dataclass
class TrackPart:
    """One track file of one segment."""
    path: Path
    header: dict
    clock_map: Optional[list]
    size: int


class Progress:
    def __init__(self, total: int, callback: Optional[Callable[[float], None]]) -> None:
        self.total = max(total, 1)
        self.done = 0
        self.callback = callback
        self._reported = -1.0

    def advance(self, n: int) -> None:
        self.done += n
        fraction = min(1.0, self.done / self.total)
        if self.callback is not None and fraction - self._reported >= 0.005:
            self._reported = fraction
            self.callback(fraction)

    def finish(self) -> None:
        if self.callback is not None:
            self.callback(1.0)


def find_parts(session_dir: Path, manifest: dict) -> dict[str, list[TrackPart]]:
    """slot -> its track files in segment order."""
    session_dir = Path(session_dir)
    segments = manifest.get("segments") or []
    if not segments:  # no manifest segments: whatever segment folders exist
        segments = [{"dir": p.name, "tracks": []} for p in sorted(session_dir.glob("seg-*"))
                    if p.is_dir()]
    parts: dict[str, list[TrackPart]] = {}
    for segment in segments:
        seg_name = str(segment.get("dir", ""))
        seg_dir = session_dir / seg_name
        listed = {str(t.get("file")): t for t in segment.get("tracks") or []
                  if isinstance(t, dict)}
        for rel, track in listed.items():
            if not (session_dir / rel).is_file() and track.get("packets"):
                raise RecordingFileError(session_dir / rel, 0, "track file is missing")
        files = sorted(seg_dir.glob("*.rtp")) if seg_dir.is_dir() else []
        for path in files:
            try:
                reader = Reader(path)  # validates the header
            except RecordingFileError as exc:
                if not exc.crash_tail:
                    raise
                logger.warning("skipped, no record in it: %s", exc)
                continue
            reader.close()
            track = listed.get(f"{seg_name}/{path.name}") or {}
            slot = str(reader.header["slot"])
            parts.setdefault(slot, []).append(
                TrackPart(path, reader.header, track.get("clock_map"), path.stat().st_size))
    return parts


def timed_frames(part: TrackPart, t0: float, progress: Progress
                 ) -> Iterator[tuple[int, bytes, bool]]:
    """(pts in ms from ``t0``, frame, key frame?) of one track file."""
    codec = part.header["codec"]
    frames_of = _FRAMES.get(codec)
    if frames_of is None:
        raise RecordingFileError(part.path, 0, f"unsupported codec {codec!r}")
    reader = Reader(part.path)
    clock = ClockMap(part.clock_map, int(part.header["clock_rate"]))
    last = reader.offset
    for ts, data, key, arrival in frames_of(ordered_packets(reader)):
        progress.advance(reader.offset - last)
        last = reader.offset
        pts = round((clock.wall(ts, arrival) - t0) * 1000)
        if pts >= 0:
            yield pts, data, key
        elif codec == "VP8":  # just before t0: keep it (its key frame starts the GOP)
            yield 0, data, key
    progress.advance(reader.offset - last)


def slot_frames(parts: list[TrackPart], t0: float, progress: Progress):
    """The frames of one slot over all its segments, in time order."""
    iters = [timed_frames(p, t0, progress) for p in parts]
    return heapq.merge(*iters, key=lambda item: item[0]) if len(iters) > 1 else iters[0]


def opus_template() -> av.audio.stream.AudioStream:
    """An Opus stream whose codec parameters carry our OpusHead (2 channels, 48 kHz,
    no pre-skip: RTP Opus has none), read from a minimal Ogg Opus file built here:
    PyAV cannot set a mux stream's extradata, but copies it from a template."""
    head = b"OpusHead" + struct.pack("<BBHIhB", 1, 2, 0, 48000, 0, 0)
    tags = b"OpusTags" + struct.pack("<I", 5) + b"dewan" + struct.pack("<I", 0)
    data = (_ogg_page(head, 0, 2) + _ogg_page(tags, 1, 0)
            + _ogg_page(b"\xf8\xff\xfe", 2, 4, 960))  # one 20 ms silent frame, end
    container = av.open(io.BytesIO(data), format="ogg")
    return container.streams.audio[0]


def _ogg_crc(data: bytes) -> int:
    crc = 0
    for b in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _OGG_CRC[((crc >> 24) ^ b) & 0xFF]
    return crc


def _ogg_crc_table() -> list[int]:
    table = []
    for i in range(256):
        r = i << 24
        for _ in range(8):
            r = ((r << 1) ^ 0x04C11DB7) if r & 0x80000000 else (r << 1)
        table.append(r & 0xFFFFFFFF)
    return table


_OGG_CRC = _ogg_crc_table()


def _ogg_page(packet: bytes, seqno: int, flags: int, granule: int = 0) -> bytes:
    lacing = bytes([255] * (len(packet) // 255) + [len(packet) % 255])
    head = struct.pack("<4sBBqIIIB", b"OggS", 0, flags, granule, 1, seqno, 0,
                       len(lacing)) + lacing
    crc = _ogg_crc(head + packet)
    return head[:22] + struct.pack("<I", crc) + head[26:] + packet


def write_webm(path: Path, video, audio) -> bool:
    """Mux the frame iterators (either may be None) into ``path``; False if empty."""
    first_video = next(video, None) if video is not None else None
    first_audio = next(audio, None) if audio is not None else None
    if first_video is None and first_audio is None:
        return False
    tmp = path.with_name(path.name + ".part")
    out = av.open(str(tmp), "w", format="webm")
    try:
        streams = {}
        sources = []
        if first_video is not None:
            width, height = vp8_size(first_video[1]) or (0, 0)
            streams["v"] = out.add_mux_stream("vp8", width=width, height=height)
            sources.append(_tagged(first_video, video, "v"))
        if first_audio is not None:
            if first_video is not None:
                lead = first_video[0] - first_audio[0]
                if 0 < lead <= AUDIO_LEAD_TRIM_S * 1000:
                    first_audio = next((a for a in audio if a[0] >= first_video[0]), None)
        if first_audio is not None:
            template = opus_template()
            streams["a"] = out.add_stream_from_template(template)
            template.container.close()
            sources.append(_tagged(first_audio, audio, "a"))
        last = {"v": -1, "a": -1}
        for pts, data, key, tag in heapq.merge(*sources, key=lambda item: item[0]):
            pts = max(pts, last[tag] + 1)
            last[tag] = pts
            packet = av.Packet(data)
            packet.stream = streams[tag]
            packet.time_base = _MS
            packet.pts = packet.dts = pts
            packet.is_keyframe = key
            out.mux(packet)
    finally:
        out.close()
    tmp.replace(path)
    return True


def _tagged(first, rest, tag):
    yield (*first, tag)
    for item in rest:
        yield (*item, tag)


def export_media(session_dir: Path, manifest: dict, out_dir: Path, t0: float,
                 progress: Optional[Callable[[float], None]] = None) -> list[Path]:
    from .audio_mix import MIX_SLOTS, write_mix

    session_dir, out_dir = Path(session_dir), Path(out_dir)
    parts = find_parts(session_dir, manifest)
    total = sum(p.size for ps in parts.values() for p in ps)
    total += sum(p.size for slot in MIX_SLOTS for p in parts.get(slot, ()))
    meter = Progress(total, progress)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for stream in STREAMS:
        video_parts = parts.get(f"{stream}.video")
        audio_parts = parts.get(f"{stream}.audio")
        video = slot_frames(video_parts, t0, meter) if video_parts else None
        audio = slot_frames(audio_parts, t0, meter) if audio_parts else None
        path = out_dir / f"{stream}.webm"
        if write_webm(path, video, audio):
            written.append(path)
    mix = [p for slot in MIX_SLOTS for p in parts.get(slot, ())]
    if mix:
        path = out_dir / "audio-mix.ogg"
        write_mix(path, {slot: parts[slot] for slot in MIX_SLOTS if slot in parts}, t0,
                  meter)
        written.append(path)
    meter.finish()
    return written
