"""On the media owner (several processes): every committed floor, mute and conference change
reaches the relay by following the event log (a Redis Stream, XREAD BLOCK), whichever process
decided it. The local call path does not touch the relay in this mode, so what is heard is
always what the log says.

The follower keeps its own replica of the conference, fed only by the entries XREAD returns
(no store lock, no second round trip). Each applied batch logs `media followed` with `lag_ms`
(commit time, on the deciding process's clock, to relay applied)."""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections.abc import Callable

from signaling.errors import Unavailable
from signaling.replay import apply

log = logging.getLogger("dewan.media_follow")
MEDIA_KINDS = frozenset({"floor", "audio", "conference"})


class MediaFollower:
    def __init__(self, hub, store, is_owner: Callable[[], bool], block_ms: int = 1000) -> None:
        self.hub = hub
        self.store = store
        self.is_owner = is_owner
        self.block_ms = block_ms
        self.replica = None  # signaling.state.Conference, ours alone
        self.lags_ms: list[float] = []

    async def run(self) -> None:
        while True:
            try:
                await self.step()
            except asyncio.CancelledError:
                raise
            except Unavailable:
                await asyncio.sleep(0.5)  # the outage is logged once by the ownership loop
            except Exception:
                log.exception("following the event log failed")
                self.replica = None
                await asyncio.sleep(1.0)

    async def step(self) -> None:
        if not self.is_owner():
            self.replica = None  # a new owner starts from the current state
            await asyncio.sleep(0.2)
            return
        if self.replica is None:
            self.replica = copy.deepcopy(await self.hub.conference())
            self.hub.apply_media(self.replica)
            return
        events = await self.store.read_events(self.hub.conference_id, self.replica.version, self.block_ms)
        if not events:
            return
        for event in events:
            if event.seq != self.replica.version + 1:
                log.warning("the event log has a gap: starting again from the state", extra={"seq": event.seq})
                self.replica = None
                return
            apply(self.replica, event)
        relevant = [e for e in events if e.type.split(".", 1)[0] in MEDIA_KINDS]
        if relevant and self.is_owner():
            self.hub.apply_media(self.replica)
            lag = round((time.time() - relevant[-1].at) * 1000, 1)
            self.lags_ms = (self.lags_ms + [lag])[-200:]
            log.info("media followed", extra={"seq": relevant[-1].seq, "type": relevant[-1].type, "lag_ms": lag})
