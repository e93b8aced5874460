"""The technician dashboard and the pre-join check in real headless Chromium, against a real
`dewan serve --http` process (tests/support)."""

import asyncio

import pytest

from tests.support.browser import new_page

pytestmark = pytest.mark.browser

GOOD_REPORT = {
    "outbound": {"video": {"fps": 30, "width": 640, "height": 360, "bitrate_kbps": 800,
                           "quality_limitation": "none"},
                 "audio": {"level": 0.3, "bitrate_kbps": 32}},
    "candidate_pair": {"local_type": "host", "remote_type": "host", "rtt_ms": 20},
    "ice_state": "connected",
    "connection_state": "connected",
}


async def report_every_second(client, report, stop: asyncio.Event):
    while not stop.is_set():
        ack = await client.request("stats:report", report)
        assert ack["ok"], ack
        try:
            await asyncio.wait_for(stop.wait(), 1.1)
        except asyncio.TimeoutError:
            pass


async def tile(page, point):
    return page.locator(f'#tech-tiles .tt[data-point="{point}"]')


async def test_dashboard_tiles_alerts_detail_and_message(server, connect, chromium):
    points = list(server.links["points"])
    assert len(points) >= 21
    district = points[0]
    page = await new_page(chromium, server.page_url("tech"))
    # every point (hall + districts) has a tile, offline ones rated down, in Vietnamese
    await page.wait_for_function(
        f"() => document.querySelectorAll('#tech-tiles .tt').length >= {len(points) + 1}", timeout=15000)
    await page.wait_for_function(
        "() => document.querySelector('#tech-tiles .tt')?.dataset.rating === 'down'", timeout=10000)
    first = page.locator("#tech-tiles .tt").first
    assert "Mất kết nối" in await first.locator(".tt-badge").inner_text()
    assert "ngoại tuyến" in await first.locator(".tt-reason").inner_text()

    # a district comes online and reports healthy figures: its tile turns good, sorted last
    client = await connect(district)
    stop = asyncio.Event()
    task = asyncio.create_task(report_every_second(client, GOOD_REPORT, stop))
    try:
        await page.wait_for_function(
            f"() => document.querySelector('#tech-tiles .tt[data-point=\"{district}\"]')?.dataset.rating === 'good'",
            timeout=25000)
        t = await tile(page, district)
        text = await t.inner_text()
        assert "640×360" in text and "20 ms" in text
        last = page.locator("#tech-tiles .tt").last
        assert await last.get_attribute("data-point") == district

        # its camera drops to 2 fps: rated poor with the reason in words, alert with a beep
        beeps = await page.evaluate("window.dewan.view.beeps || 0")
        stop.set()
        await task
        slow = {**GOOD_REPORT, "outbound": {"video": {**GOOD_REPORT["outbound"]["video"], "fps": 2}}}
        stop = asyncio.Event()
        task = asyncio.create_task(report_every_second(client, slow, stop))
        await page.wait_for_function(
            f"() => document.querySelector('#tech-tiles .tt[data-point=\"{district}\"]')?.dataset.rating === 'poor'",
            timeout=15000)
        assert "khung/giây" in await t.locator(".tt-reason").inner_text()
        await page.wait_for_function(f"() => (window.dewan.view.beeps || 0) > {beeps}", timeout=5000)
        row = page.locator(f'#tech-alerts .alert.open[data-point="{district}"]')
        await row.wait_for(timeout=5000)

        # detail panel: figures, sparklines from health:history, incidents
        await t.click()
        await page.locator("#tech-detail").wait_for(state="visible")
        await page.wait_for_function(
            "() => [...document.querySelectorAll('#detail-charts .chart[data-series=\"rtt_ms\"] path')]"
            ".some((p) => (p.getAttribute('d') || '').startsWith('M'))", timeout=10000)
        await page.wait_for_function(
            "() => document.querySelectorAll('#detail-incidents li').length > 0", timeout=15000)

        # a message to the point
        await page.fill("#msg-text", "Chuyển sang mạng có dây")
        await page.click("#btn-send")
        msg = await client.wait_for("message", lambda m: m["text"] == "Chuyển sang mạng có dây",
                                    timeout=5)
        assert msg["point"] == district
    finally:
        stop.set()
        await task

    # the point drops: down, offline
    await client.close()
    await page.wait_for_function(
        f"() => document.querySelector('#tech-tiles .tt[data-point=\"{district}\"]')?.dataset.rating === 'down'",
        timeout=10000)
    assert await page.evaluate("document.title.startsWith('(')")


