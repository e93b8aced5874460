"""Conference state. It is only ever changed by applying events (see replay.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

SCHEDULED, OPEN, PAUSED, CLOSED = "scheduled", "open", "paused", "closed"

# Queue entry status: waiting for the floor; away (dropped, within the grace period);
# left (the grace period ran out; kept in place, skipped by "grant next").
WAITING, AWAY, LEFT = "waiting", "away", "left"


@dataclass
class QueueEntry:
    point: str
    requested_at: float
    topic: str | None = None
    status: str = WAITING
    grace_deadline: float | None = None

    def to_json(self) -> dict:
        return {"point": self.point, "requested_at": self.requested_at, "topic": self.topic,
                "status": self.status, "grace_deadline": self.grace_deadline}


@dataclass
class Floor:
    holder: str | None = None  # a district point id; None means the hall holds the floor
    granted_at: float | None = None
    limit_s: int | None = None
    deadline: float | None = None  # absolute wall time, so a restarted process resumes it
    overtime: bool = False
    grace_deadline: float | None = None  # set while the holder is disconnected

    def remaining_s(self, now: float) -> float | None:
        return None if self.deadline is None else round(self.deadline - now, 3)

    def to_json(self, now: float) -> dict:
        return {"holder": self.holder, "granted_at": self.granted_at, "limit_s": self.limit_s,
                "deadline": self.deadline, "remaining_s": self.remaining_s(now),
                "overtime": self.overtime, "grace_deadline": self.grace_deadline}


@dataclass
class Conference:
    id: str
    title: str = ""
    status: str = SCHEDULED
    opened_at: float | None = None
    closed_at: float | None = None
    queue: list[QueueEntry] = field(default_factory=list)
    floor: Floor = field(default_factory=Floor)
    muted: set[str] = field(default_factory=set)
    online: set[str] = field(default_factory=set)  # stations (hall and points) connected now
    version: int = 0  # sequence number of the last applied event
    # Sequence number of the last event that changed what the chair moderates (conference,
    # queue, floor, mutes): what a chair's action "saw". Joins, health alerts and messages do
    # not bump it, so they never refuse a chair's action as "changed meanwhile".
    moderation_version: int = 0

    def entry(self, point: str) -> QueueEntry | None:
        return next((e for e in self.queue if e.point == point), None)

    def position(self, point: str) -> int | None:
        """1-based place in the queue, or None."""
        for i, e in enumerate(self.queue):
            if e.point == point:
                return i + 1
        return None

    def conference_json(self) -> dict:
        return {"id": self.id, "title": self.title, "status": self.status,
                "opened_at": self.opened_at, "closed_at": self.closed_at, "version": self.moderation_version}

    def queue_json(self) -> dict:
        return {"entries": [e.to_json() for e in self.queue], "version": self.moderation_version}

    def floor_json(self, now: float) -> dict:
        return {**self.floor.to_json(now), "muted": sorted(self.muted), "version": self.moderation_version}
