"""Simulated participants for the relay benchmarks, in a process of their own.

Media is encoded ONCE at start-up with PyAV (VP8 per profile, Opus 20 ms frames), then
replayed as RTP through ordinary aiortc senders (``av.Packet`` -> ``encoder.pack``, no
encoding per peer); received media is counted by a tap on each receiver's jitter buffer
(no decoding). So 23 peers cost little and the relay's CPU is measured alone.

Talks JSON lines on stdin/stdout (driven by bench/hub.py):

    -> {"op": "peer", "id": ID, "offer": SDP, "video": "hall"|"point"|"low"|null,
        "audio": bool, "videos": [profile|null, ...]}   (videos: one per publish video
        m-line in order, e.g. ["hall", "low"]: the two layers; overrides "video")
    <- {"op": "answer", "id": ID, "sdp": SDP}
    -> {"op": "stats"}            <- {"op": "stats", "streams": N, "received": R, "expected": E,
                                      "bytes": B, "sent_packets": S, "cpu_s": C}
    -> {"op": "reset"}            (start a new measurement window)
    -> {"op": "close", "ids": [ID, ...]}   (close peers, forget all counters)
    -> {"op": "drop", "id": ID}            (close one peer, the others keep streaming)
    -> {"op": "stop"}

For SFUs where the client offers (Janus's VideoRoom publishers):

    -> {"op": "offer", "id": ID, "video": "hall"|"point", "audio": bool}
    <- {"op": "offer", "id": ID, "sdp": SDP, "ssrcs": {"audio": S, "video": S}}
    -> {"op": "accept", "id": ID, "sdp": SDP}   <- {"op": "accepted"}

Latency (the same measurement for every SFU; see bench/latency.py):

    -> {"op": "batch", "ms": 0}                 (read sockets per datagram, or in batches)
    -> {"op": "latency", "on": true}            (record send/receive times of RTP datagrams)
    -> {"op": "latency", "on": false, "pairs": [[received_ssrc, source_ssrc], ...]}
    <- {"op": "latency", "samples": N, "p50_ms": X, "p99_ms": Y, "pairs_matched": M}
    -> {"op": "remote_ssrcs", "id": ID}         <- {"op": "remote_ssrcs", "mids": {mid: ssrc}}
"""

from __future__ import annotations

import argparse
import asyncio
import fractions
import json
import os
import pickle
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np
from aioice.ice import StunProtocol
from aiortc import (
    MediaStreamTrack,
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)

from bench.latency import LatencyRecorder

from server.media.ice import configure_host_addresses, enlarge_socket_buffers

PROFILES = {  # name -> (width, height, kbps)
    "hall": (1280, 720, 1500),
    "point": (640, 360, 500),
    "low": (320, 180, 200),  # the low layer every camera sends (tiles, weak links)
}
FPS = 30
LOOP_FRAMES = 90  # 3 s of video, one key frame at its start
CACHE = Path(tempfile.gettempdir()) / "dewan-bench-media"


def cached(name: str, make):
    """Encoding is the slow part: keep the encoded frames between runs."""
    path = CACHE / f"{name}-{LOOP_FRAMES}.pickle"
    if path.exists():
        return pickle.loads(path.read_bytes())
    data = make()
    CACHE.mkdir(exist_ok=True)
    path.write_bytes(pickle.dumps(data))
    return data


