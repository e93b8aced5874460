"""manifest.json of one recording session, built from the conference's event log (so a
restarted process rebuilds it) plus the segments' own `segment.json` files, and written
atomically (temp file, fsync, rename, fsync of the folder): a crash never leaves it unreadable.

Times are wall-clock seconds since the epoch; `offset_s` is relative to the session's start
(t=0 of every exported file)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from signaling.events import Event

FORMAT = 1
MANIFEST = "manifest.json"
SEGMENT = "segment.json"


def write_json_atomic(path: Path, data: object) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        json.dump(data, fh, ensure_ascii=False, indent=1)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_segments(session_dir: Path) -> list[dict]:
    """The segments' own records (seg-001/segment.json, ...), in order; unreadable ones are
    listed with an `error` so they are never silently dropped."""
    out = []
    for seg in sorted(Path(session_dir).glob("seg-*")):
        path = seg / SEGMENT
        try:
            out.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            out.append({"dir": seg.name, "tracks": [], "error": f"{path}: {exc}"})
    return out


class People:
    """Actor ids (`chair:<id>`, `point:<id>`, `system`) -> who they are."""

    def __init__(self, chairs: Mapping[str, dict], point_names: Mapping[str, dict], lang: str) -> None:
        self.chairs, self.point_names, self.lang = chairs, point_names, lang

    def __call__(self, actor: str | None) -> dict:
        actor = actor or "system"
        role, _, ident = actor.partition(":")
        if actor in self.chairs:
            return {"actor": actor, **self.chairs[actor]}
        if role in ("point", "hall") and ident in self.point_names:
            return {"actor": actor, "name": self._point(ident), "title": ""}
        return {"actor": actor, "name": None, "title": ""}  # the unnamed chair link, system, ...

    def _point(self, point: str) -> str:
        names = self.point_names.get(point, {})
        return names.get(self.lang) or names.get("vi") or point


def _window(events: list[Event], session: str) -> tuple[float | None, float | None, str | None]:
    start = end = reason = None
    for e in events:
        if e.data.get("session") != session:
            continue
        if e.type == "recording.started":  # the journal's time: every event of the window is at or after it
            start = e.at
        elif e.type == "recording.stopped":
            end, reason = e.at, e.data.get("reason")
    return start, end, reason


def _overlaps(begin: float, finish: float | None, start: float, end: float) -> bool:
    return begin < end and (finish is None or finish > start)


def attendance(events: Iterable[Event], start: float, end: float) -> list[dict]:
    since: dict[str, float] = {}
    spans: dict[str, list[list[float]]] = {}
    for e in events:
        if e.at > end:
            break
        point = e.data.get("point")
        if e.type == "point.joined":
            since.setdefault(point, e.at)
        elif e.type == "point.left" and point in since:
            spans.setdefault(point, []).append([since.pop(point), e.at])
    for point, joined in since.items():
        spans.setdefault(point, []).append([joined, None])
    out = []
    for point in sorted(spans):
        intervals = []
        for joined, left in spans[point]:
            if not _overlaps(joined, left, start, end):
                continue
            a, b = max(joined, start), min(left if left is not None else end, end)
            intervals.append({"joined": round(a, 3), "left": None if left is None or left > end else round(b, 3),
                              "present_s": round(b - a, 3)})
        if intervals:
            out.append({"point": point, "intervals": intervals,
                        "present_s": round(sum(i["present_s"] for i in intervals), 3)})
    return out


END_HOW = {"floor.revoked": "revoked", "floor.expired": "expired"}


def speaker_turns(events: Iterable[Event], people: People, start: float, end: float) -> list[dict]:
    turns: list[dict] = []
    current: dict | None = None
    topics: dict[str, str | None] = {}

    def finish(at: float, how: str, actor: str | None) -> None:
        nonlocal current
        if current is not None:
            current.update(ended=round(at, 3), duration_s=round(at - current["granted"], 3), how=how,
                           ended_by=people(actor) if actor and actor.startswith("chair:") else None)
            current = None

    for e in events:
        if e.type == "queue.requested":
            topics[e.data["point"]] = e.data.get("topic")
        elif e.type == "floor.granted":
            finish(e.at, "revoked", e.actor)
            current = {"point": e.data["point"], "topic": topics.pop(e.data["point"], None),
                       "granted": round(float(e.data.get("granted_at", e.at)), 3), "ended": None,
                       "duration_s": None, "how": None, "granted_by": people(e.actor),
                       "limit_s": e.data.get("limit_s")}
            turns.append(current)
        elif e.type in END_HOW:
            finish(e.at, END_HOW[e.type], e.actor)
        elif e.type == "floor.released":
            finish(e.at, "left" if e.data.get("reason") == "left" else "released", e.actor)
        elif e.type == "conference.closed":
            finish(e.at, "released", e.actor)
    out = []
    for t in turns:
        if not _overlaps(t["granted"], t["ended"], start, end):
            continue
        if t["ended"] is None:  # still speaking when the manifest was written
            t = {**t, "duration_s": round(end - t["granted"], 3), "ongoing": True}
        out.append({**t, "offset_s": round(t["granted"] - start, 3)})
    return out


def agenda_items(events: Iterable[Event], people: People, start: float, end: float) -> list[dict]:
    items: list[dict] = []
    for e in events:
        if e.type in ("agenda.set", "conference.closed") and items and items[-1]["ended"] is None:
            items[-1]["ended"] = round(e.at, 3)
        if e.type == "agenda.set":
            items.append({"title": e.data["title"], "index": e.data.get("index"), "started": round(e.at, 3),
                          "ended": None, "set_by": people(e.actor)})
    return [{**i, "offset_s": round(max(i["started"], start) - start, 3)}
            for i in items if _overlaps(i["started"], i["ended"], start, end)]


def _within(e: Event, start: float, end: float) -> bool:
    return start <= e.at <= end


def chair_actions(events: Iterable[Event], people: People, start: float, end: float) -> list[dict]:
    return [{"at": round(e.at, 3), "offset_s": round(e.at - start, 3), "action": e.type, "by": people(e.actor),
             "data": e.data}
            for e in events if (e.actor or "").startswith("chair:") and _within(e, start, end)]


def incidents(events: Iterable[Event], start: float, end: float) -> list[dict]:
    return [{"at": round(e.at, 3), "offset_s": round(e.at - start, 3), "type": e.type, "actor": e.actor,
             "data": e.data}
            for e in events
            if (e.type in ("health.alert", "health.cleared") or e.type.startswith("preview."))
            and _within(e, start, end)]


def build(events: list[Event], session: str, *, conference: dict, lang: str, points: dict[str, dict],
          chairs: Mapping[str, dict], segments: list[dict], now: float) -> dict:
    """The manifest of `session` as of `now` (points: id -> {"kind", "names"})."""
    start, ended_at, reason = _window(events, session)
    if start is None:
        raise ValueError(f"no recording.started event for session {session!r}")
    end = ended_at if ended_at is not None else now
    people = People(chairs, {p: v["names"] for p, v in points.items()}, lang)
    return {
        "format": FORMAT,
        "id": session,
        "conference": conference,
        "lang": lang,
        "started_at": round(start, 3),
        "ended_at": None if ended_at is None else round(ended_at, 3),
        "stop_reason": reason,
        "updated_at": round(now, 3),
        "points": points,
        "people": dict(chairs),
        "segments": segments,
        "attendance": attendance(events, start, end),
        "turns": speaker_turns(events, people, start, end),
        "agenda": agenda_items(events, people, start, end),
        "chair_actions": chair_actions(events, people, start, end),
        "incidents": incidents(events, start, end),
    }
