"""The speaker's kiosk warns when 30 s are left (warning_s)."""

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.timeout(60)]


async def test_countdown_warning(open_page, connect):
    chair = await connect("chair")
    assert (await chair.request("conference:open", {}))["ok"]
    point = await open_page("vinh")
    await point.wait_for_selector("#big-status[data-state='open']")
    ack = await chair.request("floor:grant", {"point": "vinh", "limit_s": 33})
    assert ack["ok"], ack
    await point.wait_for_selector("#big-status[data-state='speaking']")
    await point.wait_for_selector("#countdown[data-state='running']", timeout=3000)
    await point.wait_for_selector("#countdown[data-state='warning']", timeout=6000)
    await point.wait_for_selector("#floor-warning:not([hidden])")
    remaining = float(await point.get_attribute("#countdown", "data-remaining"))
    assert 25 < remaining <= 30.5
