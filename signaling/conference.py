"""Conference lifecycle: scheduled -> open -> closed (paused between). Pure decisions + appliers."""

from __future__ import annotations

from .errors import Conflict
from .events import Draft
from .state import CLOSED, OPEN, PAUSED, SCHEDULED, Conference, Floor


def open_conference(conf: Conference, title: str | None, actor: str) -> list[Draft]:
    if conf.status in (OPEN, PAUSED):
        raise Conflict("The conference is already open.", key="already_open")
    return [Draft("conference.opened", {"title": title or conf.title}, actor)]


def close_conference(conf: Conference, actor: str) -> list[Draft]:
    if conf.status not in (OPEN, PAUSED):
        raise Conflict("The conference is not open.", key="not_open")
    return [Draft("conference.closed", {}, actor)]


def pause_conference(conf: Conference, actor: str) -> list[Draft]:
    if conf.status != OPEN:
        raise Conflict("Only an open conference can be paused.", key="not_open")
    return [Draft("conference.paused", {}, actor)]


def resume_conference(conf: Conference, actor: str) -> list[Draft]:
    if conf.status != PAUSED:
        raise Conflict("The conference is not paused.", key="not_paused")
    return [Draft("conference.resumed", {}, actor)]


def _opened(conf: Conference, data: dict, at: float) -> None:
    conf.status, conf.title, conf.opened_at, conf.closed_at = OPEN, data.get("title") or "", at, None


def _closed(conf: Conference, data: dict, at: float) -> None:
    conf.status, conf.closed_at = CLOSED, at
    conf.agenda_item = None
    conf.queue.clear()
    conf.floor = Floor()


def _paused(conf: Conference, data: dict, at: float) -> None:
    conf.status = PAUSED


def _resumed(conf: Conference, data: dict, at: float) -> None:
    conf.status = OPEN


def _joined(conf: Conference, data: dict, at: float) -> None:
    conf.online.add(data["point"])


def _left(conf: Conference, data: dict, at: float) -> None:
    conf.online.discard(data["point"])


def _noop(conf: Conference, data: dict, at: float) -> None:
    """Events that are only a record (station replaced, health alerts, messages)."""


APPLIERS = {
    "conference.opened": _opened,
    "conference.closed": _closed,
    "conference.paused": _paused,
    "conference.resumed": _resumed,
    "point.joined": _joined,
    "point.left": _left,
    "station.replaced": _noop,
    "health.alert": _noop,
    "health.cleared": _noop,
    "message.sent": _noop,
    "station.checked": _noop,
    "preview.started": _noop,  # a technician sees and hears a point (the point is shown it)
    "preview.stopped": _noop,
}

__all__ = ["SCHEDULED", "OPEN", "PAUSED", "CLOSED", "open_conference", "close_conference",
           "pause_conference", "resume_conference", "APPLIERS"]
