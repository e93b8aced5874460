"""ICE configuration: host addresses and ICE servers (never a public STUN by default).

aioice gathers host candidates from ``aioice.ice.get_host_addresses``, which skips
127.0.0.1; :func:`configure_host_addresses` replaces it (process-wide) when a list is
configured. aioice 0.13 has no UDP port-range option, so a firewall must allow the
ephemeral range (or districts use TURN over TLS on 443).
"""

from __future__ import annotations

import logging
import socket
from urllib.parse import unquote

import aioice.ice
from aiortc import RTCBundlePolicy, RTCConfiguration, RTCIceServer

from .errors import MediaError

_original_get_host_addresses = aioice.ice.get_host_addresses
logger = logging.getLogger(__name__)


def configure_host_addresses(addresses: list[str]) -> None:
    """Use exactly ``addresses`` for host candidates; [] restores aioice's default."""
    if addresses:
        fixed = list(addresses)

        def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
            return [a for a in fixed if (":" in a and use_ipv6) or (":" not in a and use_ipv4)]

        aioice.ice.get_host_addresses = get_host_addresses
    else:
        aioice.ice.get_host_addresses = _original_get_host_addresses


def parse_ice_server(url: str) -> RTCIceServer:
    """``stun:host:port`` or ``turn[s]:user:pass@host:port[?transport=tcp]``."""
    scheme, sep, rest = url.partition(":")
    if not sep or scheme not in ("stun", "stuns", "turn", "turns") or not rest:
        raise MediaError("bad_request", f"ICE server URL not understood: {url!r}")
    username = credential = None
    if "@" in rest:
        auth, _, rest = rest.rpartition("@")
        username, _, credential = auth.partition(":")
        username, credential = unquote(username), unquote(credential)
    if scheme.startswith("turn") and (not username or not credential):
        raise MediaError("bad_request", f"TURN server needs user:pass@ in {url!r}")
    return RTCIceServer(urls=f"{scheme}:{rest}", username=username, credential=credential)


def rtc_configuration(ice_servers: list[str]) -> RTCConfiguration:
    """max-bundle: one transport for all m-lines. (With aiortc's default "balanced" policy
    an offerer keeps a second per-kind transport for later m-lines of the same kind even
    when the answer BUNDLEs everything, and those m-lines never connect.)"""
    return RTCConfiguration(
        iceServers=[parse_ice_server(u) for u in ice_servers],
        bundlePolicy=RTCBundlePolicy.MAX_BUNDLE,
    )


def enlarge_socket_buffers(pc, size: int) -> None:
    """Give the UDP sockets of ``pc`` a ``size``-byte receive/send buffer (the kernel caps
    it at net.core.rmem_max / wmem_max). The default ~200 KB holds ~150 packets: a key
    frame burst or a few tens of ms of scheduling delay on a busy host overflow it."""
    for transceiver in pc.getTransceivers()[:1]:  # max-bundle: one ICE transport
        connection = transceiver.receiver.transport.transport._connection  # private
        for protocol in getattr(connection, "_protocols", []):
            sock = protocol.transport.get_extra_info("socket") if protocol.transport else None
            if sock is None:
                continue
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)
            except OSError as exc:  # pragma: no cover - platform specific
                logger.debug("socket buffer size not set: %r", exc)
