"""Health: per-point link monitoring, ratings, alerts, history and Prometheus metrics."""

from .metrics import HealthMetrics, render
from .monitor import HISTORY_SERIES, RATINGS, SERVER_KEYS, HealthMonitor
from .report import BrowserStatsReport, parse_report
from .thresholds import HealthThresholds

__all__ = [
    "BrowserStatsReport",
    "HealthMetrics",
    "HealthMonitor",
    "HealthThresholds",
    "HISTORY_SERIES",
    "RATINGS",
    "SERVER_KEYS",
    "parse_report",
    "render",
]
