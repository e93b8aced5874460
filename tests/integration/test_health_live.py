"""Link health through the real server: a point whose outgoing packets are dropped is rated
poor with a loss reason and recovers; a cut link is rated down from media silence; /metrics
carries per-point series for a technician token and refuses a point's token."""

import asyncio
import time
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from tests.support.clients import ConfClient
from tests.support.media_client import MediaParticipant, impair


async def rating_after(tech: ConfClient, point: str, want: str, since: int, timeout: float) -> tuple[float, dict]:
    t0 = time.monotonic()
    health = await tech.wait_for("health", lambda h: h["points"][point]["rating"] == want,
                                 timeout=timeout, after=since)
    return time.monotonic() - t0, health["points"][point]


async def test_loss_is_rated_poor_then_recovers_and_a_cut_is_down(server):
    tech = ConfClient(server.base_url, server.token("tech"))
    await tech.connect()
    point = await MediaParticipant(server, "vinh", source_id=5, audio=True).join()
    try:
        _, snap = await rating_after(tech, "vinh", "good", 0, timeout=20)
        knob = impair(point)

        knob["drop"] = 0.15
        took, snap = await rating_after(tech, "vinh", "poor", len(tech.received["health"]), timeout=10)
        assert any(r["code"] == "loss_up" for r in snap["reasons"]), snap["reasons"]
        print(f"15 % loss -> poor in {took:.1f} s, reasons {snap['reasons']}")
        alert = await tech.wait_for("health", lambda h: any(a["point"] == "vinh" and a["cleared_at"] is None
                                                             for a in h["alerts"]))
        assert alert

        knob["drop"] = 0.0
        took, snap = await rating_after(tech, "vinh", "good", len(tech.received["health"]), timeout=20)
        print(f"loss stopped -> good in {took:.1f} s")

        knob["drop"] = 1.0
        took, snap = await rating_after(tech, "vinh", "down", len(tech.received["health"]), timeout=5)
        assert any(r["code"] == "media_silence" for r in snap["reasons"]), snap["reasons"]
        print(f"cut -> down in {took:.1f} s")

    finally:
        await point.close()
        await tech.close()
    # raised and cleared alerts are events in the conference's log (for the minutes)
    journal = (server.state_dir / "conferences" / "main" / "events.jsonl").read_text()
    assert '"type":"health.alert"' in journal and '"type":"health.cleared"' in journal


def scrape(server, token: str | None):
    request = urllib.request.Request(f"{server.base_url}/metrics")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    return urllib.request.urlopen(request, timeout=5)


async def test_metrics_need_a_technician_token_and_carry_per_point_series(server, connect):
    point = await connect("cua-lo")
    assert (await point.request("clock:sync"))["ok"]
    await asyncio.sleep(2.5)
    with scrape(server, server.token("tech")) as response:
        text = response.read().decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    online = {s.labels["point"]: s.value for s in families["dewan_point_online"].samples}
    assert online["cua-lo"] == 1 and online["vinh"] == 0 and len(online) == 22
    assert "dewan_point_rating" in families and "dewan_relay_packets_forwarded" in families
    counted = {(s.labels["event"], s.labels["result"]): s.value
               for s in families["dewan_socket_events"].samples if s.name.endswith("_total")}
    assert counted[("clock:sync", "ok")] >= 1
    for token, status in [(server.token("vinh"), 403), (None, 401), ("forged.token", 401)]:
        try:
            scrape(server, token)
            raise AssertionError("metrics answered without a technician token")
        except urllib.error.HTTPError as exc:
            assert exc.code == status
