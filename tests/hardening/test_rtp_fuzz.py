"""Fuzzing the relay's packet path: RTP parse, VP8 descriptor rewrite and key-frame checks,
RTCP parse, and a real Producer's fan-out fed hostile datagrams between good ones (truncated
VP8 descriptors, bad extension lengths, bad padding): nothing raises, and every viewer, also
the ones after a viewer that fails, gets every good packet."""

import struct

import pytest
from aiortc import RTCCertificate, RTCDtlsTransport, RTCIceGatherer, RTCIceTransport, RTCRtpReceiver
from aiortc.rtp import RtcpPacket
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.media.codecs import Vp8Rewriter, h264_is_keyframe, vp8_is_keyframe
from server.media.forward import Producer
from server.media.rtpwire import RtpWriter, parse_rtp
from server.media.settings import MediaSettings

FAST = settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck), database=None)
VP8_PT = 96


def rtp(seq, payload, pt=VP8_PT, ssrc=1234, ext: bytes | None = None, pad: int = 0, csrc: int = 0,
        pad_byte: int | None = None):
    b0 = 0x80 | (0x10 if ext is not None else 0) | (0x20 if pad else 0) | csrc
    head = struct.pack("!BBHLL", b0, pt, seq & 0xFFFF, seq * 3000, ssrc) + b"\x00\x00\x00\x01" * csrc
    if ext is not None:
        head += ext
    tail = b""
    if pad:
        tail = b"\x00" * (pad - 1) + bytes([pad if pad_byte is None else pad_byte])
    return head + payload + tail


vp8_descriptor = st.builds(lambda b0, b1, rest: bytes([b0 | 0x80, b1]) + rest,
                           st.integers(0, 255), st.integers(0, 255), st.binary(max_size=3))
extension = st.one_of(
    st.builds(lambda words, body: struct.pack("!HH", 0xBEDE, words) + body,
              st.integers(0, 0xFFFF), st.binary(max_size=24)),  # length that lies
    st.binary(max_size=7))
hostile = st.one_of(
    st.binary(max_size=64),
    st.builds(lambda seq, d: rtp(seq, d), st.integers(0, 0xFFFF), vp8_descriptor),
    st.builds(lambda seq, e, p: rtp(seq, p, ext=e), st.integers(0, 0xFFFF), extension, st.binary(max_size=16)),
    st.builds(lambda seq, pad, byte, p: rtp(seq, p, pad=pad, pad_byte=byte), st.integers(0, 0xFFFF),
              st.integers(1, 8), st.integers(0, 255), st.binary(max_size=8)),
    st.builds(lambda seq, n, p: rtp(seq, p, csrc=n)[: 12 + n * 2], st.integers(0, 0xFFFF),
              st.integers(1, 15), st.binary(max_size=8)),
)


@FAST
@given(st.binary(max_size=200) | hostile, st.integers(0, 15))
def test_rtp_parse_never_raises_and_stays_in_bounds(data, level_id):
    parsed = parse_rtp(data, level_id)
    if parsed is not None:
        pt, seq, ts, marker, payload, level = parsed
        assert 0 <= pt < 128 and len(payload) <= len(data) - 12
        assert level is None or 0 <= level[1] < 128


@FAST
@given(st.lists(st.binary(max_size=12) | vp8_descriptor, min_size=1, max_size=30))
def test_vp8_rewrite_and_keyframe_checks_never_raise(payloads):
    rewriter = Vp8Rewriter()
    for payload in payloads:
        vp8_is_keyframe(payload)
        h264_is_keyframe(payload)
        out = rewriter.rewrite(payload)
        assert len(out) - len(payload) in (0, 1)  # a 7-bit picture id may become 15-bit
        assert out[-max(0, len(payload) - 5):] == payload[-max(0, len(payload) - 5):] or len(payload) <= 5


def test_a_truncated_15_bit_picture_id_is_forwarded_untouched():
    rewriter = Vp8Rewriter()
    for truncated in (bytes([0x90, 0x80, 0x80]), bytes([0x90, 0xC0, 0x81, 0x02]), bytes([0x90, 0x40])):
        assert rewriter.rewrite(truncated) == truncated
    # the mapping is unchanged: the next whole packet continues from where it was
    first = rewriter.rewrite(bytes([0x90, 0x80, 0x85, 0x01, 0x00]))
    second = rewriter.rewrite(bytes([0x90, 0x80, 0x85, 0x02, 0x00]))
    assert ((second[2] & 0x7F) << 8 | second[3]) - ((first[2] & 0x7F) << 8 | first[3]) == 1


@FAST
@given(st.binary(max_size=120))
def test_rtcp_parse_raises_only_value_error(data):
    try:
        RtcpPacket.parse(data)
    except ValueError:
        pass  # aiortc's transport drops the datagram on ValueError


class Viewer:
    """Stands for one subscriber's consumer: rewrites with the real VP8 rewriter and writer."""

    def __init__(self, producer, fails: bool = False) -> None:
        self.source, self.next_source, self.fails = producer, None, fails
        self.vp8, self.writer, self.seqs = Vp8Rewriter(), RtpWriter([], None), []

    def forward(self, pkt, now, ast):
        if self.fails:
            raise RuntimeError("this viewer's socket is broken")
        payload = self.vp8.rewrite(pkt.payload)
        self.writer.write(VP8_PT, pkt.marker, pkt.sequence_number, pkt.timestamp, 1, ast, pkt.audio_level, payload)
        self.seqs.append(pkt.sequence_number)


@pytest.fixture(scope="module")
def producer():
    transport = RTCDtlsTransport(RTCIceTransport(RTCIceGatherer()), [RTCCertificate.generateCertificate()])
    receiver = RTCRtpReceiver("video", transport)
    producer = Producer(receiver, "vinh", "video", "video", MediaSettings())
    producer.codec_name, producer.payload_type, producer.rtx_payload_type = "VP8", VP8_PT, 97
    return producer


def good_vp8(seq):
    return rtp(seq, bytes([0x90, 0x80, 0x80 | (seq >> 8 & 0x7F), seq & 0xFF, 0x01, 0xAA, 0xBB]), ssrc=1234)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(st.lists(hostile, min_size=1, max_size=20))
def test_every_viewer_gets_every_good_packet_whatever_comes_between(producer, garbage):
    viewers = [Viewer(producer), Viewer(producer, fails=True), Viewer(producer), Viewer(producer)]
    producer._targets = tuple(viewers)
    good = []
    base = 40000
    for k, junk in enumerate(garbage):
        seq = base + k
        producer.on_rtp(good_vp8(seq), 1234)
        good.append(seq)
        producer.on_rtp(junk, 1234)  # hostile datagram from the same SSRC: must not raise
    for viewer in (viewers[0], viewers[2], viewers[3]):
        assert [s for s in viewer.seqs if s in good] == good
