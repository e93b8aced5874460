"""The chair console's queue and point controls, with socket clients as the districts:
waiting times, reorder (up and by position), deny with a reason, mute, grant the next;
every action confirmed, every refusal explained."""

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.timeout(60)]


async def order(chair) -> list[str]:
    return await chair.eval_on_selector_all("#queue li", "nodes => nodes.map(n => n.dataset.point)")


async def test_queue_and_point_controls(open_page, connect):
    chair = await open_page("chair", "lang=en")
    vinh, cua_lo, thai_hoa = await connect("vinh"), await connect("cua-lo"), await connect("thai-hoa")
    await chair.click("#btn-open")
    await chair.wait_for_selector("#conference-status[data-status='open']")
    for client, topic in ((vinh, "roads"), (cua_lo, "schools"), (thai_hoa, None)):
        assert (await client.request("floor:request", {"topic": topic}))["ok"]
    await chair.wait_for_function("() => document.querySelectorAll('#queue li').length === 3")
    assert await order(chair) == ["vinh", "cua-lo", "thai-hoa"]
    assert "roads" in await chair.inner_text("#queue li[data-point='vinh']")
    assert ":" in await chair.inner_text("#queue li[data-point='vinh'] .wait")  # waiting time m:ss
    assert await chair.get_attribute("#tiles .tile[data-point='cua-lo']", "data-state") == "requesting"

    # move up, then move by position; each confirmed
    await chair.click("#queue li[data-point='thai-hoa'] button.up")
    await chair.wait_for_function("() => document.querySelector('#queue li:nth-child(2)').dataset.point === 'thai-hoa'")
    await chair.wait_for_selector(".toast.ok")
    await chair.select_option("#queue li[data-point='vinh'] select.move", "3")
    await chair.wait_for_function("() => document.querySelector('#queue li:nth-child(3)').dataset.point === 'vinh'")
    assert await order(chair) == ["thai-hoa", "cua-lo", "vinh"]

    # deny with a reason (the page asks for it)
    chair.once("dialog", lambda dialog: dialog.accept("out of agenda"))
    await chair.click("#queue li[data-point='cua-lo'] button.deny")
    await chair.wait_for_function("() => !document.querySelector(\"#queue li[data-point='cua-lo']\")")

    # mute a point from its tile, and unmute it
    await chair.click("#tiles .tile[data-point='vinh'] .tile-mute")
    await chair.wait_for_selector("#tiles .tile[data-point='vinh'][data-muted='true']")
    assert await chair.get_attribute("#tiles .tile[data-point='vinh'] .tile-mute", "aria-pressed") == "true"
    await chair.click("#tiles .tile[data-point='vinh'] .tile-mute")
    await chair.wait_for_selector("#tiles .tile[data-point='vinh'][data-muted='false']")

    # grant the next: the first in the queue speaks
    await chair.click("#btn-grant-next")
    await chair.wait_for_selector("#tiles .tile[data-point='thai-hoa'][data-state='speaking']")
    await chair.wait_for_selector("#countdown[data-state='running']")
    await chair.wait_for_selector("#btn-revoke:enabled")

    # a refusal is explained: the speaker's station drops; granting it again is refused
    await thai_hoa.close()
    await chair.click("#btn-revoke")
    await chair.wait_for_selector("#btn-revoke:disabled")
    await chair.evaluate("() => document.querySelectorAll('.toast').forEach((n) => n.remove())")
    await chair.evaluate("() => document.querySelector(\"#tiles .tile[data-point='thai-hoa'] .tile-grant\").disabled = false")
    await chair.click("#tiles .tile[data-point='thai-hoa'] .tile-grant")
    error = await chair.wait_for_selector(".toast.error")
    text = await error.inner_text()
    print(f"\nrefusal shown to the chair: {text!r}")
    assert text == "Not done: That point is not connected."
