"""Speaker queue and floor: a pure state machine. Decisions return event drafts; appliers
change the state. Replaying the appliers over the event log rebuilds the state."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import BadRequest, Conflict, NotFound, Unavailable
from .events import Draft
from .state import AWAY, LEFT, OPEN, PAUSED, WAITING, Conference, Floor, QueueEntry

WARN, RELEASE = "warn", "release"


@dataclass(frozen=True)
class FloorPolicy:
    default_limit_s: int = 180
    max_limit_s: int = 3600
    on_expiry: str = WARN  # "warn": keep the floor, flag overtime; "release": back to the hall
    grace_s: float = 30.0  # a dropped holder keeps the floor (and a dropped point its place)

    def __post_init__(self) -> None:
        if self.on_expiry not in (WARN, RELEASE):
            raise ValueError("floor.on_expiry must be 'warn' or 'release'")


def _require_live(conf: Conference, *, grant: bool = False) -> None:
    allowed = (OPEN,) if grant else (OPEN, PAUSED)
    if conf.status not in allowed:
        if conf.status == PAUSED:
            raise Conflict("The conference is paused.", key="paused")
        raise Conflict("The conference is not open.", key="not_open")


def request(conf: Conference, point: str, topic: str | None, now: float) -> list[Draft]:
    _require_live(conf)
    if conf.floor.holder == point:
        raise Conflict("You already have the floor.", key="already_speaking")
    if conf.entry(point) is not None:
        raise Conflict("You are already in the queue.", key="already_queued", position=conf.position(point))
    return [Draft("queue.requested", {"point": point, "topic": topic, "requested_at": now},
                  f"point:{point}")]


def cancel(conf: Conference, point: str) -> list[Draft]:
    if conf.entry(point) is None:
        raise NotFound("You are not in the queue.", key="not_queued")
    return [Draft("queue.cancelled", {"point": point}, f"point:{point}")]


def _limit(policy: FloorPolicy, limit_s: int | None) -> int:
    limit = policy.default_limit_s if limit_s is None else int(limit_s)
    if not 10 <= limit <= policy.max_limit_s:
        raise BadRequest(f"The time limit must be between 10 and {policy.max_limit_s} seconds.", key="bad_limit",
                         max=policy.max_limit_s)
    return limit


def grant(conf: Conference, point: str | None, limit_s: int | None, now: float,
          policy: FloorPolicy, actor: str, known: set[str]) -> list[Draft]:
    _require_live(conf, grant=True)
    limit = _limit(policy, limit_s)
    if point is None:
        entry = next((e for e in conf.queue if e.status == WAITING), None)
        if entry is None:
            raise NotFound("Nobody in the queue is waiting for the floor.", key="queue_empty")
        point = entry.point
    elif point not in known:
        raise NotFound(f"Unknown point {point!r}.", key="unknown_point")
    elif conf.floor.holder == point:
        raise Conflict("That point already has the floor.", key="already_holder")
    elif point not in conf.online:
        raise Unavailable("That point is not connected.", key="point_offline")
    return [Draft("floor.granted", {
        "point": point, "limit_s": limit, "granted_at": now, "deadline": now + limit,
        "previous": conf.floor.holder, "from_queue": conf.entry(point) is not None,
    }, actor)]


def deny(conf: Conference, point: str, reason: str | None, actor: str) -> list[Draft]:
    if conf.entry(point) is None:
        raise NotFound("That point is not in the queue.", key="not_in_queue")
    return [Draft("queue.denied", {"point": point, "reason": reason}, actor)]


def move(conf: Conference, point: str, position: int, actor: str) -> list[Draft]:
    current = conf.position(point)
    if current is None:
        raise NotFound("That point is not in the queue.", key="not_in_queue")
    target = max(1, min(int(position), len(conf.queue)))
    if target == current:
        return []
    return [Draft("queue.moved", {"point": point, "from": current, "to": target}, actor)]


def revoke(conf: Conference, actor: str) -> list[Draft]:
    if conf.floor.holder is None:
        raise Conflict("The hall already has the floor.", key="hall_has_floor")
    return [Draft("floor.revoked", {"point": conf.floor.holder}, actor)]


def extend(conf: Conference, seconds: int, now: float, policy: FloorPolicy, actor: str) -> list[Draft]:
    if conf.floor.holder is None:
        raise Conflict("Nobody from the points has the floor.", key="nobody_speaking")
    if not 1 <= seconds <= policy.max_limit_s:
        raise BadRequest(f"Extend by 1 to {policy.max_limit_s} seconds.", key="bad_extend", max=policy.max_limit_s)
    base = conf.floor.deadline if conf.floor.deadline and conf.floor.deadline > now else now
    return [Draft("floor.extended", {"point": conf.floor.holder, "seconds": seconds,
                                     "deadline": base + seconds}, actor)]


def set_muted(conf: Conference, point: str, muted: bool, actor: str, known: set[str]) -> list[Draft]:
    if point not in known:
        raise NotFound(f"Unknown point {point!r}.", key="unknown_point")
    if (point in conf.muted) == muted:
        return []
    return [Draft("audio.muted", {"point": point, "muted": muted}, actor)]


def point_joined(conf: Conference, point: str, now: float) -> list[Draft]:
    drafts = [Draft("point.joined", {"point": point}, f"point:{point}")]
    entry = conf.entry(point)
    if entry is not None and entry.status in (AWAY, LEFT):
        drafts.append(Draft("queue.returned", {"point": point}, "system"))
    if conf.floor.holder == point and conf.floor.grace_deadline is not None:
        drafts.append(Draft("floor.grace_ended", {"point": point, "resumed": True}, "system"))
    return drafts


def point_left(conf: Conference, point: str, reason: str, now: float, policy: FloorPolicy) -> list[Draft]:
    if point not in conf.online:
        return []
    drafts = [Draft("point.left", {"point": point, "reason": reason}, "system")]
    entry = conf.entry(point)
    if entry is not None and entry.status == WAITING:
        drafts.append(Draft("queue.away", {"point": point, "grace_deadline": now + policy.grace_s}, "system"))
    if conf.floor.holder == point:
        drafts.append(Draft("floor.grace_started", {"point": point, "grace_deadline": now + policy.grace_s},
                            "system"))
    return drafts


def due(conf: Conference, now: float, policy: FloorPolicy) -> list[Draft]:
    """Timer-driven events: time limit reached, grace periods over."""
    drafts: list[Draft] = []
    f = conf.floor
    if f.holder is not None and f.grace_deadline is not None and now >= f.grace_deadline:
        drafts.append(Draft("floor.released", {"point": f.holder, "reason": "left"}, "system"))
    elif f.holder is not None and f.deadline is not None and now >= f.deadline:
        if policy.on_expiry == RELEASE:
            drafts.append(Draft("floor.expired", {"point": f.holder}, "system"))
        elif not f.overtime:
            drafts.append(Draft("floor.overtime", {"point": f.holder, "deadline": f.deadline}, "system"))
    for e in conf.queue:
        if e.status == AWAY and e.grace_deadline is not None and now >= e.grace_deadline:
            drafts.append(Draft("queue.left", {"point": e.point}, "system"))
    return drafts


# --- appliers -------------------------------------------------------------------------

def _remove(conf: Conference, point: str) -> None:
    conf.queue[:] = [e for e in conf.queue if e.point != point]


def _requested(conf: Conference, d: dict, at: float) -> None:
    conf.queue.append(QueueEntry(point=d["point"], requested_at=d["requested_at"], topic=d.get("topic")))


def _dequeued(conf: Conference, d: dict, at: float) -> None:
    _remove(conf, d["point"])


def _moved(conf: Conference, d: dict, at: float) -> None:
    entry = conf.entry(d["point"])
    if entry is not None:
        _remove(conf, d["point"])
        conf.queue.insert(d["to"] - 1, entry)


def _set_status(status: str):
    def apply(conf: Conference, d: dict, at: float) -> None:
        entry = conf.entry(d["point"])
        if entry is not None:
            entry.status = status
            entry.grace_deadline = d.get("grace_deadline") if status == AWAY else None
    return apply


def _granted(conf: Conference, d: dict, at: float) -> None:
    _remove(conf, d["point"])
    conf.floor = Floor(holder=d["point"], granted_at=d["granted_at"], limit_s=d["limit_s"],
                       deadline=d["deadline"])


def _to_hall(conf: Conference, d: dict, at: float) -> None:
    conf.floor = Floor()


def _extended(conf: Conference, d: dict, at: float) -> None:
    conf.floor.deadline = d["deadline"]
    conf.floor.limit_s = (conf.floor.limit_s or 0) + d["seconds"]
    conf.floor.overtime = False


def _overtime(conf: Conference, d: dict, at: float) -> None:
    conf.floor.overtime = True


def _grace_started(conf: Conference, d: dict, at: float) -> None:
    conf.floor.grace_deadline = d["grace_deadline"]


def _grace_ended(conf: Conference, d: dict, at: float) -> None:
    conf.floor.grace_deadline = None


def _muted(conf: Conference, d: dict, at: float) -> None:
    (conf.muted.add if d["muted"] else conf.muted.discard)(d["point"])


APPLIERS = {
    "queue.requested": _requested,
    "queue.cancelled": _dequeued,
    "queue.denied": _dequeued,
    "queue.moved": _moved,
    "queue.away": _set_status(AWAY),
    "queue.returned": _set_status(WAITING),
    "queue.left": _set_status(LEFT),
    "floor.granted": _granted,
    "floor.revoked": _to_hall,
    "floor.expired": _to_hall,
    "floor.released": _to_hall,
    "floor.extended": _extended,
    "floor.overtime": _overtime,
    "floor.grace_started": _grace_started,
    "floor.grace_ended": _grace_ended,
    "audio.muted": _muted,
}
