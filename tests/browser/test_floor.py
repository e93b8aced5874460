"""(d) The floor through the UI: a point requests, the chair grants with a click, the other
point sees and hears the speaker with the countdown (even with its clock 5 minutes off);
revoking in the chair UI takes the picture away."""

import asyncio
import time

import pytest

from tests.browser.conftest import frames, wait_frames, wait_media

pytestmark = [pytest.mark.browser, pytest.mark.timeout(60)]

REMAINING = "() => window.dewan.conn.remaining()"


async def test_request_grant_countdown_revoke(open_page):
    chair = await open_page("chair")
    speaker = await open_page("vinh")
    listener = await open_page("cua-lo", clock_shift_s=5 * 60)  # this PC's clock is 5 min fast
    started = time.monotonic()
    for page in (chair, speaker, listener):
        await wait_media(page)
    print(f"\nthree pages' media connected in {time.monotonic() - started:.1f}s")
    assert await listener.evaluate("() => Date.now() - %d > 250000" % int(time.time() * 1000))

    await chair.click("#btn-open")
    await speaker.wait_for_selector("#btn-request:enabled")
    await speaker.fill("#topic", "Báo cáo tiến độ chuyển đổi số")
    await speaker.click("#btn-request")
    await speaker.wait_for_selector("#queue-position:not(:empty)")
    entry = "#queue li[data-point='vinh']"
    await chair.wait_for_selector(entry)
    assert "Báo cáo" in await chair.inner_text(entry)
    await chair.click(f"{entry} button.grant")
    granted = time.monotonic()

    # the speaker: "you have the floor", no floor screen of its own; the listener sees it
    await speaker.wait_for_selector("#big-status[data-state='speaking']")
    assert await speaker.is_hidden("#floor-screen")
    await listener.wait_for_selector("#floor-screen:not([hidden])")
    await wait_frames(listener, "floor", 10)
    await listener.wait_for_function("() => document.getElementById('video-floor').videoWidth > 0", timeout=10000)
    await chair.wait_for_selector("#tiles .tile[data-point='vinh'][data-state='speaking']")
    # the listener hears the speaker; the speaker gets nothing back on its floor slot (no echo)
    await listener.wait_for_function(
        "async () => ((await window.dewan.rtc.stats()).floor?.audio?.totalAudioEnergy || 0) > 0", timeout=10000)
    assert await frames(speaker, "floor") == 0
    print(f"the listener decodes the speaker {time.monotonic() - granted:.1f}s after the click")

    # the countdown runs on both points and agrees within 0.5 s, whatever the local clocks say
    for page in (speaker, listener):
        await page.wait_for_selector("#countdown[data-state='running']")
        await page.wait_for_function(
            "() => window.dewan.conn._synced && Math.abs(window.dewan.conn.offsetMs) >= 0", timeout=5000)
    await listener.wait_for_function("() => window.dewan.conn.offsetMs < -250000", timeout=5000)
    t_a = time.monotonic()
    r_speaker = await speaker.evaluate(REMAINING)
    t_b = time.monotonic()
    r_listener = await listener.evaluate(REMAINING)
    shown = float(await listener.get_attribute("#countdown", "data-remaining"))
    gap = abs((r_speaker - (t_b - t_a)) - r_listener)
    print(f"remaining: speaker {r_speaker:.2f}s, listener (+5 min clock) {r_listener:.2f}s, gap {gap:.3f}s; "
          f"listener shows {await listener.inner_text('#countdown')}")
    assert 150 < r_listener <= 180
    assert gap < 0.5
    assert abs(shown - r_listener) < 0.5
    assert await speaker.inner_text("#countdown") != ""

    # revoke in the chair UI: the listener's floor screen goes, no new frames arrive
    await chair.click("#btn-revoke")
    await chair.wait_for_selector("#btn-revoke:disabled", timeout=5000)
    await listener.wait_for_selector("#floor-screen", state="hidden")
    await speaker.wait_for_selector("#big-status[data-state='open']")
    await listener.wait_for_selector("#countdown[data-state='idle']", state="attached")
    await asyncio.sleep(0.5)
    settled = await frames(listener, "floor")
    await asyncio.sleep(1.5)
    assert await frames(listener, "floor") - settled <= 2
