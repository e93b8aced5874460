"""create_app: wires aiohttp, socket.io, the store, the hub, media and health."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path

from aiohttp import web

from signaling.messages import MAX_EVENT_BYTES
from signaling.points import PointDirectory, load_points
from signaling.errors import Unavailable
from signaling.store import MemoryStore
from signaling.store_redis import RedisStore

from . import keys
from .health.thresholds import HealthThresholds
from .health_wiring import HealthService
from .hub import Hub
from .links import base_url
from .media import MediaError, MediaSettings, Router, selfcheck
from .media_follow import MediaFollower
from .media_wiring import MediaEvents
from .namespace import ConfNamespace
from .ownership import Ownership
from .pages import Pages, check_vendor
from .recording.service import RecordingService
from .recording.web import RecordingRoutes
from .redis_manager import DewanRedisManager
from .revocations import Revocations
from .routes import guard, security_headers
from .settings import Settings
from .socket_server import DewanSocketServer
from .stations import LocalStations, SharedStations

log = logging.getLogger("dewan.app")


def _log_failure(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("emit failed: %r", task.exception())


class AppContext:
    """Everything one process holds for its conference."""

    def __init__(self, settings: Settings, points: PointDirectory | None = None) -> None:
        self.settings = settings
        self.started_at = time.time()
        self.points = points or load_points(settings.points_path)
        self.state_dir: Path = settings.state_dir
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.signer = keys.load_signer(self.state_dir, settings.security.secret)
        self.me = base_url(settings)
        self.ownership: Ownership | None = None
        if settings.server.redis:
            # Several processes: state in Redis, broadcasts through Redis; clients are sent to
            # the process that owns the conference (tokens authenticate, so any origin may connect).
            self.store = RedisStore(settings.server.redis)
            self.ownership = Ownership(self)
            manager = DewanRedisManager(settings.server.redis, channel=f"dewan-{settings.conference.id}")
            cors: object = "*"
        else:
            self.store, manager, cors = MemoryStore(self.state_dir), None, []
            self.store.open(settings.conference.id)  # a damaged journal stops start-up here
        self.revocations = Revocations(self)
        self.sio = DewanSocketServer(async_mode="aiohttp", cors_allowed_origins=cors, client_manager=manager,
                                     max_http_buffer_size=MAX_EVENT_BYTES, logger=False, engineio_logger=False)
        self.hub = Hub(settings, self.points, self.store, self.sio)
        self.hub.is_owner = self.is_owner
        self.hub.processes = self.process_urls
        self.hub.store_status = self.store_status
        if self.ownership is not None:
            self.hub.station_registry = SharedStations(self.hub, self.ownership)
            self.hub.follow_store = True  # the relay follows the event log (server/media_follow.py)
            self.follower: MediaFollower | None = MediaFollower(self.hub, self.store, self.is_owner)
        else:
            self.hub.station_registry = LocalStations(self.hub)
            self.follower = None
        self.namespace = ConfNamespace(self.hub, self.signer, self.refresh_signer)
        self.sio.register_namespace(self.namespace)
        self.router = Router(settings.conference.id, self.points.hall.id, [p.id for p in self.points.districts],
                             MediaSettings(ice_servers=list(settings.media.ice_servers),
                                           ice_host_addresses=list(settings.media.ice_host_addresses),
                                           udp_port=settings.media.udp_port,
                                           announced_address=settings.media.announced_address,
                                           listen_host=settings.server.host,
                                           turn_urls=list(settings.media.turn_urls),
                                           turn_secret=settings.media.turn_secret,
                                           turn_ttl_s=settings.media.turn_ttl_s,
                                           tile_slots=settings.media.tile_slots),
                             on_event=self.on_media_event)
        self.hub.media = self.router
        MediaEvents(self.hub, self.router).register(self.namespace)
        self.health = HealthService(self.hub, self.router, HealthThresholds.from_mapping(settings.health))
        self.health.register(self.namespace)
        self.recording = RecordingService(self.hub, self.router, self.me)
        self.recording.register(self.namespace)
        self.pages = Pages(self)

    def refresh_signer(self) -> None:
        """Pick up `dewan links --rotate` (a revoked link stops working)."""
        self.revocations.refresh()

    def on_media_event(self, name: str, payload: dict) -> None:
        if name in ("tiles", "layers"):  # a console's tile map / a viewer's layer: to it only
            view = {k: v for k, v in payload.items() if k != "participant"}
            task = asyncio.ensure_future(self.hub.emit(name, view, to=payload["participant"]))
            task.add_done_callback(_log_failure)
            return
        log.info("media", extra={"media_event": name, **payload})

    def is_owner(self) -> bool:
        return True if self.ownership is None else self.ownership.is_owner()

    def owner_url(self, request) -> str:
        """Where the conference's owning process answers; "" = this origin."""
        if self.ownership is None or self.ownership.is_owner():
            return ""
        return self.ownership.owner

    def process_urls(self) -> list[str]:
        """Every live process's address (several processes), the owner first."""
        return [] if self.ownership is None else self.ownership.urls()

    def store_status(self) -> dict:
        return {"backend": "memory", "ok": True} if self.ownership is None else self.ownership.status()

    async def owner_endpoint(self, request):
        """GET /owner (any origin): {owner, processes}: where a page finds the media owner."""
        if self.ownership is not None:
            return await self.ownership.owner_endpoint(request)
        return web.json_response({"owner": "", "processes": [], "redis": None},
                                 headers={"Access-Control-Allow-Origin": "*", "Cache-Control": "no-store"})

    async def start_owning(self) -> None:
        """One process: nobody's media runs here yet, whatever the journal says: mark the
        stations offline (their grace periods start) and point the relay at the current floor."""
        conf = await self.hub.conference()
        await self.hub.mark_offline(sorted(conf.online), "server_restart")
        self.hub.apply_media(await self.hub.conference())
        await self.recording.resume()

    async def check_redis_persistence(self) -> None:
        """One warning line when a Redis restart would lose the conference."""
        try:
            config = await self.store.persistence()
        except Unavailable:
            raise
        except Exception as exc:
            log.warning("could not read Redis's persistence settings (CONFIG GET refused?): make sure AOF "
                        "(appendonly yes, appendfsync everysec) or RDB snapshots keep the conference",
                        extra={"why": str(exc)})
            return
        problem = persistence_problem(config)
        if problem:
            log.warning(problem)
        else:
            log.info("redis persistence", extra={k: v for k, v in config.items()})