def encode_video(width: int, height: int, kbps: int) -> list[bytes]:
    """A moving test picture, VP8 at ~kbps, one key frame then P frames."""
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height, codec.pix_fmt = width, height, "yuv420p"
    codec.time_base = fractions.Fraction(1, FPS)
    codec.framerate = fractions.Fraction(FPS, 1)
    codec.bit_rate = kbps * 1000
    codec.gop_size = 10 * LOOP_FRAMES
    codec.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0",
                     "rc_lookahead": "0", "error-resilient": "1"}
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:height, 0:width]
    luma = (128 + 60 * np.sin(xx / 37.0) * np.cos(yy / 23.0)).astype(np.uint8)
    patch = rng.integers(0, 256, (96, 96), dtype=np.uint8)
    chroma = np.full((height // 2, width), 128, dtype=np.uint8)
    frames = []
    for i in range(LOOP_FRAMES):
        y = np.roll(luma, 3 * i, axis=1)  # motion: the encoder has work every frame
        x0 = (7 * i) % (width - 96)
        top = min(100, height - 96)
        y[top:top + 96, x0 : x0 + 96] = patch
        img = np.vstack([y, chroma])
        frame = av.VideoFrame.from_ndarray(img, format="yuv420p")
        frame.pts = i
        frame.time_base = codec.time_base
        frames += [bytes(p) for p in codec.encode(frame)]
    frames += [bytes(p) for p in codec.encode(None)]
    return frames[:LOOP_FRAMES]


def encode_audio() -> list[bytes]:
    """50 Opus frames (1 s) of a quiet tone at 48 kHz, 20 ms each."""
    codec = av.CodecContext.create("libopus", "w")
    codec.sample_rate, codec.layout, codec.format = 48000, "stereo", "s16"
    codec.bit_rate = 32000
    t = np.arange(48000) / 48000
    pcm = (np.sin(2 * np.pi * 440 * t) * 2000).astype(np.int16)
    stereo = np.repeat(pcm[None, :], 2, axis=0).T.reshape(1, -1)
    frames = []
    for i in range(50):
        chunk = stereo[:, i * 1920 : (i + 1) * 1920]
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="s16",
                                           layout="stereo")
        frame.sample_rate, frame.pts = 48000, i * 960
        frames += [bytes(p) for p in codec.encode(frame)]
    return frames or [b"\xf8\xff\xfe"]


class ReplayTrack(MediaStreamTrack):
    """Replays pre-encoded frames as ``av.Packet`` at real time; a PLI restarts the
    video loop at its key frame."""

    def __init__(self, kind: str, frames: list[bytes]) -> None:
        super().__init__()
        self.kind = kind
        self.frames = frames
        self.rate = 90000 if kind == "video" else 48000
        self.step = self.rate // FPS if kind == "video" else 960
        self.interval = 1 / FPS if kind == "video" else 0.02
        self.index = 0
        self.n = 0
        self.t0 = None
        self.want_key = False

    async def recv(self) -> av.Packet:
        if self.t0 is None:
            self.t0 = time.monotonic()
        else:
            delay = self.t0 + self.n * self.interval - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        if self.want_key:
            self.want_key, self.index = False, 0
        packet = av.Packet(self.frames[self.index])
        packet.pts, packet.time_base = self.n * self.step, fractions.Fraction(1, self.rate)
        self.index = (self.index + 1) % len(self.frames)
        self.n += 1
        return packet


class StreamCounter:
    """Received packets and sequence range of one SSRC."""

    __slots__ = ("received", "bytes", "first", "ext_max", "last")

    def __init__(self, seq: int) -> None:
        self.received = 0
        self.bytes = 0
        self.first = self.last = seq
        self.ext_max = 0

    def add(self, seq: int, size: int) -> None:
        d = (seq - self.last) & 0xFFFF
        if 0 < d < 0x8000:
            self.ext_max += d
            self.last = seq
        self.received += 1
        self.bytes += size

    @property
    def expected(self) -> int:
        return self.ext_max + 1


def count_rtp_at_socket(streams: dict, rtx_pts: set, recorder: "LatencyRecorder") -> None:
    """Count received RTP straight from the datagram: the RTP header (SSRC, sequence
    number) is in the clear in SRTP, so media never goes further than aioice's protocol
    callback (no queue, no SRTP, no RtpPacket, no receiver, no NACK): the load generator
    keeps up with ~10k packets/s and the figure is the relay's delivery as is. STUN, DTLS
    and RTCP take aiortc's normal path."""
    original = StunProtocol.datagram_received
    original_send = StunProtocol.send_data

    def datagram_received(self, data: bytes, addr) -> None:
        if 127 < data[0] < 192 and not 191 < data[1] < 224:  # RTP, not RTCP
            if (data[1] & 0x7F) in rtx_pts:
                return
            ssrc = int.from_bytes(data[8:12], "big")
            seq = (data[2] << 8) | data[3]
            if recorder.on:
                fd = self.__dict__.get("_bench_fd")
                if fd is None:
                    fd = self._bench_fd = self.transport.get_extra_info("socket").fileno()
                recorder.received(data, ssrc, seq, fd)
            counter = streams.get(ssrc)
            if counter is None:
                streams[ssrc] = StreamCounter(seq)
                counter = streams[ssrc]
            counter.add(seq, len(data))
            return
        original(self, data, addr)

    async def send_data(self, data: bytes, addr) -> None:
        if recorder.on and 127 < data[0] < 192 and not 191 < data[1] < 224:
            recorder.sent(data)
        await original_send(self, data, addr)

    StunProtocol.datagram_received = datagram_received
    StunProtocol.send_data = send_data


class LoadGen:
    def __init__(self) -> None:
        self.video = {name: cached(f"vp8-{name}", lambda spec=spec: encode_video(*spec))
                      for name, spec in PROFILES.items()}
        self.audio = cached("opus", encode_audio)
        self.peers: dict[str, RTCPeerConnection] = {}
        self.streams: dict[int, StreamCounter] = {}
        self.rtx_pts: set[int] = set()
        self.recorder = LatencyRecorder()
        count_rtp_at_socket(self.streams, self.rtx_pts, self.recorder)
        self.tracks: list[ReplayTrack] = []
        self.base = (0, 0, 0, 0)

    async def peer(self, msg: dict) -> str:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[],
                                                bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))
        self.peers[msg["id"]] = pc
        await pc.setRemoteDescription(RTCSessionDescription(sdp=msg["offer"], type="offer"))
        wanted = {"audio": msg.get("audio") and ReplayTrack("audio", self.audio),
                  "video": msg.get("video") and ReplayTrack("video", self.video[msg["video"]])}
        layers = msg.get("videos")
        for t in pc.getTransceivers():
            if t._offerDirection == "sendonly":  # the relay receives here: publish
                if t.kind == "video" and layers is not None:
                    name = layers.pop(0) if layers else None
                    track = ReplayTrack("video", self.video[name]) if name else None
                else:
                    track = wanted.get(t.kind)
                if track:
                    t.sender.replaceTrack(track)
                    t.direction = "sendonly"
                    wanted[t.kind] = None
                    self.tracks.append(track)
                    if track.kind == "video":
                        t.sender._send_keyframe = lambda track=track: setattr(
                            track, "want_key", True)
        await pc.setLocalDescription(await pc.createAnswer())
        enlarge_socket_buffers(pc, 4 << 20)
        self.rtx_pts.update(c.payloadType for t in pc.getTransceivers() for c in t._codecs
                            if c.mimeType.lower().endswith("/rtx"))
        return pc.localDescription.sdp

    def _publish(self, pc: RTCPeerConnection, kind: str, frames) -> ReplayTrack:
        track = ReplayTrack(kind, frames)
        transceiver = pc.addTransceiver(track, direction="sendonly")
        caps = RTCRtpSender.getCapabilities(kind).codecs
        wanted = ("audio/opus",) if kind == "audio" else ("video/VP8", "video/rtx")
        transceiver.setCodecPreferences([c for c in caps if c.mimeType in wanted])
        if kind == "video":
            transceiver.sender._send_keyframe = lambda: setattr(track, "want_key", True)
        self.tracks.append(track)
        return transceiver

    async def offer(self, msg: dict) -> dict:
        """A publisher that offers (Janus's VideoRoom): audio first, then video."""
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[],
                                                bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))
        self.peers[msg["id"]] = pc
        ssrcs = {}
        if msg.get("audio"):
            ssrcs["audio"] = self._publish(pc, "audio", self.audio).sender._ssrc
        if msg.get("video"):
            ssrcs["video"] = self._publish(pc, "video", self.video[msg["video"]]).sender._ssrc
        await pc.setLocalDescription(await pc.createOffer())
        enlarge_socket_buffers(pc, 4 << 20)
        return {"op": "offer", "id": msg["id"], "sdp": pc.localDescription.sdp, "ssrcs": ssrcs}

    async def accept(self, msg: dict) -> None:
        pc = self.peers[msg["id"]]
        await pc.setRemoteDescription(RTCSessionDescription(sdp=msg["sdp"], type="answer"))

    def remote_ssrcs(self, peer_id: str) -> dict:
        """mid -> the media SSRC the remote side announced for it (receive m-lines)."""
        from aiortc.sdp import SessionDescription

        pc = self.peers[peer_id]
        out = {}
        for media in SessionDescription.parse(pc.remoteDescription.sdp).media:
            fid = [int(g.items[0]) for g in media.ssrc_group if g.semantic == "FID"]
            ssrc = fid[0] if fid else (media.ssrc[0].ssrc if media.ssrc else None)
            if ssrc is not None and media.rtp.muxId:
                out[media.rtp.muxId] = ssrc
        return out

    def totals(self) -> tuple:
        streams = self.streams.values()
        return (sum(c.received for c in streams), sum(c.expected for c in streams),
                sum(c.bytes for c in streams), sum(tr.n for tr in self.tracks))

    def stats(self) -> dict:
        now = self.totals()
        d = [a - b for a, b in zip(now, self.base)]
        return {"op": "stats", "streams": len(self.streams),
                "received": d[0], "expected": d[1], "bytes": d[2], "sent_frames": d[3],
                "cpu_s": time.process_time()}

    async def close(self) -> None:
        for pc in self.peers.values():
            await pc.close()


