"""The monitor over simulated time: ratings, hysteresis, alerts, history."""

import json

from server.health.monitor import HISTORY_SERIES, HealthMonitor
from server.health.report import parse_report
from server.health.thresholds import HealthThresholds

from .conftest import Sim, good_stats


def first_time(trace, rating):
    return next((t for t, r in trace if r == rating), None)


def flips(trace):
    return sum(1 for (_, a), (_, b) in zip(trace, trace[1:]) if a != b)


def test_healthy_point_is_good_and_json_serialisable(sim):
    sim.online()
    sim.run(10, good_stats())
    assert sim.rating() == "good" and sim.reasons() == []
    payload = sim.mon.payload()
    json.dumps(payload)
    snap = payload["points"]["p1"]
    assert snap["figures"]["rtt_ms"] == 40 and snap["figures"]["fps"] == 30
    assert snap["last_stats_age_s"] == 0
    assert snap["online"] is True and snap["alert"] is None


def test_fifteen_percent_loss_is_poor_within_10s_and_recovers_within_20s(sim):
    sim.online()
    sim.run(10, good_stats())
    start = sim.t
    trace = sim.run(15, good_stats(loss_up=0.15))
    t_poor = first_time(trace, "poor")
    assert t_poor is not None and t_poor - start <= 10
    snap = sim.mon.snapshot()["p1"]
    loss = [r for r in snap["reasons"] if r["code"] == "loss_up"]
    assert loss and loss[0]["value"] == 0.15 and loss[0]["level"] == "poor"
    stop = sim.t
    trace = sim.run(25, good_stats())
    t_good = first_time(trace, "good")
    assert t_good is not None and t_good - stop <= 20
    # and not too eagerly: the first clean seconds keep the rating (recovering)
    assert trace[0][1] == "poor"
    assert trace[-1][1] == "good"


def test_recovery_waits_recover_s_and_reports_recovering(sim):
    sim.online()
    sim.run(5, good_stats())
    sim.run(5, good_stats(rtt_ms=900))
    assert sim.rating() == "poor" and "rtt" in sim.reasons()
    sim.run(2, good_stats())
    snap = sim.mon.snapshot()["p1"]
    assert snap["rating"] == "poor" and snap["recovering"] is True
    sim.run(6, good_stats())
    assert sim.rating() == "good"
    assert sim.mon.snapshot()["p1"]["recovering"] is False


def test_steps_down_through_degraded(sim):
    sim.online()
    sim.run(5, good_stats())
    sim.run(6, good_stats(loss_up=0.2))
    assert sim.rating() == "poor"
    trace = sim.run(12, good_stats(loss_up=0.05))  # still lossy, but only degraded
    assert first_time(trace, "degraded") is not None
    assert sim.rating() == "degraded" and sim.reasons() == ["loss_up"]
    sim.run(10, good_stats())
    assert sim.rating() == "good"


def test_cut_link_is_down_within_5s_from_silence(sim):
    sim.online()
    sim.run(10, good_stats())
    cut = sim.t
    # the relay keeps reporting; its last-packet age grows (ICE still "completed")
    trace = sim.run(8, lambda t: good_stats(media_silence_s=t - cut, bitrate_up_kbps=0))
    t_down = first_time(trace, "down")
    assert t_down is not None and t_down - cut <= 5
    assert "media_silence" in sim.reasons()


def test_silence_extrapolated_when_relay_stops_reporting(sim):
    sim.online()
    sim.run(10, good_stats())
    cut = sim.t
    trace = sim.run(6, None)  # no more updates at all; evaluate keeps running
    t_down = first_time(trace, "down")
    assert t_down is not None and t_down - cut <= 5


