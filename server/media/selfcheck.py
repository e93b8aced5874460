"""Start-up self-check: the relay hooks private internals of aiortc (see forward.py and
/work/shared/notes/aiortc-forwarding.md). Verify they exist before serving, and fail with
a clear RuntimeError naming what is missing rather than mis-forwarding at run time."""

from __future__ import annotations

import inspect

import aioice.ice
import aiortc
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpReceiver, RTCRtpSender
from aiortc.rtcdtlstransport import RTCDtlsTransport

from . import srtpfast

AIORTC_VERSION = "1.16.0"

_CLASS_ATTRS = [
    (RTCRtpReceiver, "_handle_rtp_packet", ("packet", "arrival_time_ms")),
    (RTCRtpReceiver, "_send_rtcp_pli", ("media_ssrc",)),
    (RTCRtpReceiver, "receive", ("parameters",)),
    (RTCRtpReceiver, "_send_rtcp", ("packet",)),
    (RTCRtpReceiver, "_send_rtcp_nack", ("media_ssrc", "lost")),
    (RTCRtpSender, "_handle_rtcp_packet", ("packet",)),
    (RTCRtpSender, "_send_rtcp", ("packets",)),
    (RTCRtpSender, "send", ("parameters",)),
    (RTCDtlsTransport, "_send_rtp", ("data",)),
    (RTCDtlsTransport, "_handle_rtp_data", ("data", "arrival_time_ms")),
]
_RECEIVER_ATTRS = [
    "_RTCRtpReceiver__jitter_buffer", "_RTCRtpReceiver__remote_bitrate_estimator",
    "_RTCRtpReceiver__rtcp_ssrc", "_RTCRtpReceiver__decoder_thread",
    "_RTCRtpReceiver__remote_streams", "_RTCRtpReceiver__nack_generator",
]
_SENDER_ATTRS = [
    "_ssrc", "_rtx_ssrc", "_stream_id", "_track_id", "_RTCRtpSender__encoder",
]


def _names(code) -> set:
    """Names a function's code uses, its comprehensions' included."""
    names = set(code.co_names)
    for const in code.co_consts:
        if hasattr(const, "co_names"):
            names |= _names(const)
    return names


async def selfcheck() -> dict:
    """Raise RuntimeError listing every missing hook; return a small report if all ok."""
    missing: list[str] = []
    if aiortc.__version__ != AIORTC_VERSION:
        missing.append(f"aiortc version {AIORTC_VERSION} (found {aiortc.__version__})")
    if not callable(getattr(aioice.ice, "get_host_addresses", None)):
        missing.append("aioice.ice.get_host_addresses")
    for cls, name, params in _CLASS_ATTRS:
        func = getattr(cls, name, None)
        if func is None:
            missing.append(f"{cls.__name__}.{name}")
            continue
        names = list(inspect.signature(func).parameters)[1:]
        if tuple(names[: len(params)]) != params:
            missing.append(f"{cls.__name__}.{name}{params} (found {tuple(names)})")
    from aioice.ice import Connection, StunProtocol
    from aiortc.rtcdtlstransport import State

    if not hasattr(State, "CONNECTED"):
        missing.append("aiortc.rtcdtlstransport.State.CONNECTED")
    if not callable(getattr(StunProtocol, "send_data", None)):
        missing.append("aioice.ice.StunProtocol.send_data")
    if not callable(getattr(StunProtocol, "datagram_received", None)):
        missing.append("aioice.ice.StunProtocol.datagram_received")
    for name in ("_nominated", "_protocols", "_local_username"):
        if name not in Connection.__init__.__code__.co_names:
            missing.append(f"aioice.ice.Connection.{name}")
    # the shared UDP port (udpmux) replaces this per connection and calls these
    gcc = getattr(Connection, "get_component_candidates", None)
    if gcc is None or list(inspect.signature(gcc).parameters)[1:3] != ["component", "addresses"]:
        missing.append("aioice.ice.Connection.get_component_candidates(component, addresses)")
    elif "get_component_candidates" not in _names(Connection.gather_candidates.__code__):
        missing.append("aioice.ice.Connection.gather_candidates -> get_component_candidates")
    if not callable(getattr(aioice.ice, "server_reflexive_candidate", None)):
        missing.append("aioice.ice.server_reflexive_candidate")
    if list(inspect.signature(StunProtocol.__init__).parameters)[1:] != ["receiver"]:
        missing.append("aioice.ice.StunProtocol(receiver)")
    from aiortc.rtcrtpreceiver import StreamStatistics

    for name in ("add", "packets_expected", "packets_received", "jitter", "max_seq"):
        if name not in dir(StreamStatistics) and name not in StreamStatistics.__init__.__code__.co_names:
            missing.append(f"aiortc.rtcrtpreceiver.StreamStatistics.{name}")
    missing.extend(srtpfast.check())
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        transceiver = pc.addTransceiver("video", direction="sendrecv")
        for name in _RECEIVER_ATTRS:
            if not hasattr(transceiver.receiver, name):
                missing.append(f"RTCRtpReceiver instance attribute {name}")
        dtls = transceiver.receiver.transport
        for name in ("_state", "_tx_srtp", "_rx_srtp", "transport"):
            if not hasattr(dtls, name):
                missing.append(f"RTCDtlsTransport instance attribute {name}")
        if not hasattr(getattr(dtls, "transport", None), "_connection"):
            missing.append("RTCIceTransport._connection")
        router = getattr(transceiver.receiver.transport, "_rtp_router", None)
        if not isinstance(getattr(router, "ssrc_table", None), dict):
            missing.append("RTCDtlsTransport._rtp_router.ssrc_table")
        for name in _SENDER_ATTRS:
            if not hasattr(transceiver.sender, name):
                missing.append(f"RTCRtpSender instance attribute {name}")
    finally:
        await pc.close()
    if missing:
        raise RuntimeError(
            "the media relay cannot run on this aiortc: missing or changed internals: "
            + "; ".join(missing)
        )
    return {"aiortc": aiortc.__version__, "hooks": len(_CLASS_ATTRS) + len(_RECEIVER_ATTRS)
            + len(_SENDER_ATTRS)}
