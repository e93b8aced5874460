"""A newcomer's `dewan serve --host 127.0.0.1` with no ICE settings works on a loopback-only
machine; with no media route at all the page says so in words and the technicians see it."""

from __future__ import annotations

import time

import pytest

from tests.browser.conftest import wait_frames, wait_media
from tests.net.conftest import join_times, median, need
from tests.net.test_udp_port import free_udp_port
from tests.support.browser import new_page
from tests.support.netns import delete_table, drop_udp_port
from tests.support.server import DewanServer

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]


async def test_loopback_server_without_ice_settings_reaches_a_chromium_point(tmp_path, chromium):
    server = DewanServer(tmp_path / "state", env={"DEWAN_MEDIA_ICE_HOST_ADDRESSES": ""}).start()
    pages = []
    try:
        hall = await new_page(chromium, server.page_url("hall") + "?video=320x180")
        point = await new_page(chromium, server.page_url("vinh") + "?video=320x180")
        pages += [hall, point]
        await wait_media(hall)
        await wait_frames(point, "hall", 10)
        offer_host = await point.evaluate(
            "() => window.dewan.rtc.pc.remoteDescription.sdp.match(/a=candidate:\\S+ 1 udp \\d+ (\\S+)/)[1]")
        assert offer_host == "127.0.0.1"
        # join time with no ICE servers and no route anywhere but loopback (no STUN stall)
        signal, page_ms = await join_times(point, 5)
        print(f"join, no ICE servers: rtc:start->connected {signal} ms (median {median(signal)}), "
              f"page load->connected {page_ms} ms (median {median(page_ms)})")
        assert median(page_ms) < 2000
    finally:
        for page in pages:
            await page.context.close()
        server.stop()


async def test_no_media_route_is_said_in_words_within_10_s_and_shown_to_technicians(tmp_path, chromium):
    need("nft")
    port = free_udp_port()
    server = DewanServer(tmp_path / "state", env={"DEWAN_MEDIA_UDP_PORT": str(port)}).start()
    pages = []
    try:
        drop_udp_port(port)  # every media datagram to or from the relay is lost
        tech = await new_page(chromium, server.page_url("tech", "en"))
        pages.append(tech)
        started = time.monotonic()
        point = await new_page(chromium, server.page_url("vinh", "en"))
        pages.append(point)
        words = "Media cannot connect — tell the technician"
        await point.wait_for_function(
            f"() => document.getElementById('media-status').textContent === {words!r}", timeout=10000)
        elapsed = time.monotonic() - started
        print(f"no route: the page said so after {elapsed:.1f} s")
        assert elapsed < 10
        await tech.wait_for_selector("#tech-alerts li.notice[data-type='media_unreachable'][data-point='vinh']",
                                     timeout=6000)
        text = await tech.text_content("#tech-alerts li.notice[data-type='media_unreachable']")
        assert "media cannot connect" in text
    finally:
        delete_table("dewan_noroute")
        for page in pages:
            await page.context.close()
        server.stop()

