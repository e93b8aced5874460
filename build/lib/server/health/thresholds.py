"""Health thresholds: the `[health]` table of config/dewan.toml."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Mapping

RATINGS: tuple[str, ...] = ("good", "degraded", "poor", "down")
GOOD, DEGRADED, POOR, DOWN = range(4)


@dataclass(frozen=True)
class HealthThresholds:
    """When a point is rated degraded / poor / down, and how ratings settle.

    Loss is a fraction (0.03 = 3 %). A figure "at or above" a limit worsens the rating, except
    fps which worsens "below" its limit. Degraded and poor ratings need `worsen_samples` of the
    last `worsen_window` samples of one source (relay or browser) at that level; "down"
    (offline, ICE/DTLS failed, media silence) is immediate. A rating improves only after
    nothing at its level was seen for `recover_s` seconds.
    """

    degraded_loss: float = 0.03
    poor_loss: float = 0.10
    degraded_rtt_ms: float = 300.0
    poor_rtt_ms: float = 800.0
    degraded_jitter_ms: float = 50.0
    poor_jitter_ms: float = 150.0
    degraded_fps: float = 15.0  # below
    poor_fps: float = 5.0  # below
    down_after_silence_s: float = 3.0
    recover_s: float = 5.0
    worsen_samples: int = 2
    worsen_window: int = 3
    sample_max_age_s: float = 10.0  # older samples no longer count towards worsening
    connect_grace_s: float = 15.0  # online without media: "connecting", then "no media" (poor)
    stale_after_s: float = 10.0  # no stats from either source for this long: degraded
    alert_level: str = "degraded"  # lowest rating that raises an alert
    recent_alerts: int = 200  # cleared alerts kept for the dashboard
    incidents_per_point: int = 200  # rating changes kept per point

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "alert_level":
                if value not in RATINGS[1:]:
                    raise ValueError(f"health.alert_level must be one of {RATINGS[1:]}")
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"health.{f.name} must be a number")
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"health.{f.name} must be a finite number >= 0")
            if f.type == "int" and not isinstance(value, int):
                raise ValueError(f"health.{f.name} must be an integer")
        pairs = [
            ("degraded_loss", "poor_loss"),
            ("degraded_rtt_ms", "poor_rtt_ms"),
            ("degraded_jitter_ms", "poor_jitter_ms"),
            ("poor_fps", "degraded_fps"),
        ]
        for low, high in pairs:
            if getattr(self, low) > getattr(self, high):
                raise ValueError(f"health.{low} must not exceed health.{high}")
        if self.poor_loss > 1:
            raise ValueError("health loss thresholds are fractions (0..1)")
        if not 1 <= self.worsen_samples <= self.worsen_window:
            raise ValueError("health: need 1 <= worsen_samples <= worsen_window")
        if self.worsen_window > 100 or self.recent_alerts < 1 or self.incidents_per_point < 1:
            raise ValueError("health: worsen_window <= 100, recent_alerts and incidents >= 1")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> "HealthThresholds":
        """Build from the `[health]` table; unknown keys are rejected (ValueError)."""
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise ValueError("[health] must be a table")
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f"unknown key(s) in [health]: {', '.join(map(str, unknown))}")
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if known[key].type == "float" and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            kwargs[key] = value
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def alert_index(self) -> int:
        return RATINGS.index(self.alert_level)
