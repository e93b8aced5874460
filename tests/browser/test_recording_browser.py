"""In Chromium: the chair clicks Record, a point's page shows the recording indicator, the
chair stops; the technician exports the session from the dashboard, watches its progress and
gets a signed link; the floor WebM behind it decodes with PyAV."""

import io
import json
import time
import urllib.request

import av
import pytest

from tests.browser.conftest import wait_media

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]


async def test_chair_records_point_sees_it_technician_exports(open_page, server):
    chair = await open_page("chair", "lang=en")
    point = await open_page("vinh", "lang=en")
    await wait_media(point)
    await chair.click("#btn-open")
    await chair.wait_for_selector("#conference-status[data-status='open']")
    assert await point.is_hidden("#rec-indicator")
    await chair.click("#tiles .tile[data-point='vinh'] .tile-grant")
    await chair.wait_for_selector("#tiles .tile[data-point='vinh'][data-state='speaking']")

    await chair.click("#btn-record")
    await point.wait_for_selector("#rec-indicator:visible", timeout=5000)
    assert "REC" in await point.inner_text("#rec-indicator")
    await chair.wait_for_selector("#rec-indicator:visible")
    await chair.wait_for_selector("#btn-record-stop:visible")
    await chair.wait_for_timeout(2500)
    # on a loaded machine the floor's first key frame can be late: stop once the relay has
    # forwarded 40 floor frames to the recorder (its own count, in segment.json)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and floor_frames(server) < 40:
        await chair.wait_for_timeout(500)
    await chair.click("#btn-record-stop")
    await point.wait_for_selector("#rec-indicator", state="hidden", timeout=5000)
    await chair.wait_for_selector("#btn-record:visible")
    await chair.wait_for_selector("#recordings tr[data-id] .rec-export-btn")  # chairs may export too

    tech = await open_page("tech", "lang=en")
    row = await tech.wait_for_selector("#recordings tr[data-id]")
    assert "Hội nghị trực tuyến tỉnh Nghệ An" in await row.inner_text()
    await tech.click("#recordings tr[data-id] .rec-export-btn")
    link = await tech.wait_for_selector("#recordings .rec-files a[download='floor.webm']", timeout=60000)
    href = await link.get_attribute("href")
    assert "sig=" in href and "exp=" in href
    with urllib.request.urlopen(server.base_url + href, timeout=10) as r:
        data = r.read()
    with av.open(io.BytesIO(data)) as c:
        frames = sum(1 for _ in c.decode(c.streams.video[0]))
    assert frames > 30


def floor_frames(server) -> int:
    for segment in (server.state_dir / "recordings").glob("*/seg-*/segment.json"):
        try:
            tracks = json.loads(segment.read_text()).get("tracks", [])
        except ValueError:
            continue  # being rewritten
        for track in tracks:
            if track["slot"] == "floor.video":
                return track.get("frames_forwarded", 0)
    return 0
