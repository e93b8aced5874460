"""Event log entries: every change to a conference is an event with a sequence number."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Draft:
    """An event decided by a domain operation, before the store numbers it."""

    type: str
    data: dict = field(default_factory=dict)
    actor: str | None = None  # who did it: "chair:<label>", "point:<id>", "system"


@dataclass(frozen=True)
class Event:
    seq: int
    at: float  # wall time, seconds since the epoch
    conference: str
    type: str
    data: dict
    actor: str | None = None

    def to_json(self) -> dict:
        return asdict(self)

    def dumps(self) -> str:
        return json.dumps(self.to_json(), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: dict) -> "Event":
        return cls(
            seq=int(raw["seq"]),
            at=float(raw["at"]),
            conference=str(raw["conference"]),
            type=str(raw["type"]),
            data=dict(raw.get("data") or {}),
            actor=raw.get("actor"),
        )


def number(drafts: list[Draft], conference: str, version: int, at: float) -> list[Event]:
    """Give decided drafts their sequence numbers after `version` and the time of recording."""
    return [Event(seq=version + i + 1, at=at, conference=conference, type=d.type, data=d.data, actor=d.actor)
            for i, d in enumerate(drafts)]
