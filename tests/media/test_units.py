"""Fast unit tests: VP8 descriptor rewrite, key-frame detection, ICE server parsing,
slot layout."""

import pytest
from aiortc.codecs.vpx import VpxPayloadDescriptor

from server.media import MediaError, layout
from server.media.codecs import Vp8Rewriter, h264_is_keyframe, vp8_is_keyframe
from server.media.ice import parse_ice_server


def vp8(pid, tl0=None, key=False, start=True, bits=15):
    frame = bytes([0x00 if key else 0x01, 0xAA, 0xBB])
    if bits == 7:  # aiortc always writes 15-bit ids; browsers may send 7-bit ones
        head = bytes([0x90 if start else 0x80, 0x80 | (0x40 if tl0 is not None else 0),
                      pid & 0x7F]) + (bytes([tl0]) if tl0 is not None else b"")
        return head + frame
    d = VpxPayloadDescriptor(partition_start=int(start), partition_id=0, picture_id=pid,
                             tl0picidx=tl0)
    return bytes(d) + frame


def parse(payload):
    return VpxPayloadDescriptor.parse(payload)


def test_vp8_keyframe_detection():
    assert vp8_is_keyframe(vp8(5, key=True))
    assert vp8_is_keyframe(vp8(200, tl0=3, key=True))
    assert not vp8_is_keyframe(vp8(5, key=False))
    assert not vp8_is_keyframe(vp8(5, key=True, start=False))
    assert not vp8_is_keyframe(b"")
    assert h264_is_keyframe(bytes([0x65, 0x88]))
    assert h264_is_keyframe(bytes([0x7C, 0x85]))  # FU-A start of IDR
    assert not h264_is_keyframe(bytes([0x41, 0x00]))


def test_vp8_rewrite_is_continuous_across_sources_and_wraps():
    rw = Vp8Rewriter()
    out = []
    for pid in (32765, 32766, 32767, 0, 1):  # 15-bit wrap in source A
        out.append(parse(rw.rewrite(vp8(pid, tl0=250 + pid % 3)))[0].picture_id)
    rw.reset()  # switch to source B, 7-bit ids, at a key frame
    for pid in (126, 127, 0, 1):
        d, data = parse(rw.rewrite(vp8(pid, tl0=7, key=pid == 126, bits=7)))
        out.append(d.picture_id)
    steps = [(b - a) % 32768 for a, b in zip(out, out[1:])]
    assert steps == [1] * (len(out) - 1)
    # a reordered (older) packet maps back to its own id without moving the reference
    older = parse(rw.rewrite(vp8(0, bits=7)))[0].picture_id
    assert older == out[-2]
    assert parse(rw.rewrite(vp8(2, bits=7)))[0].picture_id == (out[-1] + 1) % 32768
    # the payload after the descriptor is untouched
    assert parse(rw.rewrite(vp8(3, bits=7)))[1] == bytes([0x01, 0xAA, 0xBB])


def test_vp8_rewrite_tl0picidx_continues():
    rw = Vp8Rewriter()
    a = parse(rw.rewrite(vp8(10, tl0=200)))[0].tl0picidx
    b = parse(rw.rewrite(vp8(11, tl0=201)))[0].tl0picidx
    rw.reset()
    c = parse(rw.rewrite(vp8(900, tl0=17, key=True)))[0].tl0picidx
    assert (b - a) % 256 == 1 and (c - b) % 256 == 1


def test_ice_server_parser():
    s = parse_ice_server("turn:alice:s%40cret@turn.example:443?transport=tcp")
    assert s.urls == "turn:turn.example:443?transport=tcp"
    assert (s.username, s.credential) == ("alice", "s@cret")
    assert parse_ice_server("stun:10.0.0.1:3478").username is None
    for bad in ("http://x", "turn:host:3478", "stun:"):
        with pytest.raises(MediaError) as err:
            parse_ice_server(bad)
        assert err.value.code == "bad_request"