def test_offline_and_ice_failed_are_down_immediately(sim):
    sim.online()
    sim.run(10, good_stats())
    sim.mon.set_online("p1", False, sim.t)
    sim.mon.evaluate(sim.t)
    assert sim.rating() == "down" and sim.reasons() == ["offline"]
    sim.online()
    sim.run(10, good_stats())
    assert sim.rating() == "good"
    sim.run(1, good_stats(ice_state="failed"))
    assert sim.rating() == "down" and "ice_failed" in sim.reasons()


def test_rejoin_resets_connection_figures(sim):
    sim.online()
    sim.run(5, good_stats(ice_state="failed"))
    sim.mon.set_online("p1", False, sim.t)
    sim.online()
    sim.run(1, None)
    # coming online is an event: no "down" held from before, the old ICE failure forgotten
    assert sim.rating() == "degraded" and sim.reasons() == ["connecting"]
    sim.run(12, good_stats())
    assert sim.rating() == "good"


def test_alternating_samples_do_not_flap(sim):
    sim.online()
    sim.run(10, good_stats())
    bad, ok = good_stats(loss_up=0.15), good_stats()
    trace = sim.run(60, lambda t: bad if int(t) % 2 else ok)
    assert flips(trace) <= 1  # worsens once, then holds
    assert trace[-1][1] == "poor"
    # isolated single bad samples (one in three) never confirm: stays good, no alert
    sim2 = Sim()
    sim2.online()
    sim2.run(10, good_stats())
    trace = sim2.run(60, lambda t: bad if int(t) % 3 == 0 else ok)
    assert {r for _, r in trace} == {"good"}
    assert [e for e in sim2.events if e["event"] == "raised"] == []


def test_one_bad_sample_does_not_worsen_by_default(sim):
    sim.online()
    sim.run(10, good_stats())
    sim.run(1, good_stats(rtt_ms=2000))
    assert sim.rating() == "good"
    sim.run(1, good_stats(rtt_ms=2000))
    assert sim.rating() == "poor"


def test_worsen_immediately_when_configured():
    sim = Sim(HealthThresholds(worsen_samples=1, worsen_window=1))
    sim.online()
    sim.run(10, good_stats())
    sim.run(1, good_stats(jitter_ms=60))
    assert sim.rating() == "degraded" and sim.reasons() == ["jitter"]


def test_alerts_raise_escalate_and_clear_once(sim):
    sim.online()
    sim.run(10, good_stats())
    assert sim.events == []
    sim.run(6, good_stats(loss_up=0.05))
    raised = [e for e in sim.events if e["event"] == "raised"]
    assert len(raised) == 1
    a = raised[0]
    assert a["point"] == "p1" and a["level"] == "degraded" and a["cleared_at"] is None
    assert a["reasons"][0]["code"] == "loss_up"
    assert set(a) >= {"id", "point", "level", "reasons", "raised_at", "cleared_at"}
    sim.run(4, good_stats(loss_up=0.3))
    esc = [e for e in sim.events if e["event"] == "escalated"]
    assert len(esc) == 1 and esc[0]["id"] == a["id"] and esc[0]["level"] == "poor"
    open_alerts = sim.mon.alerts()
    assert len(open_alerts) == 1 and open_alerts[0]["cleared_at"] is None
    assert sim.mon.snapshot()["p1"]["alert"] == a["id"]
    sim.run(20, good_stats())
    cleared = [e for e in sim.events if e["event"] == "cleared"]
    assert len(cleared) == 1 and cleared[0]["id"] == a["id"]
    assert cleared[0]["cleared_at"] > cleared[0]["raised_at"]
    alerts = sim.mon.alerts()
    assert len(alerts) == 1 and alerts[0]["cleared_at"] is not None
    json.dumps(alerts)
    assert len(sim.events) == 3


