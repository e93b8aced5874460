"""A participant that joins the real server over socket.io AND media: the protocol client
(ConfClient) plus an aiortc peer (tests.media.peers.Client) answering the relay's offers."""

from __future__ import annotations

import random

from tests.media.peers import Client, SynthVideoTrack, loopback_only
from tests.support.clients import ConfClient


class MediaParticipant:
    def __init__(self, server, who: str, source_id: int | None = None, audio: bool = False) -> None:
        loopback_only()
        self.who = who
        self.conf = ConfClient(server.base_url, server.token(who))
        video = SynthVideoTrack(source_id) if source_id is not None else None
        self.peer = Client(who, video=video, audio=audio)

    async def join(self) -> "MediaParticipant":
        await self.conf.connect()
        await self.start_media()
        return self

    async def start_media(self) -> None:
        """rtc:start -> the relay's new offer -> our answer (also how a client recovers)."""
        seen = len(self.conf.received["rtc:offer"])
        ack = await self.conf.request("rtc:start")
        assert ack["ok"], ack
        offer = await self.conf.wait_for("rtc:offer", after=seen, timeout=10)
        ack = await self.conf.request("rtc:answer", {"sdp": await self.peer.answer(offer["sdp"])})
        assert ack["ok"], ack

    async def close(self) -> None:
        await self.peer.close()
        await self.conf.close()


def impair(participant: MediaParticipant) -> dict:
    """A lossy wrapper on the participant's own outgoing datagrams (RTP and RTCP); set
    `knob["drop"]` to the fraction to drop (1.0 cuts the link)."""
    transport = participant.peer.pc.getTransceivers()[0].sender.transport
    original = transport._send_rtp
    knob = {"drop": 0.0}

    async def lossy(data: bytes) -> None:
        if knob["drop"] and random.random() < knob["drop"]:
            return
        await original(data)

    transport._send_rtp = lossy
    return knob