def persistence_problem(config: dict[str, str]) -> str | None:
    """The one-line warning when neither AOF nor RDB snapshots would keep the conference."""
    if config.get("appendonly") == "yes" or config.get("save", "").strip():
        return None
    return ("Redis keeps nothing on disk (appendonly no, no save rules): a Redis restart loses the "
            "conference; run it with --appendonly yes --appendfsync everysec (see README)")


#: the app's AppContext (``app[CTX]``)
CTX = web.AppKey("ctx", object)


def create_app(settings: Settings, points: PointDirectory | None = None) -> web.Application:
    check_vendor()
    ctx = AppContext(settings, points)
    app = web.Application(client_max_size=MAX_EVENT_BYTES, middlewares=[security_headers(ctx), guard(ctx)])
    app[CTX] = ctx
    ctx.sio.attach(app, socketio_path="socket.io")
    ctx.pages.routes(app)
    RecordingRoutes(ctx).routes(app)
    app.router.add_get("/metrics", ctx.health.metrics_endpoint)
    app.router.add_get("/owner", ctx.owner_endpoint)
    app.cleanup_ctx.append(_background(ctx))
    return app


def _background(ctx: AppContext):
    async def run(app: web.Application):
        await selfcheck()
        try:
            await ctx.router.open()  # the one media UDP port, bound before serving
        except MediaError as exc:
            log.error("dewan cannot start: %s", exc.message)
            raise SystemExit(2) from None
        tasks = [asyncio.create_task(ctx.hub.run_timers(), name="floor-timers"),
                 asyncio.create_task(ctx.health.run(), name="health"),
                 asyncio.create_task(ctx.recording.run(), name="recording")]
        if ctx.ownership is None:
            await ctx.start_owning()
        else:
            await ctx.store.ping()
            await ctx.check_redis_persistence()
            await ctx.revocations.start()
            await ctx.ownership.tick()
            tasks += [asyncio.create_task(ctx.ownership.run(), name="lease"),
                      asyncio.create_task(ctx.follower.run(), name="media-follow")]
        tasks.append(asyncio.create_task(ctx.revocations.run(), name="revocations"))
        log.info("dewan started", extra={"conference": ctx.hub.conference_id,
                                         "points": len(ctx.points.districts), "state_dir": str(ctx.state_dir)})
        yield
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await ctx.recording.close()
        await ctx.router.close()
        if ctx.ownership is not None:
            await ctx.ownership.close()
        await ctx.store.close()
    return run
