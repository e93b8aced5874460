"""The fixed m-line layout of each kind of participant (see the package docstring).

A layout is a list of :class:`Slot`, in m-line order (mid "0", "1", ... in that order).
``direction`` is the relay's side: "recvonly" = the browser publishes on this m-line,
"sendonly" = the relay sends this slot to the browser.
"""

from __future__ import annotations

from dataclasses import dataclass

KINDS = ("hall", "point", "chair", "technician", "observer", "precheck")


@dataclass(frozen=True)
class Slot:
    name: str  # "publish.audio", "hall.video", "tile.vinh.video", ...
    kind: str  # "audio" | "video"
    direction: str  # relay side: "recvonly" (publish) | "sendonly" (receive slot)
    stream_id: str | None = None  # msid stream id of a receive slot
    track_id: str | None = None  # msid track id of a receive slot

    @property
    def publish_track(self) -> str | None:
        """"audio" | "video" | "presentation" for publish m-lines, else None."""
        return self.name.split(".", 1)[1] if self.name.startswith("publish.") else None


def _recv(stream: str, kind: str) -> Slot:
    return Slot(f"{stream}.{kind}", kind, "sendonly", stream, f"{stream}-{kind}")


def _tile(point_id: str) -> Slot:
    return Slot(f"tile.{point_id}.video", "video", "sendonly", f"tile-{point_id}",
                f"tile-{point_id}-video")


PUBLISH_AUDIO = Slot("publish.audio", "audio", "recvonly")
PUBLISH_VIDEO = Slot("publish.video", "video", "recvonly")
PUBLISH_PRESENTATION = Slot("publish.presentation", "video", "recvonly")


def layout(kind: str, hall_id: str, point_ids: list[str]) -> list[Slot]:
    """The m-lines the relay offers to a participant of ``kind``, in order."""
    districts = [p for p in point_ids if p != hall_id]
    tiles = [_tile(p) for p in districts]
    hall = [_recv("hall", "audio"), _recv("hall", "video")]
    floor = [_recv("floor", "audio"), _recv("floor", "video")]
    presentation = [_recv("presentation", "video")]
    if kind == "point":
        return [PUBLISH_AUDIO, PUBLISH_VIDEO, *hall, *floor, *presentation]
    if kind == "hall":
        return [PUBLISH_AUDIO, PUBLISH_VIDEO, PUBLISH_PRESENTATION, *floor, *tiles]
    if kind == "chair":
        return [*hall, *floor, *presentation, *tiles]
    if kind == "technician":
        return [hall[1], *tiles, _recv("preview", "audio"), _recv("preview", "video")]
    if kind == "observer":
        return [*hall, *floor, *presentation]
    if kind == "precheck":  # the pre-join check: the page's own camera and mic come back
        return [PUBLISH_AUDIO, PUBLISH_VIDEO, _recv("echo", "audio"), _recv("echo", "video")]
    raise ValueError(f"unknown participant kind {kind!r}")
