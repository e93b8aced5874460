"""Two-layer publishing: a point page sends its low layer (~180p) all the time and turns its
high layer on with the floor (no new rtc:start); the other points see the speaker on the
high layer within a second of the grant; tiles stay on the low layer."""

import time

import pytest

from tests.browser.conftest import slot_stats, tile_slot, wait_frames, wait_media
from tests.support.server import DewanServer

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]

HIGH_ACTIVE = "() => window.dewan.rtc.publishers.video.getParameters().encodings[0].active"
WATCH_HIGH = """() => {
  const rtc = window.dewan.rtc;
  const mid = [...rtc.slots].find(([, s]) => s.streamId === 'floor' && s.kind === 'video')[0];
  const receiver = rtc.pc.getTransceivers().find((t) => t.mid === mid).receiver;
  window.__high = null;
  const timer = setInterval(async () => {
    (await receiver.getStats()).forEach((r) => {
      if (r.type === 'inbound-rtp' && r.kind === 'video' && r.frameHeight === 360 && !window.__high) {
        window.__high = Date.now(); clearInterval(timer);
      }
    });
  }, 20);
}"""


# the seed conference's 21 districts, and the province's 130 communes and wards since July 2025
# (ward Vinh Phú holds the floor, ward Cửa Lò listens)
POINTS = {"21": (None, "vinh", "cua-lo"), "130": ("points-communes.toml", "vinh-phu", "cua-lo")}


@pytest.fixture(params=list(POINTS))
def points(request):
    return POINTS[request.param]


@pytest.fixture
def server(tmp_path, points):
    env = {"DEWAN_CONFERENCE_POINTS_FILE": points[0]} if points[0] else {}
    srv = DewanServer(tmp_path / "state", env=env).start()
    yield srv
    srv.stop()


async def height(page, stream: str) -> int:
    return ((await slot_stats(page)).get(stream, {}).get("video") or {}).get("frameHeight", 0)


async def test_point_turns_its_high_layer_on_with_the_floor(open_page, connect, points):
    _, speaker_id, listener_id = points
    chair_ctl = await connect("chair")
    assert (await chair_ctl.request("conference:open", {}))["ok"]
    speaker = await open_page(speaker_id)  # 640x360 camera: high 640x360, low 320x180
    listener = await open_page(listener_id, "video=320x180")
    chair = await open_page("chair")
    for page in (speaker, listener, chair):
        await wait_media(page)
    starts = await speaker.evaluate("() => window.dewan.rtc.generation")

    # before the floor: only the low layer goes out; the chair's tile shows it
    assert await speaker.evaluate(HIGH_ACTIVE) is False
    # the chair pins the speaker (its name under "All points"): with 130 points it is on no
    # page the console shows first
    await chair.click(f".chip[data-point='{speaker_id}']")
    tile = await tile_slot(chair, speaker_id)
    await wait_frames(chair, tile, 10)
    assert await height(chair, tile) == 180

    # the grant: the listener's floor slot shows the speaker's high layer within 1 s
    # (timed in the page: the floor receiver's stats every 20 ms, the first 360-line frame)
    await listener.evaluate(WATCH_HIGH)
    wall = time.time()
    assert (await chair_ctl.request("floor:grant", {"point": speaker_id}))["ok"]
    await listener.wait_for_function("() => window.__high", timeout=10000)
    on_air = await listener.evaluate("() => window.__high") / 1000 - wall
    turned_on = await speaker.evaluate("() => window.dewan.rtc.highChangedAt") / 1000 - wall
    print(f"speaker turned its high layer on {turned_on * 1000:.0f} ms after the grant; "
          f"on air at the listener after {on_air * 1000:.0f} ms")
    assert on_air < 1.0
    assert await speaker.evaluate(HIGH_ACTIVE) is True
    frames = await wait_frames(listener, "floor", 1)
    await wait_frames(listener, "floor", frames + 10)
    assert await height(chair, tile) == 180  # tiles stay low
    assert await height(chair, "floor") == 360

    # the floor goes back to the hall: the high layer is turned off again
    assert (await chair_ctl.request("floor:revoke", {}))["ok"]
    await speaker.wait_for_function(f"() => !({HIGH_ACTIVE[6:]})", timeout=5000)
    # all of this without a new offer
    assert await speaker.evaluate("() => window.dewan.rtc.generation") == starts
