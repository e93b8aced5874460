"""The recorder's writer thread: every file operation of a recording happens here, never on
the event loop. The recorder hands it batches (``submit``) a few times a second; each batch
is appended to its track file (see :mod:`.trackfile`) in one ``write`` and flushed, so a
crash loses at most the batches not yet handed over (well under a second)."""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from pathlib import Path
from typing import Optional

from .trackfile import header_line, pack_record

logger = logging.getLogger(__name__)

_FSYNC_EVERY_S = 5.0  # flush every batch (SIGKILL-safe); fsync now and then (power loss)


class TrackWriter:
    """A thread that owns the open track files of one recording segment."""

    def __init__(self, segment_dir: Path) -> None:
        self.segment_dir = Path(segment_dir)
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._files: dict[str, object] = {}
        self.bytes_written: dict[str, int] = {}  # file name -> bytes (read by the loop)
        self.names: dict[str, str] = {}  # file name asked for -> created (see _create)
        self.error: Optional[str] = None  # the first write error (the recorder reports it)
        self.cpu_s = 0.0  # CPU time of this thread (benchmarks)
        self._thread = threading.Thread(target=self._run, name="recording-writer",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, name: str, header: dict, batch: list) -> None:
        """Queue ``batch`` ([(arrival, rtp bytes), ...]) for file ``name`` (created with
        ``header`` on first use). Cheap: called on the event loop."""
        self._queue.put((name, header, batch))

    def close(self) -> None:
        """Ask the thread to write what is queued, close the files and end (no wait)."""
        self._queue.put(None)

    def join(self, timeout: Optional[float] = None) -> None:
        self._thread.join(timeout)

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    # -- thread ------------------------------------------------------------------------
    def _run(self) -> None:

        last_sync = time.monotonic()
        done = False
        while not done:
            items = [self._queue.get()]
            while True:  # take everything already queued, then flush once
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            if None in items:
                done = True
                items = items[:items.index(None)]
            if self.error is not None:
                continue  # broken (disk full?): drop batches, never grow the queue
            started = time.thread_time()
            try:
                for item in items:
                    self._write(*item)
                for f in self._files.values():
                    f.flush()
                if time.monotonic() - last_sync >= _FSYNC_EVERY_S:
                    last_sync = time.monotonic()
                    for f in self._files.values():
                        os.fsync(f.fileno())
            except OSError as exc:
                self.error = f"{exc.strerror or exc}"
                logger.error("recording writer failed in %s: %s", self.segment_dir, exc)
            self.cpu_s += time.thread_time() - started
        self._close_files()

    def _write(self, name: str, header: dict, batch: list) -> None:
        f = self._files.get(name)
        if f is None:
            self.segment_dir.mkdir(parents=True, exist_ok=True)
            f = self._files[name] = self._create(name)
            data = header_line(header)
            f.write(data)
            self.bytes_written[name] = len(data)
        data = b"".join([pack_record(arrival, packet) for arrival, packet in batch])
        f.write(data)
        self.bytes_written[name] += len(data)

    def _create(self, name: str):
        """A new file: never append to an existing one (a second header in the middle
        would read as damage). ``names`` maps the name asked for to the one created."""
        stem, _, ext = name.rpartition(".")
        candidate, n = name, 1
        while True:
            try:
                f = open(self.segment_dir / candidate, "xb")
            except FileExistsError:
                n += 1
                candidate = f"{stem}.{n}.{ext}"
                continue
            self.names[name] = candidate
            return f

    def _close_files(self) -> None:
        for name, f in self._files.items():
            try:
                f.flush()
                os.fsync(f.fileno())
                f.close()
            except OSError as exc:
                logger.error("closing recording file %s failed: %s", name, exc)
        self._files.clear()
