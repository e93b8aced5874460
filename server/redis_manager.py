"""python-socketio's Redis manager, made calm and quick for an outage: its error lines are
rate-limited (it logs on every emit while Redis is away) and its listener retries every
second at most 2 s apart (the library backs off up to 60 s), so broadcasts between the
processes come back within ~2 s of Redis."""

from __future__ import annotations

import asyncio
import logging
import time

import socketio

from signaling.redis_errors import quick_retry

LOG_EVERY_S = 30.0


class RateLimitFilter(logging.Filter):
    """The first record of each message, then at most one every `every_s` with the count."""

    def __init__(self, every_s: float = LOG_EVERY_S) -> None:
        super().__init__()
        self.every_s = every_s
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = str(record.msg)
        now = time.monotonic()
        if now - self._last.get(key, -1e9) < self.every_s:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return False
        self._last[key] = now
        record.suppressed = self._suppressed.pop(key, 0)
        return True


def manager_logger() -> logging.Logger:
    logger = logging.getLogger("dewan.socketio_redis")
    if not any(isinstance(f, RateLimitFilter) for f in logger.filters):
        logger.addFilter(RateLimitFilter())
    return logger


class DewanRedisManager(socketio.AsyncRedisManager):
    def __init__(self, url: str, channel: str) -> None:
        super().__init__(url, channel=channel, logger=manager_logger(),
                         redis_options={"socket_connect_timeout": 2.0, "socket_timeout": 5.0,
                                        "health_check_interval": 5, "retry": quick_retry()})

    async def _redis_listen_with_retries(self):  # pragma: no cover - the library's loop, capped
        retry_sleep = 0.5
        subscribed = False
        while True:
            try:
                if not subscribed:
                    self._redis_connect()
                    await self.pubsub.subscribe(self.channel)
                    retry_sleep = 0.5
                async for message in self.pubsub.listen():
                    yield message
            except Exception as exc:
                self._get_logger().error("Cannot receive from redis... retrying",
                                         extra={"redis_exception": str(exc)})
                subscribed = False
                await asyncio.sleep(retry_sleep)
                retry_sleep = min(2.0, retry_sleep * 2)
