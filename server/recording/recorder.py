"""Recorder: the relay's recording consumer for one segment of a recording session.

    recorder = Recorder(router, session_dir / "seg-001")
    recorder.start()            # sinks on the recorded slots; key frames asked at once
    recorder.tracks()           # manifest entries (cheap, no I/O: call it any time)
    await recorder.stop()       # detach, hand over the last batch, close the files

One :class:`~.sink.RecorderSink` per slot in :data:`RECORDED_SLOTS`, added to the router
like a viewer's slot (the floor sinks follow the floor holder; ``presentation.video``
records only while the hall shares a screen). Four times a second the recorder hands each
sink's batch to the writer thread (:mod:`.writer`), which appends and flushes it, and asks
for a key frame where a sink saw unrepaired loss or none for ``keyframe_interval_s``.
Track files are ``<segment_dir>/<slot>.rtp`` (see :mod:`.trackfile`), created when their
first packet arrives.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Optional

from .sink import RecorderSink
from .writer import TrackWriter

logger = logging.getLogger(__name__)

RECORDED_SLOTS = (
    ("hall.audio", "audio"),
    ("hall.video", "video"),
    ("floor.audio", "audio"),
    ("floor.video", "video"),
    ("presentation.video", "video"),
)
HANDOFF_INTERVAL_S = 0.25
STOP_TIMEOUT_S = 30.0  # a hung disk must not hang the conference's shutdown


def track_file_name(slot: str) -> str:
    return f"{slot}.rtp"


class Recorder:
    def __init__(self, router, segment_dir: Path, *, keyframe_interval_s: float = 10.0
                 ) -> None:
        self.router = router
        self.segment_dir = Path(segment_dir)
        self.keyframe_interval_s = keyframe_interval_s
        self.sinks: list[RecorderSink] = []
        self.started_at: Optional[float] = None
        self.stopped_at: Optional[float] = None
        self._writer: Optional[TrackWriter] = None
        self._task: Optional[asyncio.Task] = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def error(self) -> Optional[str]:
        """The writer's first error (e.g. the disk is full), or None."""
        return self._writer.error if self._writer is not None else None

    @property
    def writer_cpu_s(self) -> float:
        """CPU time the writer thread has used (benchmarks)."""
        return self._writer.cpu_s if self._writer is not None else 0.0

    def start(self) -> None:
        if self._writer is not None:
            raise RuntimeError("a Recorder starts once")
        self.started_at = time.time()
        self._writer = TrackWriter(self.segment_dir)
        self._writer.start()
        self.sinks = [RecorderSink(slot, kind) for slot, kind in RECORDED_SLOTS]
        for sink in self.sinks:
            self.router.add_sink(sink)
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(HANDOFF_INTERVAL_S)
            try:
                self._handoff()
                now = time.time()
                for sink in self.sinks:
                    sink.check(now, self.keyframe_interval_s)
            except Exception:
                logger.exception("recorder tick failed")

    def _handoff(self) -> None:
        writer = self._writer
        for sink in self.sinks:
            if sink.batch:
                writer.submit(track_file_name(sink.slot), sink.header, sink.take_batch())

    async def stop(self) -> None:
        """Detach from the router, write what is left, close the files; idempotent."""
        if self._writer is None or self.stopped_at is not None:
            return
        self.stopped_at = time.time()
        if self._task is not None:
            self._task.cancel()
        for sink in self.sinks:
            self.router.remove_sink(sink)
        self._handoff()
        self._writer.close()
        await asyncio.get_running_loop().run_in_executor(None, self._writer.join,
                                                         STOP_TIMEOUT_S)
        if self._writer.is_alive():
            logger.error("recording writer in %s did not finish within %s s",
                         self.segment_dir, STOP_TIMEOUT_S)

    def tracks(self) -> list[dict]:
        """Manifest entries of the tracks that received media (see the package docs)."""
        out = []
        segment = self.segment_dir.name
        writer = self._writer
        written = writer.bytes_written if writer is not None else {}
        names = writer.names if writer is not None else {}
        for sink in self.sinks:
            if sink.header is None or sink.packets == 0:
                continue
            sink.settle()
            name = track_file_name(sink.slot)
            out.append({
                "slot": sink.slot,
                "kind": sink.kind,
                "codec": sink.codec_name,
                "clock_rate": sink.clock_rate,
                "payload_type": sink.payload_type,
                "ssrc": sink.ssrc,
                "file": f"{segment}/{names.get(name, name)}",
                "first_ts": sink.first_ts,
                "last_ts": sink.last_ts,
                "packets": sink.packets,
                "bytes": written.get(name, 0),
                "payload_bytes": sink.bytes,
                "frames_forwarded": sink.frames if sink.kind == "video" else None,
                "keyframes": sink.keyframes if sink.kind == "video" else None,
                "losses": sink.losses,
                "clock_map": [list(p) for p in sink.clock_map],
            })
        return out
