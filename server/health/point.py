"""The state of one point in the health monitor: its latest figures from the relay and the
page, its rating samples, alert, incidents and history, and the figures it shows."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from .history import History
from .rating import Reason
from .thresholds import DEGRADED, GOOD, RATINGS

__all__ = ["PointState", "Sample"]


@dataclass
class Sample:
    """One rated sample of a source (relay or page)."""

    t: float
    level: int
    reasons: list[Reason]


@dataclass
class PointState:
    """Everything the monitor knows about one point."""

    point_id: str
    history_len: int
    incidents_len: int
    window: int
    online: bool | None = None
    online_since: float | None = None
    server: dict[str, Any] = field(default_factory=dict)
    server_at: float | None = None
    browser: dict[str, Any] = field(default_factory=dict)
    browser_at: float | None = None
    rating: int = GOOD
    rating_since: float | None = None
    reasons: list[Reason] = field(default_factory=list)
    recovering: bool = False
    rated: bool = False
    ever_online: bool = False
    fresh: bool = False  # take the next rating as it is (just came online)
    last_media_at: float | None = None  # when the relay last had a packet from the point
    browser_media_seen: bool = False  # the page reported a connected media link
    last_seen: dict[int, float] = field(default_factory=dict)
    last_reasons: dict[int, list[Reason]] = field(default_factory=dict)
    alert: dict[str, Any] | None = None
    server_samples: deque = field(init=False)
    browser_samples: deque = field(init=False)
    history: History = field(init=False)
    incidents: deque = field(init=False)

    def __post_init__(self) -> None:
        self.server_samples = deque(maxlen=self.window)
        self.browser_samples = deque(maxlen=self.window)
        self.history = History(self.history_len)
        self.incidents = deque(maxlen=self.incidents_len)

    def seen(self, level: int, reasons: list[Reason], t: float) -> None:
        for lvl in range(DEGRADED, level + 1):
            if t >= self.last_seen.get(lvl, -math.inf):
                self.last_seen[lvl] = t
                self.last_reasons[lvl] = [r for r in reasons if RATINGS.index(r["level"]) >= lvl]

    def reset_connection(self) -> None:
        self.server = {}
        self.server_at = None
        self.browser = {}
        self.browser_at = None
        self.server_samples.clear()
        self.browser_samples.clear()
        self.last_media_at = None
        self.browser_media_seen = False

    def silence(self, now: float) -> float | None:
        """Seconds since the relay last had media from the point (None: never, on this
        connection). Keeps growing when the relay stops reporting the point or reports no
        figures (its peer connection was closed or is being rebuilt)."""
        if self.last_media_at is None:
            return None
        return max(0.0, now - self.last_media_at)

    def stats_age(self, now: float) -> float | None:
        ages = [now - t for t in (self.server_at, self.browser_at) if t is not None]
        return max(0.0, min(ages)) if ages else None

    def figures(self, now: float) -> dict[str, Any]:
        """The figures shown for the point: the relay's where it has them, else the page's."""
        s, b = self.server, self.browser

        def first(*values: Any) -> Any:
            for v in values:
                if v is not None:
                    return v
            return None

        return {
            "rtt_ms": first(s.get("rtt_ms"), b.get("rtt_ms")),
            "loss_up": s.get("loss_up"),
            "loss_down": s.get("loss_down"),
            "jitter_ms": s.get("jitter_ms"),
            "jitter_down_ms": b.get("jitter_ms"),
            "bitrate_up_kbps": first(s.get("bitrate_up_kbps"), b.get("bitrate_up_kbps")),
            "bitrate_down_kbps": first(s.get("bitrate_down_kbps"), b.get("bitrate_down_kbps")),
            "fps": first(s.get("fps_up"), b.get("fps")),
            "fps_sent": b.get("fps"),
            "width": b.get("width"),
            "height": b.get("height"),
            "audio_level": b.get("audio_level"),
            "quality_limitation": b.get("quality_limitation"),
            "available_outgoing_bitrate_kbps": b.get("available_outgoing_bitrate_kbps"),
            "ice_state": first(s.get("ice_state"), b.get("ice_state")),
            "browser_ice_state": b.get("ice_state"),
            "connection_state": b.get("connection_state"),
            "dtls_state": s.get("dtls_state"),
            "candidate_type": first(b.get("local_candidate_type"), s.get("candidate_type")),
            "remote_candidate_type": b.get("remote_candidate_type"),
            "candidate_protocol": b.get("candidate_protocol"),
            "relay_protocol": b.get("relay_protocol"),
            "media_silence_s": self.silence(now),
            "packets_up": s.get("packets_up"),
            "packets_down": s.get("packets_down"),
            "inbound_fps": b.get("inbound_fps"),
            "inbound_width": b.get("inbound_width"),
            "inbound_height": b.get("inbound_height"),
            "frames_decoded": b.get("frames_decoded"),
            "freeze_count": b.get("freeze_count"),
        }
