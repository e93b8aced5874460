"""aiortc test clients for Dewan's media relay (reusable by integration tests).

* :class:`SynthVideoTrack` - synthetic VP8 source; each frame shows two rows of 8 bars:
  row 1 = an 8-bit frame counter, row 2 = an 8-bit source id (to tell publishers apart).
* :func:`read_marks` - (source id, counter) read back from a decoded frame.
* :class:`Client` - one browser-like participant: answers the relay's offer, attaches its
  tracks to the publish m-lines the way the browser does (``replaceTrack`` + direction
  ``sendonly``), and decodes every received video slot, recording its marks by track id
  (``hall-video``, ``floor-video``, ``tile-<point>-video`` ...).

Everything binds to 127.0.0.1 only (call ``loopback_only()`` or build a Router with
``ice_host_addresses=["127.0.0.1"]``).
"""

from __future__ import annotations

import asyncio
import fractions
import threading
import time
from dataclasses import dataclass, field
from typing import Optional

import aioice.ice
import av
import numpy as np
from aiortc import (
    AudioStreamTrack,
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
    VideoStreamTrack,
    rtcrtpreceiver,
)
from aiortc.mediastreams import MediaStreamError

from server.media.forward import route_rtx_by_ssrc

WIDTH, HEIGHT = 160, 128  # small and 15 fps: many peers share one process and GIL
BAR_ROWS = 24
FPS = 15


def loopback_only() -> None:
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]


