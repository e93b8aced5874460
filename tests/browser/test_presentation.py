"""The hall shares slides (getDisplayMedia on the presentation m-line, negotiated by a new
rtc:start): a point page shows the presentation; stopping it hides it again."""

import pytest

from tests.browser.conftest import frames, wait_frames, wait_media

pytestmark = [pytest.mark.browser, pytest.mark.timeout(60)]


async def test_hall_shares_slides(open_page):
    hall = await open_page("hall")
    point = await open_page("vinh")
    for page in (hall, point):
        await wait_media(page)
    await wait_frames(point, "hall", 5)
    before = await frames(point, "hall")
    await hall.click("#btn-share")
    await hall.wait_for_selector("#btn-share[aria-pressed='true']", timeout=10000)
    await wait_media(hall)
    await wait_frames(point, "presentation", 5)
    await point.wait_for_selector("#presentation-screen:not([hidden])", timeout=10000)
    await wait_frames(point, "hall", before + 30)  # the hall's camera came back on the new connection
    await hall.click("#btn-share")
    await hall.wait_for_selector("#btn-share[aria-pressed='false']")
    await point.wait_for_selector("#presentation-screen", state="hidden", timeout=15000)