def test_layout_per_kind():
    names = lambda kind: [s.name for s in layout(kind, 2)]  # noqa: E731
    assert names("point") == ["publish.audio", "publish.video", "publish.low", "hall.audio",
                              "hall.video", "floor.audio", "floor.video", "presentation.video"]
    assert names("hall") == ["publish.audio", "publish.video", "publish.low",
                             "publish.presentation", "floor.audio", "floor.video",
                             "tile.0.video", "tile.1.video"]
    assert names("technician") == ["hall.video", "tile.0.video", "tile.1.video",
                                   "preview.audio", "preview.video"]
    tile = layout("chair", 2)[-1]
    assert (tile.stream_id, tile.track_id) == ("tile-1", "tile-1-video")
    assert len(layout("chair", 25)) == 5 + 25  # not one m-line per point


def test_tile_view_fills_floor_and_queue_then_pins_then_pages():
    from server.media.tiles import TileView

    points = [f"p{i}" for i in range(130)]
    view = TileView(25)
    assert view.arrange(points, [])
    assert view.slots == points[:25] and (view.pages, view.per_page) == (6, 25)
    # the floor holder and the queue come first; a point still in view keeps its slot
    view.arrange(points, ["p100", "p3"])
    assert view.slots[3] == "p3" and "p100" in view.slots and "p24" not in view.slots
    assert view.per_page == 23 and view.pages == 6  # 128 others, 23 a page
    view.pinned = ["p50"]
    view.page = 5
    view.arrange(points, ["p100", "p3"])
    shown = [p for p in view.slots if p]
    assert {"p100", "p3", "p50"} <= set(shown)
    rest = [p for p in points if p not in ("p100", "p3", "p50")]
    assert set(shown) - {"p100", "p3", "p50"} == set(rest[5 * 22:])  # the last, short page
    assert view.slots.count(None) == 25 - len(shown)
    view.page = 99  # clamped
    view.arrange(points, [])
    assert view.page == view.pages - 1
    assert not view.arrange(points, [])  # nothing changed
    assert view.to_json()["slots"]["tile-0"] == view.slots[0]


def test_rtp_writer_matches_aiortc_serialize():
    from aiortc.rtcrtpparameters import (
        RTCRtpHeaderExtensionParameters,
        RTCRtpSendParameters,
    )
    from aiortc.rtp import HeaderExtensionsMap, RtpPacket

    from server.media.rtpwire import (
        URI_ABS_SEND_TIME,
        URI_AUDIO_LEVEL,
        URI_MID,
        RtpWriter,
    )

    for uris, level in (([URI_MID, URI_ABS_SEND_TIME], None),
                        ([URI_MID, URI_ABS_SEND_TIME, URI_AUDIO_LEVEL], (False, 127)),
                        ([URI_MID, URI_ABS_SEND_TIME, URI_AUDIO_LEVEL], None),
                        ([URI_ABS_SEND_TIME, URI_AUDIO_LEVEL], (True, 3)),
                        ([URI_MID, URI_AUDIO_LEVEL], (True, 42)),
                        ([URI_AUDIO_LEVEL], (True, 42)),
                        ([URI_AUDIO_LEVEL], None),
                        ([], None)):
        exts = [RTCRtpHeaderExtensionParameters(id=i + 1, uri=u) for i, u in enumerate(uris)]
        ext_map = HeaderExtensionsMap()
        ext_map.configure(RTCRtpSendParameters(headerExtensions=exts))
        writer = RtpWriter(exts, "12")
        ntp = 0xE1234567_89ABCDEF
        for marker in (0, 1):
            ref = RtpPacket(payload_type=97, marker=marker, sequence_number=65535,
                            timestamp=0xFFFFFFFF, ssrc=0xDEADBEEF, payload=b"\x90abc")
            ref.extensions.mid = "12"
            ref.extensions.abs_send_time = (ntp >> 14) & 0xFFFFFF
            ref.extensions.audio_level = level
            ast = ((ntp >> 14) & 0xFFFFFF).to_bytes(3, "big")
            assert writer.write(97, marker, 65535, 0xFFFFFFFF, 0xDEADBEEF, ast, level,
                                b"\x90abc") == ref.serialize(ext_map)


