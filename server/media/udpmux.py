"""One UDP port for every peer connection (like LiveKit's ``rtc.udp_port`` or mediasoup's
WebRtcServer): a firewall needs one rule, and the relay has one socket per address.

aioice 0.13 binds a new socket per connection (``local_addr=(address, 0)`` in
``Connection.get_component_candidates``). :meth:`UdpMux.attach` replaces that method on
one connection (an instance attribute: aiortc peers of the same process that are not the
relay's keep aioice's own sockets). Each connection gets an ordinary ``StunProtocol``
whose transport is a :class:`MuxTransport` writing to the shared socket, so aiortc,
:mod:`.ingress` and :mod:`.forward` see what they always see.

Demultiplexing of an arriving datagram:

1. a STUN binding request is routed by its USERNAME, ``<relay ufrag>:<browser ufrag>``,
   and its source address is bound to that connection (this is how a browser's first
   check, or a TURN server's relayed address, becomes known);
2. anything else (STUN responses, DTLS, SRTP, SRTCP) by its source address, which the
   connection also learns when it sends to an address (its own checks' responses).

A datagram from an unknown address that is not a request for a known ufrag is dropped.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from typing import Optional

import aioice.ice
from aioice.candidate import Candidate, candidate_foundation, candidate_priority
from aioice.ice import StunProtocol
from aioice.utils import random_string

from .errors import MediaError

logger = logging.getLogger(__name__)

_STUN_COOKIE = b"\x21\x12\xa4\x42"
_ATTR = struct.Struct("!HH")
_USERNAME = 0x0006
_BINDING_REQUEST = 0x0001


def stun_request_username(data: bytes) -> Optional[str]:
    """The USERNAME of a STUN binding request, or None (not one / no username)."""
    if len(data) < 20 or data[0] != 0 or data[1] != _BINDING_REQUEST or data[4:8] != _STUN_COOKIE:
        return None
    end = min(len(data), 20 + ((data[2] << 8) | data[3]))
    pos = 20
    while pos + 4 <= end:
        kind, length = _ATTR.unpack_from(data, pos)
        if kind == _USERNAME:
            try:
                return data[pos + 4:pos + 4 + length].decode("utf-8")
            except UnicodeDecodeError:
                return None
        pos += 4 + length + (-length % 4)
    return None


class MuxTransport(asyncio.DatagramTransport):
    """The transport one connection's ``StunProtocol`` sees: the shared socket, with this
    connection's addresses registered as it sends."""

    def __init__(self, socket_mux: "SocketMux", protocol: StunProtocol, ufrag: str) -> None:
        super().__init__()
        self._mux = socket_mux
        self._protocol = protocol
        self._by_addr = socket_mux.by_addr
        self._send = socket_mux.sock.sendto
        self.ufrag = ufrag
        self.addrs: set = set()
        self._closing = False

    def sendto(self, data, addr=None) -> None:  # the relay's hottest call: kept flat
        if self._by_addr.get(addr) is not self._protocol:
            if self._closing:
                return
            self._mux.bind_addr(addr, self._protocol)
        try:
            self._send(data, addr)
        except (BlockingIOError, InterruptedError):
            self._mux.send_dropped += 1  # send buffer full: UDP drops, NACK/PLI repair
        except OSError as exc:
            logger.debug("send to %s failed: %r", addr, exc)

    def direct_sendto(self, addr):
        """For the relay's per-packet sends to ``addr`` (the selected pair's remote
        address): the shared socket's own ``sendto``, with ``addr`` bound to this
        connection once, here, instead of checked on every packet. None once closing."""
        if self._closing:
            return None
        if self._by_addr.get(addr) is not self._protocol:
            self._mux.bind_addr(addr, self._protocol)
        return self._send

    def get_extra_info(self, name, default=None):
        if name == "sockname":
            return self._mux.announced
        return default  # no "socket": the shared one's buffers are set once (UdpMux.open)

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._mux.forget(self)
        asyncio.get_running_loop().call_soon(self._protocol.connection_lost, None)

    def abort(self) -> None:
        self.close()


