"""Several processes (--redis): who hosts the conference's media, who is alive, and what a
process does when the media lease comes to it or leaves it. See signaling/lease.py.

Every ttl/3 a process beats in the registry and claims the lease (compare-and-set); a
non-holder polls again just when the holder's lease would expire:
- taken: the stations whose process is dead are marked offline (their grace starts), the
  relay is pointed at the current floor, THEN the process answers as owner;
- renewed: nothing changes;
- other, while we were the owner (we were cut off longer than the TTL and another process
  took it): every peer is closed and every socket dropped at once, so the pages go and find
  the new owner; never two relays for one conference;
- Redis unreachable: nothing changes. The owner keeps forwarding (nobody can take the lease
  while nobody reaches Redis); state changes are refused with `unavailable` meanwhile.

Network partition (the owner cut off from Redis, the others not): after the TTL another
process takes the lease. The cut-off owner goes on forwarding to the pages still connected to
it with the floor it last knew (it can change nothing: every change is refused) until it
reaches Redis again, sees the other token and stops at once; its pages then move. The floor
itself is never decided twice: Redis serialises every change.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

from aiohttp import web

from signaling.errors import Unavailable
from signaling.lease import OwnerLease
from signaling.registry import ProcessRegistry, StationMap

from .hub import NAMESPACE

log = logging.getLogger("dewan.ownership")


class Ownership:
    def __init__(self, ctx) -> None:
        self.ctx = ctx
        settings = ctx.settings
        client, prefix, cid = ctx.store.client, ctx.store.prefix, settings.conference.id
        self.ttl_s = settings.server.lease_ttl_s
        self.instance = uuid.uuid4().hex[:12]
        self.lease = OwnerLease(client, prefix, cid, ctx.me, self.ttl_s)
        self.registry = ProcessRegistry(client, prefix, cid)
        self.stations = StationMap(client, prefix, cid)
        self.owner = ""  # the owner's URL as last seen in Redis
        self.processes: dict[str, str] = {}  # instance -> url of the live processes
        self.redis_ok = True
        self.redis_down_since: float | None = None
        self.takeovers = 0

    # --- what the rest of the app asks -------------------------------------------------------
    def is_owner(self) -> bool:
        return bool(self.lease.token) and self.owner == self.ctx.me

    def urls(self) -> list[str]:
        """Every live process's address (the owner first): pages try them in turn."""
        urls = sorted(set(self.processes.values()) | {self.ctx.me})
        return sorted(urls, key=lambda u: u != self.owner)

    def status(self) -> dict:
        return {"backend": "redis", "ok": self.redis_ok, "down_since": self.redis_down_since,
                "owner": self.owner, "me": self.ctx.me, "is_owner": self.is_owner(),
                "processes": self.urls()}

    async def alive_instances(self, slack: float = 1.0) -> set[str]:
        """Instances whose beat is younger than `slack` x the lease TTL (and this one)."""
        alive = await self.registry.alive(time.time(), self.ttl_s * slack)
        if slack == 1.0:
            before = self.urls()
            self.processes = alive
            if self.urls() != before:
                await self._tell_pages()
        return set(alive) | {self.instance}

    async def _tell_pages(self) -> None:
        """A process came or went: this process's pages learn the list (`processes` event), so
        a page loaded before another process started can still find it after a kill -9."""
        try:
            await self.ctx.hub.sio.emit("processes", {"processes": self.urls()},
                                        namespace=NAMESPACE, ignore_queue=True)
        except Exception:
            log.exception("telling the pages the processes failed")

    async def owner_endpoint(self, request: web.Request) -> web.Response:
        """GET /owner (any origin): where a page finds the media owner after its process died."""
        return web.json_response({"owner": self.owner, "processes": self.urls(), "redis": self.redis_ok},
                                 headers={"Access-Control-Allow-Origin": "*", "Cache-Control": "no-store"})

    # --- the loop ---------------------------------------------------------------------------------
    async def tick(self) -> float:
        """One beat and claim; returns how long to wait before the next."""
        period = self.ttl_s / 3
        try:
            await self.registry.beat(self.instance, self.ctx.me, time.time())
            state = await self.lease.claim()
            await self.alive_instances()
        except Unavailable as exc:
            self._redis_down(exc)
            return min(0.5, period)
        if not self.redis_ok:
            self._redis_up()
            await self.reconcile()
        if state.status == "taken":
            await self._take()
        elif state.status == "renewed":
            self.owner = self.ctx.me
        elif state.status == "waiting":
            # the lease is free; its last holder may still re-claim it: keep pointing there
            return min(period, state.ms_left / 1000 + 0.02)
        else:
            if self.owner == self.ctx.me:
                await self._lose(state.owner)
            self.owner = state.owner if state.owner != self.ctx.me else ""
            return min(period, state.ms_left / 1000 + 0.02)  # poll again just as it would expire
        return period

    async def run(self) -> None:
        while True:
            wait = self.ttl_s / 3
            try:
                wait = await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("ownership tick failed")
            await asyncio.sleep(max(0.02, wait))

    async def close(self) -> None:
        try:
            await self.registry.remove(self.instance)
        except Unavailable:
            pass
        await self.lease.release()

    # --- transitions ------------------------------------------------------------------------------
    async def _take(self) -> None:
        hub = self.ctx.hub
        self.takeovers += 1
        previous = self.owner
        try:
            alive = await self.alive_instances()
            entries = await self.stations.all()
            live = {p for p, (inst, _) in entries.items() if inst in alive}
            for point, (inst, sid) in entries.items():
                if inst not in alive:
                    await self.stations.release(point, inst, sid)
            conf = await hub.conference()
            await hub.mark_offline(sorted(conf.online - live), "server_restart")
            hub.apply_media(await hub.conference())
            await self.ctx.recording.resume()  # a new segment of the session, written here
        except Unavailable as exc:
            log.warning("took the media lease but could not tidy the stations", extra={"why": exc.message})
        self.owner = self.ctx.me
        log.warning("this process now hosts the conference's media",
                    extra={"previous_owner": previous or None, "token": self.lease.token})

    async def _lose(self, new_owner: str) -> None:
        """Another process holds the lease: stop forwarding at once, send our pages away."""
        self.owner = new_owner
        await self.ctx.recording.release()  # the new owner records the conference now
        router, sio = self.ctx.router, self.ctx.sio
        with_media = list(router.peers)
        # all at once: each close stops its forwarding before its first await
        await asyncio.gather(*(router.close_peer(p, "not_owner") for p in with_media), return_exceptions=True)
        sessions = list(self.ctx.hub.sessions)  # every page: each finds the owner by itself
        for sid in sessions:
            await sio.disconnect(sid, namespace=NAMESPACE, ignore_queue=True)
        log.warning("another process holds the media lease: closed every peer here",
                    extra={"owner": new_owner, "peers_closed": len(with_media), "sockets_dropped": len(sessions)})

    async def reconcile(self) -> None:
        """Leaves that could not be recorded while Redis was away: record them now."""
        try:
            for point, (instance, sid) in (await self.stations.all()).items():
                if instance == self.instance and sid not in self.ctx.hub.sessions:
                    if await self.stations.release(point, instance, sid):
                        await self.ctx.hub.mark_offline([point], "disconnected")
        except Unavailable:
            pass

    def _redis_down(self, exc: Unavailable) -> None:
        if self.redis_ok:
            self.redis_ok, self.redis_down_since = False, time.time()
            log.warning("Redis does not answer: state changes are refused; the media goes on here"
                        if self.is_owner() else "Redis does not answer: state changes are refused",
                        extra={"cause": exc.details.get("cause")})

    def _redis_up(self) -> None:
        if not self.redis_ok:
            log.warning("Redis answers again", extra={"down_s": round(time.time() - (self.redis_down_since or 0), 1)})
            self.redis_ok, self.redis_down_since = True, None
