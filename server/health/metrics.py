"""Prometheus metrics for `/metrics`, on a registry of our own (never the global one).

- per point (label `point`), read from the monitor's snapshot at scrape time:
  `dewan_point_rtt_ms`, `dewan_point_loss_ratio{direction="up"|"down"}`, `dewan_point_jitter_ms`,
  `dewan_point_bitrate_kbps{direction}`, `dewan_point_fps`, `dewan_point_rating`
  (0 good, 1 degraded, 2 poor, 3 down), `dewan_point_online` (1/0). A figure that is unknown
  is left out rather than exported as 0.
- relay counters, read at scrape time from a callable returning the current totals:
  `dewan_relay_packets_forwarded_total`, `dewan_relay_bytes_forwarded_total`,
  `dewan_relay_plis_sent_total`, `dewan_relay_nacks_received_total`,
  `dewan_relay_retransmissions_total`.
- signaling: `dewan_socket_events_total{event,result}` through `count_event(event, result)`.
- process metrics (`process_*`) from prometheus-client's ProcessCollector.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Iterable, Mapping

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

__all__ = [
    "HealthMetrics",
    "PointCollector",
    "RelayCollector",
    "RELAY_COUNTERS",
    "render",
]

log = logging.getLogger(__name__)

RELAY_COUNTERS: dict[str, str] = {
    "packets_forwarded": "RTP packets forwarded by the relay to subscribers",
    "bytes_forwarded": "RTP payload bytes forwarded by the relay to subscribers",
    "plis_sent": "Picture loss indications sent to publishers",
    "nacks_received": "NACKs received from subscribers",
    "retransmissions": "Packets retransmitted from the relay's cache in answer to NACKs",
    "send_dropped": "RTP packets the relay dropped because its socket's send buffer was full",
}

_MAX_EVENT_LABELS = 256  # distinct (event, result) pairs before new ones become "other"

SnapshotSource = Callable[[], Mapping[str, Mapping[str, Any]]]
TotalsSource = Callable[[], Mapping[str, Any]]


def _num(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


class PointCollector(Collector):
    """Per-point gauges from a snapshot source (`HealthMonitor.snapshot`)."""

    def __init__(self, source: SnapshotSource) -> None:
        self._source = source

    def describe(self) -> Iterable[Metric]:
        return []  # the metric set depends on the snapshot; skip the registration-time probe

    def collect(self) -> Iterable[Metric]:
        rtt = GaugeMetricFamily("dewan_point_rtt_ms", "Round-trip time to the point, ms",
                                labels=["point"])
        loss = GaugeMetricFamily("dewan_point_loss_ratio", "Packet loss fraction (0..1)",
                                 labels=["point", "direction"])
        jitter = GaugeMetricFamily("dewan_point_jitter_ms", "Jitter of the point's media, ms",
                                   labels=["point"])
        bitrate = GaugeMetricFamily("dewan_point_bitrate_kbps", "Media bitrate, kbit/s",
                                    labels=["point", "direction"])
        fps = GaugeMetricFamily("dewan_point_fps", "Video frames per second from the point",
                                labels=["point"])
        rating = GaugeMetricFamily("dewan_point_rating",
                                   "Health rating: 0 good, 1 degraded, 2 poor, 3 down",
                                   labels=["point"])
        online = GaugeMetricFamily("dewan_point_online", "1 if the point is connected",
                                   labels=["point"])
        try:
            snapshot = self._source() or {}
        except Exception:
            log.exception("health snapshot for metrics failed")
            snapshot = {}
        for point_id, snap in snapshot.items():
            if not snap:
                continue
            pid = str(point_id)
            f = snap.get("figures") or {}

            def add(metric: GaugeMetricFamily, value: Any, *extra: str) -> None:
                v = _num(value)
                if v is not None:
                    metric.add_metric([pid, *extra], v)

            add(rtt, f.get("rtt_ms"))
            add(loss, f.get("loss_up"), "up")
            add(loss, f.get("loss_down"), "down")
            add(jitter, f.get("jitter_ms"))
            add(bitrate, f.get("bitrate_up_kbps"), "up")
            add(bitrate, f.get("bitrate_down_kbps"), "down")
            add(fps, f.get("fps"))
            add(rating, snap.get("rating_level"))
            add(online, 1.0 if snap.get("online") else 0.0)
        return [rtt, loss, jitter, bitrate, fps, rating, online]


class RelayCollector(Collector):
    """Relay counters (`dewan_relay_<name>_total`) read from current totals at scrape time."""

    def __init__(self, source: TotalsSource | None = None) -> None:
        self.source = source

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        totals: Mapping[str, Any] = {}
        if self.source is not None:
            try:
                totals = self.source() or {}
            except Exception:
                log.exception("relay totals for metrics failed")
                totals = {}
        out = []
        for name, doc in RELAY_COUNTERS.items():
            metric = CounterMetricFamily(f"dewan_relay_{name}", doc)
            value = _num(totals.get(name))
            metric.add_metric([], max(0.0, value) if value is not None else 0.0)
            out.append(metric)
        return out


class HealthMetrics:
    """All of Dewan's metrics on one private registry.

    `snapshot_source` is typically `monitor.snapshot`; `relay_source` a callable returning the
    relay's totals `{"packets_forwarded": int, "bytes_forwarded": int, "plis_sent": int,
    "nacks_received": int, "retransmissions": int}` (either may be set later)."""

    def __init__(
        self,
        snapshot_source: SnapshotSource | None = None,
        relay_source: TotalsSource | None = None,
        registry: CollectorRegistry | None = None,
        process: bool = True,
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self._snapshot_source = snapshot_source
        self._points = PointCollector(self._snapshot)
        self._relay = RelayCollector(relay_source)
        self.registry.register(self._points)
        self.registry.register(self._relay)
        self.socket_events = Counter(
            "dewan_socket_events",
            "Socket.io events handled, by event name and result (ok or an error code)",
            ["event", "result"],
            registry=self.registry,
        )
        self._event_labels: set[tuple[str, str]] = set()
        if process:
            ProcessCollector(registry=self.registry)

    def _snapshot(self) -> Mapping[str, Mapping[str, Any]]:
        return self._snapshot_source() if self._snapshot_source is not None else {}

    def set_snapshot_source(self, source: SnapshotSource | None) -> None:
        self._snapshot_source = source

    def set_relay_source(self, source: TotalsSource | None) -> None:
        self._relay.source = source

    def count_event(self, event: str, result: str = "ok") -> None:
        """Count one handled socket event; `result` is "ok" or the error code."""
        key = (str(event)[:64], str(result)[:32])
        if key not in self._event_labels:
            if len(self._event_labels) >= _MAX_EVENT_LABELS:
                key = ("other", key[1])  # results are a small fixed vocabulary
            self._event_labels.add(key)
        self.socket_events.labels(*key).inc()

    def render(self) -> tuple[bytes, str]:
        return render(self.registry)


def render(registry: CollectorRegistry) -> tuple[bytes, str]:
    """The Prometheus text exposition of `registry` and its content type."""
    return generate_latest(registry), CONTENT_TYPE_LATEST
