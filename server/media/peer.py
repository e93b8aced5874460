"""One participant's RTCPeerConnection. The relay is always the offerer: it offers the
fixed slots of the participant's kind (see :mod:`.slots`) in one offer, and the browser
answers. A recovery (``rtc:start`` again) always builds a NEW Peer: aiortc cannot restart
ICE in place."""

from __future__ import annotations

import logging
import time
from typing import Callable, Optional

from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.rtp import RTCP_PSFB_APP, RtcpPsfbPacket, unpack_remb_fci

from .errors import MediaError
from .forward import Consumer, ParkedTrack, Producer
from .ice import enlarge_socket_buffers
from .ingress import Ingress
from .sdp_check import check_answer
from .settings import MediaSettings
from .slots import Slot

logger = logging.getLogger(__name__)

_CODECS = {"audio": ("audio/opus",), "video": ("video/VP8", "video/rtx")}


def _prefer(transceiver, kind: str) -> None:
    caps = RTCRtpSender.getCapabilities(kind).codecs
    transceiver.setCodecPreferences([c for c in caps if c.mimeType in _CODECS[kind]])


class Peer:
    def __init__(
        self,
        participant: str,
        kind: str,
        point_id: Optional[str],
        slots: list[Slot],
        settings: MediaSettings,
        configuration,
        on_state: Callable[["Peer", str], None],
        mux=None,
    ) -> None:
        self.participant = participant
        self.kind = kind
        self.point_id = point_id
        self.slots = slots
        self.settings = settings
        self.closed = False
        self.state = "new"
        self.ingress: Optional[Ingress] = None
        self.remb_bps: Optional[int] = None  # the viewer's estimate for the whole connection
        self.remb_at = 0.0
        self.pc = RTCPeerConnection(configuration)
        #: publish track name ("audio"/"video"/"presentation") -> Producer (tap installed
        #: at once; registered with the router only once the answer says it sends)
        self.producers: dict[str, Producer] = {}
        #: slot name -> Consumer
        self.consumers: dict[str, Consumer] = {}
        self._transceivers = []
        for slot in slots:
            if slot.direction == "recvonly":
                t = self.pc.addTransceiver(slot.kind, direction="recvonly")
                self.producers[slot.publish_track] = Producer(
                    t.receiver, point_id, slot.publish_track, slot.kind, settings
                )
            else:
                t = self.pc.addTransceiver(
                    ParkedTrack(slot.kind, slot.track_id), direction="sendonly"
                )
                t.sender._stream_id = slot.stream_id  # msid stream id (private attr)
                self.consumers[slot.name] = Consumer(t.sender, slot.name, slot.kind, settings)
            # aiortc gives every video receiver a receive-side bandwidth estimator: on a
            # publish m-line it costs more CPU than the rest of the packet path (the relay
            # sends its own REMB: Producer.send_remb), on a sendonly one it is never used;
            # on both it is 1,000 objects (~3,000 per point, 28,000 per console) that every
            # full collection walks and every rejoin leaves as cyclic garbage
            t.receiver._RTCRtpReceiver__remote_bitrate_estimator = None  # private (see selfcheck)
            _prefer(t, slot.kind)
            self._transceivers.append(t)
        if mux is not None and self._transceivers:  # max-bundle: one ICE connection
            mux.attach(self.dtls_transport.transport._connection)  # private (see selfcheck)

        @self.pc.on("connectionstatechange")
        def _on_state() -> None:
            self.state = self.pc.connectionState
            on_state(self, self.state)

    async def create_offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())  # gathers: sockets exist
        enlarge_socket_buffers(self.pc, self.settings.socket_buffer_bytes)
        return self.pc.localDescription.sdp

    async def accept_answer(self, sdp: str) -> list[Producer]:
        """Apply the browser's answer; return the producers it actually publishes."""
        if self.closed:
            raise MediaError("not_found", "This media connection is closed.")
        if self.pc.signalingState != "have-local-offer":
            raise MediaError("bad_request", "No offer is waiting for an answer.")
        check_answer(sdp, self.slots, self.settings.max_sdp_bytes)
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
        except Exception as exc:
            logger.info("answer of %s rejected by aiortc: %r", self.participant, exc)
            raise MediaError("bad_request", "The SDP answer was not accepted.") from None
        self.ingress = Ingress(self.dtls_transport, self.producers.values())
        self.ingress.install()
        self._watch_remb()
        active = []
        for t, slot in zip(self._transceivers, self.slots):
            if slot.direction == "recvonly" and t.currentDirection in ("recvonly", "sendrecv"):
                active.append(self.producers[slot.publish_track])
        return active

    def _watch_remb(self) -> None:
        """Record the viewer's REMB whatever SSRCs it names: Chrome may send it in a
        compound packet with the audio report, naming SSRCs no sender has, and aiortc then
        drops it (its router routes REMB by the SSRCs in the FCI)."""
        router = self.dtls_transport._rtp_router  # private (see selfcheck)
        original = router.route_rtcp

        def route_rtcp(packet):
            if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
                try:
                    self.remb_bps = unpack_remb_fci(packet.fci)[0]
                    self.remb_at = time.monotonic()
                except ValueError:
                    pass
            return original(packet)

        router.route_rtcp = route_rtcp

    # -- link information -----------------------------------------------------------------
    @property
    def dtls_transport(self):
        return self._transceivers[0].receiver.transport if self._transceivers else None

    def ice_state(self) -> Optional[str]:
        return self.pc.iceConnectionState

    def dtls_state(self) -> Optional[str]:
        t = self.dtls_transport
        return t.state if t is not None else None

    def candidate_type(self) -> Optional[str]:
        """Type of the remote candidate of the selected pair (relay = the client is
        behind TURN)."""
        try:
            pair = self.dtls_transport.transport._connection._nominated.get(1)
            return pair.remote_candidate.type if pair is not None else None
        except AttributeError:
            return None

    # -- test-only fault injection --------------------------------------------------------
    def impair(self, drop_up: float, drop_down: float) -> None:
        """Drop a fraction of the RTP datagrams received from this peer (before the relay
        reads them, so it NACKs) and of the fresh packets sent to it."""
        if self.ingress is None:
            raise MediaError("not_found", "This media connection has no answer yet.")
        self.ingress.drop = drop_up
        for c in self.consumers.values():
            c.drop = drop_down

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.ingress is not None:
            self.ingress.uninstall()
        for c in self.consumers.values():
            c.close()
        for p in self.producers.values():
            p.close()
        try:
            await self.pc.close()
        except Exception:
            logger.exception("closing the peer connection of %s failed", self.participant)
