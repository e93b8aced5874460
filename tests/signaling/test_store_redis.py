"""RedisStore against a real redis-server: the same guarantees as the embedded store, across
processes (two store instances stand for two processes)."""

import asyncio

import pytest

from signaling import conference, floor
from signaling.errors import Conflict, Unavailable
from signaling.lease import OwnerLease
from signaling.registry import StationMap
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


async def test_redis_away_is_unavailable_never_half_applied_and_recovers(redis_server):
    store = RedisStore(redis_server.url)
    await setup(store)
    version = (await store.get("c")).version
    redis_server.stop()
    policy = floor.FloorPolicy()
    with pytest.raises(Unavailable) as err:
        await store.execute("c", lambda c: floor.grant(c, None, None, 10.0, policy, "chair:x", KNOWN))
    assert err.value.key == "store_down"
    with pytest.raises(Unavailable):
        await store.get("c")
    local = store._conferences["c"]
    assert local.version == version and local.floor.holder is None  # nothing applied locally
    redis_server.start()  # AOF: the conference survived the restart
    conf, events = await store.execute("c", lambda c: floor.grant(c, None, None, 10.0, policy, "chair:x", KNOWN))
    assert conf.floor.holder == "cua-lo" and events[0].seq == version + 1
    fresh = RedisStore(redis_server.url)
    assert (await fresh.get("c")).floor.holder == "cua-lo"
    for s in (store, fresh):
        await s.close()


async def test_the_lease_is_compare_and_set_and_fenced(redis_server):
    store = RedisStore(redis_server.url)
    a = OwnerLease(store.client, "dewan", "c", "http://a", ttl_s=1.0, takeover_wait_s=0.3)
    b = OwnerLease(store.client, "dewan", "c", "http://b", ttl_s=1.0, takeover_wait_s=0.3)
    first = await a.claim()
    assert first.status == "taken" and first.owner == "http://a"
    assert (await b.claim()).status == "other" and (await a.claim()).status == "renewed"
    assert not await b.release() and await store.client.get(a.key) == first.token  # b cannot drop a's lease
    # a stops renewing: b waits past the TTL, then the takeover wait, then takes a NEW token
    await asyncio.sleep(1.1)
    assert (await b.claim()).status == "waiting"
    await asyncio.sleep(0.35)
    taken = await b.claim()
    assert taken.status == "taken" and taken.token != first.token
    # a comes back: its renew is refused (the fencing token differs); it must stop
    late = await a.claim()
    assert late.status == "other" and late.owner == "http://b" and a.token == ""
    assert not await a.release() and await store.client.get(b.key) == taken.token
    # Redis unreachable is not "lost": claim raises, the holder keeps its token
    redis_server.stop()
    with pytest.raises(Unavailable):
        await b.claim()
    assert b.token == taken.token
    redis_server.start()
    await asyncio.sleep(1.1)  # the key expired while Redis was down: its last holder re-claims at once
    again = await b.claim()
    assert again.status == "taken" and again.owner == "http://b"
    assert await b.release() and await store.client.get(b.key) is None
    await store.close()


async def test_a_second_window_on_another_process_replaces_the_first(redis_url):
    store = RedisStore(redis_url)
    stations = StationMap(store.client, "dewan", "c")
    assert await stations.claim("vinh", "proc-a", "sid1") is None
    assert await stations.claim("vinh", "proc-b", "sid2") == ("proc-a", "sid1")
    assert not await stations.release("vinh", "proc-a", "sid1")  # the replaced window's leave
    assert await stations.all() == {"vinh": ("proc-b", "sid2")}
    assert await stations.release("vinh", "proc-b", "sid2") and await stations.all() == {}
    await store.close()
