"""When the collector runs. A full collection stops the event loop, and with it the RTP
forwarding, for as long as it walks the heap. So:

* the objects built at start-up (~90,000, alive for the whole run) are frozen out of its
  reach (:func:`freeze_startup_objects`, called by ``dewan serve``);
* a closed peer connection leaves a few thousand objects in reference cycles that only a
  full collection frees. Left to the collector's own schedule they pile up over many
  rejoins, and the memory they held is fragmented by what was allocated meanwhile (RSS
  ratchets up). :class:`AfterPeerClose` runs one full collection shortly after peers close,
  at most every ``MIN_GAP_S``, while their garbage is fresh.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from typing import Optional

logger = logging.getLogger(__name__)


def freeze_startup_objects() -> None:
    """Move what imports and create_app built out of the collector's reach."""
    gc.collect()
    gc.freeze()


class AfterPeerClose:
    DELAY_S = 2.0  # let a burst of closes (a page's reload, a process's shutdown) gather
    MIN_GAP_S = 20.0

    def __init__(self) -> None:
        self._handle: Optional[asyncio.TimerHandle] = None
        self._last = -1e9
        self.collections = 0

    def peer_closed(self) -> None:
        if self._handle is not None:
            return
        loop = asyncio.get_running_loop()
        wait = max(self.DELAY_S, self._last + self.MIN_GAP_S - time.monotonic())
        self._handle = loop.call_later(wait, self._collect)

    def _collect(self) -> None:
        self._handle = None
        self._last = time.monotonic()
        started = time.perf_counter()
        freed = gc.collect()
        self.collections += 1
        logger.debug("full collection after peer close: %d objects in %.1f ms", freed,
                     (time.perf_counter() - started) * 1000)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
