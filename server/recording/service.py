"""The recording service: `recording:start|stop`, auto start on open and stop on close, one
segment per process run (a restarted process resumes the session as a new segment), the
manifest kept current, and the disk guard.

Journal: `recording.started {session, segment, reason, process}`, `recording.segment`,
`recording.stopped {session, reason}` (reasons in signaling.recording.STOP_REASONS), each with
its actor. Broadcast: `recording {active, session, started_at, segment, reason?, free_gb?}` to
every page (and the same object in the `state` snapshot)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path

from signaling import messages as m
from signaling import recording as rec
from signaling.errors import Unavailable
from signaling.events import Event
from signaling.state import CLOSED, OPEN, PAUSED

from ..hub import ALL, CHAIRS, HEALTH, Hub, Session
from . import manifest as mf

log = logging.getLogger("dewan.recording")
TICK_S = 1.0
MANIFEST_EVERY_S = 2.0
DISK_EVERY_S = 2.0
GIB = 1024 ** 3


def free_gb(path: Path) -> float:
    probe = Path(path)
    while not probe.exists():
        probe = probe.parent
    return shutil.disk_usage(probe).free / GIB


def new_session_id(conference_id: str, now: float) -> str:
    return f"{conference_id}-{datetime.fromtimestamp(now, timezone.utc):%Y%m%d-%H%M%S}"


class RecordingService:
    def __init__(self, hub: Hub, router, process: str, recorder_factory=None) -> None:
        self.hub = hub
        self.router = router
        self.settings = hub.settings.recording
        self.root: Path = hub.settings.recordings_dir
        self.process = f"{process} pid {os.getpid()}"
        self.recorder_factory = recorder_factory or _default_recorder
        self.recorder = None
        self.segment: dict | None = None  # this process's running segment (segment.json)
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task] = set()
        hub.listeners.append(self._on_events)

    def register(self, namespace) -> None:
        namespace.register("recording:start", self.on_start)
        namespace.register("recording:stop", self.on_stop)

    # --- socket events --------------------------------------------------------------------
    async def on_start(self, s: Session, data: object):
        m.parse(m.Empty, data)
        return {"recording": await self.start(s.identity.actor, "chair")}

    async def on_stop(self, s: Session, data: object):
        m.parse(m.Empty, data)
        return {"recording": await self.stop(s.identity.actor, "chair")}

    # --- control ---------------------------------------------------------------------------
    async def start(self, actor: str, reason: str) -> dict:
        if not self.hub.is_owner():
            raise Unavailable("This server does not host the conference's media; reload the page.")
        free = free_gb(self.root)
        if free < self.settings.min_free_gb:
            await self._disk_low(free, running=False)
            raise Unavailable(f"Only {free:.1f} GiB of disk is free (recording needs {self.settings.min_free_gb} GiB).",
                              key="disk_low", free_gb=round(free, 2))
        async with self._lock:
            now = self.hub.clock()
            session = new_session_id(self.hub.conference_id, now)
            taken = 1
            while self.session_dir(session if taken == 1 else f"{session}-{taken}").exists():
                taken += 1  # stopped and started again within a second
            session = session if taken == 1 else f"{session}-{taken}"
            conf, _ = await self.hub.execute(lambda c: rec.start(c, session, actor, reason, now, self.process))
            await self._begin_segment(conf.recording)
        payload = rec.payload(conf.recording)
        await self.hub.emit("recording", payload, room=ALL)
        log.info("recording started", extra={"session": session, "actor": actor, "reason": reason})
        if self.recorder is None:  # the recorder could not start: say so rather than pretend
            return await self.stop("system", "failed")
        return payload

    async def stop(self, actor: str, reason: str, **extra) -> dict:
        async with self._lock:
            now = self.hub.clock()
            conf = await self.hub.conference()
            session = (conf.recording or {}).get("session")
            await self.hub.execute(lambda c: rec.stop(c, actor, reason, now))
            await self._end_segment(now)
            await self._write_manifest(session, now)
        payload = {**rec.payload(None), "session": session, "reason": reason, **extra}
        await self.hub.emit("recording", payload, room=ALL)
        log.info("recording stopped", extra={"session": session, "actor": actor, "reason": reason})
        return payload

    async def resume(self) -> None:
        """At start-up (or on taking the conference over): a session still on in the journal
        goes on as a new segment if the conference is open; otherwise it is closed."""
        conf = await self.hub.conference()
        if conf.recording is None:
            return
        if conf.status not in (OPEN, PAUSED):
            with contextlib.suppress(Exception):
                await self.stop("system", "conference_closed")
            return
        free = free_gb(self.root)
        if free < self.settings.min_free_gb:
            await self._disk_low(free, running=True)
            return
        async with self._lock:
            conf, _ = await self.hub.execute(lambda c: rec.new_segment(c, self.process, "resumed", self.hub.clock()))
            await self._begin_segment(conf.recording)
        await self.hub.emit("recording", rec.payload(conf.recording), room=ALL)
        log.info("recording resumed", extra={"session": conf.recording["session"],
                                             "segment": conf.recording["segment"]})
        if self.recorder is None:
            await self.stop("system", "failed")

    async def release(self) -> None:
        """This process stops recording here (shutdown, or another process took the conference
        over): the segment ends cleanly; the session stays on in the journal, so the process that
        owns the conference next resumes it as a new segment."""
        async with self._lock:
            if self.segment is not None:
                session = self.segment["session"]
                await self._end_segment(self.hub.clock())
                await self._write_manifest(session, self.hub.clock())

    async def close(self) -> None:
        await self.release()
        for task in list(self._tasks):
            task.cancel()

    # --- files -------------------------------------------------------------------------------
    def session_dir(self, session: str) -> Path:
        return self.root / session

    async def _begin_segment(self, state: dict) -> None:
        session, number = state["session"], state["segment"]
        seg_dir = self.session_dir(session) / f"seg-{number:03d}"
        now = self.hub.clock()
        self.segment = {"session": session, "dir": seg_dir.name, "number": number, "process": self.process,
                        "started_at": round(now, 3), "ended_at": None, "updated_at": round(now, 3), "tracks": []}
        try:
            seg_dir.mkdir(parents=True, exist_ok=True)
            self.recorder = self.recorder_factory(self.router, seg_dir)
            self.recorder.start()
        except Exception:  # the caller stops the session with reason "failed"
            log.exception("the recorder failed to start")
            self.recorder = None
        self._write_segment()
        await self._write_manifest(session, now)

    async def _end_segment(self, now: float) -> None:
        if self.recorder is not None:
            try:
                await self.recorder.stop()
            except Exception:
                log.exception("the recorder failed to stop cleanly")
        if self.segment is not None:
            self.segment["ended_at"] = round(now, 3)
            self._write_segment()
        self.recorder = None
        self.segment = None

    def _write_segment(self) -> None:
        seg = self.segment
        if seg is None:
            return
        if self.recorder is not None:
            with contextlib.suppress(Exception):
                seg["tracks"] = self.recorder.tracks()
        seg["updated_at"] = round(self.hub.clock(), 3)
        try:
            mf.write_json_atomic(self.session_dir(seg["session"]) / seg["dir"] / mf.SEGMENT, seg)
        except OSError as exc:  # e.g. the disk is full: the journal still has the metadata
            log.error("segment.json not written: %s", exc)

    async def _write_manifest(self, session: str | None, now: float) -> None:
        """Rebuilt from the whole event log each time (the store is the truth, also for events
        other processes journaled), plus the segments' own files."""
        if session is None:
            return
        conf = await self.hub.conference()
        events = await self.hub.store.events(self.hub.conference_id)
        points = {p.id: {"kind": p.kind, "names": dict(p.names)}
                  for p in (self.hub.points.hall, *self.hub.points.districts)}
        try:
            title = conf.title or self.hub.settings.conference.title
            data = mf.build(events, session, conference={"id": conf.id, "title": title},
                            lang=self.hub.settings.ui.default_lang, points=points,
                            chairs=self.hub.settings.links.chair_people(),
                            segments=mf.read_segments(self.session_dir(session)), now=now)
        except ValueError:
            log.exception("manifest of %s not written", session)
            return
        try:
            mf.write_json_atomic(self.session_dir(session) / mf.MANIFEST, data)
        except OSError as exc:  # the previous manifest stays whole (rename is atomic)
            log.error("manifest of %s not written: %s", session, exc)

    # --- background ------------------------------------------------------------------------
    def _on_events(self, events: list[Event]) -> None:
        for e in events:
            if e.type == "conference.opened" and self.settings.auto:
                self._spawn(self._auto_start())
            elif e.type == "conference.closed":
                self._spawn(self._auto_stop())

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _auto_start(self) -> None:
        try:
            await self.start("system", "auto")
        except Exception as exc:  # refusals (disk, already on) are logged; the chairs saw them
            log.warning("auto recording did not start: %s", exc)

    async def _auto_stop(self) -> None:
        conf = await self.hub.conference()
        if conf.recording is not None and conf.status == CLOSED:
            with contextlib.suppress(Exception):
                await self.stop("system", "conference_closed")

    async def run(self) -> None:
        last_manifest = last_disk = 0.0
        while True:
            try:
                await asyncio.sleep(TICK_S)
                now = time.monotonic()
                if self.segment is None:
                    continue
                if self.recorder is not None and self.recorder.error:
                    log.error("recorder failed: %s", self.recorder.error)
                    await self.stop("system", "failed", error=str(self.recorder.error)[:200])
                    continue
                if now - last_disk >= DISK_EVERY_S:
                    last_disk = now
                    free = free_gb(self.root)
                    if free < self.settings.min_free_gb:
                        await self._disk_low(free, running=True)
                        continue
                if now - last_manifest >= MANIFEST_EVERY_S:
                    last_manifest = now
                    self._write_segment()
                    await self._write_manifest(self.segment["session"], self.hub.clock())
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("recording loop failed")

    async def _disk_low(self, free: float, running: bool) -> None:
        log.warning("recording: disk low", extra={"free_gb": round(free, 2), "min_free_gb": self.settings.min_free_gb,
                                                   "dir": str(self.root)})
        notice = {"type": "recording_disk_low", "at": self.hub.clock(), "free_gb": round(free, 2),
                  "min_free_gb": self.settings.min_free_gb}
        await self.hub.emit("notice", notice, room=HEALTH)
        if running:
            with contextlib.suppress(Exception):
                await self.stop("system", "disk_low", free_gb=round(free, 2))
        else:
            await self.hub.emit("recording", {**rec.payload(None), "reason": "disk_low", "free_gb": round(free, 2)},
                                room=CHAIRS)


def _default_recorder(router, segment_dir: Path):
    from .recorder import Recorder

    return Recorder(router, segment_dir)
