"""On the media owner (several processes): every committed floor, mute and conference change
reaches the relay by following the event log (a Redis Stream, XREAD BLOCK), whichever process
decided it. The local call path does not touch the relay in this mode, so what is heard is
always what the log says.

Each applied batch logs `media followed` with `lag_ms` (commit time to relay applied)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from signaling.errors import Unavailable

log = logging.getLogger("dewan.media_follow")
MEDIA_KINDS = frozenset({"floor", "audio", "conference"})


class MediaFollower:
    def __init__(self, hub, store, is_owner: Callable[[], bool], block_ms: int = 1000) -> None:
        self.hub = hub
        self.store = store
        self.is_owner = is_owner
        self.block_ms = block_ms
        self.seen = 0
        self.lags_ms: list[float] = []

    async def run(self) -> None:
        cid = self.hub.conference_id
        while True:
            try:
                if not self.is_owner():
                    self.seen = 0  # a new owner re-applies from the current state
                    await asyncio.sleep(0.2)
                    continue
                if self.seen == 0:
                    conf = await self.hub.conference()
                    self.hub.apply_media(conf)
                    self.seen = conf.version
                    continue
                if not await self.store.wait_events(cid, self.seen, self.block_ms):
                    continue
                woke = time.time()
                conf = await self.hub.conference()  # catches up from the stream
                events = self.store.cached_events(cid, since=self.seen)
                if not events:
                    continue
                self.seen = events[-1].seq
                relevant = [e for e in events if e.type.split(".", 1)[0] in MEDIA_KINDS]
                if relevant and self.is_owner():
                    self.hub.apply_media(conf)
                    now = time.time()
                    lag = round((now - relevant[-1].at) * 1000, 1)
                    self.lags_ms = (self.lags_ms + [lag])[-200:]
                    log.info("media followed", extra={"seq": relevant[-1].seq, "type": relevant[-1].type,
                                                      "lag_ms": lag, "wake_ms": round((woke - relevant[-1].at) * 1000, 1)})
            except asyncio.CancelledError:
                raise
            except Unavailable:
                await asyncio.sleep(0.5)  # the outage is logged once by the ownership loop
            except Exception:
                log.exception("following the event log failed")
                await asyncio.sleep(1.0)
