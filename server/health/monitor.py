"""The health monitor: merges relay and browser figures per point, rates, alerts, keeps history.

Time is always passed in (`now`, seconds; the server uses wall time `time.time()` so alert
times can be shown) so the monitor is deterministic and testable over simulated time.

Rating of one point, at `evaluate(now)`:
- **immediate** (no smoothing, "down" and connection troubles): offline; ICE or DTLS failed /
  closed; the relay has had no media from the point for `down_after_silence_s` (the silence
  the relay last reported, plus the time since that report, so a relay that stops reporting a
  point does not freeze it at "good"); online but no media yet ("connecting", later "no_media").
- **sampled** (loss, RTT, jitter, fps, ICE disconnected): every `update_server` and
  `update_browser` call is one sample of its source, rated on its own figures. A source
  confirms a level when `worsen_samples` of its last `worsen_window` samples (no older than
  `sample_max_age_s`) are at that level or worse.
- The rating worsens at once to the worst confirmed / immediate level. It improves only when
  nothing at the current level (not even a single unconfirmed sample) was seen for
  `recover_s`; it then steps down to the worst level seen within `recover_s` (so poor ->
  degraded -> good as a link heals), never below the current level.

Reasons are dicts with a stable `code`, the `level` they cause, and `value` / `limit` where
that makes sense (rating.py). The immediate ones, built here: offline, ice_failed, dtls_failed,
connection_failed, media_silence (value s), no_media (value s since online), connecting,
stats_stale (value s). The sampled ones are built by rating.py; one hour of history per point
is kept by history.py.
"""

from __future__ import annotations

import itertools
import logging
from collections import deque
from typing import Any, Callable, Iterable

from .history import _HISTORY_MIN_STEP_S, HISTORY_SERIES, history_payload
from .point import PointState, Sample
from .rating import Reason, _num, _reason, _round, _worse, rate_browser, rate_server
from .report import BrowserStatsReport
from .thresholds import DEGRADED, DOWN, GOOD, POOR, RATINGS, HealthThresholds

__all__ = ["HealthMonitor", "HealthThresholds", "RATINGS", "SERVER_KEYS", "HISTORY_SERIES"]

log = logging.getLogger(__name__)

SERVER_KEYS: tuple[str, ...] = (
    "ice_state",
    "dtls_state",
    "candidate_type",
    "rtt_ms",
    "loss_up",
    "loss_down",
    "jitter_ms",
    "bitrate_up_kbps",
    "bitrate_down_kbps",
    "fps_up",
    "media_silence_s",
    "packets_up",
    "packets_down",
)
_SERVER_STR_KEYS = {"ice_state", "dtls_state", "candidate_type"}

AlertCallback = Callable[[dict[str, Any]], None]