async def test_dashboard_in_english(server, chromium):
    page = await new_page(chromium, server.page_url("tech", lang="en"))
    await page.wait_for_function(
        "() => document.querySelector('#tech-tiles .tt')?.dataset.rating === 'down'", timeout=15000)
    assert "Down" in await page.locator("#tech-tiles .tt .tt-badge").first.inner_text()
    assert "Alerts" in await page.locator(".tech-alerts-panel h2").inner_text()


async def test_precheck_devices_and_verdict(server, chromium):
    point = list(server.links["points"])[1]
    page = await new_page(chromium, server.page_url(point).replace("/j/", "/j/", 1) + "/check")
    await page.wait_for_function(
        "() => document.querySelector('#verdict').dataset.verdict !== 'checking'", timeout=40000)
    assert await page.locator("#check-camera").get_attribute("data-status") == "ok"
    assert await page.locator("#check-mic").get_attribute("data-status") in ("ok", "warn")
    verdict = await page.locator("#verdict").get_attribute("data-verdict")
    assert verdict in ("ready", "weak", "blocked")
    assert await page.locator("#verdict-word").inner_text()


async def test_preview_shows_a_publishing_point(server, chromium):
    point = list(server.links["points"])[2]
    kiosk = await new_page(chromium, server.page_url(point) + "?video=320x180@15")
    tech = await new_page(chromium, server.page_url("tech"))
    # the point's own page publishes and reports: its tile gets real relay figures
    await tech.wait_for_function(
        f"() => window.dewan.view.health?.points?.['{point}']?.figures?.packets_up > 0", timeout=30000)
    await tech.locator(f'#tech-tiles .tt[data-point="{point}"]').click()
    await tech.click("#btn-preview")
    await tech.locator("#preview-box").wait_for(state="visible", timeout=15000)
    await tech.wait_for_function(
        "() => document.querySelector('#preview-video').videoWidth > 0", timeout=20000)
    stats = await tech.evaluate("window.dewan.rtc.stats()")
    assert stats["preview"]["video"]["framesDecoded"] > 0
    await kiosk.close()
    await tech.close()


async def test_precheck_link_test_through_the_relay_beside_a_running_kiosk(server, connect, chromium):
    point = list(server.links["points"])[3]
    kiosk = await connect(point)  # the station is live; the check must not replace it
    tech = await connect("tech")
    page = await new_page(chromium, server.page_url(point) + "/check?lang=en")
    await page.wait_for_function(
        "() => document.querySelector('#verdict').dataset.verdict !== 'checking'", timeout=60000)
    notice = await tech.wait_for("notice", lambda n: n["type"] == "precheck", timeout=10)
    result = notice["result"]
    assert notice["point"] == point and result["link"] == "done", result
    assert result["camera"] == "ok" and result["microphone"] == "ok"
    # mechanics, not this (shared, loaded) machine's figures
    assert 0 <= result["rtt_ms"] < 2000 and result["bitrate_kbps"] > 0
    assert result["loss_down"] is not None and 0 <= result["loss_down"] <= 1
    assert result["candidate_type"] == "host" and result["verdict"] in ("ready", "weak")
    assert await page.locator("#check-link").get_attribute("data-status") in ("ok", "warn")
    assert "ms" in await page.locator("#link-rtt").inner_text()
    assert kiosk.sio.connected and not kiosk.received["error"]
    await page.close()


async def test_dashboard_shows_a_joined_points_fps_and_bitrate_within_10_s(server, chromium):
    import time

    point = list(server.links["points"])[4]
    tech = await new_page(chromium, server.page_url("tech"))
    kiosk = await new_page(chromium, server.page_url(point) + "?video=320x180@15")
    await kiosk.wait_for_function("() => window.dewan.rtc.pc?.connectionState === 'connected'", timeout=30000)
    joined = time.monotonic()
    await tech.wait_for_function(
        f"() => (f => f && f.fps > 0 && f.bitrate_up_kbps > 0)(window.dewan.view.health?.points?.['{point}']?.figures)",
        timeout=10000)
    took = time.monotonic() - joined
    text = await tech.locator(f'#tech-tiles .tt[data-point="{point}"]').inner_text()
    assert "fps" in text and "kbit/s" in text
    print(f"joined -> fps and bitrate on the dashboard in {took:.1f} s")
    await kiosk.close()
    await tech.close()