async def batch_wakeups(batch: dict) -> None:
    """Sleep (blocking, not in epoll) between loop iterations, so datagrams pile up in
    the socket buffers and are read in batches. On loopback every datagram sent to a
    process waiting in epoll makes the SENDER pay a cross-CPU wake-up (~80 us on this VM,
    more than the relay's own per-packet work); real receivers are across a network, so
    the relay's CPU would otherwise be measured with a cost it never pays in production."""
    while True:
        if batch["ms"] > 0:
            time.sleep(batch["ms"] / 1000)
            await asyncio.sleep(0)
        else:
            await asyncio.sleep(0.05)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--fast-send", action="store_true",
                        help="publish through bench/fastsend.py instead of aiortc's sender loop")
    parser.add_argument("--batch-ms", type=float, default=2.0,
                        help="read sockets in batches every N ms (0: wake per datagram)")
    args = parser.parse_args()
    configure_host_addresses([args.host])
    if args.fast_send:
        from bench.fastsend import FastSendScheduler, install

        install(FastSendScheduler())
    gen = LoadGen()
    batch = {"ms": args.batch_ms}
    batcher = asyncio.ensure_future(batch_wakeups(batch))  # noqa: F841
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    def send(obj: dict) -> None:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    send({"op": "ready"})
    while True:
        line = await reader.readline()
        if not line:
            break
        msg = json.loads(line)
        if msg["op"] == "peer":
            send({"op": "answer", "id": msg["id"], "sdp": await gen.peer(msg)})
        elif msg["op"] == "stats":
            send(gen.stats())
        elif msg["op"] == "detail":
            send({"op": "detail", "streams": {str(k): [c.expected, c.received]
                                              for k, c in gen.streams.items()}})
        elif msg["op"] == "reset":
            gen.base = gen.totals()
            send({"op": "reset"})
        elif msg["op"] == "close":
            for peer_id in msg["ids"]:
                pc = gen.peers.pop(peer_id, None)
                if pc is not None:
                    await pc.close()
            gen.streams.clear()
            gen.rtx_pts.clear()  # payload types are per SFU: one's RTX may be another's VP8
            gen.tracks, gen.base = [], (0, 0, 0, 0)
            send({"op": "closed"})
        elif msg["op"] == "offer":
            send(await gen.offer(msg))
        elif msg["op"] == "accept":
            await gen.accept(msg)
            send({"op": "accepted"})
        elif msg["op"] == "remote_ssrcs":
            send({"op": "remote_ssrcs", "mids": gen.remote_ssrcs(msg["id"])})
        elif msg["op"] == "batch":
            batch["ms"] = float(msg["ms"])
            send({"op": "batch"})
        elif msg["op"] == "latency":
            if msg["on"]:
                gen.recorder.start()
                send({"op": "latency"})
            else:
                send({"op": "latency", **gen.recorder.stop([tuple(p) for p in msg["pairs"]])})
        elif msg["op"] == "drop":  # one participant leaves; every other stream keeps running
            pc = gen.peers.pop(msg["id"], None)
            if pc is not None:
                await pc.close()
            send({"op": "dropped"})
        elif msg["op"] == "stop":
            break
    await gen.close()


if __name__ == "__main__":
    if os.environ.get("LOADGEN_UVLOOP", "1") == "1":
        import uvloop

        uvloop.install()
    asyncio.run(main())