class HealthMonitor:
    """Per-point health: merge, rate with hysteresis, alert, keep one hour of history."""

    def __init__(
        self,
        thresholds: HealthThresholds | None = None,
        on_alert: AlertCallback | None = None,
        history_s: int = 3600,
    ) -> None:
        self.thresholds = thresholds or HealthThresholds()
        self.on_alert = on_alert
        self.history_s = float(history_s)
        # at most one sample per _HISTORY_MIN_STEP_S, plus slack: a hard bound on memory
        self._history_len = int(self.history_s / _HISTORY_MIN_STEP_S) + 8
        self._points: dict[str, PointState] = {}
        self._recent_alerts: deque[dict[str, Any]] = deque(maxlen=self.thresholds.recent_alerts)
        self._alert_ids = itertools.count(1)
        self._now: float = 0.0

    # ------------------------------------------------------------------ inputs
    def _point(self, point_id: str) -> PointState:
        p = self._points.get(point_id)
        if p is None:
            p = PointState(
                point_id=point_id,
                history_len=self._history_len,
                incidents_len=self.thresholds.incidents_per_point,
                window=self.thresholds.worsen_window,
            )
            self._points[point_id] = p
        return p

    def _tick(self, now: float, p: PointState | None = None) -> None:
        if now > self._now:
            self._now = now
        if p is not None and p.online is None and p.online_since is None:
            p.online_since = now  # online state never told: count from the first figures

    def add_point(self, point_id: str, now: float) -> None:
        """Make a point known (shown as offline until it connects)."""
        p = self._point(point_id)
        self._tick(now)
        if p.online is None:
            p.online = False
            p.online_since = None

    def remove_point(self, point_id: str) -> None:
        """Forget a point entirely (its open alert is dropped without a clear)."""
        self._points.pop(point_id, None)

    def points(self) -> list[str]:
        return list(self._points)

    def set_online(self, point_id: str, online: bool, now: float) -> None:
        p = self._point(point_id)
        self._tick(now)
        online = bool(online)
        if online and not p.online:
            # a new connection: the old figures describe a dead peer connection
            p.reset_connection()
            p.online_since = now
            # coming online is an event, not a noisy measurement: no "down" held from before
            p.last_seen.clear()
            p.last_reasons.clear()
            p.fresh = True
        if online:
            p.ever_online = True
        if not online:
            p.online_since = None
        p.online = online

    def update_server(self, point_id: str, stats: dict[str, Any], now: float) -> None:
        """Figures from the media relay for one point (keys in SERVER_KEYS; None = unknown)."""
        p = self._point(point_id)
        self._tick(now, p)
        clean: dict[str, Any] = {}
        for key in SERVER_KEYS:
            value = stats.get(key) if isinstance(stats, dict) else None
            if key in _SERVER_STR_KEYS:
                clean[key] = str(value)[:32] if value is not None else None
            else:
                clean[key] = _num(value)
        for key in ("loss_up", "loss_down"):
            if clean[key] is not None:
                clean[key] = min(max(clean[key], 0.0), 1.0)
        p.server = clean
        p.server_at = now
        if clean["media_silence_s"] is not None:
            p.last_media_at = now - max(0.0, clean["media_silence_s"])
        reasons = rate_server(clean, self.thresholds)
        self._add_sample(p, p.server_samples, reasons, now)
        self._record_history(p, now)

    def update_browser(self, point_id: str, report: BrowserStatsReport, now: float) -> None:
        """One validated `stats:report` from the point's page."""
        p = self._point(point_id)
        self._tick(now, p)
        if isinstance(report, dict):
            report = BrowserStatsReport.model_validate(report)
        flat = report.flat()
        p.browser = flat
        p.browser_at = now
        if flat["connection_state"] == "connected" or flat["ice_state"] in ("connected", "completed"):
            p.browser_media_seen = True
        reasons = rate_browser(flat, self.thresholds)
        self._add_sample(p, p.browser_samples, reasons, now)
        self._record_history(p, now)

    # ------------------------------------------------------------------ rating
    def _add_sample(self, p: PointState, samples: deque, reasons: list[Reason], now: float) -> None:
        level = _worse(reasons)
        samples.append(Sample(now, level, reasons))
        if level > GOOD:
            p.seen(level, reasons, now)

    def _confirmed(self, samples: Iterable[Sample], now: float) -> tuple[int, list[Reason]]:
        th = self.thresholds
        fresh = [s for s in samples if now - s.t <= th.sample_max_age_s]
        for level in (POOR, DEGRADED):
            hits = [s for s in fresh if s.level >= level]
            if len(hits) >= th.worsen_samples:
                latest = hits[-1]
                return level, [r for r in latest.reasons if RATINGS.index(r["level"]) >= DEGRADED]
        return GOOD, []

    def _immediate(self, p: PointState, now: float) -> list[Reason]:
        th = self.thresholds
        reasons: list[Reason] = []
        if p.online is False:
            reasons.append(_reason("offline", DOWN))
            return reasons
        s, b = p.server, p.browser
        browser_fresh = p.browser_at is not None and now - p.browser_at <= th.stale_after_s
        if s.get("ice_state") in ("failed", "closed"):
            reasons.append(_reason("ice_failed", DOWN, state=s["ice_state"], source="relay"))
        elif browser_fresh and b.get("ice_state") in ("failed", "closed"):
            reasons.append(_reason("ice_failed", DOWN, state=b["ice_state"], source="browser"))
        if s.get("dtls_state") in ("failed", "closed"):
            reasons.append(_reason("dtls_failed", DOWN, state=s["dtls_state"]))
        if browser_fresh and b.get("connection_state") in ("failed", "closed"):
            reasons.append(_reason("connection_failed", DOWN, state=b["connection_state"]))
        silence = p.silence(now)
        if silence is not None and silence >= th.down_after_silence_s:
            reasons.append(_reason("media_silence", DOWN, silence, th.down_after_silence_s))
        if p.last_media_at is None and not p.browser_media_seen:
            # online, but no media has arrived on this connection yet
            since = now - (p.online_since if p.online_since is not None else now)
            if since >= th.connect_grace_s:
                reasons.append(_reason("no_media", POOR, since))
            else:
                reasons.append(_reason("connecting", DEGRADED, since))
        else:
            age = p.stats_age(now)
            if age is not None and age >= th.stale_after_s:
                reasons.append(_reason("stats_stale", DEGRADED, age))
        return reasons

    def _rate(self, p: PointState, now: float) -> tuple[int, list[Reason]]:
        immediate = self._immediate(p, now)
        lvl_s, rs_s = self._confirmed(p.server_samples, now)
        lvl_b, rs_b = self._confirmed(p.browser_samples, now)
        reasons = immediate + rs_s + [r for r in rs_b if r not in rs_s]
        reasons.sort(key=lambda r: -RATINGS.index(r["level"]))
        level = max(_worse(immediate), lvl_s, lvl_b)
        if immediate:  # samples were marked seen when they arrived
            p.seen(_worse(immediate), immediate, now)
        return level, reasons

    def evaluate(self, now: float) -> list[dict[str, Any]]:
        """Rate every point; raise/clear alerts. Returns the rating changes made now:
        `[{"point", "rating", "previous", "reasons", "at"}]`."""
        self._tick(now)
        th = self.thresholds
        changes: list[dict[str, Any]] = []
        for p in list(self._points.values()):
            current, reasons = self._rate(p, now)
            previous: int | None = p.rating if p.rated else None
            if not p.rated or p.fresh:
                p.rated, p.fresh = True, False
                p.rating, p.reasons, p.recovering = current, reasons, False
            elif current >= p.rating:
                p.rating, p.reasons, p.recovering = current, reasons, False
            else:
                held = max(
                    (lvl for lvl, t in p.last_seen.items() if now - t < th.recover_s),
                    default=GOOD,
                )
                new = min(p.rating, max(current, held))
                if new < p.rating:
                    p.rating = new
                    p.reasons = reasons if new == current else p.last_reasons.get(new, reasons)
                p.recovering = current < p.rating
            if p.rating != previous or p.rating_since is None:
                p.rating_since = now
            if p.rating != previous:
                change = {
                    "point": p.point_id,
                    "rating": RATINGS[p.rating],
                    "previous": RATINGS[previous] if previous is not None else None,
                    "reasons": [dict(r) for r in p.reasons],
                    "at": now,
                }
                p.incidents.append(change)
                changes.append(change)
            self._alerts_for(p, now)
        return changes

    # ------------------------------------------------------------------ alerts
    def _emit(self, alert: dict[str, Any], event: str) -> None:
        if self.on_alert is None:
            return
        payload = dict(alert)
        payload["reasons"] = [dict(r) for r in alert["reasons"]]
        payload["peak_reasons"] = [dict(r) for r in alert["peak_reasons"]]
        payload["event"] = event
        try:
            self.on_alert(payload)
        except Exception:  # a broken listener must not stop the monitor
            log.exception("health on_alert callback failed")

    def _alerts_for(self, p: PointState, now: float) -> None:
        threshold = self.thresholds.alert_index
        alert = p.alert
        if p.rating >= threshold and alert is None and not self._alert_worthy(p):
            return
        if p.rating >= threshold:
            reasons = [dict(r) for r in p.reasons]
            if alert is None:
                p.alert = {
                    "id": f"{p.point_id}-{next(self._alert_ids)}",
                    "point": p.point_id,
                    "level": RATINGS[p.rating],
                    "reasons": reasons,
                    "peak": RATINGS[p.rating],
                    "peak_reasons": [dict(r) for r in reasons],
                    "raised_at": now,
                    "cleared_at": None,
                }
                self._emit(p.alert, "raised")
            else:
                # level/reasons follow the point while the alert is open; peak keeps the worst
                alert["level"] = RATINGS[p.rating]
                alert["reasons"] = reasons
                if p.rating > RATINGS.index(alert["peak"]):
                    alert["peak"] = RATINGS[p.rating]
                    alert["peak_reasons"] = [dict(r) for r in reasons]
                    self._emit(alert, "escalated")
        elif alert is not None:
            alert["cleared_at"] = now
            p.alert = None
            self._recent_alerts.append(alert)
            self._emit(alert, "cleared")

    @staticmethod
    def _alert_worthy(p: PointState) -> bool:
        """No alert for a point that never came online, nor for a plain "connecting"."""
        codes = {r["code"] for r in p.reasons}
        if not p.ever_online and codes <= {"offline"}:
            return False
        if codes and codes <= {"connecting"}:
            return False
        return True

    def alerts(self) -> list[dict[str, Any]]:
        """Open alerts (newest first), then recently cleared ones (newest first)."""
        open_ = [dict(p.alert) for p in self._points.values() if p.alert is not None]
        open_.sort(key=lambda a: a["raised_at"], reverse=True)
        cutoff = self._now - self.history_s
        cleared = [dict(a) for a in reversed(self._recent_alerts) if a["cleared_at"] >= cutoff]
        return [_copy_alert(a) for a in open_ + cleared]

    # ------------------------------------------------------------------ views
    def point_snapshot(self, point_id: str, now: float | None = None) -> dict[str, Any] | None:
        p = self._points.get(point_id)
        if p is None:
            return None
        now = self._now if now is None else now
        figures = {k: _round(v) for k, v in p.figures(now).items()}
        age = p.stats_age(now)
        return {
            "point": p.point_id,
            "online": p.online is not False,
            "online_since": p.online_since,
            "rating": RATINGS[p.rating],
            "rating_level": p.rating,
            "rating_since": p.rating_since,
            "reasons": [dict(r) for r in p.reasons],
            "recovering": p.recovering,
            "figures": figures,
            "last_stats_age_s": _round(age) if age is not None else None,
            "server_stats_age_s": _round(now - p.server_at) if p.server_at is not None else None,
            "browser_stats_age_s": _round(now - p.browser_at) if p.browser_at is not None else None,
            "alert": p.alert["id"] if p.alert else None,
        }

    def snapshot(self, now: float | None = None) -> dict[str, dict[str, Any]]:
        """`{point_id: point snapshot}` for every known point (JSON-serialisable)."""
        return {pid: self.point_snapshot(pid, now) for pid in self._points}  # type: ignore[misc]

    def payload(self, now: float | None = None) -> dict[str, Any]:
        """The `health` broadcast: `{"points": snapshot(), "alerts": alerts(), "server_time"}`."""
        return {
            "points": self.snapshot(now),
            "alerts": self.alerts(),
            "server_time": self._now if now is None else now,
        }

    def _record_history(self, p: PointState, now: float) -> None:
        f = p.figures(now)
        p.history.record(now, [f[k] for k in HISTORY_SERIES[:-1]] + [p.rating])  # rating: last
        p.history.drop_before(now - self.history_s)

    def history(
        self, point_id: str, max_points: int | None = None, since: float | None = None
    ) -> dict[str, Any]:
        """The last hour of one point: `{"point", "t": [...], "series": {name: [...]},
        "incidents": [...]}`; series names are HISTORY_SERIES (`rating` as 0..3), values None
        when unknown. `max_points` averages into that many buckets (rating: worst)."""
        p = self._points.get(point_id)
        cutoff = self._now - self.history_s
        if p is None:
            return history_payload(point_id, None, (), cutoff)
        return history_payload(point_id, p.history, p.incidents, cutoff, max_points, since)


def _copy_alert(a: dict[str, Any]) -> dict[str, Any]:
    return {**a, "reasons": [dict(r) for r in a["reasons"]],
            "peak_reasons": [dict(r) for r in a["peak_reasons"]]}
