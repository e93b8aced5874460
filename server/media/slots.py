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
    name: str  # "publish.audio", "hall.video", "tile.0.video", ...
    kind: str  # "audio" | "video"
    direction: str  # relay side: "recvonly" (publish) | "sendonly" (receive slot)
    stream_id: str | None = None  # msid stream id of a receive slot
    track_id: str | None = None  # msid track id of a receive slot

    @property
    def publish_track(self) -> str | None:
        """"audio" | "video" | "low" | "presentation" for publish m-lines, else None."""
        return self.name.split(".", 1)[1] if self.name.startswith("publish.") else None


def _recv(stream: str, kind: str) -> Slot:
    return Slot(f"{stream}.{kind}", kind, "sendonly", stream, f"{stream}-{kind}")


def _tile(index: int) -> Slot:
    """Tile slot ``index``: which point it shows is the router's choice (see .tiles)."""
    return Slot(f"tile.{index}.video", "video", "sendonly", f"tile-{index}",
                f"tile-{index}-video")


PUBLISH_AUDIO = Slot("publish.audio", "audio", "recvonly")
PUBLISH_VIDEO = Slot("publish.video", "video", "recvonly")  # the high layer
PUBLISH_LOW = Slot("publish.low", "video", "recvonly")  # the low layer (tiles, weak links)
PUBLISH_PRESENTATION = Slot("publish.presentation", "video", "recvonly")


TILE_KINDS = ("hall", "chair", "technician")


def layout(kind: str, tile_slots: int = 25) -> list[Slot]:
    """The m-lines the relay offers to a participant of ``kind``, in order; hall, chair and
    technician get ``tile_slots`` tile slots, whatever the number of points."""
    tiles = [_tile(i) for i in range(tile_slots)]
    hall = [_recv("hall", "audio"), _recv("hall", "video")]
    floor = [_recv("floor", "audio"), _recv("floor", "video")]
    presentation = [_recv("presentation", "video")]
    if kind == "point":
        return [PUBLISH_AUDIO, PUBLISH_VIDEO, PUBLISH_LOW, *hall, *floor, *presentation]
    if kind == "hall":
        return [PUBLISH_AUDIO, PUBLISH_VIDEO, PUBLISH_LOW, PUBLISH_PRESENTATION, *floor, *tiles]
    if kind == "chair":
        return [*hall, *floor, *presentation, *tiles]
    if kind == "technician":
        return [hall[1], *tiles, _recv("preview", "audio"), _recv("preview", "video")]
    if kind == "observer":
        return [*hall, *floor, *presentation]
    if kind == "precheck":  # the pre-join check: the page's own camera and mic come back
        return [PUBLISH_AUDIO, PUBLISH_VIDEO, _recv("echo", "audio"), _recv("echo", "video")]
    raise ValueError(f"unknown participant kind {kind!r}")
