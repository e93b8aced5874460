"""kill -9 of the server, then a restart: the journal replay keeps the conference state."""

from tests.support.clients import ConfClient


async def test_kill_9_and_restart_keeps_conference_queue_and_floor(server, connect):
    chair = await connect("chair")
    await connect("vinh")  # online, so it can be given the floor
    cua_lo = await connect("cua-lo")
    assert (await chair.request("conference:open", {"title": "Kỳ họp"}))["ok"]
    assert (await cua_lo.request("floor:request", {"topic": "Đường"}))["ok"]
    grant = await chair.request("floor:grant", {"point": "vinh", "limit_s": 600})
    assert grant["ok"]
    deadline = grant["floor"]["deadline"]

    server.stop(kill=True)
    server.start()
    watcher = ConfClient(server.base_url, server.token("chair"))
    await watcher.connect()
    state = watcher.last("state")
    assert state["conference"]["status"] == "open" and state["conference"]["title"] == "Kỳ họp"
    assert [e["point"] for e in state["queue"]["entries"]] == ["cua-lo"]
    assert state["queue"]["entries"][0]["topic"] == "Đường"
    # the floor holder keeps its turn and its absolute deadline; it is within its grace period
    assert state["floor"]["holder"] == "vinh" and state["floor"]["deadline"] == deadline
    assert state["floor"]["grace_deadline"] is not None
    # the points reconnect and get their place and floor back
    back = ConfClient(server.base_url, server.token("vinh"))
    await back.connect()
    floor = await watcher.wait_for("floor", lambda f: f["holder"] == "vinh" and f["grace_deadline"] is None)
    assert floor["deadline"] == deadline
    await back.close()
    await watcher.close()
