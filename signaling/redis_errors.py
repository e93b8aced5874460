"""Redis not answering, as the protocol's `unavailable` refusal (never a crash, never half a change)."""

from __future__ import annotations

import contextlib

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .errors import Unavailable

REDIS_DOWN = (RedisConnectionError, RedisTimeoutError, OSError)


@contextlib.contextmanager
def unavailable(what: str):
    try:
        yield
    except REDIS_DOWN as exc:
        raise Unavailable(f"The conference's database (Redis) does not answer, so {what} cannot change "
                          f"now; nothing was changed. Try again in a moment.", key="store_down",
                          cause=type(exc).__name__) from None


def quick_retry():
    """Two quick retries (~60 ms): redis-py's default (10 retries, up to ~4 s) would hold every
    request for seconds during an outage instead of answering `unavailable`."""
    from redis.asyncio.retry import Retry
    from redis.backoff import ExponentialBackoff

    return Retry(ExponentialBackoff(cap=0.05, base=0.02), 2)
