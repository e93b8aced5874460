"""Socket events that drive the media relay: rtc:start, rtc:answer, preview:set.

The relay is always the offerer: `rtc:start` builds a NEW peer connection (also how a client
recovers), the relay emits `rtc:offer {sdp}`, the client answers with `rtc:answer {sdp}`."""

from __future__ import annotations

import logging

from signaling import messages as m
from signaling.errors import BadRequest, DewanError, NotFound, Unavailable

from .hub import Hub, Session
from .media import MediaError, Router

log = logging.getLogger("dewan.media")

# The relay's slot layout per role (chair consoles publish nothing).
MEDIA_KIND = {"chair": "chair", "hall": "hall", "point": "point", "technician": "technician",
              "observer": "observer"}


def media_error(exc: MediaError) -> DewanError:
    """A relay refusal as the protocol error the client gets."""
    return {"bad_request": BadRequest, "not_found": NotFound}.get(exc.code, Unavailable)(exc.message)


def require_owner(hub: Hub) -> None:
    if not hub.is_owner():
        raise Unavailable("This server does not host the conference's media; reload the page to be sent "
                          "to the one that does.")


class MediaEvents:
    def __init__(self, hub: Hub, router: Router) -> None:
        self.hub = hub
        self.router = router

    def register(self, namespace) -> None:
        namespace.register("rtc:start", self.rtc_start)
        namespace.register("rtc:answer", self.rtc_answer)
        namespace.register("preview:set", self.preview_set)

    async def rtc_start(self, s: Session, data: object):
        m.parse(m.Empty, data)
        require_owner(self.hub)
        ident = s.identity
        try:
            sdp = await self.router.start_peer(s.sid, MEDIA_KIND[ident.role], ident.point)
        except MediaError as exc:
            raise media_error(exc) from None
        await self.hub.emit("rtc:offer", {"type": "offer", "sdp": sdp}, to=s.sid)
        return {}

    async def rtc_answer(self, s: Session, data: object):
        p = m.parse(m.RtcAnswer, data)
        try:
            await self.router.accept_answer(s.sid, p.sdp)
        except MediaError as exc:
            raise media_error(exc) from None
        return {}

    async def preview_set(self, s: Session, data: object):
        p = m.parse(m.OptionalPointRef, data)
        if p.point is not None and p.point not in self.hub.points.district_ids:
            raise NotFound(f"Unknown point {p.point!r}.")
        self.router.set_preview(s.sid, p.point)
        return {"point": p.point}
