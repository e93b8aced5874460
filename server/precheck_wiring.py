"""The pre-join check's socket events: a loopback media test through the relay (the page's
camera and microphone come back to it, forwarded, never transcoded) and the verdict, which the
technicians see at once and the event log keeps."""

from __future__ import annotations

from signaling import messages as m
from signaling.events import Draft

from .hub import HEALTH, Hub, Session
from .media import MediaError, Router
from .media_wiring import media_error, require_owner


class PrecheckEvents:
    def __init__(self, hub: Hub, router: Router) -> None:
        self.hub = hub
        self.router = router

    def register(self, namespace) -> None:
        namespace.register("precheck:start", self.start)
        namespace.register("precheck:answer", self.answer)
        namespace.register("precheck:result", self.result)
        namespace.register("precheck:stop", self.stop)

    async def start(self, s: Session, data: object):
        m.parse(m.Empty, data)
        require_owner(self.hub)
        try:
            return {"sdp": await self.router.start_peer(s.sid, "precheck", s.identity.point)}
        except MediaError as exc:
            raise media_error(exc) from None

    async def answer(self, s: Session, data: object):
        p = m.parse(m.RtcAnswer, data)
        try:
            await self.router.accept_answer(s.sid, p.sdp)
        except MediaError as exc:
            raise media_error(exc) from None
        return {}

    async def result(self, s: Session, data: object):
        p = m.parse(m.PrecheckResult, data)
        result = p.model_dump(exclude={"version"})
        point = s.identity.point
        await self.hub.emit("notice", {"type": "precheck", "point": point, "at": self.hub.clock(),
                                       "result": result}, room=HEALTH)
        await self.hub.execute(lambda c: [Draft("station.checked", {"point": point, **result},
                                                s.identity.actor)])
        return {}

    async def stop(self, s: Session, data: object):
        await self.router.close_peer(s.sid, "precheck done")
        return {}
