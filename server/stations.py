"""Which connection is a station's live window: "a second window replaces the first".

LocalStations (one process) keeps the hub's own map; SharedStations (several processes) keeps
the map in Redis (signaling/registry.StationMap) so a window on another process is replaced
too. Both keep `hub.stations` as this process's view (point -> local sid)."""

from __future__ import annotations


class LocalStations:
    def __init__(self, hub) -> None:
        self.hub = hub

    async def claim(self, point: str, sid: str) -> str | None:
        """Record `sid` as the point's window; returns the live window it replaces."""
        previous = self.hub.stations.get(point)
        self.hub.stations[point] = sid
        return previous if previous != sid and previous in self.hub.sessions else None

    async def release(self, point: str, sid: str) -> bool:
        """Forget `sid`; False when another window has taken the point meanwhile."""
        if self.hub.stations.get(point) != sid:
            return False
        del self.hub.stations[point]
        return True


class SharedStations:
    def __init__(self, hub, ownership) -> None:
        self.hub = hub
        self.ownership = ownership

    async def claim(self, point: str, sid: str) -> str | None:
        own = self.ownership
        previous = await own.stations.claim(point, own.instance, sid)
        self.hub.stations[point] = sid
        if previous is None or previous == (own.instance, sid):
            return None
        instance, old_sid = previous
        if instance == own.instance:
            return old_sid if old_sid in self.hub.sessions else None
        # a slow process is still told (3 x TTL); a dead one has nobody to tell
        return old_sid if instance in await own.alive_instances(slack=3.0) else None

    async def release(self, point: str, sid: str) -> bool:
        if self.hub.stations.get(point) == sid:
            del self.hub.stations[point]
        return await self.ownership.stations.release(point, self.ownership.instance, sid)
