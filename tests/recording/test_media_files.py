"""Track files written by the writer thread and read back by the export, without peers:
reordering, duplicates, loss, a crash-truncated tail, damage in the middle."""

import fractions
import struct

import av
import numpy as np
import pytest

from server.recording.media_export import export_media
from server.recording.trackfile import RECORD, Reader, RecordingFileError
from server.recording.writer import TrackWriter

FPS = 15
T0 = 1_800_000_000.0
START = T0 + 2.0  # the track starts 2 s after the session


def vp8_frames(n: int, keyint: int = 10) -> list[tuple[bytes, bool]]:
    enc = av.CodecContext.create("libvpx", "w")
    enc.width, enc.height, enc.pix_fmt = 160, 128, "yuv420p"
    enc.time_base = fractions.Fraction(1, FPS)
    enc.gop_size = keyint
    enc.options = {"lag-in-frames": "0", "auto-alt-ref": "0", "deadline": "realtime"}
    rng = np.random.default_rng(1)
    out = []
    for i in range(n):
        img = rng.integers(0, 256, (128 * 3 // 2, 160), dtype=np.uint8)
        frame = av.VideoFrame.from_ndarray(img, format="yuv420p")
        frame.pts = i
        out += [(bytes(p), p.is_keyframe) for p in enc.encode(frame)]
    out += [(bytes(p), p.is_keyframe) for p in enc.encode(None)]
    return out[:n]


def packetize(frames, mtu: int = 400, seq0: int = 65500, ts0: int = 4_294_960_000,
              start: float = START) -> list[tuple[int, float, bytes]]:
    """[(frame index, arrival, RTP packet)] with VP8 descriptors; seq and ts wrap."""
    packets = []
    seq = seq0
    for i, (data, _key) in enumerate(frames):
        chunks = [data[j:j + mtu] for j in range(0, len(data), mtu)]
        for k, chunk in enumerate(chunks):
            marker = k == len(chunks) - 1
            header = struct.pack("!BBHLL", 0x80, (marker << 7) | 96, seq & 0xFFFF,
                                 (ts0 + i * 6000) & 0xFFFFFFFF, 1234)
            packets.append((i, start + i / FPS + k * 0.001,
                            header + (b"\x10" if k == 0 else b"\x00") + chunk))
            seq += 1
    return packets


def write_track(seg_dir, packets, slot="floor.video", codec="VP8", clock_rate=90000):
    writer = TrackWriter(seg_dir)
    writer.start()
    header = {"slot": slot, "kind": slot.split(".")[1], "codec": codec,
              "clock_rate": clock_rate, "payload_type": 96, "ssrc": 1234}
    batch = [(arrival, data) for _, arrival, data in packets]
    for i in range(0, len(batch), 50):  # several batches, as the recorder hands them
        writer.submit(f"{slot}.rtp", header, batch[i:i + 50])
    writer.close()
    writer.join()
    assert writer.error is None
    return seg_dir / f"{slot}.rtp"


def decoded_pts(path) -> list[float]:
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        return [float(f.pts * stream.time_base) for f in c.decode(stream)]


def export(tmp_path, manifest=None):
    return export_media(tmp_path / "sess", manifest or {"segments": [{"dir": "seg-001"}]},
                        tmp_path / "out", T0)


@pytest.fixture(scope="module")
def frames():
    return vp8_frames(40)


def test_reordered_duplicated_and_lost_packets(tmp_path, frames):
    assert [i for i, (_, key) in enumerate(frames) if key] == [0, 10, 20, 30]
    packets = packetize(frames)
    # frame 12 loses a packet (never repaired): frames 12..19 are dropped, 20 is a key frame
    lost = next(p for p in packets if p[0] == 12)
    kept = [p for p in packets if p is not lost]
    # a few packets arrive out of order, and some twice (a late retransmission)
    kept[5], kept[6] = kept[6], kept[5]
    kept[40], kept[43] = kept[43], kept[40]
    late = [(i, arrival + 0.4, data) for i, arrival, data in kept[60:63]]
    kept = kept[:70] + late + kept[70:]
    write_track(tmp_path / "sess" / "seg-001", kept)
    files = export(tmp_path)
    assert [p.name for p in files] == ["floor.webm"]
    pts = decoded_pts(tmp_path / "out" / "floor.webm")
    expected = [i for i in range(40) if not 12 <= i <= 19]
    assert len(pts) == len(expected)
    # every frame at its own time, nothing shifted by the loss or the reordering
    for got, i in zip(pts, expected):
        assert abs(got - (2.0 + i / FPS)) < 0.002, (i, got)


def test_truncated_last_record_is_what_a_crash_leaves(tmp_path, frames):
    path = write_track(tmp_path / "sess" / "seg-001", packetize(frames))
    size = path.stat().st_size
    reader = Reader(path)
    offsets = []
    for _ in reader:
        offsets.append(reader.offset)
    last_record_at = offsets[-2]
    with open(path, "r+b") as f:
        f.truncate(size - 7)  # the last record cut short
    reader = Reader(path)
    assert sum(1 for _ in reader) == len(offsets) - 1
    assert reader.truncated_at == last_record_at
    export(tmp_path)
    assert len(decoded_pts(tmp_path / "out" / "floor.webm")) == 39  # the last frame is cut


@pytest.mark.parametrize("damage", ["checksum", "marker"])
def test_damage_in_the_middle_names_file_and_offset(tmp_path, frames, damage):
    path = write_track(tmp_path / "sess" / "seg-001", packetize(frames))
    reader = Reader(path)
    offsets = [reader.offset]
    for _ in reader:
        offsets.append(reader.offset)
    at = offsets[20]
    data = bytearray(path.read_bytes())
    if damage == "checksum":
        data[at + RECORD.size + 3] ^= 0xFF  # a flipped byte in the packet
    else:
        data[at] = 0
    path.write_bytes(bytes(data))
    with pytest.raises(RecordingFileError) as info:
        export(tmp_path)
    assert info.value.offset == at
    assert str(path) in str(info.value) and f"at byte {at}" in str(info.value)


@pytest.mark.parametrize("content", [b"", b'{"format": "dewan-rtp", "vers'])
def test_a_file_a_crash_left_without_its_header_is_skipped(tmp_path, frames, content):
    seg = tmp_path / "sess" / "seg-001"
    write_track(seg, packetize(frames[:10]))
    (seg / "hall.video.rtp").write_bytes(content)  # created, then killed before a flush
    assert [p.name for p in export(tmp_path)] == ["floor.webm"]


@pytest.mark.parametrize("content,what", [
    (b"RIFF\x00\x00garbage\n", "header is not JSON"),
    (b"x" * 5000, "header line too long"),
    (b'{"format": "other"}\n', "not a Dewan track file"),
])
def test_bad_header(tmp_path, content, what):
    seg = tmp_path / "sess" / "seg-001"
    seg.mkdir(parents=True)
    (seg / "floor.video.rtp").write_bytes(content)
    with pytest.raises(RecordingFileError, match=what) as info:
        export(tmp_path)
    assert info.value.offset == 0 and "floor.video.rtp" in str(info.value)


def test_listed_track_file_missing(tmp_path):
    (tmp_path / "sess" / "seg-001").mkdir(parents=True)
    manifest = {"segments": [{"dir": "seg-001", "tracks": [
        {"slot": "floor.video", "file": "seg-001/floor.video.rtp", "packets": 10}]}]}
    with pytest.raises(RecordingFileError, match="missing"):
        export(tmp_path, manifest)


def test_two_segments_concatenate_on_the_wall_clock(tmp_path, frames):
    """A crash and a resume: two segments, each with its own RTP clock origin."""
    first = packetize(frames[:20])
    write_track(tmp_path / "sess" / "seg-001", first)
    # resumed 5 s later: a new recorder, with its own seq and ts origins
    second = packetize(frames[20:], seq0=1234, ts0=777, start=START + 5.0 + 20 / FPS)
    write_track(tmp_path / "sess" / "seg-002", second)
    export(tmp_path, {"segments": [{"dir": "seg-001"}, {"dir": "seg-002"}]})
    pts = decoded_pts(tmp_path / "out" / "floor.webm")
    assert len(pts) == 40
    assert abs(pts[0] - 2.0) < 0.002 and abs(pts[20] - (2.0 + 5.0 + 20 / FPS)) < 0.002


def test_a_second_writer_never_appends_to_a_track_file(tmp_path, frames):
    seg = tmp_path / "sess" / "seg-001"
    write_track(seg, packetize(frames[:20]))
    write_track(seg, packetize(frames[20:], seq0=9, ts0=5, start=START + 3.0))
    assert sorted(p.name for p in seg.iterdir()) == ["floor.video.2.rtp", "floor.video.rtp"]
    export(tmp_path)
    assert len(decoded_pts(tmp_path / "out" / "floor.webm")) == 40


def test_a_gop_starting_just_before_t0_is_kept(tmp_path, frames):
    write_track(tmp_path / "sess" / "seg-001", packetize(frames[:10], start=T0 - 0.05))
    export(tmp_path)
    pts = decoded_pts(tmp_path / "out" / "floor.webm")
    assert len(pts) == 10 and pts[0] == 0.0


def opus_packets(n: int, start: float) -> list[tuple[int, float, bytes]]:
    enc = av.CodecContext.create("libopus", "w")
    enc.sample_rate, enc.layout, enc.format = 48000, "stereo", "s16"
    out = []
    tone = (np.sin(np.arange(960) * 2 * np.pi * 440 / 48000) * 8000).astype(np.int16)
    for i in range(n):
        frame = av.AudioFrame.from_ndarray(np.repeat(tone, 2).reshape(1, -1), format="s16",
                                           layout="stereo")
        frame.sample_rate, frame.pts = 48000, i * 960
        for p in enc.encode(frame):
            header = struct.pack("!BBHLL", 0x80, 111, (7 + len(out)) & 0xFFFF,
                                 (1000 + len(out) * 960) & 0xFFFFFFFF, 99)
            out.append((len(out), start + len(out) * 0.02, header + bytes(p)))
    return out


def test_presentation_alone_and_audio_without_picture(tmp_path, frames):
    seg = tmp_path / "sess" / "seg-001"
    write_track(seg, packetize(frames[:10]), slot="presentation.video")
    write_track(seg, opus_packets(100, START + 1.0), slot="floor.audio", codec="opus",
                clock_rate=48000)
    files = {p.name for p in export(tmp_path)}
    assert files == {"presentation.webm", "floor.webm", "audio-mix.ogg"}
    assert len(decoded_pts(tmp_path / "out" / "presentation.webm")) == 10
    with av.open(str(tmp_path / "out" / "floor.webm")) as c:
        assert not c.streams.video
        stream = c.streams.audio[0]
        assert stream.codec_context.extradata[:8] == b"OpusHead"  # our CodecPrivate
        decoded = list(c.decode(stream))
    assert abs(float(decoded[0].pts * stream.time_base) - 3.0) < 0.002
    assert sum(f.samples for f in decoded) >= 96 * 960
    with av.open(str(tmp_path / "out" / "audio-mix.ogg")) as c:
        mix = np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(audio=0)])
    # silence until the floor spoke at t=3 s, then the tone
    assert np.abs(mix[:int(2.9 * 48000)]).max() < 0.01
    assert np.abs(mix[int(3.2 * 48000):int(4.8 * 48000)]).mean() > 0.05
