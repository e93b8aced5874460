"""Agenda: the chair sets the current agenda item (a journaled event). Items become chapters
and sections of the minutes. Pure decisions + appliers."""

from __future__ import annotations

from .errors import Conflict
from .events import Draft
from .state import CLOSED, Conference


def set_item(conf: Conference, title: str, actor: str, now: float) -> list[Draft]:
    if conf.status == CLOSED:
        raise Conflict("The conference is closed.", key="not_open")
    if conf.agenda_item is not None and conf.agenda_item["title"] == title:
        return []
    index = (conf.agenda_item["index"] + 1) if conf.agenda_item else 1
    return [Draft("agenda.set", {"title": title, "index": index, "set_at": now}, actor)]


def _set(conf: Conference, d: dict, at: float) -> None:
    conf.agenda_item = {"title": d["title"], "index": d.get("index", 1), "set_at": d.get("set_at", at)}


APPLIERS = {"agenda.set": _set}
