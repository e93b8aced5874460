"""Start-up reads Redis's own persistence settings: a Redis that keeps nothing on disk is named
in one warning line; one with AOF is not."""

from server.app import persistence_problem
from signaling.store_redis import RedisStore
from tests.support.redis_server import RedisServer


async def test_a_redis_without_aof_or_rdb_is_warned_about(tmp_path):
    for aof, warned in ((False, True), (True, False)):
        folder = tmp_path / str(aof)
        folder.mkdir()
        redis = RedisServer(folder, aof=aof)
        store = RedisStore(redis.url)
        try:
            config = await store.persistence()
            assert config["appendonly"] == ("yes" if aof else "no") and config["save"] == ""
            problem = persistence_problem(config)
            assert bool(problem) is warned and (not problem or "\n" not in problem)
        finally:
            await store.close()
            redis.stop()
    assert persistence_problem({"appendonly": "no", "save": "3600 1"}) is None  # RDB snapshots keep it
