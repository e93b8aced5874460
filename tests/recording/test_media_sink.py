"""RecorderSink against real relay Producers (aiortc receivers, not connected): the floor
stream stays one continuous stream across a source change, key frames are asked at start
and after unrepaired loss, not after a repaired one."""

import struct

from aiortc import RTCPeerConnection

from server.media.forward import InPacket, Producer
from server.media.settings import MediaSettings
from server.recording.sink import LOSS_KEYFRAME_MIN_S, LOSS_WAIT_S, RecorderSink

KEY = bytes([0x10, 0x00, 0x00, 0x9D, 0x01, 0x2A]) + b"k" * 20  # S=1, P=0: a key frame start
DELTA = bytes([0x10, 0x01]) + b"d" * 20


async def producers(n):
    pc = RTCPeerConnection()
    settings = MediaSettings(pli_min_interval_s=0.0)
    out = []
    for i in range(n):
        t = pc.addTransceiver("video", direction="recvonly")
        p = Producer(t.receiver, f"p{i}", "video", "video", settings)
        p.codec_name, p.payload_type = "VP8", 96
        p.media_ssrc = 1000 + i  # as if it had received media
        out.append(p)
    return pc, out


def send(p, seq, ts, payload, marker=1):
    p.deliver(InPacket(seq, ts, marker, payload, None), p.media_ssrc)


def recorded(sink):
    """[(seq, ts, payload)] of the sink's batch."""
    return [(*struct.unpack_from("!HL", data, 2), data[12:]) for _, data in sink.batch]


async def test_switch_is_make_before_break_and_continuous():
    pc, (a, b) = await producers(2)
    try:
        sink = RecorderSink("floor.video", "video")
        sink.set_source(a)
        assert a.plis_sent == 1  # a key frame asked at start
        send(a, 100, 9000, DELTA)
        assert not sink.batch  # waits for the key frame
        send(a, 101, 12000, KEY)
        send(a, 102, 15000, DELTA)
        sink.set_source(b)
        assert b.plis_sent == 1
        send(b, 500, 1, DELTA)  # not a key frame: A goes on being recorded
        send(a, 103, 18000, DELTA)
        send(b, 501, 3001, KEY)  # the switch
        send(a, 104, 21000, DELTA)  # A is no longer recorded
        send(b, 499, 0, DELTA)  # late packet from before B's key frame: not ours
        send(b, 502, 6001, DELTA)
        got = recorded(sink)
        assert [r[2] for r in got] == [KEY, DELTA, DELTA, KEY, DELTA]
        seqs = [r[0] for r in got]
        assert all((y - x) & 0xFFFF == 1 for x, y in zip(seqs, seqs[1:]))
        assert got[4][1] - got[3][1] == 3000  # B's own clock after the switch
        assert sink.frames == 5 and sink.keyframes == 2 and len(sink.clock_map) == 2
        b.muted = True  # (audio only in practice) a muted producer reaches no sink
        send(b, 503, 9001, DELTA)
        assert len(sink.batch) == 5
    finally:
        await pc.close()


async def test_keyframe_after_unrepaired_loss_only():
    pc, (a,) = await producers(1)
    try:
        sink = RecorderSink("floor.video", "video")
        sink.set_source(a)
        send(a, 1, 0, KEY)
        now = sink.clock_map[0][1]
        before = a.plis_sent
        send(a, 3, 3000, DELTA)  # 2 missing ...
        send(a, 2, 3000, DELTA, marker=0)  # ... and repaired by a retransmission
        sink.check(now + LOSS_WAIT_S + 0.1, keyframe_interval_s=60)
        assert a.plis_sent == before and sink.losses == 0
        send(a, 6, 6000, DELTA)  # 4 and 5 never come
        sink.check(now + 0.05, keyframe_interval_s=60)
        assert a.plis_sent == before  # still waiting for a retransmission
        sink.check(now + LOSS_WAIT_S + 0.2, keyframe_interval_s=60)
        assert a.plis_sent == before and sink.losses == 1  # a key frame came just now
        send(a, 8, 9000, DELTA)  # 7 never comes
        later = now + LOSS_KEYFRAME_MIN_S
        sink.check(later + LOSS_WAIT_S + 0.1, keyframe_interval_s=60)
        assert a.plis_sent == before + 1 and sink.losses == 2
        send(a, 10, 12000, DELTA)  # 9 never comes: lost too, but a key frame was just asked
        sink.check(later + 2 * LOSS_WAIT_S + 0.3, keyframe_interval_s=60)
        assert a.plis_sent == before + 1 and sink.losses == 3
        sink.check(now + 10.5, keyframe_interval_s=10)  # no key frame for 10 s
        assert a.plis_sent == before + 2
    finally:
        await pc.close()


async def test_duplicates_are_not_counted_as_frames():
    pc, (a,) = await producers(1)
    try:
        sink = RecorderSink("floor.video", "video")
        sink.set_source(a)
        send(a, 1, 0, KEY)
        send(a, 2, 3000, DELTA)
        send(a, 2, 3000, DELTA)  # the publisher retransmitted what had arrived
        send(a, 1, 0, KEY)
        send(a, 4, 9000, DELTA)
        send(a, 3, 6000, DELTA)  # a repair: a frame the relay had not had
        assert sink.frames == 4 and sink.keyframes == 1
    finally:
        await pc.close()
