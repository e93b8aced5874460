"""Client -> server payloads (DESIGN §4), validated with pydantic. Unknown fields rejected."""

from __future__ import annotations

import json
import unicodedata
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.functional_validators import BeforeValidator

from .errors import BadRequest

# THE payload cap, used everywhere (engine.io's max_http_buffer_size, the HTTP body limit, this
# module's check, the SDP answer's length). Sized for the largest legitimate payload, a console's
# SDP answer: measured from Chromium answering the relay's offer (with ICE candidates), 26
# m-lines (21 points) = 15 KB, 135 m-lines (130 points) = 78 KB (83 KB as JSON); 256 KiB keeps
# room for more candidates and points.
MAX_EVENT_BYTES = 256 * 1024
MAX_SDP_BYTES = MAX_EVENT_BYTES - 4096  # the rest of the frame: JSON escapes, event name, ack id
PointId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$")]


def _nfc_strip(value: object) -> object:
    return unicodedata.normalize("NFC", value).strip() if isinstance(value, str) else value


Text = Annotated[str, BeforeValidator(_nfc_strip)]


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    version: int | None = Field(default=None, ge=0)  # the state version the client acted on


class Empty(Payload):
    pass


class ConferenceOpen(Payload):
    title: Annotated[Text, Field(max_length=200)] | None = None


class AgendaSet(Payload):
    title: Annotated[Text, Field(min_length=1, max_length=200)]


class FloorRequest(Payload):
    topic: Annotated[Text, Field(max_length=140)] | None = None

    @field_validator("topic")
    @classmethod
    def _blank_is_none(cls, v: str | None) -> str | None:
        return v or None


class FloorGrant(Payload):
    point: PointId | None = None
    limit_s: int | None = Field(default=None, ge=10, le=3600)


class FloorDeny(Payload):
    point: PointId
    reason: Annotated[Text, Field(max_length=200)] | None = None


class FloorMove(Payload):
    point: PointId
    position: int = Field(ge=1, le=1000)  # 1 = first in the queue


class FloorExtend(Payload):
    seconds: int = Field(ge=1, le=3600)


class AudioMute(Payload):
    point: PointId
    muted: bool


class RtcAnswer(Payload):
    sdp: str = Field(min_length=10, max_length=MAX_SDP_BYTES)


class MessageSend(Payload):
    point: PointId
    text: Annotated[Text, Field(min_length=1, max_length=500)]


class PointRef(Payload):
    point: PointId


class OptionalPointRef(Payload):
    point: PointId | None = None


class TilesView(Payload):
    """Page through the points on a console's tile slots, or pin points to them."""

    page: Annotated[int, Field(ge=0, le=10_000)] | None = None
    pinned: list[PointId] | None = Field(None, max_length=64)


def parse(model: type[BaseModel], data: object) -> BaseModel:
    """Validate one event payload (size, then the model); any problem becomes a clear
    BadRequest naming the field."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise BadRequest("The payload must be an object.")
    try:
        size = len(json.dumps(data, ensure_ascii=False).encode())
    except (TypeError, ValueError):
        raise BadRequest("The payload is not valid JSON data.") from None
    if size > MAX_EVENT_BYTES:
        raise BadRequest(f"The payload is too large ({size} bytes; limit {MAX_EVENT_BYTES}).")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "payload"
        raise BadRequest(f"Invalid {where}: {first['msg']}.") from None


Fraction = Annotated[float, Field(ge=0, le=1)]
DeviceState = Annotated[str, Field(max_length=24, pattern=r"^[a-z_]+$")]


class PrecheckResult(Payload):
    """The pre-join check's verdict, shown to the technicians."""

    verdict: Literal["ready", "weak", "blocked"]
    camera: DeviceState | None = None
    microphone: DeviceState | None = None
    mic_peak: Fraction | None = None
    link: DeviceState | None = None
    rtt_ms: Annotated[float, Field(ge=0, le=600_000)] | None = None
    loss_up: Fraction | None = None
    loss_down: Fraction | None = None
    bitrate_kbps: Annotated[float, Field(ge=0, le=1_000_000)] | None = None
    candidate_type: Literal["host", "srflx", "prflx", "relay"] | None = None
    problems: list[DeviceState] = Field(default_factory=list, max_length=20)
