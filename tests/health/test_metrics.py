from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from server.health.metrics import HealthMetrics, render
from server.health.report import parse_report

from .conftest import Sim, good_stats


def scrape(metrics):
    body, content_type = render(metrics.registry)
    assert content_type.startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            samples.setdefault(s.name, []).append((s.labels, s.value))
    return samples


def value(samples, name, **labels):
    hits = [v for l, v in samples.get(name, []) if all(l.get(k) == x for k, x in labels.items())]
    assert len(hits) == 1, (name, labels, samples.get(name))
    return hits[0]


def test_scrape_has_per_point_series_relay_counters_events_and_process():
    sim = Sim()
    sim.online("d1")
    sim.online("d2")
    browser = parse_report({"outbound": {"video": {"fps": 24}}})
    for _ in range(6):
        sim.t += 1
        sim.mon.update_server("d1", good_stats(), sim.t)
        sim.mon.update_server("d2", good_stats(loss_up=0.2, loss_down=0.04, rtt_ms=123), sim.t)
        sim.mon.update_browser("d2", browser, sim.t)
        sim.mon.evaluate(sim.t)
    sim.mon.add_point("d3", sim.t)  # never connected
    sim.mon.evaluate(sim.t)
    totals = {"packets_forwarded": 1000, "bytes_forwarded": 1_200_000, "plis_sent": 3,
              "nacks_received": 7, "retransmissions": 5}
    m = HealthMetrics(sim.mon.snapshot, lambda: totals)
    m.count_event("floor:request", "ok")
    m.count_event("floor:request", "ok")
    m.count_event("floor:grant", "forbidden")
    s = scrape(m)

    assert value(s, "dewan_point_rtt_ms", point="d2") == 123
    assert value(s, "dewan_point_loss_ratio", point="d2", direction="up") == 0.2
    assert value(s, "dewan_point_loss_ratio", point="d2", direction="down") == 0.04
    assert value(s, "dewan_point_jitter_ms", point="d1") == 5
    assert value(s, "dewan_point_bitrate_kbps", point="d1", direction="up") == 900
    assert value(s, "dewan_point_bitrate_kbps", point="d1", direction="down") == 1200
    assert value(s, "dewan_point_fps", point="d1") == 30
    assert value(s, "dewan_point_rating", point="d1") == 0
    assert value(s, "dewan_point_rating", point="d2") == 2
    assert value(s, "dewan_point_rating", point="d3") == 3
    assert value(s, "dewan_point_online", point="d1") == 1
    assert value(s, "dewan_point_online", point="d3") == 0
    assert "d3" not in {l["point"] for l, _ in s["dewan_point_rtt_ms"]}  # unknown: left out

    assert value(s, "dewan_relay_packets_forwarded_total") == 1000
    assert value(s, "dewan_relay_bytes_forwarded_total") == 1_200_000
    assert value(s, "dewan_relay_plis_sent_total") == 3
    assert value(s, "dewan_relay_nacks_received_total") == 7
    assert value(s, "dewan_relay_retransmissions_total") == 5

    assert value(s, "dewan_socket_events_total", event="floor:request", result="ok") == 2
    assert value(s, "dewan_socket_events_total", event="floor:grant", result="forbidden") == 1
    assert "process_cpu_seconds_total" in s

    # totals are read at scrape time
    totals["packets_forwarded"] = 2500
    assert value(scrape(m), "dewan_relay_packets_forwarded_total") == 2500


def test_own_registry_never_global_and_two_instances_coexist():
    before = {c for c in REGISTRY._collector_to_names}
    a, b = HealthMetrics(), HealthMetrics()
    assert a.registry is not REGISTRY and a.registry is not b.registry
    assert {c for c in REGISTRY._collector_to_names} == before
    s = scrape(a)
    assert value(s, "dewan_relay_packets_forwarded_total") == 0


def test_broken_sources_do_not_break_the_scrape():
    def boom():
        raise RuntimeError("no")

    m = HealthMetrics(boom, boom, process=False)
    s = scrape(m)
    assert value(s, "dewan_relay_plis_sent_total") == 0
    assert "dewan_point_rtt_ms" not in s


def test_event_label_cardinality_is_bounded():
    m = HealthMetrics(process=False)
    for i in range(1000):
        m.count_event(f"junk:{i}", "bad_request")
    s = scrape(m)
    assert len(s["dewan_socket_events_total"]) <= 257
    assert value(s, "dewan_socket_events_total", event="other", result="bad_request") > 0
