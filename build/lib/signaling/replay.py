"""Applying events to a conference: the only way its state changes."""

from __future__ import annotations

from collections.abc import Iterable

from . import conference, floor
from .events import Event
from .state import Conference

APPLIERS = {**conference.APPLIERS, **floor.APPLIERS}
MODERATED = ("conference.", "queue.", "floor.", "audio.")


def apply(conf: Conference, event: Event) -> None:
    handler = APPLIERS.get(event.type)
    if handler is None:
        raise ValueError(f"unknown event type {event.type!r}")
    handler(conf, event.data, event.at)
    conf.version = event.seq
    if event.type.startswith(MODERATED):
        conf.moderation_version = event.seq


def replay(conference_id: str, events: Iterable[Event]) -> Conference:
    conf = Conference(id=conference_id)
    for event in events:
        apply(conf, event)
    return conf
