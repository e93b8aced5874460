"""The socket.io namespace `/conf`: the ONE place where client events become domain calls,
emits and media actions. Every event is validated, authorised and acknowledged with
`{"ok": true, ...}` or `{"ok": false, "error": code, "message": ...}`."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable

import socketio

from signaling import agenda, floor
from signaling import conference as conference_ops
from signaling import messages as m
from signaling.errors import (
    BadRequest,
    DewanError,
    Forbidden,
    NotFound,
    RateLimited,
    Unauthorized,
    Unavailable,
)
from signaling.events import Draft
from signaling.protocol import EVENT_PERMISSIONS
from signaling.roles import STATION_ROLES, Perm, has
from signaling.tokens import TokenSigner

from .hub import ALL, CHAIRS, HEALTH, NAMESPACE, Hub, Session, point_room
from .loglimit import LogBudget

log = logging.getLogger("dewan.socket")

PRECHECK_EVENTS = frozenset({"precheck:start", "precheck:answer", "precheck:result", "precheck:stop",
                             "clock:sync"})

Handler = Callable[[Session, object], Awaitable[dict | None]]


class ConfNamespace(socketio.AsyncNamespace):
    def __init__(self, hub: Hub, signer: TokenSigner, refresh_signer: Callable[[], None] | None = None,
                 on_event_result: Callable[[str, str], None] | None = None) -> None:
        super().__init__(NAMESPACE)
        self.hub = hub
        self.signer = signer
        self.refresh_signer = refresh_signer or (lambda: None)
        self.on_event_result = on_event_result or (lambda event, result: None)
        sec = hub.settings.security
        self.rate, self.burst = sec.events_per_s, float(sec.events_burst)
        self.max_per_token = sec.max_connections_per_token
        self.refusal_log = LogBudget(lines=sec.refusal_log_lines, window_s=10.0)
        self.connect_log = LogBudget(lines=sec.refusal_log_lines, window_s=10.0)
        # event name -> handler; the permission comes from signaling.protocol
        self.handlers: dict[str, Handler] = {
            "conference:open": self.conference_open,
            "conference:close": self.conference_close,
            "conference:pause": self.conference_pause,
            "conference:resume": self.conference_resume,
            "floor:request": self.floor_request,
            "floor:cancel": self.floor_cancel,
            "floor:grant": self.floor_grant,
            "floor:deny": self.floor_deny,
            "floor:move": self.floor_move,
            "floor:revoke": self.floor_revoke,
            "floor:extend": self.floor_extend,
            "audio:mute": self.audio_mute,
            "agenda:set": self.agenda_set,
            "clock:sync": self.clock_sync,
            "state:get": self.state_get,
            "message:send": self.message_send,
        }

    def register(self, event: str, handler: Handler) -> None:
        """Media and health wiring add their events here (rtc:*, stats:report, ...)."""
        if event not in EVENT_PERMISSIONS:
            raise ValueError(f"{event} has no permission in signaling.protocol")
        self.handlers[event] = handler

    # --- dispatch ---------------------------------------------------------------------
    async def trigger_event(self, event: str, *args):
        if event == "connect":
            return await self.connect(*args)
        if event == "disconnect":
            return await self.disconnect(args[0], args[1] if len(args) > 1 else "unknown")
        sid, data = args[0], (args[1] if len(args) > 1 else None)
        started = time.perf_counter()
        session = self.hub.sessions.get(sid)
        name = str(event)[:64]
        try:
            if session is None:
                raise Unauthorized("Not connected.")
            # Order matters: every event, unknown ones too, spends the rate budget; the
            # permission is checked before anything about the event's availability is said.
            self._take_token(session, event)
            self._check_still_valid(session)
            if event not in EVENT_PERMISSIONS:
                raise BadRequest(f"Unknown event {name!r}.")
            if session.precheck and event not in PRECHECK_EVENTS:
                raise Forbidden("A pre-join check connection only runs the check.")
            if not has(session.identity.role, EVENT_PERMISSIONS[event]):
                raise Forbidden(f"Your role ({session.identity.role}) may not do {event}.")
            handler = self.handlers.get(event)
            if handler is None:
                raise Unavailable(f"{event} is not available in this version of Dewan.")
            result = await handler(session, data)
            ack = {"ok": True, **(result or {})}
        except DewanError as exc:
            ack = exc.to_ack()
        except Exception:
            log.exception("handler failed", extra={"event": name, "sid": sid})
            ack = {"ok": False, "error": "internal", "message": "The server failed to do this; it was logged."}
        result_code = "ok" if ack["ok"] else ack["error"]
        self.on_event_result(name if event in EVENT_PERMISSIONS else "(unknown)", result_code)
        if ack["ok"]:
            if event != "stats:report":
                self._log_event(session, sid, name, result_code, started)
        else:
            skipped = self.refusal_log.take(sid)  # refusals are logged at a bounded rate
            if skipped is not None:
                self._log_event(session, sid, name, result_code, started, why=ack["message"],
                                **({"suppressed": skipped} if skipped else {}))
        return ack

    def _log_event(self, session: Session | None, sid: str, name: str, result: str, started: float,
                   **extra) -> None:
        log.info("socket event", extra={
            "event": name, "sid": sid, "role": session.identity.role if session else None,
            "result": result, "ms": round((time.perf_counter() - started) * 1000, 1), **extra})

    def _check_still_valid(self, session: Session) -> None:
        """A link revoked (`dewan links --rotate`) or expired while connected stops working."""
        ident = session.identity
        self.refresh_signer()  # one stat() of the generations file: a rotation counts at once
        refusal = None
        if ident.expires_at is not None and time.time() > ident.expires_at:
            refusal = Unauthorized("This link has expired; ask the technicians for a new one.", key="link_expired")
        elif ident.generation < self.signer.generations.get(ident.subject, 0):
            refusal = Unauthorized("This link was revoked; ask the technicians for the new one.", key="link_revoked")
        if refusal is not None:
            # it must not keep receiving the conference's broadcasts either: cut it after this ack
            asyncio.get_running_loop().call_later(0.2, lambda: asyncio.ensure_future(
                self.disconnect_sid(session.sid)))
            raise refusal

    def _take_token(self, session: Session, event: str) -> None:
        now = time.monotonic()
        elapsed, session.refilled_at = now - session.refilled_at, now
        session.stats_tokens = min(3.0, session.stats_tokens + elapsed * 1.0)
        session.tokens = min(self.burst, session.tokens + elapsed * self.rate)
        if event == "stats:report":  # a separate small budget: one report every 2 s expected
            if session.stats_tokens < 1:
                raise RateLimited("Too many stats reports; slow down (one every 2 s is expected).",
                                  key="slow_down")
            session.stats_tokens -= 1
            return
        if session.tokens < 1:
            raise RateLimited(f"Too many requests: slow down (at most {self.rate:g} a second, "
                              f"bursts of {self.burst:g}); wait a moment and try again.", key="slow_down",
                              retry_after_s=round((1 - session.tokens) / self.rate, 2))
        session.tokens -= 1

    # --- connection -------------------------------------------------------------------
    async def connect(self, sid: str, environ: dict, auth: object = None):
        self.refresh_signer()
        token = auth.get("token") if isinstance(auth, dict) else None
        try:
            identity = self.signer.verify(token)
            if identity.point is not None and identity.point not in self.hub.points:
                raise Unauthorized("This link names a point that is not configured.")
            token_key = hashlib.sha256(token.encode()).hexdigest()[:16]
            if sum(s.token_key == token_key for s in self.hub.sessions.values()) >= self.max_per_token:
                raise RateLimited(f"This link is already open in {self.max_per_token} windows or devices; "
                                  "close one first.", key="too_many_connections")
        except DewanError as exc:
            skipped = self.connect_log.take(str(environ.get("REMOTE_ADDR", "?")))
            if skipped is not None:
                log.info("connection refused", extra={"sid": sid, "why": exc.message,
                                                      **({"suppressed": skipped} if skipped else {})})
            raise socketio.exceptions.ConnectionRefusedError(exc.message, {"error": exc.code, "key": exc.key})
        session = Session(sid, identity, time.time(), tokens=self.burst, stats_tokens=3.0, token_key=token_key)
        if isinstance(auth, dict) and auth.get("mode") == "precheck":
            # The pre-join check beside a running kiosk: it must not replace the station.
            if identity.role not in STATION_ROLES:
                raise socketio.exceptions.ConnectionRefusedError(
                    "Only a station's link can run the pre-join check.", {"error": "forbidden"})
            session.precheck = True
            self.hub.sessions[sid] = session
            log.info("connected", extra={"sid": sid, "role": identity.role, "point": identity.point,
                                         "mode": "precheck"})
            return
        self.hub.sessions[sid] = session
        try:
            await self._enter(sid, session)
        except DewanError as exc:  # e.g. Redis away: refuse now, the page retries
            self.hub.sessions.pop(sid, None)
            log.info("connection refused", extra={"sid": sid, "why": exc.message})
            raise socketio.exceptions.ConnectionRefusedError(exc.message, {"error": exc.code, "key": exc.key})

    async def _enter(self, sid: str, session: Session) -> None:
        identity = session.identity
        await self.enter_room(sid, ALL)
        if has(identity.role, Perm.MODERATE):
            await self.enter_room(sid, CHAIRS)
        if has(identity.role, Perm.HEALTH):
            await self.enter_room(sid, HEALTH)
        if identity.point is not None:
            await self.enter_room(sid, point_room(identity.point))
        log.info("connected", extra={"sid": sid, "role": identity.role, "point": identity.point,
                                     "label": identity.label})
        if identity.role in STATION_ROLES:
            await self._station_joined(session)
        else:
            conf = await self.hub.conference()
            await self.hub.emit("roster", self.hub.roster(conf), room=ALL)
        await self.hub.emit("state", await self.hub.snapshot(session), to=sid)

    async def _station_joined(self, session: Session) -> None:
        point = session.identity.point
        previous = await self.hub.station_registry.claim(point, session.sid)  # any process's window
        if previous is not None:
            old = self.hub.sessions.get(previous)
            if old is not None:
                old.replaced = True
            await self.hub.emit("error", {"error": "replaced", "message":
                                          "This station was opened in another window or device; this page stopped."},
                                to=previous)
            await self.hub.execute(lambda c: [Draft("station.replaced", {"point": point}, "system")])
            await self.hub.emit("notice", {"type": "station_replaced", "point": point,
                                           "at": self.hub.clock()}, room=HEALTH)
            await self.disconnect_sid(previous)
        await self.hub.execute(lambda c: floor.point_joined(c, point, self.hub.clock()))

    async def disconnect_sid(self, sid: str) -> None:
        await self.hub.sio.disconnect(sid, namespace=NAMESPACE)

    async def disconnect(self, sid: str, reason: object = None):
        session = self.hub.sessions.pop(sid, None)
        self.refusal_log.forget(sid)
        if session is None:
            return
        ident = session.identity
        log.info("disconnected", extra={"sid": sid, "role": ident.role, "point": ident.point,
                                        "reason": str(reason), "replaced": session.replaced})
        if self.hub.media is not None:
            await self.hub.media.close_peer(sid, "disconnected")
        for hook in self.hub.on_disconnect:
            try:
                await hook(session)
            except Exception:
                log.exception("disconnect hook failed", extra={"sid": sid})
        if session.precheck:
            return
        try:
            if ident.point is not None and await self.hub.station_registry.release(ident.point, sid):
                await self.hub.execute(lambda c: floor.point_left(c, ident.point, "disconnected",
                                                                  self.hub.clock(), self.hub.policy))
            else:
                conf = await self.hub.conference()
                await self.hub.emit("roster", self.hub.roster(conf), room=ALL)
        except Unavailable as exc:  # recorded when Redis is back (server/ownership.py reconcile)
            log.warning("a leave could not be recorded now", extra={"sid": sid, "point": ident.point,
                                                                    "why": exc.message})

    # --- conference ---------------------------------------------------------------------
    async def conference_open(self, s: Session, data: object):
        p = m.parse(m.ConferenceOpen, data)
        title = p.title or self.hub.settings.conference.title
        conf, _ = await self.hub.execute(lambda c: conference_ops.open_conference(c, title, s.identity.actor),
                                         p.version)
        return {"conference": conf.conference_json()}

    async def _simple(self, s: Session, data: object, decide) -> dict:
        p = m.parse(m.Empty, data)
        conf, _ = await self.hub.execute(lambda c: decide(c, s.identity.actor), p.version)
        return {"conference": conf.conference_json()}

    async def conference_close(self, s: Session, data: object):
        return await self._simple(s, data, conference_ops.close_conference)

    async def conference_pause(self, s: Session, data: object):
        return await self._simple(s, data, conference_ops.pause_conference)

    async def conference_resume(self, s: Session, data: object):
        return await self._simple(s, data, conference_ops.resume_conference)

    # --- queue and floor ------------------------------------------------------------------
    def _floor_ack(self, conf) -> dict:
        return {"queue": conf.queue_json(), "floor": self.hub.floor_payload(conf, self.hub.clock())}

    async def floor_request(self, s: Session, data: object):
        p = m.parse(m.FloorRequest, data)
        point = s.identity.point
        conf, _ = await self.hub.execute(lambda c: floor.request(c, point, p.topic, self.hub.clock()))
        return {"position": conf.position(point), **self._floor_ack(conf)}

    async def floor_cancel(self, s: Session, data: object):
        m.parse(m.Empty, data)
        conf, _ = await self.hub.execute(lambda c: floor.cancel(c, s.identity.point))
        return self._floor_ack(conf)

    def _known(self) -> set[str]:
        return set(self.hub.points.district_ids)

    async def floor_grant(self, s: Session, data: object):
        p = m.parse(m.FloorGrant, data)
        target = None if p.point in (None, self.hub.points.hall.id) else p.point
        if p.point == self.hub.points.hall.id:
            return await self.floor_revoke(s, {"version": p.version} if p.version is not None else {})
        conf, _ = await self.hub.execute(
            lambda c: floor.grant(c, target, p.limit_s, self.hub.clock(), self.hub.policy,
                                  s.identity.actor, self._known()), p.version)
        return self._floor_ack(conf)

    async def floor_deny(self, s: Session, data: object):
        p = m.parse(m.FloorDeny, data)
        conf, _ = await self.hub.execute(lambda c: floor.deny(c, p.point, p.reason, s.identity.actor), p.version)
        return self._floor_ack(conf)

    async def floor_move(self, s: Session, data: object):
        p = m.parse(m.FloorMove, data)
        conf, _ = await self.hub.execute(lambda c: floor.move(c, p.point, p.position, s.identity.actor), p.version)
        return self._floor_ack(conf)

    async def floor_revoke(self, s: Session, data: object):
        p = m.parse(m.Empty, data)
        conf, _ = await self.hub.execute(lambda c: floor.revoke(c, s.identity.actor), p.version)
        return self._floor_ack(conf)

    async def floor_extend(self, s: Session, data: object):
        p = m.parse(m.FloorExtend, data)
        conf, _ = await self.hub.execute(
            lambda c: floor.extend(c, p.seconds, self.hub.clock(), self.hub.policy, s.identity.actor), p.version)
        return self._floor_ack(conf)

    async def audio_mute(self, s: Session, data: object):
        p = m.parse(m.AudioMute, data)
        conf, _ = await self.hub.execute(
            lambda c: floor.set_muted(c, p.point, p.muted, s.identity.actor, self._known()), p.version)
        return self._floor_ack(conf)

    async def agenda_set(self, s: Session, data: object):
        p = m.parse(m.AgendaSet, data)
        conf, _ = await self.hub.execute(lambda c: agenda.set_item(c, p.title, s.identity.actor, self.hub.clock()))
        return {"conference": conf.conference_json()}

    # --- misc -------------------------------------------------------------------------------
    async def clock_sync(self, s: Session, data: object):
        return {"server_time": self.hub.clock()}

    async def state_get(self, s: Session, data: object):
        return {"state": await self.hub.snapshot(s)}

    async def message_send(self, s: Session, data: object):
        p = m.parse(m.MessageSend, data)
        if p.point not in self.hub.points:
            raise NotFound(f"Unknown point {p.point!r}.")
        message = {"from": s.identity.label, "role": s.identity.role, "point": p.point,
                   "text": p.text, "at": self.hub.clock()}
        # recorded first: with Redis away the message is refused, not shown and then lost
        await self.hub.execute(lambda c: [Draft("message.sent", {"point": p.point, "text": p.text},
                                                      s.identity.actor)])
        await self.hub.emit("message", message, room=point_room(p.point))
        await self.hub.emit("message", message, room=HEALTH)
        delivered = p.point in self.hub.stations
        return {"delivered": delivered}