class SynthVideoTrack(VideoStreamTrack):
    """Synthetic camera: counter bars (row 1) and source-id bars (row 2) over a few
    blocky pictures, so the VP8 encoder produces webcam-like multi-packet frames."""

    def __init__(self, source_id: int, start: int = 0) -> None:
        super().__init__()
        self.source_id = source_id & 0xFF
        self.count = start
        rng = np.random.default_rng(source_id)
        self._pictures = [
            np.kron(rng.integers(0, 256, (HEIGHT * 3 // 2 // 8, WIDTH // 8), dtype=np.uint8),
                    np.ones((8, 8), dtype=np.uint8))
            for _ in range(4)
        ]

    async def next_timestamp(self):
        if not hasattr(self, "_t0"):
            self._t0, self._n = time.monotonic(), 0
        else:
            self._n += 1
            await asyncio.sleep(max(0.0, self._t0 + self._n / FPS - time.monotonic()))
        return self._n * (90000 // FPS), fractions.Fraction(1, 90000)

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        img = self._pictures[self.count % len(self._pictures)].copy()
        bw = WIDTH // 8
        for row, value in ((0, self.count & 0xFF), (1, self.source_id)):
            top = row * BAR_ROWS
            for i in range(8):
                bit = (value >> (7 - i)) & 1
                img[top : top + BAR_ROWS, i * bw : (i + 1) * bw] = 235 if bit else 16
        # neutral chroma under the bars (U then V planes follow Y)
        rows = 2 * BAR_ROWS // 4
        img[HEIGHT : HEIGHT + rows, :] = 128
        img[HEIGHT + HEIGHT // 4 : HEIGHT + HEIGHT // 4 + rows, :] = 128
        frame = av.VideoFrame.from_ndarray(img, format="yuv420p")
        frame.pts, frame.time_base = pts, time_base
        self.count += 1
        return frame


def read_marks(frame: av.VideoFrame) -> tuple[int, int]:
    """(source id, counter) drawn by :class:`SynthVideoTrack`."""
    y = frame.to_ndarray(format="gray")
    bw = frame.width // 8
    values = []
    for row in range(2):
        top = row * BAR_ROWS
        value = 0
        for i in range(8):
            block = y[top + 6 : top + BAR_ROWS - 6, i * bw + 5 : (i + 1) * bw - 5]
            value = (value << 1) | (1 if block.mean() > 128 else 0)
        values.append(value)
    return values[1], values[0]


def steps_ok(counters: list[int]) -> tuple[int, int]:
    """(steps that increase by exactly 1 mod 256, total steps)."""
    good = sum(1 for a, b in zip(counters, counters[1:]) if (b - a) % 256 == 1)
    return good, max(len(counters) - 1, 0)


@dataclass
class Received:
    marks: list[tuple[float, int, int]] = field(default_factory=list)  # (t, source, count)
    audio_frames: int = 0

    @property
    def counters(self) -> list[int]:
        return [c for _, _, c in self.marks]

    def sources(self) -> list[int]:
        return [s for _, s, _ in self.marks]


def _route_rtx(receiver) -> None:
    """aiortc cannot route RTX when several video m-lines share a BUNDLE (see
    server.media.forward.route_rtx_by_ssrc); browsers can. Apply the same fix."""
    original = receiver.receive

    async def receive(parameters) -> None:
        await original(parameters)
        route_rtx_by_ssrc(receiver, parameters)

    receiver.receive = receive


class Client:
    """A browser-like participant driven by the relay's offers."""

    def __init__(self, name: str, video: Optional[SynthVideoTrack] = None,
                 audio: bool = False) -> None:
        self.name = name
        self.video = video
        self.audio = AudioStreamTrack() if audio else None
        self.pc: Optional[RTCPeerConnection] = None
        self.received: dict[str, Received] = {}
        self._tasks: list[asyncio.Task] = []

    async def answer(self, offer_sdp: str) -> str:
        """Answer a relay offer: publish camera/mic on the first audio/video publish
        m-lines (the relay's recvonly ones), receive everything else."""
        if self.pc is not None:
            await self.close()
        self.pc = pc = RTCPeerConnection(
            RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))
        self.received = {}

        @pc.on("track")
        def on_track(track) -> None:
            self._tasks.append(asyncio.ensure_future(self._consume(track)))

        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        for t in pc.getTransceivers():
            _route_rtx(t.receiver)
        wanted = {"audio": self.audio, "video": self.video}
        for t in pc.getTransceivers():
            if t._offerDirection == "sendonly":  # relay recvonly = publish m-line
                track = wanted.get(t.kind)
                if track is not None:
                    t.sender.replaceTrack(track)
                    t.direction = "sendonly"
                    wanted[t.kind] = None  # the second video m-line (presentation) idles
        await pc.setLocalDescription(await pc.createAnswer())
        return pc.localDescription.sdp

    async def _consume(self, track) -> None:
        rec = self.received.setdefault(track.id, Received())
        try:
            while True:
                frame = await track.recv()
                if track.kind == "video":
                    source, count = read_marks(frame)
                    rec.marks.append((time.monotonic(), source, count))
                else:
                    rec.audio_frames += 1
        except MediaStreamError:
            pass

    def rx(self, track_id: str) -> Received:
        return self.received.setdefault(track_id, Received())

    async def wait_frames(self, track_id: str, n: int, timeout: float = 20.0) -> Received:
        deadline = time.monotonic() + timeout
        while len(self.rx(track_id).marks) < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}: {track_id} has "
                                   f"{len(self.rx(track_id).marks)} frames, wanted {n}")
            await asyncio.sleep(0.05)
        return self.rx(track_id)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        self._tasks = []
        if self.pc is not None:
            await self.pc.close()
            self.pc = None


async def join(router, participant: str, kind: str, point_id: Optional[str],
               client: Client) -> Client:
    """rtc:start + rtc:answer in-process."""
    offer = await router.start_peer(participant, kind, point_id)
    await router.accept_answer(participant, await client.answer(offer))
    return client


class DecoderCounter:
    """Patch ``aiortc.rtcrtpreceiver.get_decoder`` to record the thread of every decoder
    created, so a test can prove no relay receiver ever decodes."""

    def __init__(self) -> None:
        self.threads: list[threading.Thread] = []
        self._original = None

    def __enter__(self) -> "DecoderCounter":
        self._original = original = rtcrtpreceiver.get_decoder

        def counting(codec):
            self.threads.append(threading.current_thread())
            return original(codec)

        rtcrtpreceiver.get_decoder = counting
        return self

    def __exit__(self, *exc) -> None:
        rtcrtpreceiver.get_decoder = self._original
