"""A point page recovers by itself after the server restarts (a reboot or a network cut):
a NEW media connection, the hall picture again. A station opened in a second window stops
the first one for good (no reconnect war)."""

import asyncio
import time

import pytest

from tests.browser.conftest import frames, wait_frames, wait_media

pytestmark = [pytest.mark.browser, pytest.mark.timeout(60)]


async def test_point_recovers_after_server_restart(open_page, server):
    hall = await open_page("hall")
    point = await open_page("vinh")
    for page in (hall, point):
        await wait_media(page)
    await wait_frames(point, "hall", 10)
    first_pc = await point.evaluate("() => { window.__pc = window.dewan.rtc.pc; return true; }")
    assert first_pc

    server.restart(kill=True)  # a crash or a power cut: no goodbye to the pages
    restarted = time.monotonic()
    await point.wait_for_function("() => window.dewan.rtc.state !== 'connected' || window.dewan.rtc.pc !== window.__pc",
                                  timeout=10000)
    for page in (hall, point):
        await page.wait_for_function(
            "() => window.dewan.rtc.state === 'connected' && window.dewan.rtc.pc !== window.__pc", timeout=30000)
    await wait_frames(point, "hall", 10)
    print(f"\npoint decoding the hall again {time.monotonic() - restarted:.1f}s after the restart")
    assert await point.get_attribute("#media-status", "data-state") == "connected"
    assert await point.get_attribute("#conn-status", "data-state") == "connected"


async def test_second_window_replaces_the_first(open_page):
    first = await open_page("vinh")
    await wait_media(first)
    second = await open_page("vinh")
    await wait_media(second)
    await first.wait_for_selector("#conn-status[data-state='replaced']")
    await first.wait_for_selector("#banner:not([hidden])")
    assert await first.evaluate("() => window.dewan.rtc.state") == "stopped"
    await asyncio.sleep(3)  # the first page stays stopped: no reconnect war
    assert await first.evaluate("() => window.dewan.rtc.state") == "stopped"
    assert await first.evaluate("() => window.dewan.rtc.pc") is None
    assert await second.get_attribute("#conn-status", "data-state") == "connected"
    assert await frames(second, "hall") == 0  # no hall publisher in this test; still connected
    assert await second.evaluate("() => window.dewan.rtc.state") == "connected"


async def test_point_recovers_after_network_cut(open_page):
    hall = await open_page("hall")
    point = await open_page("vinh")
    for page in (hall, point):
        await wait_media(page)
    await wait_frames(point, "hall", 10)
    await point.evaluate("() => { window.__pc = window.dewan.rtc.pc; }")
    # a network cut: the link drops (the relay closes the peer with the socket) and stays
    # down for a while (offline: no new connection succeeds)
    await point.context.set_offline(True)
    await point.evaluate("() => window.dewan.conn.socket.io.engine.close()")
    await point.wait_for_selector("#conn-status[data-state='reconnecting']", timeout=15000)
    await point.wait_for_selector("#media-status[data-state='retrying']", timeout=15000)
    await asyncio.sleep(2)
    await point.context.set_offline(False)
    back = time.monotonic()
    await point.wait_for_function(
        "() => window.dewan.rtc.state === 'connected' && window.dewan.rtc.pc !== window.__pc", timeout=30000)
    await wait_frames(point, "hall", 10)
    print(f"\npoint decoding the hall again {time.monotonic() - back:.1f}s after the network came back")
    await point.wait_for_selector("#big-status[data-state='scheduled']")
