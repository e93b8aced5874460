"""Recorder + export through the real relay: aiortc peers publish for ~10 s, the floor
changes twice (and is idle once); the exported WebMs decode with PyAV."""

import asyncio
import json
import time

import av
import pytest

from server.recording.media_export import export_media
from server.recording.recorder import Recorder
from server.recording.trackfile import Reader

from ..media.conftest import HALL, Conference
from ..media.peers import read_marks

HALL_SRC, VINH_SRC, CUALO_SRC = 1, 2, 3


def decode_video(path):
    """[(pts seconds, source id)] of every decoded frame."""
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        return [(float(f.pts * stream.time_base), read_marks(f)[0])
                for f in c.decode(stream)]


def first_packet_s(path, kind):
    with av.open(str(path)) as c:
        stream = getattr(c.streams, kind)[0]
        for packet in c.demux(stream):
            if packet.pts is not None:
                return float(packet.pts * stream.time_base)
    return None


def runs(sources):
    out = []
    for s in sources:
        if not out or out[-1] != s:
            out.append(s)
    return out


async def test_recorder_follows_the_floor_and_exports_webm(tmp_path):
    conf = Conference()
    router = conf.router
    try:
        await conf.join("s-hall", "hall", HALL, source_id=HALL_SRC, audio=True)
        vinh = await conf.join("s-vinh", "point", "vinh", source_id=VINH_SRC, audio=True)
        await conf.join("s-cualo", "point", "cualo", source_id=CUALO_SRC, audio=True)
        await vinh.wait_frames("hall-video", 5)
        for pid in ("vinh", "cualo"):
            while (pid, "video") not in router.producers or (pid, "audio") not in router.producers:
                await asyncio.sleep(0.05)

        session = tmp_path / "sess-1"
        t0 = time.time()
        recorder = Recorder(router, session / "seg-001")
        recorder.start()
        await asyncio.sleep(0.5)
        marks = {}
        router.set_floor("vinh")
        marks["vinh"] = time.time()
        await asyncio.sleep(3.0)
        router.set_floor("cualo")
        marks["cualo"] = time.time()
        await asyncio.sleep(3.0)
        router.set_floor(None)  # the hall takes the floor: the floor stream idles
        marks["idle"] = time.time()
        await asyncio.sleep(1.0)
        router.set_floor("vinh")
        marks["vinh2"] = time.time()
        await asyncio.sleep(2.5)
        await recorder.stop()
        t_end = time.time()
        tracks = recorder.tracks()
    finally:
        await conf.close()

    by_slot = {t["slot"]: t for t in tracks}
    assert set(by_slot) == {"hall.audio", "hall.video", "floor.audio", "floor.video"}
    for t in tracks:  # what the manifest says is what the files hold
        reader = Reader(session / t["file"])
        assert sum(1 for _ in reader) == t["packets"] and reader.truncated_at is None
        assert t["bytes"] == (session / t["file"]).stat().st_size
    floor = by_slot["floor.video"]
    assert floor["codec"] == "VP8" and floor["clock_rate"] == 90000
    assert len(floor["clock_map"]) >= 3  # a point per source change

    manifest = {"started_at": t0, "segments": [{"dir": "seg-001", "tracks": tracks}]}
    json.dumps(manifest)
    seen = []
    out = tmp_path / "export"
    files = await asyncio.to_thread(export_media, session, manifest, out, t0, seen.append)
    assert {p.name for p in files} == {"hall.webm", "floor.webm", "audio-mix.ogg"}
    assert seen[-1] == 1.0 and seen == sorted(seen)

    frames = decode_video(out / "floor.webm")
    forwarded = floor["frames_forwarded"]
    assert abs(len(frames) - forwarded) <= 0.05 * forwarded, (len(frames), forwarded)
    assert runs([s for _, s in frames]) == [VINH_SRC, CUALO_SRC, VINH_SRC]
    times = [t for t, _ in frames]
    # placed on the session's clock: each turn starts when it was granted (its key frame
    # follows the PLI within a frame or two), the idle floor is a gap, the end is the end
    assert abs(times[0] - (marks["vinh"] - t0)) < 0.2, times[0]
    first_cualo = next(t for t, s in frames if s == CUALO_SRC)
    assert abs(first_cualo - (marks["cualo"] - t0)) < 0.2
    gap = max(b - a for a, b in zip(times, times[1:]))
    assert abs(gap - (marks["vinh2"] - marks["idle"])) < 0.2, gap
    assert abs(times[-1] - (t_end - t0)) < 0.2, (times[-1], t_end - t0)

    hall = decode_video(out / "hall.webm")
    assert {s for _, s in hall} == {HALL_SRC}
    hall_forwarded = by_slot["hall.video"]["frames_forwarded"]
    assert abs(len(hall) - hall_forwarded) <= 0.05 * hall_forwarded
    for name in ("hall.webm", "floor.webm"):
        v, a = first_packet_s(out / name, "video"), first_packet_s(out / name, "audio")
        assert abs(v - a) < 0.1, (name, v, a)
    with av.open(str(out / "audio-mix.ogg")) as c:
        samples = sum(f.samples for f in c.decode(audio=0))
    assert abs(samples / 48000 - (t_end - t0)) < 0.2
