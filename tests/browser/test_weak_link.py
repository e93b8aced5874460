"""A point on a weak rural link (its own network namespace behind a veth pair, tbf at
1 Mbit/s, 2 % UDP loss from nftables numgen): the relay sends it the hall's low layer from
its own bandwidth estimate and it keeps decoding; at 200 kbit/s it gets sound only and its
page says so; when the cap lifts it climbs back to the high layer (the relay probes). The
hall's other viewers stay on the high layer throughout. (No 150 ms delay is added: this
kernel has no netem and no user-space delay is built yet.)"""

from __future__ import annotations

import pytest
from playwright.async_api import async_playwright

from tests.browser.conftest import slot_stats, wait_media
from tests.support.browser import ARGS, new_page
from tests.support.server import DewanServer
from tests.support.weaklink import WeakLink, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.timeout(150),
              pytest.mark.skipif(not WeakLink.available(), reason="needs root, ip, tc and nft")]


@pytest.fixture
def server(tmp_path):
    srv = DewanServer(tmp_path / "state", env={
        "DEWAN_MEDIA_ICE_HOST_ADDRESSES": "127.0.0.1,10.77.1.1"})
    link = WeakLink(srv.port).open()
    srv.start()
    srv.weak = link
    yield srv
    srv.stop()
    link.close()


async def hall_height(page) -> int:
    return ((await slot_stats(page)).get("hall", {}).get("video") or {}).get("frameHeight", 0)


async def hall_frames(page) -> int:
    return ((await slot_stats(page)).get("hall", {}).get("video") or {}).get("framesDecoded", 0)


async def test_weak_link_low_layer_sound_only_and_back(server, open_page):
    link = server.weak
    hall = await open_page("hall", "video=640x360")  # high 640x360, low 320x180
    strong = await open_page("cua-lo", "video=320x180")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(link.wrapper), headless=True,
                                           args=ARGS)
        try:
            weak = await new_page(browser, server.page_url("vinh") + "?video=320x180")
            for page in (hall, strong, weak):
                await wait_media(page, timeout=30)
            await wait_until(lambda: _is(hall_height(weak), 360), 20, "weak page on high at first")

            # 1 Mbit/s and 2 % loss: the low layer within 10 s, still decoding
            link.shape(1000, loss_percent=2)
            for _ in range(6):
                await weak.wait_for_timeout(1000)
                print(await weak.evaluate("() => window.dewan.layer"), await hall_height(weak),
                      await weak.evaluate("() => window.dewan.rtc.lastSummary?.inbound?.video?.bitrate_kbps"))
            took = await wait_until(lambda: _is(hall_height(weak), 180), 10, "low layer at 1 Mbit/s")
            print(f"1 Mbit/s + 2 % loss: low layer after {took:.1f} s")
            frames = await hall_frames(weak)
            await weak.wait_for_timeout(3000)
            assert await hall_frames(weak) > frames + 30  # keeps decoding (~15+ fps)
            assert await hall_height(weak) == 180
            assert await hall_height(strong) == 360  # the others stay high

            # 200 kbit/s: sound only, and the page says so in words
            link.shape(200, loss_percent=2)
            took = await wait_until(
                lambda: weak.evaluate("() => document.getElementById('layer-status').dataset.video === 'off'"),
                20, "sound only at 200 kbit/s")
            text = await weak.text_content("#layer-status")
            print(f"200 kbit/s: sound only after {took:.1f} s: {text!r}")
            assert "âm thanh" in text and await weak.is_visible("#layer-status")
            assert await hall_height(strong) == 360

            # the cap lifts: back to the high layer within 20 s
            link.shape(None)
            took = await wait_until(lambda: _is(hall_height(weak), 360), 20, "high layer again")
            print(f"cap lifted: high layer after {took:.1f} s")
            await weak.wait_for_selector("#layer-status", state="hidden", timeout=5000)
            assert await hall_height(strong) == 360
        finally:
            await browser.close()


async def _is(value_coro, wanted) -> bool:
    return (await value_coro) == wanted
