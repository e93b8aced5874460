"""Rating one sample of figures against the thresholds, and the reasons that explain a rating.

Reasons are dicts with a stable `code`, the `level` they cause, and `value` / `limit` where
that makes sense, so the UI can translate them ("loss 12 % upstream"). The sampled reasons
built here: ice_disconnected, loss_up, loss_down (value fraction), rtt (ms), jitter (ms, relay
side), jitter_down (ms, browser side), fps (value fps, limit: the fps must be at least this).
The immediate ones (offline, ice_failed, media_silence, ...) are built by the monitor, which
knows the point's connection.
"""

from __future__ import annotations

import math
from typing import Any

from .thresholds import DEGRADED, GOOD, POOR, RATINGS, HealthThresholds

__all__ = ["Reason", "rate_browser", "rate_server"]

Reason = dict[str, Any]


def _reason(code: str, level: int, value: Any = None, limit: Any = None, **extra: Any) -> Reason:
    r: Reason = {"code": code, "level": RATINGS[level]}
    if value is not None:
        r["value"] = _round(value)
    if limit is not None:
        r["limit"] = _round(limit)
    r.update(extra)
    return r


def _round(value: Any) -> Any:
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return round(value, 4) if abs(value) < 10 else round(value, 1)
    return value


def _num(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _worse(reasons: list[Reason]) -> int:
    return max((RATINGS.index(r["level"]) for r in reasons), default=GOOD)


def _limit_reasons(
    reasons: list[Reason],
    code: str,
    value: float | None,
    degraded: float,
    poor: float,
    **extra: Any,
) -> None:
    if value is None:
        return
    if value >= poor:
        reasons.append(_reason(code, POOR, value, poor, **extra))
    elif value >= degraded:
        reasons.append(_reason(code, DEGRADED, value, degraded, **extra))


def _fps_reason(reasons: list[Reason], fps: float | None, th: HealthThresholds) -> None:
    if fps is None:
        return
    if fps < th.poor_fps:
        reasons.append(_reason("fps", POOR, fps, th.poor_fps))
    elif fps < th.degraded_fps:
        reasons.append(_reason("fps", DEGRADED, fps, th.degraded_fps))


def rate_server(s: dict[str, Any], th: HealthThresholds) -> list[Reason]:
    """The reasons in one sample of the relay's figures for a point (cleaned, SERVER_KEYS)."""
    reasons: list[Reason] = []
    _limit_reasons(reasons, "loss_up", s["loss_up"], th.degraded_loss, th.poor_loss)
    _limit_reasons(reasons, "loss_down", s["loss_down"], th.degraded_loss, th.poor_loss)
    _limit_reasons(reasons, "rtt", s["rtt_ms"], th.degraded_rtt_ms, th.poor_rtt_ms)
    _limit_reasons(reasons, "jitter", s["jitter_ms"], th.degraded_jitter_ms, th.poor_jitter_ms)
    _fps_reason(reasons, s["fps_up"], th)
    if s["ice_state"] == "disconnected":
        reasons.append(_reason("ice_disconnected", POOR, source="relay"))
    return reasons


def rate_browser(b: dict[str, Any], th: HealthThresholds) -> list[Reason]:
    """The reasons in one browser report of a point (`BrowserStatsReport.flat()`)."""
    reasons: list[Reason] = []
    _limit_reasons(reasons, "rtt", b["rtt_ms"], th.degraded_rtt_ms, th.poor_rtt_ms)
    _limit_reasons(
        reasons, "jitter_down", b["jitter_ms"], th.degraded_jitter_ms, th.poor_jitter_ms
    )
    _fps_reason(reasons, b["fps"], th)
    if b["ice_state"] == "disconnected" or b["connection_state"] == "disconnected":
        reasons.append(_reason("ice_disconnected", POOR, source="browser"))
    return reasons