def test_abs_send_time_matches_aiortc():
    from server.media.rtpwire import abs_send_time, ntp_from_unix

    for t in (0.0, 1764000000.123456, 1764000063.999999):
        assert int.from_bytes(abs_send_time(t), "big") == (ntp_from_unix(t) >> 14) & 0xFFFFFF


def _packet_strategy():
    from hypothesis import strategies as st

    element = st.tuples(st.integers(1, 14), st.binary(min_size=1, max_size=16)).map(
        lambda e: (e[0], e[1][:1]) if e[0] == 3 else e)  # audio level is one byte
    return st.fixed_dictionaries({
        "marker": st.integers(0, 1),
        "pt": st.integers(0, 127),
        "seq": st.integers(0, 0xFFFF),
        "ts": st.integers(0, 0xFFFFFFFF),
        "csrc": st.lists(st.integers(0, 0xFFFFFFFF), max_size=3),
        "ext": st.one_of(st.none(), st.lists(element, max_size=4, unique_by=lambda e: e[0])),
        "payload": st.binary(max_size=40),
        "padding": st.integers(0, 8),
        "cut": st.integers(0, 6),
    })


def _build(p):
    import struct

    body = b""
    if p["ext"] is not None:
        for ident, value in p["ext"]:
            body += bytes([(ident << 4) | (len(value) - 1)]) + value
        body += b"\x00" * (-len(body) & 3)
    b0 = 0x80 | (0x20 if p["padding"] else 0) | (0x10 if p["ext"] is not None else 0) \
        | len(p["csrc"])
    data = struct.pack("!BBHLL", b0, (p["marker"] << 7) | p["pt"], p["seq"], p["ts"], 1234)
    data += b"".join(struct.pack("!L", c) for c in p["csrc"])
    if p["ext"] is not None:
        data += struct.pack("!HH", 0xBEDE, len(body) // 4) + body
    data += p["payload"]
    if p["padding"]:
        data += b"\x00" * (p["padding"] - 1) + bytes([p["padding"]])
    return data[: len(data) - p["cut"]] if p["cut"] < 3 else data


def test_fast_rtp_parse_agrees_with_aiortc():
    """The relay's inbound parse (payload, seq, ts, marker, PT, audio level) gives what
    aiortc's RtpPacket.parse gives, and refuses what it refuses, for random packets with
    CSRCs, one-byte extensions (audio level among them), padding and truncation."""
    from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpReceiveParameters
    from aiortc.rtp import HeaderExtensionsMap, RtpPacket
    from hypothesis import given, settings

    from server.media.rtpwire import URI_AUDIO_LEVEL, parse_header, parse_rtp

    ext_map = HeaderExtensionsMap()
    ext_map.configure(RTCRtpReceiveParameters(
        headerExtensions=[RTCRtpHeaderExtensionParameters(id=3, uri=URI_AUDIO_LEVEL)]))

    @settings(max_examples=400, deadline=None)
    @given(_packet_strategy())
    def check(p):
        data = _build(p)
        try:
            ref = RtpPacket.parse(data, ext_map)
        except ValueError:
            ref = None
        ours = parse_rtp(data, 3)
        header = parse_header(data)  # the unviewed path's: the header only
        if ref is None:
            assert ours is None
            return
        assert ours is not None
        # payload_size counts what follows the header: payload and padding
        assert header == (ref.payload_type, ref.sequence_number, ref.timestamp, ref.marker,
                          len(ref.payload) + ref.padding_size)
        pt, seq, ts, marker, payload, level = ours
        assert (pt, seq, ts, marker, payload) == (
            ref.payload_type, ref.sequence_number, ref.timestamp, ref.marker, ref.payload)
        assert level == ref.extensions.audio_level

    check()


def test_sender_report_matches_aiortc():
    from aiortc.rtp import RtcpSenderInfo, RtcpSrPacket

    from server.media.rtpwire import sender_report

    ref = RtcpSrPacket(ssrc=0xDEADBEEF, sender_info=RtcpSenderInfo(
        ntp_timestamp=0xE1234567_89ABCDEF, rtp_timestamp=0xFFFFFFF0, packet_count=7,
        octet_count=0xFFFFFFFF))
    assert sender_report(0xDEADBEEF, 0xE1234567_89ABCDEF, 0xFFFFFFF0, 7,
                         0x1_FFFFFFFF) == bytes(ref)


async def test_run_now_finishes_in_the_call_or_in_a_task():
    """aiortc's send coroutines run in the call when they never wait (the common case);
    one that waits (a TURN socket) is finished by a task, with the awaited results and
    exceptions passed through; a failure is logged, never raised into the packet path."""
    import asyncio

    from server.media.forward import run_now

    trace = []

    async def never_waits():
        trace.append("sync")

    run_now(never_waits(), "test")
    assert trace == ["sync"]  # done before run_now returned

    loop = asyncio.get_running_loop()
    fut = loop.create_future()

    async def waits():
        trace.append("start")
        await asyncio.sleep(0)  # a bare yield
        value = await fut  # a future resolved later
        trace.append(value)
        try:
            await asyncio.sleep(0.01)
            raise ValueError("x")
        except ValueError:
            trace.append("caught")

    run_now(waits(), "test")
    assert trace == ["sync", "start"]
    await asyncio.sleep(0.01)
    fut.set_result("resolved")
    await asyncio.sleep(0.05)
    assert trace == ["sync", "start", "resolved", "caught"]

    failing = loop.create_future()

    async def fails_after_waiting():
        await failing
        trace.append("not reached")

    run_now(fails_after_waiting(), "test")
    failing.set_exception(ConnectionError("gone"))
    await asyncio.sleep(0.01)
    assert trace[-1] == "caught"

    async def raises_at_once():
        raise RuntimeError("bug")

    run_now(raises_at_once(), "test-raise")  # logged once, not raised


def test_unviewed_decrypt_interval_keeps_srtp_index_across_rollovers():
    """An unviewed producer's packets are counted from their clear header and only one in
    DECRYPT_EVERY is decrypted. libsrtp guesses each packet's index (rollover counter) from
    the last packet it decrypted, so that interval keeps decryption working across sequence
    rollovers; a much longer gap (what decrypting nothing would become) breaks it."""
    import os
    import struct

    import pylibsrtp

    from server.media.producer import DECRYPT_EVERY

    key = os.urandom(30)

    def sessions():
        tx = pylibsrtp.Session(policy=pylibsrtp.Policy(key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND))
        rx = pylibsrtp.Session(policy=pylibsrtp.Policy(key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND))
        return tx, rx

    def packet(i):
        return struct.pack("!BBHLL", 0x80, 111, i & 0xFFFF, 960 * i & 0xFFFFFFFF, 42) + b"x" * 40

    tx, rx = sessions()
    failures = 0
    for i in range(70_000):  # two rollovers
        data = tx.protect(packet(i))
        if i % DECRYPT_EVERY == 0 or i > 69_990:  # the periodic decryption, then viewed
            try:
                assert rx.unprotect(data) == packet(i)
            except pylibsrtp.Error:
                failures += 1
    assert failures == 0

    tx, rx = sessions()
    for i in range(30_001):
        data = tx.protect(packet(i))
    rx.unprotect(data)
    for i in range(30_001, 80_000):
        data = tx.protect(packet(i))
    with pytest.raises(pylibsrtp.Error):
        rx.unprotect(data)  # 50,000 packets unseen, a rollover among them: wrong index
