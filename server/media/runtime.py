"""Runtime helpers of the relay's packet path: logging once, background tasks, running a
send coroutine without a task, RTX routing, the parked sender track."""

from __future__ import annotations

import asyncio
import logging

from aiortc import MediaStreamTrack, RTCRtpReceiver
from aiortc.mediastreams import MediaStreamError

logger = logging.getLogger("server.media.forward")

_error_logged: set[str] = set()


def log_once(key: str, msg: str, *args: object) -> None:
    """Log an unexpected hot-path exception once per key (never per packet)."""
    if key not in _error_logged:
        _error_logged.add(key)
        logger.exception(msg, *args)


def spawn(coro, what: str) -> asyncio.Task:
    """Run a background coroutine whose failure is logged, never raised into the loop."""

    def done(task: asyncio.Task) -> None:
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            if not isinstance(exc, ConnectionError):
                logger.error("%s failed: %r", what, exc)

    task = asyncio.ensure_future(coro)
    task.add_done_callback(done)
    return task


def run_now(coro, what: str) -> None:
    """Run a coroutine in this call as far as it goes without waiting; if it does wait
    (a TURN socket, say), a task finishes it. aiortc's send paths are coroutines that
    almost never wait: this saves a task, and its wake-up, per packet."""
    try:
        waiting_on = coro.send(None)
    except StopIteration:
        return
    except ConnectionError:
        return
    except Exception:
        log_once(what, "%s failed", what)
        return
    spawn(_finish(coro, waiting_on), what)


async def _finish(coro, waiting_on) -> None:
    """Drive a coroutine that :func:`run_now` started and that is waiting on
    ``waiting_on`` (a future, or None for a bare yield) to its end."""
    while True:
        try:
            if waiting_on is None:
                await asyncio.sleep(0)
            else:
                # what a Task does with a yielded future: take the "blocking" mark off,
                # then wait for it (awaiting a pending future still marked raises)
                waiting_on._asyncio_future_blocking = False
                await waiting_on
        except BaseException as exc:  # let the coroutine see what its await raised
            try:
                waiting_on = coro.throw(exc)
            except StopIteration:
                return
            continue
        try:
            waiting_on = coro.send(None)
        except StopIteration:
            return


def route_rtx_by_ssrc(receiver: RTCRtpReceiver, parameters) -> None:
    """Register a receiver's RTX SSRCs with the transport's RtpRouter.

    aiortc registers only the media SSRCs and routes anything else by payload type if
    exactly ONE receiver has it; with two or more video m-lines in one BUNDLE (the hall's
    camera + presentation, a chair's tiles) every RTX packet would be dropped and NACKs
    never repaired. Call after ``receiver.receive(parameters)``."""
    table = receiver.transport._rtp_router.ssrc_table  # private (see selfcheck)
    for encoding in parameters.encodings:
        if encoding.rtx is not None and encoding.rtx.ssrc:
            table[encoding.rtx.ssrc] = receiver


class ParkedTrack(MediaStreamTrack):
    """A track whose ``recv()`` never returns: the sender's media loop waits forever, so
    no encoder is created and the sender does not poll. ``track_id`` becomes the msid
    track id in the offer."""

    def __init__(self, kind: str, track_id: str) -> None:
        super().__init__()
        self.kind = kind
        self._id = track_id
        self._never: asyncio.Future = asyncio.get_event_loop().create_future()

    async def recv(self):
        await self._never
        raise MediaStreamError

    def stop(self) -> None:
        super().stop()
        if not self._never.done():
            self._never.cancel()
