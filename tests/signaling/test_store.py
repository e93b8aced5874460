import json

import pytest

from signaling import conference, floor
from signaling.errors import Conflict
from signaling.store import MemoryStore
from signaling.store_redis import RedisStore


@pytest.fixture(params=["memory", "redis"])
async def any_store(request, tmp_path):
    """The same guarantees from both backends (the Redis one on a real redis-server)."""
    if request.param == "memory":
        store = MemoryStore(tmp_path)
    else:
        store = RedisStore(request.getfixturevalue("redis_url"))
    yield store
    await store.close()


async def test_every_event_is_journaled_and_replayed(tmp_path):
    store = MemoryStore(tmp_path)
    await store.execute("c", lambda c: conference.open_conference(c, "Họp", "chair:x"))
    await store.execute("c", lambda c: floor.point_joined(c, "vinh", 1.0))
    await store.execute("c", lambda c: floor.request(c, "vinh", "Đề xuất", 2.0))
    await store.close()
    lines = (tmp_path / "conferences" / "c" / "events.jsonl").read_text().splitlines()
    assert [json.loads(x)["seq"] for x in lines] == [1, 2, 3]
    again = await MemoryStore(tmp_path).get("c")
    assert again.status == "open" and again.title == "Họp" and again.version == 3
    assert again.entry("vinh").topic == "Đề xuất"


async def test_a_partial_last_line_from_a_crash_is_dropped(tmp_path):
    store = MemoryStore(tmp_path)
    await store.execute("c", lambda c: conference.open_conference(c, "A", "chair:x"))
    await store.close()
    path = tmp_path / "conferences" / "c" / "events.jsonl"
    with path.open("a") as fh:
        fh.write('{"seq": 2, "at": 1, "conf')
    store = MemoryStore(tmp_path)
    conf = await store.get("c")
    assert conf.version == 1
    await store.execute("c", lambda c: conference.close_conference(c, "chair:x"))
    await store.close()
    assert (await MemoryStore(tmp_path).get("c")).status == "closed"


async def test_a_stale_version_is_a_conflict_not_a_double_grant(any_store):
    store = any_store
    await store.execute("c", lambda c: conference.open_conference(c, "A", "chair:x"))
    for p in ("vinh", "cua-lo"):
        await store.execute("c", lambda c, p=p: floor.point_joined(c, p, 1.0))
        await store.execute("c", lambda c, p=p: floor.request(c, p, None, 2.0))
    seen = (await store.get("c")).moderation_version
    # a join (or a health alert, a message) after the chair looked does not make it stale
    await store.execute("c", lambda c: floor.point_joined(c, "thai-hoa", 2.5))
    policy = floor.FloorPolicy()
    grant = lambda c: floor.grant(c, None, None, 3.0, policy, "chair:a", {"vinh", "cua-lo", "thai-hoa"})  # noqa: E731
    await store.execute("c", grant, expect_version=seen)
    with pytest.raises(Conflict, match="changed meanwhile"):
        await store.execute("c", grant, expect_version=seen)
    conf = await store.get("c")
    assert conf.floor.holder == "vinh" and [e.point for e in conf.queue] == ["cua-lo"]


async def test_events_are_numbered_and_listed_from_a_version(any_store):
    store = any_store
    await store.execute("c", lambda c: conference.open_conference(c, "A", "chair:x"))
    _, events = await store.execute("c", lambda c: floor.point_joined(c, "vinh", 1.0))
    assert [e.seq for e in events] == [2]
    _, none = await store.execute("c", lambda c: [])  # nothing decided: nothing recorded
    assert none == [] and (await store.get("c")).version == 2
    with pytest.raises(Conflict, match="already has the floor|hall already"):
        await store.execute("c", lambda c: floor.revoke(c, "chair:x"))  # a refusal records nothing
    assert [e.type for e in await store.events("c", since=1)] == ["point.joined"]
    assert (await store.get("c")).version == 2
