"""Helpers for driving the health monitor over simulated time."""

from __future__ import annotations

import pytest

from server.health.monitor import HealthMonitor
from server.health.thresholds import HealthThresholds


def good_stats(**over):
    s = {
        "ice_state": "completed",
        "dtls_state": "connected",
        "candidate_type": "host",
        "rtt_ms": 40.0,
        "loss_up": 0.0,
        "loss_down": 0.0,
        "jitter_ms": 5.0,
        "bitrate_up_kbps": 900.0,
        "bitrate_down_kbps": 1200.0,
        "fps_up": 30.0,
        "media_silence_s": 0.02,
        "packets_up": 1000,
        "packets_down": 1200,
    }
    s.update(over)
    return s


class Sim:
    """A monitor plus a simulated clock; the relay reports every `step` s, evaluate every 2 s."""

    def __init__(self, thresholds=None, history_s=3600, t0=1_000_000.0):
        self.events = []
        self.mon = HealthMonitor(thresholds or HealthThresholds(), self.events.append, history_s)
        self.t = t0

    def online(self, point="p1"):
        self.mon.set_online(point, True, self.t)

    def run(self, seconds, stats=None, point="p1", step=1.0, browser=None):
        """Advance `seconds`, feeding `stats` (dict or callable(t) -> dict or None) each step and
        evaluating every step. Returns the list of (t, rating) after each evaluate."""
        out = []
        n = int(round(seconds / step))
        for _ in range(n):
            self.t += step
            s = stats(self.t) if callable(stats) else stats
            if s is not None:
                self.mon.update_server(point, s, self.t)
            if browser is not None:
                self.mon.update_browser(point, browser, self.t)
            self.mon.evaluate(self.t)
            out.append((self.t, self.rating(point)))
        return out

    def rating(self, point="p1"):
        return self.mon.snapshot(self.t)[point]["rating"]

    def reasons(self, point="p1"):
        return [r["code"] for r in self.mon.snapshot(self.t)[point]["reasons"]]


@pytest.fixture
def sim():
    return Sim()
