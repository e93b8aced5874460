"""The browser's `stats:report` payload (sent every 2 s by each page).

A summary of the page's own `RTCPeerConnection.getStats()`: what it sends (outbound), what it
receives (inbound), the selected ICE candidate pair and the connection states. Every field is
optional and bounded; unknown fields are ignored (the protocol may grow); a wrong type, an
out-of-range number, NaN/Infinity or an unknown state word raises `pydantic.ValidationError`,
which the namespace turns into a `bad_request` ack.

Units: bitrates in kbit/s, times in ms (`rtt_ms`, `jitter_ms`), `jitter` alone in seconds as
getStats reports it, audio level 0..1, fractions 0..1.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

__all__ = [
    "BrowserStatsReport",
    "OutboundVideo",
    "OutboundAudio",
    "Outbound",
    "InboundVideo",
    "InboundAudio",
    "Inbound",
    "CandidatePair",
    "parse_report",
]


def _number_only(value: Any) -> Any:
    """Refuse bools and strings where a number is expected (pydantic's lax mode takes them)."""
    if isinstance(value, (bool, str, bytes)):
        raise ValueError("a number is expected")
    return value


_Num = Annotated[float, BeforeValidator(_number_only)]
_Int = Annotated[int, BeforeValidator(_number_only)]

Kbps = Annotated[_Num, Field(ge=0, le=1_000_000)]
Fps = Annotated[_Num, Field(ge=0, le=1000)]
Pixels = Annotated[_Int, Field(ge=0, le=16384)]
Count = Annotated[_Num, Field(ge=0, le=1e15)]
SignedCount = Annotated[_Num, Field(ge=-1e15, le=1e15)]  # packetsLost may go negative (dups)
Millis = Annotated[_Num, Field(ge=0, le=600_000)]
Unit = Annotated[_Num, Field(ge=0, le=1)]

QualityLimitation = Literal["none", "cpu", "bandwidth", "other"]
CandidateType = Literal["host", "srflx", "prflx", "relay"]
IceState = Literal["new", "checking", "connected", "completed", "failed", "disconnected", "closed"]
ConnectionState = Literal["new", "connecting", "connected", "disconnected", "failed", "closed"]


class _Part(BaseModel):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False, frozen=True)


class OutboundVideo(_Part):
    fps: Fps | None = None
    width: Pixels | None = None
    height: Pixels | None = None
    bitrate_kbps: Kbps | None = None
    quality_limitation: QualityLimitation | None = None
    packets_sent: Count | None = None
    frames_encoded: Count | None = None


class OutboundAudio(_Part):
    level: Unit | None = None  # microphone level (media-source audioLevel), 0..1
    bitrate_kbps: Kbps | None = None
    packets_sent: Count | None = None


class Outbound(_Part):
    video: OutboundVideo | None = None
    audio: OutboundAudio | None = None


class InboundVideo(_Part):
    fps: Fps | None = None
    width: Pixels | None = None
    height: Pixels | None = None
    frames_decoded: Count | None = None
    freeze_count: Count | None = None
    bitrate_kbps: Kbps | None = None
    packets_lost: SignedCount | None = None
    packets_received: Count | None = None


class InboundAudio(_Part):
    total_audio_energy: Annotated[_Num, Field(ge=0, le=1e12)] | None = None
    level: Unit | None = None
    bitrate_kbps: Kbps | None = None
    packets_lost: SignedCount | None = None
    packets_received: Count | None = None
    jitter: Annotated[_Num, Field(ge=0, le=600)] | None = None  # seconds, as getStats gives it
    jitter_ms: Millis | None = None

    def jitter_in_ms(self) -> float | None:
        if self.jitter_ms is not None:
            return self.jitter_ms
        if self.jitter is not None:
            return self.jitter * 1000.0
        return None


class Inbound(_Part):
    video: InboundVideo | None = None
    audio: InboundAudio | None = None


class CandidatePair(_Part):
    local_type: CandidateType | None = None
    remote_type: CandidateType | None = None
    protocol: Literal["udp", "tcp"] | None = None
    relay_protocol: Literal["udp", "tcp", "tls"] | None = None
    rtt_ms: Millis | None = None
    available_outgoing_bitrate_kbps: Kbps | None = None


class BrowserStatsReport(_Part):
    """One `stats:report` from a page. Every part is optional."""

    outbound: Outbound | None = None
    inbound: Inbound | None = None
    candidate_pair: CandidatePair | None = None
    ice_state: IceState | None = None
    connection_state: ConnectionState | None = None
    #: the page found no working ICE pair within its deadline (rtc.js NO_PAIR_MS)
    media_unreachable: bool | None = None

    # convenient flat accessors (None when absent) -------------------------------------------
    def _out_video(self) -> OutboundVideo | None:
        return self.outbound.video if self.outbound else None

    def _out_audio(self) -> OutboundAudio | None:
        return self.outbound.audio if self.outbound else None

    def _in_video(self) -> InboundVideo | None:
        return self.inbound.video if self.inbound else None

    def _in_audio(self) -> InboundAudio | None:
        return self.inbound.audio if self.inbound else None

    def flat(self) -> dict[str, Any]:
        """The figures the monitor uses, flattened (None when unknown)."""
        ov, oa, iv, ia, cp = (
            self._out_video(),
            self._out_audio(),
            self._in_video(),
            self._in_audio(),
            self.candidate_pair,
        )
        up = _sum_kbps(ov, oa)
        down = _sum_kbps(iv, ia)
        return {
            "fps": ov.fps if ov else None,
            "width": ov.width if ov else None,
            "height": ov.height if ov else None,
            "quality_limitation": ov.quality_limitation if ov else None,
            "audio_level": oa.level if oa else None,
            "bitrate_up_kbps": up,
            "bitrate_down_kbps": down,
            "inbound_fps": iv.fps if iv else None,
            "inbound_width": iv.width if iv else None,
            "inbound_height": iv.height if iv else None,
            "frames_decoded": iv.frames_decoded if iv else None,
            "freeze_count": iv.freeze_count if iv else None,
            "inbound_audio_level": ia.level if ia else None,
            "jitter_ms": ia.jitter_in_ms() if ia else None,
            "local_candidate_type": cp.local_type if cp else None,
            "remote_candidate_type": cp.remote_type if cp else None,
            "candidate_protocol": cp.protocol if cp else None,
            "relay_protocol": cp.relay_protocol if cp else None,
            "rtt_ms": cp.rtt_ms if cp else None,
            "available_outgoing_bitrate_kbps": cp.available_outgoing_bitrate_kbps if cp else None,
            "ice_state": self.ice_state,
            "connection_state": self.connection_state,
        }


def _sum_kbps(*parts: Any) -> float | None:
    values = [p.bitrate_kbps for p in parts if p is not None and p.bitrate_kbps is not None]
    return float(sum(values)) if values else None


def parse_report(payload: Any) -> BrowserStatsReport:
    """Validate a raw `stats:report` payload (raises pydantic.ValidationError)."""
    return BrowserStatsReport.model_validate(payload)
