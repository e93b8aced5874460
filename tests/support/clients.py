"""python-socketio clients that speak the /conf protocol, recording what they receive."""

from __future__ import annotations

import asyncio
from collections import defaultdict

import socketio

EVENTS = ("state", "conference", "queue", "floor", "roster", "recording", "health", "message", "notice",
          "log", "rtc:offer", "error")


class ConfClient:
    def __init__(self, base_url: str, token: str | None, mode: str | None = None,
                 ssl_verify: bool = True) -> None:
        self.base_url, self.token, self.mode = base_url, token, mode
        self.sio = socketio.AsyncClient(reconnection=False, ssl_verify=ssl_verify)
        self.received: dict[str, list] = defaultdict(list)
        self._new = asyncio.Event()
        for name in (*EVENTS, "connect_error"):
            self.sio.on(name, self._handler(name), namespace="/conf")

    def _handler(self, name: str):
        async def handle(data=None):
            self.received[name].append(data)
            self._new.set()
        return handle

    async def connect(self) -> "ConfClient":
        auth = {"token": self.token, **({"mode": self.mode} if self.mode else {})}
        await self.sio.connect(self.base_url, namespaces=["/conf"], transports=["websocket"],
                               auth=auth if self.token is not None else None, wait_timeout=5)
        if self.mode != "precheck":  # a pre-join check's socket gets no conference state
            await self.wait_for("state")
        return self

    async def request(self, event: str, payload: object = None) -> dict:
        return await self.sio.call(event, payload if payload is not None else {}, namespace="/conf", timeout=10)

    def last(self, name: str):
        return self.received[name][-1] if self.received[name] else None

    async def wait_for(self, name: str, predicate=lambda data: True, timeout: float = 5.0, after: int = 0):
        """The first event `name` (already received, past the first `after`, or arriving)
        whose payload matches."""
        async def scan():
            seen = after
            while True:
                items = self.received[name]
                for data in items[seen:]:
                    if predicate(data):
                        return data
                seen = len(items)
                self._new.clear()
                await self._new.wait()
        return await asyncio.wait_for(scan(), timeout)

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()
