"""The conference hub: runs domain operations on the store and broadcasts what changed.

Media, health and the socket.io namespace meet here through small calls; the domain
(signaling/) never imports any of them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import socketio

from signaling import floor
from signaling import recording as recording_ops
from signaling.errors import Unavailable
from signaling.events import Draft, Event
from signaling.points import PointDirectory
from signaling.roles import Perm, has
from signaling.state import Conference
from signaling.store import Store
from signaling.tokens import Identity

from .loglimit import LogBudget
from .settings import Settings

log = logging.getLogger("dewan.hub")
NAMESPACE = "/conf"

# rooms (one conference per process; the room names carry no conference id)
ALL, CHAIRS, HEALTH = "all", "chairs", "health"


def point_room(point: str) -> str:
    return f"point:{point}"


@dataclass
class Session:
    sid: str
    identity: Identity
    connected_at: float
    tokens: float = 0.0
    stats_tokens: float = 0.0
    refilled_at: float = field(default_factory=time.monotonic)
    replaced: bool = False
    precheck: bool = False  # a pre-join check's own socket: it runs the check, nothing else
    token_key: str = ""  # a digest of the link it connected with (connections are capped per link)


class Hub:
    def __init__(self, settings: Settings, points: PointDirectory, store: Store,
                 sio: socketio.AsyncServer, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.points = points
        self.store = store
        self.sio = sio
        self.clock = clock
        self.conference_id = settings.conference.id
        self.policy = settings.floor.policy()
        self.sessions: dict[str, Session] = {}
        self.stations: dict[str, str] = {}  # point id -> sid of its live connection
        self.media = None  # server.media.Router, attached by the app
        self.monitor = None  # server.health.monitor.HealthMonitor, attached by the app
        self.listeners: list[Callable[[list[Event]], None]] = []
        self.on_disconnect: list[Callable[[Session], Awaitable[None]]] = []  # media, previews
        self.previews: dict[str, tuple[str, str]] = {}  # technician sid -> (point, technician label)
        self.is_owner: Callable[[], bool] = lambda: True  # hosts the media (several processes)
        self.processes: Callable[[], list[str]] = lambda: []  # every live process's URL (several)
        self.store_status: Callable[[], dict] = lambda: {"backend": "memory", "ok": True}
        self.station_registry = None  # server.stations.LocalStations | SharedStations
        # several processes: the relay follows the event log (server/media_follow.py) instead
        # of this process's own publish path
        self.follow_store = False
        self._timer_log = LogBudget(lines=1, window_s=30.0)

    # --- domain operations --------------------------------------------------------------
    async def conference(self) -> Conference:
        return await self.store.get(self.conference_id)

    async def execute(self, decide: Callable[[Conference], Sequence[Draft]],
                      expect_version: int | None = None) -> tuple[Conference, list[Event]]:
        conf, events = await self.store.execute(self.conference_id, decide, expect_version)
        if events:
            await self.publish(conf, events)
        return conf, events

    async def publish(self, conf: Conference, events: list[Event]) -> None:
        kinds = {e.type.split(".", 1)[0] for e in events}
        now = self.clock()
        for e in events:
            log.info("event", extra={"seq": e.seq, "type": e.type, "actor": e.actor, "data": e.data})
        if kinds & {"conference", "agenda"}:  # the conference object carries the agenda item
            await self.emit("conference", conf.conference_json(), room=ALL)
        if kinds & {"queue", "floor", "conference"}:
            await self.emit("queue", conf.queue_json(), room=ALL)
        if kinds & {"floor", "audio", "conference"}:
            await self.emit("floor", self.floor_payload(conf, now), room=ALL)
        if kinds & {"floor", "audio", "conference", "queue"} and not self.follow_store:
            self.apply_media(conf)  # several processes: the owner follows the store instead
        if "point" in kinds:
            await self.emit("roster", self.roster(conf), room=ALL)
        await self.emit("log", {"events": [self.event_json(e) for e in events]}, room=CHAIRS)
        for listener in self.listeners:
            listener(events)

    def apply_media(self, conf: Conference) -> None:
        if self.media is None:
            return
        self.media.set_floor(conf.floor.holder if conf.floor.grace_deadline is None else None)
        self.media.set_queue([e.point for e in conf.queue])
        for point in self.points.district_ids:
            self.media.set_muted(point, point in conf.muted)

    # --- payloads ---------------------------------------------------------------------------
    @staticmethod
    def event_json(e: Event) -> dict:
        return {"seq": e.seq, "at": e.at, "type": e.type, "actor": e.actor, "data": e.data}

    def floor_payload(self, conf: Conference, now: float) -> dict:
        return {**conf.floor_json(now), "server_time": now, "warning_s": self.settings.floor.warning_s}

    def roster(self, conf: Conference) -> dict:
        consoles: dict[str, int] = {}
        for s in self.sessions.values():
            if s.identity.point is None:
                consoles[s.identity.role] = consoles.get(s.identity.role, 0) + 1
        return {"online": sorted(conf.online), "consoles": consoles, "server_time": self.clock()}

    async def snapshot(self, session: Session) -> dict:
        conf = await self.conference()
        now = self.clock()
        ident = session.identity
        return {
            "server_time": now,
            "you": {"role": ident.role, "point": ident.point, "label": ident.label,
                    "permissions": sorted(p.value for p in Perm if has(ident.role, p))},
            "points": self.points.to_json(),
            "hall": self.points.hall.id,
            "conference": conf.conference_json(),
            "queue": conf.queue_json(),
            "floor": self.floor_payload(conf, now),
            "roster": self.roster(conf),
            "processes": self.processes(),
            "recording": recording_ops.payload(conf.recording),
            "chairs": self.settings.links.chair_people(),  # actor -> name, title (who did what)
            "previewed_by": self.previewed_by(ident.point) if ident.point else [],
            "settings": {"default_limit_s": self.settings.floor.default_limit_s,
                         "warning_s": self.settings.floor.warning_s,
                         "max_limit_s": self.settings.floor.max_limit_s},
        }

    def previewed_by(self, point: str) -> list[str]:
        """The technicians seeing and hearing ``point`` now (its page shows them)."""
        return sorted({label for p, label in self.previews.values() if p == point})

    async def emit(self, event: str, data: dict, room: str | None = None, to: str | None = None,
                   skip_sid: str | None = None) -> None:
        await self.sio.emit(event, data, room=room, to=to, skip_sid=skip_sid, namespace=NAMESPACE)

    # --- background work ------------------------------------------------------------------
    async def run_timers(self, interval: float = 0.25) -> None:
        """Time limits and grace periods: fire the due events (deadlines are wall times)."""
        while True:
            try:
                await self.execute(lambda c: floor.due(c, self.clock(), self.policy))
            except asyncio.CancelledError:
                raise
            except Unavailable as exc:  # Redis away or the journal refused (disk full): retried
                if self._timer_log.take("unavailable") is not None:
                    log.error("floor timer could not record its events: %s", exc.message)
            except Exception:
                log.exception("floor timer failed")
            await asyncio.sleep(interval)

    async def mark_offline(self, points: Sequence[str], reason: str) -> None:
        """Stations nobody hosts any more (start-up, a takeover): their grace periods start."""
        for point in points:
            await self.execute(lambda c, p=point: floor.point_left(c, p, reason, self.clock(), self.policy))
