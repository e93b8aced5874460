"""What several processes share besides the event log (Redis): who is alive and where, which
window holds each station, and the revocation generations of the join links.

- ProcessRegistry: hash `<prefix>:conf:<id>:processes`, instance id -> {"url", "beat"}; a
  process is alive while its beat is younger than the lease TTL. Pages get the URLs so they can
  find the owner when their own process died (kill -9 sends no event).
- StationMap: hash `<prefix>:conf:<id>:stations`, point -> "<instance>|<sid>". Claim is a swap
  and release a compare-and-delete (Lua), so "a second window replaces the first" holds across
  processes and a replaced window's disconnect never marks the point offline.
- Generations: hash `<prefix>:generations`, subject -> generation (HINCRBY on rotation).
"""

from __future__ import annotations

import json

from .redis_errors import unavailable

SWAP = """
local old = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return old or ''
"""

RELEASE = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('HDEL', KEYS[1], ARGV[1])
  return 1
end
return 0
"""


class ProcessRegistry:
    def __init__(self, redis_client, prefix: str, conference_id: str) -> None:
        self._redis = redis_client
        self.key = f"{prefix}:conf:{conference_id}:processes"

    async def beat(self, instance: str, url: str, now: float) -> None:
        with unavailable("the process registry"):
            await self._redis.hset(self.key, instance, json.dumps({"url": url, "beat": now}))

    async def alive(self, now: float, max_age_s: float) -> dict[str, str]:
        """instance -> url of the processes that beat within `max_age_s`; forgets the others."""
        with unavailable("the process registry"):
            entries = await self._redis.hgetall(self.key)
            out, dead = {}, []
            for instance, raw in entries.items():
                try:
                    info = json.loads(raw)
                    fresh = now - float(info["beat"]) <= max_age_s
                except (ValueError, KeyError, TypeError):
                    fresh, info = False, {}
                if fresh:
                    out[instance] = str(info["url"])
                elif now - float(info.get("beat", 0)) > 10 * max_age_s:
                    dead.append(instance)
            if dead:
                await self._redis.hdel(self.key, *dead)
            return out

    async def remove(self, instance: str) -> None:
        with unavailable("the process registry"):
            await self._redis.hdel(self.key, instance)


class StationMap:
    def __init__(self, redis_client, prefix: str, conference_id: str) -> None:
        self._redis = redis_client
        self.key = f"{prefix}:conf:{conference_id}:stations"
        self._swap = redis_client.register_script(SWAP)
        self._release = redis_client.register_script(RELEASE)

    @staticmethod
    def _parse(value: str) -> tuple[str, str] | None:
        instance, sep, sid = (value or "").partition("|")
        return (instance, sid) if sep else None

    async def claim(self, point: str, instance: str, sid: str) -> tuple[str, str] | None:
        """Make (instance, sid) the station of `point`; returns the previous holder."""
        with unavailable("the station"):
            return self._parse(await self._swap(keys=[self.key], args=[point, f"{instance}|{sid}"]))

    async def release(self, point: str, instance: str, sid: str) -> bool:
        """Forget the station if it is still (instance, sid); False when another window took it."""
        with unavailable("the station"):
            return bool(await self._release(keys=[self.key], args=[point, f"{instance}|{sid}"]))

    async def all(self) -> dict[str, tuple[str, str]]:
        with unavailable("the stations"):
            raw = await self._redis.hgetall(self.key)
        return {point: parsed for point, value in raw.items() if (parsed := self._parse(value))}


class Generations:
    """Revocation generations shared by every process (and `dewan links --rotate --redis`)."""

    def __init__(self, redis_client, prefix: str = "dewan") -> None:
        self._redis = redis_client
        self.key = f"{prefix}:generations"

    async def load(self) -> dict[str, int]:
        with unavailable("the link revocations"):
            return {k: int(v) for k, v in (await self._redis.hgetall(self.key)).items()}

    async def merge(self, generations: dict[str, int]) -> None:
        """Carry a single host's file over (the higher generation wins)."""
        with unavailable("the link revocations"):
            current = await self.load()
            for subject, gen in generations.items():
                if gen > current.get(subject, 0):
                    await self._redis.hset(self.key, subject, gen)


def rotate_sync(url: str, subject: str, prefix: str = "dewan") -> tuple[int, dict[str, int]]:
    """`dewan links --rotate X --redis URL`: bump X's generation; returns it and all of them."""
    import redis

    client = redis.Redis.from_url(url, decode_responses=True, socket_timeout=5, socket_connect_timeout=5)
    try:
        generation = int(client.hincrby(f"{prefix}:generations", subject, 1))
        return generation, {k: int(v) for k, v in client.hgetall(f"{prefix}:generations").items()}
    finally:
        client.close()


def load_sync(url: str, prefix: str = "dewan") -> dict[str, int]:
    import redis

    client = redis.Redis.from_url(url, decode_responses=True, socket_timeout=5, socket_connect_timeout=5)
    try:
        return {k: int(v) for k, v in client.hgetall(f"{prefix}:generations").items()}
    finally:
        client.close()