class SocketMux:
    """The shared socket of one local address and its routing tables.

    The socket is read by this class, not by an asyncio transport: a transport reads one
    datagram (asyncio) or at most 32 (uvloop/libuv) per loop iteration and socket, which
    was enough with a socket per peer but lets a socket shared by every peer overflow
    while the loop is busy. Here each wake-up reads until the socket is empty (at most
    ``READ_BATCH``)."""

    READ_BATCH = 512

    def __init__(self, sock: socket.socket, announced_host: str) -> None:
        self.sock = sock
        self.local = sock.getsockname()[:2]
        self.announced_host = announced_host
        self.by_ufrag: dict[str, StunProtocol] = {}
        self.by_addr: dict[tuple, StunProtocol] = {}
        self.dropped = 0
        self.send_dropped = 0
        self._loop: Optional[asyncio.AbstractEventLoop] = None

    @property
    def announced(self) -> tuple[str, int]:
        return (self.announced_host, self.local[1])

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        loop.add_reader(self.sock.fileno(), self._readable)

    def close(self) -> None:
        if self._loop is not None:
            self._loop.remove_reader(self.sock.fileno())
            self._loop = None
        self.sock.close()

    def _readable(self) -> None:
        recvfrom = self.sock.recvfrom
        handle = self.datagram_received
        for _ in range(self.READ_BATCH):
            try:
                data, addr = recvfrom(4096)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # an ICMP error of an earlier send
                logger.debug("shared UDP socket %s: %r", self.local, exc)
                continue
            try:
                handle(data, addr)
            except Exception:  # never let one datagram stop the socket
                logger.exception("handling a datagram from %s failed", addr)

    def send(self, data: bytes, addr) -> None:
        try:
            self.sock.sendto(data, addr)
        except (BlockingIOError, InterruptedError):
            self.send_dropped += 1  # send buffer full: UDP drops, NACK/PLI repair
        except OSError as exc:
            logger.debug("send to %s failed: %r", addr, exc)

    def datagram_received(self, data: bytes, addr) -> None:
        addr = (addr[0], addr[1])  # IPv6 four-tuple -> two-tuple, as aioice does
        if data and data[0] == 0:  # STUN (RTP/RTCP start at 128, DTLS at 20..63)
            username = stun_request_username(data)
            if username is not None:
                protocol = self.by_ufrag.get(username.partition(":")[0])
                if protocol is None:
                    self.dropped += 1
                    return
                if self.by_addr.get(addr) is not protocol:
                    self.bind_addr(addr, protocol)
                protocol.datagram_received(data, addr)
                return
        protocol = self.by_addr.get(addr)
        if protocol is None:
            self.dropped += 1
            return
        protocol.datagram_received(data, addr)

    def bind_addr(self, addr, protocol: StunProtocol) -> None:
        old = self.by_addr.get(addr)
        if old is not None:
            old.transport.addrs.discard(addr)
        self.by_addr[addr] = protocol
        protocol.transport.addrs.add(addr)

    def forget(self, transport: MuxTransport) -> None:
        if self.by_ufrag.get(transport.ufrag) is transport._protocol:
            del self.by_ufrag[transport.ufrag]
        for addr in transport.addrs:
            if self.by_addr.get(addr) is transport._protocol:
                del self.by_addr[addr]
        transport.addrs.clear()

    def open(self, connection) -> StunProtocol:
        protocol = StunProtocol(connection)
        ufrag = connection.local_username
        protocol.connection_made(MuxTransport(self, protocol, ufrag))
        self.by_ufrag[ufrag] = protocol
        return protocol


