"""Rate-limited log lines: a flood of refused events (or refused connections) must not flood
the log. Each key gets a small budget of lines per window; what is left out is counted and
reported on the next line that is written for that key."""

from __future__ import annotations

import time
from collections.abc import Callable


class LogBudget:
    def __init__(self, lines: int = 20, window_s: float = 10.0, max_keys: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.lines, self.window_s, self.max_keys, self.clock = lines, window_s, max_keys, clock
        self._windows: dict[str, list] = {}  # key -> [window start, lines written, lines left out]

    def take(self, key: str) -> int | None:
        """None: leave this line out. Otherwise the number of lines left out before it."""
        now = self.clock()
        window = self._windows.get(key)
        if window is None or now - window[0] >= self.window_s:
            if window is None and len(self._windows) >= self.max_keys:
                self._windows.clear()  # bounded memory under a flood of keys
            skipped = window[2] if window else 0
            self._windows[key] = [now, 1, 0]
            return skipped
        if window[1] < self.lines:
            window[1] += 1
            skipped, window[2] = window[2], 0
            return skipped
        window[2] += 1
        return None

    def forget(self, key: str) -> None:
        self._windows.pop(key, None)
