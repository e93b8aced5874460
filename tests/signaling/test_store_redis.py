"""RedisStore against a real redis-server: the same guarantees as the embedded store, across
processes (two store instances stand for two processes)."""

import asyncio

import pytest

from signaling import conference, floor
from signaling.errors import Conflict
from signaling.store_redis import RedisStore

KNOWN = {"vinh", "cua-lo", "thai-hoa"}


async def setup(store):
    await store.execute("c", lambda c: conference.open_conference(c, "Họp", "chair:x"))
    for i, p in enumerate(sorted(KNOWN)):
        await store.execute("c", lambda c, p=p: floor.point_joined(c, p, 1.0))
        await store.execute("c", lambda c, p=p, i=i: floor.request(c, p, None, 2.0 + i))


async def test_state_is_shared_and_rebuilt_from_the_stream(redis_url):
    one, two = RedisStore(redis_url), RedisStore(redis_url)
    await setup(one)
    conf = await two.get("c")
    assert conf.status == "open" and [e.point for e in conf.queue] == ["cua-lo", "thai-hoa", "vinh"]
    await two.execute("c", lambda c: floor.cancel(c, "thai-hoa"))
    assert [e.point for e in (await one.get("c")).queue] == ["cua-lo", "vinh"]
    fresh = RedisStore(redis_url)  # a restarted process
    assert (await fresh.get("c")).version == (await one.get("c")).version
    assert [e.type for e in await fresh.events("c", since=7)] == ["queue.cancelled"]
    for s in (one, two, fresh):
        await s.close()


async def test_two_processes_granting_at_once_never_double_grant(redis_url):
    one, two = RedisStore(redis_url), RedisStore(redis_url)
    await setup(one)
    seen = (await two.get("c")).moderation_version
    policy = floor.FloorPolicy()

    def grant(c):
        return floor.grant(c, None, None, 10.0, policy, "chair:x", KNOWN)

    results = await asyncio.gather(one.execute("c", grant, seen), two.execute("c", grant, seen),
                                   return_exceptions=True)
    assert sum(isinstance(r, Conflict) for r in results) == 1
    conf = await one.get("c")
    assert conf.floor.holder == "cua-lo" and [e.point for e in conf.queue] == ["thai-hoa", "vinh"]
    # without a version, concurrent requests from two processes serialise: both are recorded once
    await one.execute("c", lambda c: floor.revoke(c, "chair:x"))
    await asyncio.gather(one.execute("c", lambda c: floor.cancel(c, "vinh")),
                         two.execute("c", lambda c: floor.cancel(c, "thai-hoa")))
    assert (await two.get("c")).queue == []
    with pytest.raises(Conflict, match="hall already"):  # domain refusals pass through unchanged
        await one.execute("c", lambda c: floor.revoke(c, "chair:x"))
    for s in (one, two):
        await s.close()