def _buffers(sock, size: int) -> None:
    """One socket takes every peer's traffic: give it a larger buffer than a per-peer socket
    had (4 MB is ~0.5 s of the hub's packets; a longer queue would only hold stale media),
    above net.core.rmem_max/wmem_max when the process may (CAP_NET_ADMIN: *BUFFORCE)."""
    for force, plain in ((getattr(socket, "SO_RCVBUFFORCE", None), socket.SO_RCVBUF),
                         (getattr(socket, "SO_SNDBUFFORCE", None), socket.SO_SNDBUF)):
        for option in (force, plain):
            if option is None:
                continue
            try:
                sock.setsockopt(socket.SOL_SOCKET, option, size)
                break
            except OSError:
                continue


class UdpMux:
    """The relay's shared sockets: one per local address, all on one port."""

    def __init__(self, addresses: list[str], port: int, announced_address: str = "",
                 buffer_bytes: int = 4 << 20) -> None:
        self.addresses = list(addresses)
        self.port = port
        self.announced_address = announced_address
        self.buffer_bytes = buffer_bytes
        self.sockets: list[SocketMux] = []

    async def open(self) -> None:
        """Bind the sockets (port 0: the first one picks a free port, the others reuse it)."""
        if self.sockets:
            return
        loop = asyncio.get_running_loop()
        port = self.port
        for address in self.addresses:
            announced = self.announced_address or address
            sock = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_DGRAM)
            sock.setblocking(False)
            try:
                sock.bind((address, port))
            except OSError as exc:
                sock.close()
                self.close()
                raise MediaError("unavailable", f"cannot bind the media UDP port {address}:{port} "
                                 f"({exc.strerror}); set media.udp_port (DEWAN_MEDIA_UDP_PORT) to a free "
                                 "port, one per process") from None
            _buffers(sock, self.buffer_bytes)
            mux = SocketMux(sock, announced)
            mux.start(loop)
            port = mux.local[1]
            self.sockets.append(mux)
        self.port = port
        if self.sockets:
            logger.info("media UDP port %d on %s (announced as %s)", port, ", ".join(self.addresses),
                        self.announced_address or "the same")

    def attach(self, connection) -> None:
        """Make ``connection`` (an aioice Connection) gather on the shared sockets."""
        connection.get_component_candidates = _Gatherer(self, connection)

    def close(self) -> None:
        for mux in self.sockets:
            mux.close()
        self.sockets = []


class _Gatherer:
    """Stands in for ``Connection.get_component_candidates`` (same signature)."""

    def __init__(self, mux: UdpMux, connection) -> None:
        self.mux = mux
        self.connection = connection

    async def __call__(self, component: int, addresses: list[str], timeout: int = 5) -> list[Candidate]:
        connection = self.connection
        if component != 1:
            raise MediaError("unavailable", "the shared UDP port carries one ICE component (rtcp-mux)")
        if connection.turn_server:
            logger.warning("the relay allocates nothing on TURN: its own TURN server is ignored")
        # the ufrag routes the first check: make it unique among this relay's connections
        while any(connection.local_username in m.by_ufrag for m in self.mux.sockets):
            connection._local_username = random_string(8)  # private (see selfcheck)
        candidates = []
        protocols = []
        for socket_mux in self.mux.sockets:
            protocol = socket_mux.open(connection)
            host, port = socket_mux.announced
            protocol.local_candidate = Candidate(
                foundation=candidate_foundation("host", "udp", host), component=component,
                transport="udp", priority=candidate_priority(component, "host"),
                host=host, port=port, type="host")
            protocols.append(protocol)
            candidates.append(protocol.local_candidate)
        connection._protocols += protocols  # private (see selfcheck)
        if connection.stun_server:
            tasks = [asyncio.create_task(aioice.ice.server_reflexive_candidate(p, connection.stun_server))
                     for p in protocols if ":" not in p.local_candidate.host]
            if tasks:
                done, pending = await asyncio.wait(tasks, timeout=timeout)
                candidates += [t.result()[0] for t in done if t.exception() is None]
                for task in pending:
                    task.cancel()
        return candidates
