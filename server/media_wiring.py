"""Socket events that drive the media relay.

- `rtc:start` -> the relay emits `rtc:offer {sdp, iceServers}` -> `rtc:answer {sdp}`;
  ``iceServers`` (also in the `precheck:start` ack) carry fresh TURN credentials. The relay is always
  the offerer, and every `rtc:start` builds a NEW peer connection (also how a client recovers).
- `tiles:view {page?, pinned?}` (consoles with tile slots: chair, hall, technician): page
  through the points or pin some; the ack and the `tiles` event (sent to that console on
  every change) carry the slot map (see server/media/__init__.py, "Tile slots").
- `preview:set {point}`: a technician sees and hears a point before it gets the floor. Never
  silently: `preview.started` / `preview.stopped` (point, technician) are journaled (so the
  minutes' incident log has them), and the point gets `notice {type: "preview", point,
  technician, active}` and sees it on its page (`state.previewed_by` after a reload).
- `precheck:start` (ack carries the offer) / `precheck:answer` / `precheck:result` /
  `precheck:stop`: the pre-join check's loopback test (the page's camera and microphone come
  back to it through the relay, forwarded, never transcoded) and its verdict, which the
  technicians see at once and the event log keeps.
"""

from __future__ import annotations

from signaling import messages as m
from signaling.errors import BadRequest, DewanError, NotFound, Unavailable
from signaling.events import Draft

from .hub import HEALTH, Hub, Session, point_room
from .media import MediaError, Router


def media_error(exc: MediaError) -> DewanError:
    """A relay refusal as the protocol error the client gets."""
    return {"bad_request": BadRequest, "not_found": NotFound}.get(exc.code, Unavailable)(exc.message)


class MediaEvents:
    def __init__(self, hub: Hub, router: Router) -> None:
        self.hub = hub
        self.router = router
        hub.on_disconnect.append(self._stop_preview)

    def register(self, namespace) -> None:
        for event, handler in (("rtc:start", self.rtc_start), ("rtc:answer", self.answer),
                               ("preview:set", self.preview_set), ("tiles:view", self.tiles_view),
                               ("precheck:start", self.precheck_start),
                               ("precheck:answer", self.answer), ("precheck:result", self.precheck_result),
                               ("precheck:stop", self.precheck_stop)):
            namespace.register(event, handler)

    async def _offer(self, s: Session, data: object, kind: str) -> str:
        m.parse(m.Empty, data)
        if not self.hub.is_owner():
            raise Unavailable("This server does not host the conference's media; reload the page to be sent "
                              "to the one that does.", key="not_owner", owner=self.hub.processes()[:1])
        try:
            return await self.router.start_peer(s.sid, kind, s.identity.point)
        except MediaError as exc:
            raise media_error(exc) from None

    async def rtc_start(self, s: Session, data: object):
        # the relay's slot layout is named after the role (chair consoles publish nothing)
        await self._stop_preview(s)  # a new peer connection starts without a preview
        sdp = await self._offer(s, data, s.identity.role)
        await self.hub.emit("rtc:offer", {"type": "offer", "sdp": sdp, "iceServers": self._ice_servers(s)},
                            to=s.sid)
        return {}

    async def answer(self, s: Session, data: object):
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
        try:
            self.router.set_preview(s.sid, p.point)
        except MediaError as exc:
            raise media_error(exc) from None
        current = self.hub.previews.get(s.sid)
        if current is not None and current[0] == p.point:
            return {"point": p.point}
        await self._stop_preview(s)
        if p.point is not None:
            await self._preview_event(s, p.point, True)
        return {"point": p.point}

    async def tiles_view(self, s: Session, data: object):
        p = m.parse(m.TilesView, data)
        try:
            return {"tiles": self.router.set_tiles(s.sid, p.page, p.pinned)}
        except MediaError as exc:
            raise media_error(exc) from None

    async def _stop_preview(self, s: Session) -> None:
        current = self.hub.previews.get(s.sid)
        if current is not None:
            await self._preview_event(s, current[0], False)

    async def _preview_event(self, s: Session, point: str, active: bool) -> None:
        """Journal the start/end of a preview (refused with `unavailable` if the journal
        cannot record it: nobody listens in unrecorded), then tell the point."""
        label = s.identity.label
        kind = "preview.started" if active else "preview.stopped"
        try:
            await self.hub.execute(lambda c: [Draft(kind, {"point": point, "technician": label},
                                                    s.identity.actor)])
        except Unavailable:
            if active:
                self.router.set_preview(s.sid, None)
                raise
            # stopping always happens (the media is already off); the record is what failed
        if active:
            self.hub.previews[s.sid] = (point, label)
        else:
            self.hub.previews.pop(s.sid, None)
        await self.hub.emit("notice", {"type": "preview", "point": point, "technician": label, "active": active,
                                       "previewed_by": self.hub.previewed_by(point), "at": self.hub.clock()},
                            room=point_room(point))

    async def precheck_start(self, s: Session, data: object):
        return {"sdp": await self._offer(s, data, "precheck"), "iceServers": self._ice_servers(s)}

    def _ice_servers(self, s: Session) -> list[dict]:
        """Fresh TURN credentials with every offer (a kiosk outlives any TTL)."""
        return self.router.browser_ice_servers(s.identity.point or s.identity.role)

    async def precheck_result(self, s: Session, data: object):
        result = m.parse(m.PrecheckResult, data).model_dump(exclude={"version"})
        point = s.identity.point
        await self.hub.emit("notice", {"type": "precheck", "point": point, "at": self.hub.clock(),
                                       "result": result}, room=HEALTH)
        await self.hub.execute(lambda c: [Draft("station.checked", {"point": point, **result},
                                                s.identity.actor)])
        return {}

    async def precheck_stop(self, s: Session, data: object):
        await self.router.close_peer(s.sid, "precheck done")
        return {}
