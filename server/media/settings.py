"""Settings of the media relay (filled by the server's settings loader)."""

from __future__ import annotations

from dataclasses import dataclass, field

from signaling.messages import MAX_SDP_BYTES


@dataclass
class MediaSettings:
    #: ICE servers as URLs: "stun:host:3478", "turn:user:pass@host:443?transport=tcp",
    #: "turns:user:pass@host:443". None by default: no public STUN on a closed network.
    ice_servers: list[str] = field(default_factory=list)
    #: Host addresses for ICE candidates; [] = aioice's default (all interfaces except
    #: loopback). Tests use ["127.0.0.1"]. Process-wide (aioice has one global hook).
    ice_host_addresses: list[str] = field(default_factory=list)
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
    #: Largest client SDP accepted (bytes).
    max_sdp_bytes: int = MAX_SDP_BYTES
