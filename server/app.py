"""create_app: wires aiohttp, socket.io, the store, the hub, media and health."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path

import socketio
from aiohttp import web

from signaling.points import PointDirectory, load_points
from signaling.store import MemoryStore

from . import keys
from .health.thresholds import HealthThresholds
from .health_wiring import HealthService
from .hub import Hub
from .media import MediaSettings, Router, selfcheck
from .media_wiring import MediaEvents
from .namespace import ConfNamespace
from .pages import Pages, check_vendor
from .precheck_wiring import PrecheckEvents
from .settings import Settings

log = logging.getLogger("dewan.app")


class AppContext:
    """Everything one process holds for its conference."""

    def __init__(self, settings: Settings, points: PointDirectory | None = None) -> None:
        self.settings = settings
        self.started_at = time.time()
        self.points = points or load_points(settings.points_path)
        self.state_dir: Path = settings.state_dir
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.signer = keys.load_signer(self.state_dir, settings.security.secret)
        self._generations_mtime = self._generations_stamp()
        self.store = MemoryStore(self.state_dir)
        self.sio = socketio.AsyncServer(async_mode="aiohttp", cors_allowed_origins=[],
                                        max_http_buffer_size=64 * 1024, logger=False, engineio_logger=False)
        self.hub = Hub(settings, self.points, self.store, self.sio)
        self.namespace = ConfNamespace(self.hub, self.signer, self.refresh_signer)
        self.sio.register_namespace(self.namespace)
        self.router = Router(settings.conference.id, self.points.hall.id, [p.id for p in self.points.districts],
                             MediaSettings(ice_servers=list(settings.media.ice_servers),
                                           ice_host_addresses=list(settings.media.ice_host_addresses)),
                             on_event=self.on_media_event)
        self.hub.media = self.router
        MediaEvents(self.hub, self.router).register(self.namespace)
        PrecheckEvents(self.hub, self.router).register(self.namespace)
        self.health = HealthService(self.hub, self.router, HealthThresholds.from_mapping(settings.health))
        self.health.register(self.namespace)
        self.pages = Pages(self)

    def _generations_stamp(self) -> float:
        path = self.state_dir / "token-generations.json"
        return path.stat().st_mtime if path.exists() else 0.0

    def refresh_signer(self) -> None:
        """Pick up `dewan links --rotate` done by another process (a revoked link stops working)."""
        stamp = self._generations_stamp()
        if stamp != self._generations_mtime:
            self._generations_mtime = stamp
            self.signer.generations.clear()
            self.signer.generations.update(keys.load_signer(self.state_dir, self.settings.security.secret).generations)

    def on_media_event(self, name: str, payload: dict) -> None:
        log.info("media", extra={"media_event": name, **payload})

    def owner_url(self, request) -> str:
        """Where the conference's owning process answers; "" = this origin (one process)."""
        return ""


def create_app(settings: Settings, points: PointDirectory | None = None) -> web.Application:
    check_vendor()
    ctx = AppContext(settings, points)
    app = web.Application(client_max_size=256 * 1024)
    app["ctx"] = ctx
    ctx.sio.attach(app, socketio_path="socket.io")
    ctx.pages.routes(app)
    app.router.add_get("/metrics", ctx.health.metrics_endpoint)
    app.cleanup_ctx.append(_background(ctx))
    return app


def _background(ctx: AppContext):
    async def run(app: web.Application):
        await selfcheck()
        await ctx.hub.mark_all_offline("server_restart")
        ctx.hub.apply_media(await ctx.hub.conference())
        tasks = [asyncio.create_task(ctx.hub.run_timers(), name="floor-timers"),
                 asyncio.create_task(ctx.health.run(), name="health")]
        log.info("dewan started", extra={"conference": ctx.hub.conference_id,
                                         "points": len(ctx.points.districts), "state_dir": str(ctx.state_dir)})
        yield
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await ctx.router.close()
        await ctx.store.close()
    return run
