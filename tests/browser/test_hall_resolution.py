"""The hall's camera goes out at its full 720p: libwebrtc's initial frame dropper would start
the encoder at a lower resolution on a new connection (the estimate starts low) and keep it
there, so the page holds the resolution while the estimate ramps up, then lets it adapt."""

import pytest

from tests.browser.conftest import wait_media

pytestmark = [pytest.mark.browser, pytest.mark.timeout(60)]

OUTBOUND = """async () => {
  let out = null;
  (await window.dewan.rtc.publishers.video.getStats()).forEach((r) => {
    if (r.type === 'outbound-rtp') out = {height: r.frameHeight, fps: r.framesPerSecond,
                                          limit: r.qualityLimitationReason};
  });
  return out;
}"""


async def test_the_hall_camera_goes_out_at_720p(open_page):
    hall = await open_page("hall")  # the hall camera: 1280x720 (client_web/js/rtc.js CAMERA)
    await wait_media(hall)
    seen = []
    for _ in range(8):  # across the switch from holding the resolution to adapting (4 s)
        await hall.wait_for_timeout(1000)
        seen.append(await hall.evaluate(OUTBOUND))
    print("hall camera out:", seen)
    assert all(s and s["height"] == 720 for s in seen[1:]), seen