def test_no_alert_for_points_never_online_nor_for_connecting():
    events = []
    mon = HealthMonitor(HealthThresholds(), events.append)
    for i in range(21):
        mon.add_point(f"d{i}", 0.0)
    mon.set_online("d0", True, 0.0)
    for t in range(1, 10):
        mon.evaluate(float(t))
    snap = mon.snapshot()
    assert snap["d5"]["rating"] == "down" and snap["d5"]["reasons"][0]["code"] == "offline"
    assert snap["d0"]["rating"] == "degraded" and snap["d0"]["reasons"][0]["code"] == "connecting"
    assert events == []
    # no media at all long after joining: poor "no_media", alerted
    for t in range(10, 20):
        mon.evaluate(float(t))
    assert mon.snapshot()["d0"]["reasons"][0]["code"] == "no_media"
    assert [e["point"] for e in events] == ["d0"]
    # a point that was online and drops is alerted
    mon.set_online("d0", False, 20.0)
    mon.evaluate(20.0)
    assert events[-1]["event"] == "escalated" and events[-1]["level"] == "down"


def test_on_alert_exception_does_not_break_monitor():
    def boom(alert):
        raise RuntimeError("listener broke")

    mon = HealthMonitor(HealthThresholds(), boom)
    mon.set_online("p", True, 0.0)
    for t in range(1, 6):
        mon.update_server("p", good_stats(loss_up=0.5), float(t))
        mon.evaluate(float(t))
    assert mon.snapshot()["p"]["rating"] == "poor"


def test_browser_report_merged_and_rated(sim):
    sim.online()
    report = parse_report({
        "outbound": {"video": {"fps": 3, "width": 320, "height": 180,
                               "quality_limitation": "cpu"},
                     "audio": {"level": 0.4}},
        "candidate_pair": {"local_type": "relay", "rtt_ms": 55},
        "ice_state": "connected", "connection_state": "connected",
    })
    sim.run(6, good_stats(fps_up=None, rtt_ms=None, candidate_type=None), browser=report)
    snap = sim.mon.snapshot()["p1"]
    f = snap["figures"]
    assert f["fps"] == 3 and f["width"] == 320 and f["height"] == 180
    assert f["quality_limitation"] == "cpu" and f["audio_level"] == 0.4
    assert f["candidate_type"] == "relay" and f["rtt_ms"] == 55
    assert snap["rating"] == "poor" and "fps" in sim.reasons()
    assert snap["browser_stats_age_s"] == 0


def test_browser_only_point_without_relay_stats(sim):
    sim.online()
    report = parse_report({"outbound": {"video": {"fps": 30}}, "ice_state": "connected"})
    sim.run(10, None, browser=report)
    assert sim.rating() == "good"
    # the page stops reporting: stale
    sim.run(12, None)
    assert sim.rating() == "degraded" and sim.reasons() == ["stats_stale"]


def test_history_bounded_and_one_sample_per_update():
    sim = Sim(history_s=60)
    sim.online()
    sim.run(30, good_stats(), step=2.0)
    h = sim.mon.history("p1")
    assert len(h["t"]) == 15
    assert set(h["series"]) == set(HISTORY_SERIES)
    assert all(len(v) == 15 for v in h["series"].values())
    sim.run(600, good_stats(loss_up=0.01), step=1.0)
    h = sim.mon.history("p1")
    assert 55 <= len(h["t"]) <= 61
    assert min(h["t"]) >= sim.t - 60
    assert h["series"]["loss_up"][-1] == 0.01
    point = sim.mon._points["p1"]
    assert point.history.maxlen <= 60 + 8
    json.dumps(h)
    small = sim.mon.history("p1", max_points=10)
    assert len(small["t"]) == 10 and len(small["series"]["rtt_ms"]) == 10
    assert sim.mon.history("nobody")["t"] == []


def test_history_one_hour_default_is_bounded():
    mon = HealthMonitor()
    mon.set_online("p", True, 0.0)
    for i in range(9000):  # 2.5 h of updates at 1 Hz, two sources
        mon.update_server("p", good_stats(), float(i))
        mon.update_browser("p", parse_report({}), float(i) + 0.1)
    h = mon.history("p")
    assert 3590 <= len(h["t"]) <= 3601
    assert mon._points["p"].history.maxlen <= 3608


