"""create_app: wires aiohttp, socket.io, the store, the hub, media and health."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path

import socketio
from aiohttp import web

from signaling.messages import MAX_EVENT_BYTES
from signaling.points import PointDirectory, load_points
from signaling.store import MemoryStore
from signaling.store_redis import OwnerLease, RedisStore

from . import keys
from .health.thresholds import HealthThresholds
from .health_wiring import HealthService
from .hub import Hub
from .links import base_url
from .media import MediaSettings, Router, selfcheck
from .media_wiring import MediaEvents
from .namespace import ConfNamespace
from .pages import Pages, check_vendor
from .routes import guard, security_headers
from .settings import Settings
from .socket_server import DewanSocketServer

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
        self.me = base_url(settings)
        self.lease: OwnerLease | None = None
        self.owner = self.me  # the process hosting the conference's media (DESIGN §3)
        if settings.server.redis:
            # Several processes: state in Redis, broadcasts through Redis; clients are sent to
            # the process that owns the conference (tokens authenticate, so any origin may connect).
            self.store = RedisStore(settings.server.redis)
            self.lease = OwnerLease(self.store, settings.conference.id, self.me)
            self.owner = ""
            manager = socketio.AsyncRedisManager(settings.server.redis, channel=f"dewan-{settings.conference.id}")
            cors: object = "*"
        else:
            self.store, manager, cors = MemoryStore(self.state_dir), None, []
            self.store.open(settings.conference.id)  # a damaged journal stops start-up here
        self.sio = DewanSocketServer(async_mode="aiohttp", cors_allowed_origins=cors, client_manager=manager,
                                        max_http_buffer_size=MAX_EVENT_BYTES, logger=False, engineio_logger=False)
        self.hub = Hub(settings, self.points, self.store, self.sio)
        self.hub.is_owner = self.is_owner
        self.namespace = ConfNamespace(self.hub, self.signer, self.refresh_signer)
        self.sio.register_namespace(self.namespace)
        self.router = Router(settings.conference.id, self.points.hall.id, [p.id for p in self.points.districts],
                             MediaSettings(ice_servers=list(settings.media.ice_servers),
                                           ice_host_addresses=list(settings.media.ice_host_addresses)),
                             on_event=self.on_media_event)
        self.hub.media = self.router
        MediaEvents(self.hub, self.router).register(self.namespace)
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

    def is_owner(self) -> bool:
        return self.owner == self.me

    def owner_url(self, request) -> str:
        """Where the conference's owning process answers; "" = this origin."""
        return "" if self.is_owner() else self.owner

    async def hold_lease(self, every_s: float = 5.0) -> None:
        """Renew this process's claim on the conference, or take it over when its owner died."""
        while True:
            try:
                owner, taken = await self.lease.claim()
                if owner != self.owner:
                    log.info("conference owner", extra={"owner": owner, "me": self.me})
                self.owner = owner
                if taken:
                    await self.start_owning()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("conference lease failed")
            await asyncio.sleep(every_s)

    async def start_owning(self) -> None:
        """Nobody's media runs here yet, whatever the log says: mark the stations offline
        (their grace periods start) and point the relay at the current floor."""
        await self.hub.mark_all_offline("server_restart")
        self.hub.apply_media(await self.hub.conference())


def create_app(settings: Settings, points: PointDirectory | None = None) -> web.Application:
    check_vendor()
    ctx = AppContext(settings, points)
    app = web.Application(client_max_size=MAX_EVENT_BYTES, middlewares=[security_headers(ctx), guard(ctx)])
    app["ctx"] = ctx
    ctx.sio.attach(app, socketio_path="socket.io")
    ctx.pages.routes(app)
    app.router.add_get("/metrics", ctx.health.metrics_endpoint)
    app.cleanup_ctx.append(_background(ctx))
    return app


def _background(ctx: AppContext):
    async def run(app: web.Application):
        await selfcheck()
        tasks = [asyncio.create_task(ctx.hub.run_timers(), name="floor-timers"),
                 asyncio.create_task(ctx.health.run(), name="health")]
        if ctx.lease is None:
            await ctx.start_owning()
        else:
            await ctx.store.ping()
            owner, taken = await ctx.lease.claim()
            ctx.owner = owner
            if taken:
                await ctx.start_owning()
            tasks.append(asyncio.create_task(ctx.hold_lease(), name="lease"))
        log.info("dewan started", extra={"conference": ctx.hub.conference_id,
                                         "points": len(ctx.points.districts), "state_dir": str(ctx.state_dir)})
        yield
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await ctx.router.close()
        if ctx.lease is not None:
            await ctx.lease.release()
        await ctx.store.close()
    return run
