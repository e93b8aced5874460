"""Health wiring: relay figures + browser `stats:report` -> monitor -> `health` broadcast,
alerts into the event log, and `/metrics` for Prometheus (technician token or loopback)."""

from __future__ import annotations

import asyncio
import logging
import time

from aiohttp import web

from signaling import messages as m
from signaling.errors import NotFound, Unavailable
from signaling.events import Draft, Event
from signaling.roles import STATION_ROLES

from .health.metrics import HealthMetrics
from .health.monitor import HealthMonitor
from .health.report import BrowserStatsReport
from .health.thresholds import HealthThresholds
from .hub import HEALTH, Hub, Session

log = logging.getLogger("dewan.health")
EVALUATE_EVERY_S = 1.0
BROADCAST_EVERY_S = 2.0


class HealthService:
    def __init__(self, hub: Hub, router, thresholds: HealthThresholds) -> None:
        self.hub = hub
        self.router = router
        self._alerts: list[dict] = []
        self.monitor = HealthMonitor(thresholds, on_alert=self._alerts.append)
        now = time.time()
        for point in (hub.points.hall, *hub.points.districts):
            self.monitor.add_point(point.id, now)
        self.metrics = HealthMetrics(snapshot_source=self.monitor.snapshot, relay_source=router.counters)
        hub.monitor = self.monitor
        self._unreachable: set[str] = set()  # points whose page says media cannot connect
        hub.listeners.append(self._on_events)

    def register(self, namespace) -> None:
        namespace.register("stats:report", self.stats_report)
        namespace.register("health:history", self.history)
        namespace.on_event_result = self.metrics.count_event

    def _on_events(self, events: list[Event]) -> None:
        for e in events:
            if e.type in ("point.joined", "point.left"):
                self.monitor.set_online(e.data["point"], e.type == "point.joined", e.at)

    async def stats_report(self, s: Session, data: object):
        report = m.parse(BrowserStatsReport, data)
        if s.identity.role in STATION_ROLES and self.hub.stations.get(s.identity.point) == s.sid:
            self.monitor.update_browser(s.identity.point, report, time.time())
            await self._note_unreachable(s.identity.point, report)
        return {}

    async def _note_unreachable(self, point: str, report: BrowserStatsReport) -> None:
        """One `notice {type: media_unreachable}` to the technicians when a station's page
        finds no working pair; again only after it has connected since."""
        if report.media_unreachable and point not in self._unreachable:
            self._unreachable.add(point)
            log.warning("media cannot connect", extra={"point": point, "ice_state": report.ice_state})
            await self.hub.emit("notice", {"type": "media_unreachable", "point": point, "at": time.time()},
                                room=HEALTH)
        elif not report.media_unreachable and report.connection_state == "connected":
            self._unreachable.discard(point)

    async def history(self, s: Session, data: object):
        p = m.parse(m.PointRef, data)
        if p.point not in self.hub.points:
            raise NotFound(f"Unknown point {p.point!r}.")
        return {"history": self.monitor.history(p.point, max_points=360)}

    async def run(self) -> None:
        last_broadcast = 0.0
        while True:
            try:
                if not self.hub.is_owner():  # another process hosts the media and rates the links
                    await asyncio.sleep(EVALUATE_EVERY_S)
                    continue
                now = time.time()
                for point, stats in self.router.link_stats().items():
                    if point in self.hub.points:
                        self.monitor.update_server(point, stats, now)
                changes = self.monitor.evaluate(now)
                try:
                    await self._log_alerts()
                except Unavailable:
                    pass  # Redis is away: the alerts reach the log when it is back
                if changes or now - last_broadcast >= BROADCAST_EVERY_S:
                    payload = {**self.monitor.payload(now), "store": self.hub.store_status(),
                               "layers": self.router.layer_report()}  # what each point receives
                    await self.hub.emit("health", payload, room=HEALTH)
                    last_broadcast = now
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("health loop failed")
            await asyncio.sleep(EVALUATE_EVERY_S)

    async def _log_alerts(self) -> None:
        while self._alerts:
            alert = self._alerts[0]
            kind = "health.cleared" if alert["event"] == "cleared" else "health.alert"
            await self.hub.execute(lambda c, a=alert, k=kind: [Draft(k, {
                "point": a["point"], "level": a["level"], "reasons": a["reasons"], "alert": a["id"],
                "change": a["event"]}, "system")])
            self._alerts.pop(0)  # recorded (when Redis is away it stays queued)
            log.warning("health alert", extra={"alert": alert["event"], "point": alert["point"],
                                               "level": alert["level"], "reasons": alert["reasons"]})

    # --- /metrics ------------------------------------------------------------------------------
    async def metrics_endpoint(self, request: web.Request) -> web.Response:
        """Access (technician token, or loopback with security.metrics_localhost_only) is
        checked by server/routes.py."""
        body, content_type = self.metrics.render()
        return web.Response(body=body, headers={"Content-Type": content_type})
