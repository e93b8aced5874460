"""The conference's append-only JSONL journal, written so that no fault loses or corrupts it.

- Appends are one `os.write` of whole lines then `fsync`, on the store's writer thread (never
  the event loop that forwards RTP). A failed write (disk full, I/O error) is cut back to the
  last durable line before the error is raised, so nothing half-written stays in the file.
- Opening repairs a crash's partial last line by truncating the file in place (one metadata
  operation; a crash during the repair leaves either the old or the repaired file).
- A line damaged anywhere else stops the opening with `JournalDamaged`, naming the file, the
  line and what to do: the journal is the conference's record and is never silently dropped.
"""

from __future__ import annotations

import errno
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

from .events import Event

log = logging.getLogger(__name__)


class JournalDamaged(Exception):
    """A journal line that cannot be replayed (not at the end, where a crash may leave one)."""

    def __init__(self, path: Path, line: int, why: str) -> None:
        self.path, self.line, self.why = path, line, why
        super().__init__(
            f"{path}, line {line}: {why}. The conference journal is damaged, so Dewan will not start "
            f"on it. Keep a copy of the file, then either restore it from a backup, or keep only the "
            f"lines before the damage (`head -n {line - 1} {path} > fixed.jsonl && mv fixed.jsonl "
            f"{path}`) and accept that the events from line {line} on are lost.")


class JournalWriteError(Exception):
    """A write that did not become durable; the journal holds exactly what it held before."""

    def __init__(self, path: Path, exc: OSError) -> None:
        self.path, self.errno = path, exc.errno
        self.strerror = exc.strerror or str(exc)
        super().__init__(f"{path}: {self.strerror}")

    @property
    def disk_full(self) -> bool:
        return self.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None
        self._size = 0  # bytes known durable
        self._broken: JournalWriteError | None = None

    def open(self, apply: Callable[[Event], None]) -> int:
        """Replay every line through ``apply`` (repairing a partial last line) and open the
        file for appending. Returns the number of events replayed."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = self.path.read_bytes() if self.path.exists() else b""
        good = data.rfind(b"\n") + 1
        if good < len(data):
            log.warning("journal %s: cutting a partial last line left by a crash (%d bytes)",
                        self.path, len(data) - good)
            self._truncate_in_place(good)
        count, seq = 0, None
        for lineno, raw in enumerate(data[:good].split(b"\n")[:-1], 1):
            try:
                event = Event.from_json(json.loads(raw))
                if seq is not None and event.seq != seq + 1:
                    raise ValueError(f"sequence number {event.seq} follows {seq}")
                apply(event)
            except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
                raise JournalDamaged(self.path, lineno, f"cannot replay this line ({exc})") from None
            seq, count = event.seq, count + 1
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._size = good
        return count

    def _truncate_in_place(self, size: int) -> None:
        fd = os.open(self.path, os.O_WRONLY)
        try:
            os.ftruncate(fd, size)
            os.fsync(fd)
        finally:
            os.close(fd)

    def append(self, text: str) -> None:
        """Write whole lines durably (blocking: run it on a writer thread). On failure the
        file is cut back to its last durable line and JournalWriteError is raised."""
        if self._broken is not None:
            raise self._broken
        data = text.encode("utf-8")
        try:
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            os.fsync(self._fd)
        except OSError as exc:
            error = JournalWriteError(self.path, exc)
            try:
                os.ftruncate(self._fd, self._size)
                os.fsync(self._fd)
            except OSError:
                # The cut failed too: stop writing (the partial line stays the LAST line, which
                # the next start cuts off).
                self._broken = error
            raise error from None
        self._size += len(data)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
