"""Recording control as domain events: recording.started / recording.segment / recording.stopped,
each with its actor and reason. State carries the running session (a restarted process resumes
it as a new segment). Pure: the server creates files and runs the recorder."""

from __future__ import annotations

from .errors import Conflict
from .events import Draft
from .state import OPEN, PAUSED, Conference

# why a recording stopped (pages translate `recording.reason.<reason>`)
STOP_REASONS = ("chair", "conference_closed", "disk_low", "failed")


def start(conf: Conference, session: str, actor: str, reason: str, now: float, process: str) -> list[Draft]:
    if conf.status not in (OPEN, PAUSED):
        raise Conflict("Recording needs an open conference.", key="not_open")
    if conf.recording is not None:
        raise Conflict("The conference is already being recorded.", key="already_recording")
    return [Draft("recording.started", {"session": session, "segment": 1, "started_at": now,
                                        "reason": reason, "process": process}, actor)]


def new_segment(conf: Conference, process: str, reason: str, now: float) -> list[Draft]:
    if conf.recording is None:
        return []
    return [Draft("recording.segment", {"session": conf.recording["session"],
                                        "segment": conf.recording["segment"] + 1, "started_at": now,
                                        "reason": reason, "process": process}, "system")]


def stop(conf: Conference, actor: str, reason: str, now: float) -> list[Draft]:
    if conf.recording is None:
        raise Conflict("Nothing is being recorded.", key="not_recording")
    if reason not in STOP_REASONS:
        raise ValueError(f"unknown stop reason {reason!r}")
    return [Draft("recording.stopped", {"session": conf.recording["session"], "reason": reason,
                                        "stopped_at": now}, actor)]


def payload(state: dict | None) -> dict:
    """The `recording` broadcast and the snapshot's `recording` object."""
    if state is None:
        return {"active": False, "session": None, "started_at": None, "segment": None}
    return {"active": True, "session": state["session"], "started_at": state["started_at"],
            "segment": state["segment"]}


def _started(conf: Conference, d: dict, at: float) -> None:
    conf.recording = {"session": d["session"], "segment": d.get("segment", 1),
                      "started_at": d.get("started_at", at)}


def _segment(conf: Conference, d: dict, at: float) -> None:
    if conf.recording is not None:
        conf.recording["segment"] = d["segment"]


def _stopped(conf: Conference, d: dict, at: float) -> None:
    conf.recording = None


APPLIERS = {"recording.started": _started, "recording.segment": _segment, "recording.stopped": _stopped}
