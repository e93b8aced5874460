"""Settings of the media relay (filled by the server's settings loader)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from signaling.messages import MAX_SDP_BYTES


@dataclass
class MediaSettings:
    #: ICE servers as URLs: "stun:host:3478", "turn:user:pass@host:443?transport=tcp",
    #: "turns:user:pass@host:443". None by default: no public STUN on a closed network.
    ice_servers: list[str] = field(default_factory=list)
    #: Host addresses for ICE candidates; [] = aioice's default (all interfaces except
    #: loopback). Tests use ["127.0.0.1"]. Process-wide (aioice has one global hook).
    ice_host_addresses: list[str] = field(default_factory=list)
    #: The one UDP port every peer connection shares (0: one free port chosen at start-up;
    #: None: aioice's own random port per connection, kept for comparisons).
    udp_port: Optional[int] = 0
    #: Address the candidates carry instead of the local one (a server behind 1:1 NAT).
    announced_address: str = ""
    #: The HTTP server's bind address: a loopback one is announced when no host
    #: addresses are configured (``dewan serve --host 127.0.0.1``).
    listen_host: str = ""
    #: Browsers' TURN servers ("turns:turn.example.org:443?transport=tcp") with the
    #: coturn ``use-auth-secret`` shared secret and the lifetime of the credentials
    #: sent with every offer (see :mod:`.turn`). The relay itself allocates nothing.
    turn_urls: list[str] = field(default_factory=list)
    turn_secret: str = ""
    turn_ttl_s: int = 86400
    #: At most one PLI per producer per this many seconds.
    pli_min_interval_s: float = 0.5
    #: Per-consumer retransmission cache (packets) answering subscriber NACKs: 256 is
    #: about 1.8 s of a 1.5 Mbit/s picture, longer than a browser keeps asking for a
    #: packet; each video consumer holds its own rewritten copies, so this sets the RSS.
    nack_cache_packets: int = 256
    #: Bitrate the relay asks every video publisher for (REMB, sent once a second).
    publisher_max_kbps: int = 2500
    #: UDP socket buffers of each peer connection (capped by net.core.rmem_max).
    socket_buffer_bytes: int = 1 << 20
    #: Tile slots (video m-lines tile-0 ... tile-N-1) of a chair console, the hall station
    #: and a technician dashboard, whatever the number of points (config media.tile_slots).
    tile_slots: int = 25
    #: Largest client SDP accepted (bytes).
    max_sdp_bytes: int = MAX_SDP_BYTES
