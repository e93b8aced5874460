"""Validate a client's SDP answer before aiortc sees it (aiortc's parser and
negotiation were not written for hostile input)."""

from __future__ import annotations

from aiortc import sdp

from .errors import MediaError
from .slots import Slot

_REQUIRED_CODEC = {"audio": "opus", "video": "VP8"}


def check_answer(text: object, offered: list[Slot], max_bytes: int) -> None:
    """Raise MediaError("bad_request") unless ``text`` is a plausible answer to an offer
    with the m-lines ``offered`` (same count, order and kinds; Opus on audio and VP8 on
    video m-lines; ICE credentials and a DTLS fingerprint)."""
    if not isinstance(text, str) or not text.strip():
        raise MediaError("bad_request", "The SDP answer is empty.")
    if len(text.encode("utf-8", "replace")) > max_bytes:
        raise MediaError("bad_request", f"The SDP answer is larger than {max_bytes} bytes.")
    if not text.lstrip().startswith("v=0"):
        raise MediaError("bad_request", "The SDP answer does not start with v=0.")
    if "a=setup:actpass" in text:
        raise MediaError("bad_request", "This SDP is an offer; the relay expects an answer.")
    try:
        description = sdp.SessionDescription.parse(text)
    except Exception:
        raise MediaError("bad_request", "The SDP answer could not be parsed.") from None
    media = description.media
    if len(media) != len(offered):
        raise MediaError(
            "bad_request",
            f"The SDP answer has {len(media)} m-lines; the offer had {len(offered)}.",
        )
    for index, (m, slot) in enumerate(zip(media, offered)):
        if m.kind != slot.kind or m.rtp.muxId != str(index):
            raise MediaError(
                "bad_request", f"m-line {index} of the answer does not match the offer."
            )
        wanted = _REQUIRED_CODEC[slot.kind]
        if not any(c.name.lower() == wanted.lower() for c in m.rtp.codecs):
            raise MediaError(
                "bad_request", f"m-line {index} ({slot.name}) of the answer lacks {wanted}."
            )
        ice = m.ice
        if ice is None or not ice.usernameFragment or not ice.password:
            raise MediaError("bad_request", f"m-line {index} has no ICE credentials.")
        dtls = m.dtls
        if dtls is None or not dtls.fingerprints:
            raise MediaError("bad_request", f"m-line {index} has no DTLS fingerprint.")