def test_incidents_in_history(sim):
    sim.online()
    sim.run(10, good_stats())
    sim.run(5, good_stats(loss_down=0.2))
    sim.run(15, good_stats())
    inc = sim.mon.history("p1")["incidents"]
    ratings = [(i["previous"], i["rating"]) for i in inc]
    assert ("good", "poor") in ratings and ("poor", "good") in ratings
    poor = next(i for i in inc if i["rating"] == "poor")
    assert poor["reasons"][0]["code"] == "loss_down"


def test_evaluate_returns_changes(sim):
    sim.online()
    sim.run(10, good_stats())
    sim.t += 1
    sim.mon.update_server("p1", good_stats(loss_up=0.5), sim.t)
    assert sim.mon.evaluate(sim.t) == []
    sim.t += 1
    sim.mon.update_server("p1", good_stats(loss_up=0.5), sim.t)
    changes = sim.mon.evaluate(sim.t)
    assert len(changes) == 1
    assert changes[0]["rating"] == "poor" and changes[0]["previous"] == "good"


def test_bad_server_values_are_tolerated(sim):
    sim.online()
    sim.run(5, {"rtt_ms": "n/a", "loss_up": 7, "fps_up": float("nan"), "media_silence_s": 0.1,
                "bogus": 1})
    snap = sim.mon.snapshot()["p1"]
    assert snap["figures"]["rtt_ms"] is None and snap["figures"]["loss_up"] == 1.0
    json.dumps(snap)


def test_relay_wiring_empty_figures_then_peer_then_rebuilt_peer(sim):
    """The relay reports every point every second; all None while it has no peer for it."""
    empty = dict.fromkeys(good_stats())
    sim.online()
    sim.run(5, empty)
    assert sim.rating() == "degraded" and sim.reasons() == ["connecting"]
    sim.run(12, empty)
    assert sim.rating() == "poor" and sim.reasons() == ["no_media"]
    sim.run(8, good_stats())
    assert sim.rating() == "good"
    # the peer is rebuilt (rtc:start): no figures for a moment, the silence keeps counting
    trace = sim.run(5, empty)
    assert first_time(trace, "down") is not None and "media_silence" in sim.reasons()
    sim.run(10, good_stats())
    assert sim.rating() == "good"


def test_updates_without_set_online_count_as_online():
    mon = HealthMonitor()
    for t in range(1, 20):
        mon.update_server("x", dict.fromkeys(good_stats()), float(t))
        mon.evaluate(float(t))
    assert mon.snapshot()["x"]["online"] is True
    assert mon.snapshot()["x"]["reasons"][0]["code"] == "no_media"


def test_first_join_raises_no_alert_and_a_drop_stays_one_alert_until_good(sim):
    sim.mon.add_point("p1", sim.t)
    sim.run(5, None)  # offline, never online: down, no alert
    assert sim.rating() == "down" and sim.events == []
    sim.online()
    sim.run(1, None)
    assert sim.rating() == "degraded" and sim.events == []
    sim.run(10, good_stats())
    assert sim.rating() == "good" and sim.events == []
    # the point drops and comes back: one alert, open while it reconnects, cleared when good
    sim.mon.set_online("p1", False, sim.t)
    sim.run(3, None)
    assert [e["event"] for e in sim.events] == ["raised"]
    assert sim.events[0]["level"] == "down" and sim.events[0]["reasons"][0]["code"] == "offline"
    sim.online()
    sim.run(2, None)
    alert = sim.mon.alerts()[0]
    assert alert["cleared_at"] is None and alert["level"] == "degraded"
    assert alert["peak"] == "down" and alert["peak_reasons"][0]["code"] == "offline"
    assert alert["reasons"][0]["code"] == "connecting"
    sim.run(10, good_stats())
    assert [e["event"] for e in sim.events] == ["raised", "cleared"]
    assert sim.mon.alerts()[0]["peak"] == "down"
