"""ICE configuration: host addresses and ICE servers (never a public STUN by default).

The relay's candidates come from :func:`host_addresses` (configured, else the loopback
address the server is bound to, else every interface but loopback) and are all served on
one UDP port (:mod:`.udpmux`). :func:`configure_host_addresses` still patches aioice's
process-wide ``get_host_addresses`` for connections that do not use the shared port.
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


def _is_loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")


def host_addresses(configured: list[str], listen_host: str = "") -> list[str]:
    """The local addresses the relay binds its UDP port on and offers as candidates:
    ``media.ice_host_addresses`` when set; a loopback ``--host`` (nothing else can reach
    a loopback-bound server); a specific ``--host`` address; else every interface's address
    but loopback (aioice's rule). [] means no browser can reach the relay."""
    if configured:
        return list(configured)
    if listen_host and _is_loopback(listen_host):
        return ["127.0.0.1" if listen_host == "localhost" else listen_host]
    if listen_host and listen_host not in ("0.0.0.0", "::"):
        try:
            socket.inet_pton(socket.AF_INET6 if ":" in listen_host else socket.AF_INET, listen_host)
            return [listen_host]
        except OSError:
            pass  # a host name: fall back to the interfaces
    return [a for a in _original_get_host_addresses(use_ipv4=True, use_ipv6=True)
            if not a.startswith("fe80")]


NO_CANDIDATE_WARNING = (
    "media: the relay has no usable ICE host address (this machine has only loopback and the "
    "server is not bound to it), so no browser can connect: set media.ice_host_addresses "
    "(DEWAN_MEDIA_ICE_HOST_ADDRESSES), or serve with --host 127.0.0.1 for this machine alone")


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
