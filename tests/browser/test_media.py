"""(b) Media through the relay to real browsers: a hall station, a chair console and two
point pages. Each point sees and hears the hall; the chair's tiles show the two points."""

import pytest

from tests.browser.conftest import slot_stats, tile_slot, wait_frames, wait_media

pytestmark = [pytest.mark.browser, pytest.mark.timeout(60)]


async def test_hall_points_chair(open_page):
    hall = await open_page("hall", "video=640x360")  # 720p encoding is not what this test measures
    vinh = await open_page("vinh")
    cua_lo = await open_page("cua-lo")
    chair = await open_page("chair")
    for page in (hall, vinh, cua_lo, chair):
        await wait_media(page)

    # every point page: the hall's picture decodes, and keeps decoding, at a real size
    for page in (vinh, cua_lo):
        first = await wait_frames(page, "hall", 10)
        await page.wait_for_function("() => document.getElementById('video-hall').videoWidth > 0", timeout=10000)
        await wait_frames(page, "hall", first + 10, timeout=10)  # rising (no fps asserted: shared CPU)
        later = (await slot_stats(page))["hall"]["video"]
        assert later["frameWidth"] > 0
        assert await page.get_attribute("#media-status", "data-state") == "connected"

    # the chair's tiles of the two points decode frames; offline points' tiles do not
    await wait_frames(chair, await tile_slot(chair, "vinh"), 10)
    await wait_frames(chair, await tile_slot(chair, "cua-lo"), 10)
    await wait_frames(chair, "hall", 10)
    stats = await slot_stats(chair)
    offline = await tile_slot(chair, "thai-hoa")
    assert (stats.get(offline, {}).get("video") or {}).get("framesDecoded", 0) == 0
    assert await chair.evaluate("() => document.querySelector(\"#tiles .tile[data-point='vinh'] video\").videoWidth") > 0

    # the hall station sees the points too
    await wait_frames(hall, await tile_slot(hall, "vinh"), 5)

    # a point hears the hall (the fake microphone beeps): inbound audio energy > 0
    await vinh.wait_for_function(
        "async () => ((await window.dewan.rtc.stats()).hall?.audio?.totalAudioEnergy || 0) > 0", timeout=10000)
    audio = (await slot_stats(vinh))["hall"]["audio"]
    print(f"vinh hears the hall: totalAudioEnergy={audio['totalAudioEnergy']:.3f}, packets={audio['packetsReceived']}")
    assert await vinh.evaluate("() => !document.getElementById('audio-hall').paused")
    # and the page reported its link (stats:report) without being refused
    await vinh.wait_for_function("() => (window.dewan.rtc.reportsSent || 0) >= 1", timeout=5000)
    assert await vinh.evaluate("() => window.dewan.rtc.lastReportAck.ok"), await vinh.evaluate("() => window.dewan.rtc.lastReportAck")
    summary = await vinh.evaluate("() => window.dewan.rtc.lastSummary")
    assert summary["connection_state"] == "connected"
    assert summary["candidate_pair"]["local_type"] == "host"
