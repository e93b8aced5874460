"""The relay's inbound fast path: SRTP media from the socket straight to its producer.

aiortc hands every datagram through aioice (a STUN parse attempt that fails with an
exception, then an ``asyncio.Queue``), one task wake-up, ``RtpPacket.parse`` (all header
extensions), the RTP router and the receiver's coroutine (stats, NACK, VP8 depayload, a
datetime per packet). For a relay that only forwards, that was most of the CPU of a
received packet. :class:`Ingress` sits in front of it on each of the peer's ICE sockets:

* an SRTP (not SRTCP) datagram from a known SSRC is unprotected and given to its
  :class:`~.forward.Producer` synchronously, in the socket's own callback; when nobody
  takes that producer's packets, it is counted from its clear RTP header instead, not
  decrypted (``Producer.on_unviewed``);
* everything else (STUN, DTLS, SRTCP, RTP before the keys exist or from an SSRC not yet
  routed) takes aiortc's own path unchanged; the first packets of a new SSRC are routed
  by aiortc (MID), after which their SSRC is known and they come through here.

The receiver's statistics (for its receiver reports) and NACK generator are still fed,
by the producer (see ``Producer.on_rtp``).
"""

from __future__ import annotations

import logging
import random
import struct
import time
from typing import TYPE_CHECKING, Optional

import pylibsrtp
from aioice.ice import StunProtocol

from .forward import log_once, run_now
from .srtpfast import unprotector

if TYPE_CHECKING:
    from .forward import Producer

logger = logging.getLogger(__name__)
_SSRC = struct.Struct("!L")


class Ingress:
    """The inbound fast path of one relay peer connection."""

    def __init__(self, dtls, producers) -> None:
        self.dtls = dtls
        self._by_receiver = {p.receiver: p for p in producers}
        self._by_ssrc: dict[int, "Producer"] = {}
        self._unprotect = None
        self._rx_session = None
        self.drop = 0.0  # test-only fault injection: fraction of RTP datagrams dropped
        self.packets = 0
        self.header_only = 0  # counted from the clear header: nobody takes them (see Producer)
        self.unprotect_errors = 0
        self._installed: list = []

    def install(self) -> int:
        """Hook every plain UDP socket of the peer's ICE connection; returns how many."""
        connection = self.dtls.transport._connection  # private (see selfcheck)
        for protocol in connection._protocols:
            if type(protocol) is not StunProtocol or "datagram_received" in vars(protocol):
                continue
            protocol.datagram_received = self._handler(protocol.datagram_received)
            self._installed.append(protocol)
        return len(self._installed)

    def uninstall(self) -> None:
        for protocol in self._installed:
            vars(protocol).pop("datagram_received", None)
        self._installed = []

    def _handler(self, original):
        rtp = self.rtp

        def datagram_received(data: bytes, addr) -> None:
            # RTP/RTCP: first byte 128..191; RTCP when the second byte is 192..208
            if len(data) > 12 and 127 < data[0] < 192 and not 191 < data[1] < 209:
                if rtp(data):
                    return
            original(data, addr)

        return datagram_received

    def rtp(self, data: bytes) -> bool:
        """Handle one SRTP datagram; False when aiortc's own path must take it."""
        unprotect = self._unprotect
        if unprotect is None:
            session = self.dtls._rx_srtp  # private (see selfcheck); set once DTLS is up
            if session is None:
                return False
            unprotect = self._unprotect = unprotector(session)
            self._rx_session = session
        if self.drop and random.random() < self.drop:
            return True
        ssrc = _SSRC.unpack_from(data, 8)[0]  # the RTP header is not encrypted
        producer = self._by_ssrc.get(ssrc)
        if producer is not None and producer.on_unviewed(data, ssrc):
            self.packets += 1
            self.header_only += 1
            return True
        try:
            clear = unprotect(data)
        except pylibsrtp.Error:
            self.unprotect_errors += 1
            return True
        if producer is None:
            producer = self._learn(ssrc)
            if producer is None:  # not routed yet: aiortc routes it by MID
                run_now(self.dtls._handle_rtp_data(clear, int(time.time() * 1000)),
                        "RTP routing")
                return True
        self.packets += 1
        try:
            producer.on_rtp(clear, ssrc)
        except Exception:  # never let a forwarding bug break the socket callback
            log_once("ingress", "inbound RTP handling failed")
        return True

    def _learn(self, ssrc: int) -> Optional["Producer"]:
        receiver = self.dtls._rtp_router.ssrc_table.get(ssrc)  # private (see selfcheck)
        producer = self._by_receiver.get(receiver) if receiver is not None else None
        if producer is not None:
            self._by_ssrc[ssrc] = producer
        return producer
