"""RedisStore: the conference's event log is a Redis Stream, its version a key; every process
keeps a replayed copy of the state and catches up from the stream before deciding. Updates are
atomic with WATCH/MULTI, so two processes (or two co-chairs) can never both win: the loser
re-decides on the fresh state, or gets "changed meanwhile" when it acted on a version.

The only module that imports redis."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable

import redis.asyncio as aioredis
from redis.exceptions import WatchError

from .errors import Conflict, Unavailable
from .events import Event, number
from .replay import apply
from .state import Conference
from .store import Decide

MAX_RETRIES = 20


class RedisStore:
    def __init__(self, url: str, prefix: str = "dewan", clock: Callable[[], float] = time.time) -> None:
        self._redis = aioredis.from_url(url, decode_responses=True)
        self._prefix = prefix
        self._clock = clock
        self._conferences: dict[str, Conference] = {}
        self._logs: dict[str, list[Event]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def _keys(self, conference_id: str) -> tuple[str, str]:
        base = f"{self._prefix}:conf:{conference_id}"
        return f"{base}:version", f"{base}:events"

    async def ping(self) -> None:
        try:
            await self._redis.ping()
        except OSError as exc:
            raise Unavailable(f"Redis does not answer: {exc}") from None

    async def _catch_up(self, conference_id: str, client=None) -> Conference:
        client = client or self._redis
        conf = self._conferences.setdefault(conference_id, Conference(id=conference_id))
        log = self._logs.setdefault(conference_id, [])
        _, stream = self._keys(conference_id)
        entries = await client.xrange(stream, min=f"({conf.version}-0" if conf.version else "-")
        for _, fields in entries:
            event = Event.from_json(json.loads(fields["e"]))
            if event.seq != conf.version + 1:
                raise RuntimeError(f"event log of {conference_id} has a gap at {conf.version + 1}")
            apply(conf, event)
            log.append(event)
        return conf

    async def get(self, conference_id: str) -> Conference:
        async with self._locks.setdefault(conference_id, asyncio.Lock()):
            return await self._catch_up(conference_id)

    async def execute(self, conference_id: str, decide: Decide,
                      expect_version: int | None = None) -> tuple[Conference, list[Event]]:
        version_key, stream = self._keys(conference_id)
        async with self._locks.setdefault(conference_id, asyncio.Lock()):
            for _ in range(MAX_RETRIES):
                async with self._redis.pipeline(transaction=True) as pipe:
                    try:
                        await pipe.watch(version_key)
                        stored = int(await pipe.get(version_key) or 0)
                        conf = await self._catch_up(conference_id, pipe)
                        if conf.version != stored:
                            continue  # the stream and the key disagree for a moment: retry
                        if expect_version is not None and expect_version != conf.moderation_version:
                            raise Conflict("The conference changed meanwhile; your screen now shows the "
                                           "current state.", key="changed", version=conf.moderation_version)
                        drafts = list(decide(conf))
                        if not drafts:
                            return conf, []
                        now = self._clock()
                        events = number(drafts, conference_id, conf.version, now)
                        pipe.multi()
                        for e in events:
                            pipe.xadd(stream, {"e": e.dumps()}, id=f"{e.seq}-0")
                        pipe.set(version_key, events[-1].seq)
                        await pipe.execute()
                    except WatchError:
                        continue  # another process wrote first: catch up and decide again
                for e in events:
                    apply(conf, e)
                    self._logs[conference_id].append(e)
                return conf, events
        raise Unavailable("The conference is too busy to change right now; try again.")

    async def events(self, conference_id: str, since: int = 0) -> list[Event]:
        await self.get(conference_id)
        return [e for e in self._logs[conference_id] if e.seq > since]

    async def close(self) -> None:
        await self._redis.aclose()


class OwnerLease:
    """Which process hosts a conference's media: a Redis key with a time-to-live, renewed by
    its owner. Another process takes over only when the owner stops renewing it."""

    def __init__(self, store: RedisStore, conference_id: str, me: str, ttl_s: float = 15.0) -> None:
        self._redis = store._redis
        self.key = f"{store._prefix}:conf:{conference_id}:owner"
        self.me = me
        self.ttl_ms = int(ttl_s * 1000)

    async def claim(self) -> tuple[str, bool]:
        """Renew or take the lease; returns (owner, whether this process just took it)."""
        if await self._redis.set(self.key, self.me, nx=True, px=self.ttl_ms):
            return self.me, True
        owner = await self._redis.get(self.key)
        if owner == self.me:
            await self._redis.pexpire(self.key, self.ttl_ms)
        return owner or "", False

    async def release(self) -> None:
        if await self._redis.get(self.key) == self.me:
            await self._redis.delete(self.key)
