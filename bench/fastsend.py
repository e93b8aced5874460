"""A lighter publisher for the load generator: one scheduler sends every publishing sender's
frames (pre-encoded VP8 / Opus) straight to its ICE socket, SRTP-protected, instead of aiortc's
coroutine per sender (a track ``recv``, ``encoder.pack``, ``RtpPacket`` objects and three
awaits per packet). 130 points publish ~9,000 packets/s: aiortc's path needs most of a core
for that, which a 2-core machine running the relay too does not have. The relay receives the
same thing either way: RTP with the MID and abs-send-time extensions over the peer's SRTP
session, paced frame by frame (all packets of a frame back to back, as aiortc sends them).

Not repaired: NACKs are not answered (no history) and sender reports carry no counts. A PLI
restarts the video loop at its key frame, as with aiortc's sender."""

from __future__ import annotations

import asyncio
import random
import time

from aiortc import RTCRtpSender, clock
from aiortc.rtp import RtpPacket

from server.media.srtpfast import protector

MAX_PAYLOAD = 1100
DTLS_CONNECTED = "connected"


def vp8_payloads(frame: bytes, picture_id: int) -> list[bytes]:
    """RFC 7741 packets of one frame: X and I set, a 15-bit picture ID, S on the first."""
    pid = bytes((0x80 | (picture_id >> 8) & 0x7F, picture_id & 0xFF))
    chunks = [frame[i:i + MAX_PAYLOAD] for i in range(0, len(frame), MAX_PAYLOAD)] or [b""]
    return [bytes((0x90 if i == 0 else 0x80, 0x80)) + pid + chunk for i, chunk in enumerate(chunks)]


class FastSender:
    def __init__(self, sender: RTCRtpSender, codec) -> None:
        self.sender = sender
        self.track = sender.track
        self.video = self.track.kind == "video"
        self.pt = codec.payloadType
        self.mid = sender._RTCRtpSender__mid  # private: set by send()
        self.ext_map = sender._RTCRtpSender__rtp_header_extensions_map
        self.seq = random.randint(0, 0xFFFF)
        self.ts = random.getrandbits(32)
        self.picture_id = random.randint(0, 0x7FFF)
        self.step = 3000 if self.video else 960
        self.next_due = time.monotonic()
        self._pair = self._sendto = self._protect = None

    def _ready(self) -> bool:
        dtls = self.sender.transport
        if dtls.state != DTLS_CONNECTED:
            return False
        pair = dtls.transport._connection._nominated.get(1)
        if pair is None:
            return False
        if pair is not self._pair:
            self._pair = pair
            sock = pair.protocol.transport
            self._sendto = lambda data, addr=pair.remote_addr, send=sock.sendto: send(data, addr)
            self._protect = protector(dtls._tx_srtp)
        return True

    def send_frame(self) -> None:
        track = self.track
        if track.want_key:
            track.want_key, track.index = False, 0
        frame = track.frames[track.index]
        track.index = (track.index + 1) % len(track.frames)
        track.n += 1
        self.ts = (self.ts + self.step) & 0xFFFFFFFF
        if self.video:
            payloads = vp8_payloads(frame, self.picture_id)
            self.picture_id = (self.picture_id + 1) & 0x7FFF
        else:
            payloads = [frame]
        if not self._ready():
            return
        ast = (clock.current_ntp_time() >> 14) & 0x00FFFFFF
        last = len(payloads) - 1
        for i, payload in enumerate(payloads):
            packet = RtpPacket(payload_type=self.pt, sequence_number=self.seq, timestamp=self.ts,
                               ssrc=self.sender._ssrc, payload=payload, marker=int(i == last))
            packet.extensions.abs_send_time = ast
            packet.extensions.mid = self.mid
            self.seq = (self.seq + 1) & 0xFFFF
            try:
                self._sendto(self._protect(packet.serialize(self.ext_map)))
            except Exception:  # a closing socket: the peer is going away
                return


class FastSendScheduler:
    """Sends each registered sender's frames on time (30 fps video, 20 ms audio)."""

    def __init__(self) -> None:
        self.senders: list[FastSender] = []
        self._task = None

    def add(self, sender: FastSender) -> None:
        self.senders.append(sender)
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())

    def remove(self, sender: FastSender) -> None:
        if sender in self.senders:
            self.senders.remove(sender)

    async def _run(self) -> None:
        while True:
            now = time.monotonic()
            for s in list(self.senders):
                interval = 1 / 30 if s.video else 0.02
                if s.next_due < now - 1.0:  # far behind (a stall): skip, do not burst
                    s.next_due = now
                while s.next_due <= now:
                    s.send_frame()
                    s.next_due += interval
            await asyncio.sleep(0.002)


def install(scheduler: FastSendScheduler) -> None:
    """Replace aiortc's per-sender RTP loop with the scheduler (this process only)."""

    async def _run_rtp(self, codec) -> None:
        self._RTCRtpSender__rtp_started.set()
        fast = None
        try:
            while self.track is None:  # replaceTrack may come just after send()
                await asyncio.sleep(0.02)
            fast = FastSender(self, codec)
            scheduler.add(fast)
            await asyncio.Future()  # until stop() cancels it
        except asyncio.CancelledError:
            pass
        finally:
            if fast is not None:
                scheduler.remove(fast)
            self._RTCRtpSender__rtp_exited.set()

    RTCRtpSender._run_rtp = _run_rtp
