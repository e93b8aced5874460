"""The state store: one interface, an embedded backend (memory + JSONL journal).

Every event is appended (and fsynced) to the conference's journal before it is applied, so a
crash of the single process loses nothing: on start the journal is replayed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from .errors import Conflict
from .events import Draft, Event, number
from .replay import apply
from .state import Conference

log = logging.getLogger(__name__)

Decide = Callable[[Conference], Sequence[Draft]]


class Store(Protocol):
    async def get(self, conference_id: str) -> Conference: ...

    async def execute(self, conference_id: str, decide: Decide,
                      expect_version: int | None = None) -> tuple[Conference, list[Event]]:
        """Decide on the current state and record the events atomically. `expect_version` is
        the moderation version the client acted on; a different one is a Conflict."""
        ...

    async def events(self, conference_id: str, since: int = 0) -> list[Event]: ...

    async def close(self) -> None: ...


class MemoryStore:
    """In-memory state, journaled to `<state_dir>/conferences/<id>/events.jsonl`."""

    def __init__(self, state_dir: Path, clock: Callable[[], float] = time.time) -> None:
        self._dir = Path(state_dir) / "conferences"
        self._dir.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        self._conferences: dict[str, Conference] = {}
        self._logs: dict[str, list[Event]] = {}
        self._files: dict[str, object] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def _journal(self, conference_id: str) -> Path:
        return self._dir / conference_id / "events.jsonl"

    def _load(self, conference_id: str) -> Conference:
        conf = self._conferences.get(conference_id)
        if conf is not None:
            return conf
        conf, events = Conference(id=conference_id), []
        path = self._journal(conference_id)
        if path.exists():
            with path.open(encoding="utf-8") as fh:
                for lineno, line in enumerate(fh, 1):
                    if not line.endswith("\n"):
                        log.warning("journal %s: dropping a partial last line %d", path, lineno)
                        break
                    event = Event.from_json(json.loads(line))
                    apply(conf, event)
                    events.append(event)
            log.info("journal %s: replayed %d events (version %d)", path, len(events), conf.version)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._truncate_partial(path)
        self._files[conference_id] = path.open("a", encoding="utf-8")
        self._conferences[conference_id] = conf
        self._logs[conference_id] = events
        return conf

    @staticmethod
    def _truncate_partial(path: Path) -> None:
        if not path.exists():
            return
        data = path.read_bytes()
        if data and not data.endswith(b"\n"):
            path.write_bytes(data[: data.rfind(b"\n") + 1])

    async def get(self, conference_id: str) -> Conference:
        return self._load(conference_id)

    async def execute(self, conference_id: str, decide: Decide,
                      expect_version: int | None = None) -> tuple[Conference, list[Event]]:
        lock = self._locks.setdefault(conference_id, asyncio.Lock())
        async with lock:
            conf = self._load(conference_id)
            if expect_version is not None and expect_version != conf.moderation_version:
                raise Conflict("The conference changed meanwhile; your screen now shows the current state.", key="changed",
                               version=conf.moderation_version)
            drafts = list(decide(conf))
            if not drafts:
                return conf, []
            now = self._clock()
            events = number(drafts, conference_id, conf.version, now)
            fh = self._files[conference_id]
            fh.write("".join(e.dumps() + "\n" for e in events))
            fh.flush()
            os.fsync(fh.fileno())
            for event in events:
                apply(conf, event)
                self._logs[conference_id].append(event)
            return conf, events

    async def events(self, conference_id: str, since: int = 0) -> list[Event]:
        self._load(conference_id)
        return [e for e in self._logs[conference_id] if e.seq > since]

    async def close(self) -> None:
        for fh in self._files.values():
            fh.close()
        self._files.clear()
        self._conferences.clear()
