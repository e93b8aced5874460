"""The state store: one interface, an embedded backend (memory + JSONL journal).

Every event is appended (and fsynced, see journal.py) to the conference's journal before it is
applied, so a crash of the single process loses nothing: on start the journal is replayed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

from .errors import Conflict, Unavailable
from .events import Draft, Event, number
from .journal import Journal, JournalDamaged, JournalWriteError  # noqa: F401 (JournalDamaged re-exported)
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
    """In-memory state, journaled to `<state_dir>/conferences/<id>/events.jsonl`.

    Journal writes run on one writer thread, so a slow disk never stalls the event loop (and
    the RTP it forwards); an action is applied and acknowledged only once its events are
    durable. A failed write refuses the action (`unavailable`) and changes nothing."""

    def __init__(self, state_dir: Path, clock: Callable[[], float] = time.time) -> None:
        self._dir = Path(state_dir) / "conferences"
        self._dir.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        self._conferences: dict[str, Conference] = {}
        self._logs: dict[str, list[Event]] = {}
        self._journals: dict[str, Journal] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal")

    def _journal(self, conference_id: str) -> Path:
        return self._dir / conference_id / "events.jsonl"

    def open(self, conference_id: str) -> Conference:
        """Replay the conference's journal (raises JournalDamaged for a damaged one)."""
        return self._load(conference_id)

    def _load(self, conference_id: str) -> Conference:
        conf = self._conferences.get(conference_id)
        if conf is not None:
            return conf
        conf, events = Conference(id=conference_id), []
        journal = Journal(self._journal(conference_id))

        def replay_one(event: Event) -> None:
            apply(conf, event)
            events.append(event)

        count = journal.open(replay_one)
        if count:
            log.info("journal %s: replayed %d events (version %d)", journal.path, count, conf.version)
        self._journals[conference_id] = journal
        self._conferences[conference_id] = conf
        self._logs[conference_id] = events
        return conf

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
            text = "".join(e.dumps() + "\n" for e in events)
            try:
                await asyncio.get_running_loop().run_in_executor(
                    self._writer, self._journals[conference_id].append, text)
            except JournalWriteError as exc:
                log.error("journal write failed; the action was refused", extra={
                    "journal": str(exc.path), "why": exc.strerror, "types": [e.type for e in events]})
                what = "the disk is full" if exc.disk_full else f"the disk failed ({exc.strerror})"
                raise Unavailable(f"The server could not save this change because {what}; nothing was "
                                  "changed. Tell the technicians.", key="journal_failed") from None
            for event in events:
                apply(conf, event)
                self._logs[conference_id].append(event)
            return conf, events

    async def events(self, conference_id: str, since: int = 0) -> list[Event]:
        self._load(conference_id)
        return [e for e in self._logs[conference_id] if e.seq > since]

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self._writer.shutdown)
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal")
        for journal in self._journals.values():
            journal.close()
        self._journals.clear()
        self._conferences.clear()
