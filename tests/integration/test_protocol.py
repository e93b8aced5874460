"""The real server process with real python-socketio clients: roles, auth, validation."""

import asyncio

import pytest
import socketio

from tests.support.clients import ConfClient


async def test_each_role_connects_and_gets_a_snapshot(connect):
    for who, role in [("chair", "chair"), ("hall", "hall"), ("vinh", "point"), ("tech", "technician")]:
        client = await connect(who)
        state = client.last("state")
        assert state["you"]["role"] == role
        assert len([p for p in state["points"] if p["kind"] == "district"]) == 21
        assert state["conference"]["status"] == "scheduled" and "server_time" in state


async def test_the_chair_sees_a_point_come_online_and_the_point_sees_the_opening(connect):
    chair = await connect("chair")
    point = await connect("quynh-luu")
    await chair.wait_for("roster", lambda r: "quynh-luu" in r["online"])
    ack = await chair.request("conference:open", {"title": "Chuyển đổi số"})
    assert ack["ok"] and ack["conference"]["status"] == "open"
    conf = await point.wait_for("conference", lambda c: c["status"] == "open")
    assert conf["title"] == "Chuyển đổi số"
    assert (await chair.request("conference:open"))["error"] == "conflict"
    assert (await chair.request("conference:close"))["ok"]
    await point.wait_for("conference", lambda c: c["status"] == "closed")


@pytest.mark.parametrize("token,reason", [(None, "unauthorized"), ("nonsense", "unauthorized"),
                                          ("forged", "unauthorized")])
async def test_bad_tokens_are_refused_with_a_reason(server, token, reason):
    if token == "forged":
        real = server.token("chair")
        token = real[:-3] + ("AAA" if not real.endswith("AAA") else "BBB")
    client = ConfClient(server.base_url, token)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect()
    refusal = client.last("connect_error")
    assert refusal["data"]["error"] == reason and "link" in refusal["message"]
    await client.close()


async def test_a_revoked_station_link_is_refused(server):
    old = server.token("vinh")
    assert server.cli("links", "--rotate", "vinh").returncode == 0
    client = ConfClient(server.base_url, old)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect()
    assert "revoked" in client.last("connect_error")["message"]
    fresh = ConfClient(server.base_url, server.refresh_links() and server.token("vinh"))
    await fresh.connect()
    await fresh.close()


async def test_a_point_cannot_act_as_chair_and_bad_input_gets_clear_errors(connect, server):
    point = await connect("vinh")
    chair = await connect("chair")
    ack = await point.request("floor:grant", {"point": "vinh"})
    assert ack == {"ok": False, "error": "forbidden", "message": ack["message"]} and "point" in ack["message"]
    assert (await point.request("conference:open"))["error"] == "forbidden"
    assert (await point.request("no:such:event", {}))["error"] == "bad_request"
    assert (await chair.request("floor:grant", {"point": "Bad Id!"}))["error"] == "bad_request"
    assert (await chair.request("floor:grant", {"limit_s": "soon"}))["error"] == "bad_request"
    assert (await chair.request("floor:deny", "not an object"))["error"] == "bad_request"
    assert (await chair.request("floor:move", {"point": "vinh", "position": 1, "extra": 1}))["error"] == "bad_request"
    assert (await chair.request("floor:request", {"topic": "x" * 141}))["error"] == "forbidden"
    assert (await point.request("floor:request", {"topic": "x" * 141}))["error"] == "bad_request"
    # the server is still fine and nothing changed
    state = (await chair.request("state:get"))["state"]
    assert state["conference"]["status"] == "scheduled" and state["queue"]["entries"] == []
    assert state["conference"]["version"] == 0  # only vinh's join was recorded: nothing moderated
    assert "Traceback" not in server.log_text()


async def test_a_flood_is_rate_limited(connect):
    point = await connect("vinh")
    acks = await asyncio.gather(*[point.request("clock:sync") for _ in range(60)])
    errors = {a.get("error") for a in acks if not a["ok"]}
    assert errors == {"rate_limited"}
    assert sum(a["ok"] for a in acks) >= 25


async def test_a_second_window_replaces_the_station_and_the_first_stays_down(connect):
    tech = await connect("tech")
    first = await connect("vinh")
    second = await connect("vinh")
    err = await first.wait_for("error")
    assert err["error"] == "replaced"
    notice = await tech.wait_for("notice", lambda n: n["type"] == "station_replaced")
    assert notice["point"] == "vinh"
    await asyncio.sleep(0.3)
    assert not first.sio.connected and second.sio.connected
    chair = await connect("chair")
    assert "vinh" in chair.last("state")["roster"]["online"]


async def test_floor_topic_is_nfc_normalised(connect):
    import unicodedata
    chair, point = await connect("chair"), await connect("vinh")
    await chair.request("conference:open")
    decomposed = unicodedata.normalize("NFD", "Đề nghị hỗ trợ") + "  "
    ack = await point.request("floor:request", {"topic": decomposed})
    assert ack["ok"] and ack["queue"]["entries"][0]["topic"] == "Đề nghị hỗ trợ"
