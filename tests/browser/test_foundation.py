"""(a) A point page joins; the chair console shows it online; the chair opens the conference
from the console and the point page shows it open."""

import time

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.timeout(60)]


async def test_point_online_and_open(open_page):
    chair = await open_page("chair")
    await chair.wait_for_selector("#tiles .tile[data-point='vinh'][data-state='offline']")
    started = time.monotonic()
    point = await open_page("vinh")
    await chair.wait_for_selector("#tiles .tile[data-point='vinh'][data-state='online']", timeout=5000)
    online_after = time.monotonic() - started
    print(f"point online on the chair console after {online_after:.2f}s")
    assert online_after < 2.0
    await point.wait_for_selector("#big-status[data-state='scheduled']")
    await chair.click("#btn-open")
    await point.wait_for_selector("#big-status[data-state='open']", timeout=3000)
    await point.wait_for_selector("#conference-status[data-status='open']")
    assert await point.is_enabled("#btn-request")
    # the chair's action is confirmed, and its media connection is up in words
    await chair.wait_for_selector(".toast.ok")
    await point.wait_for_function("() => window.dewan.rtc.state === 'connected'", timeout=15000)
    assert await point.get_attribute("#media-status", "data-state") == "connected"
