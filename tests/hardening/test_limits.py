"""Limits against a real server: permission before availability, every event rate-limited,
refusals logged at a bounded rate, one payload cap sized for the largest SDP, links capped."""

import asyncio
import re

import pytest
import socketio

from signaling.messages import MAX_EVENT_BYTES, MAX_SDP_BYTES
from tests.support.clients import ConfClient
from tests.support.server import DewanServer

# Chromium's answer to the relay's offer for a 130-point chair console (135 m-lines, with its
# ICE candidates), measured: 78,139 bytes of SDP, 83,284 bytes as the event's JSON.
CONSOLE_130_ANSWER_BYTES = 78_139


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    server = DewanServer(tmp_path_factory.mktemp("limits") / "state",
                         env={"DEWAN_SECURITY_MAX_CONNECTIONS_PER_TOKEN": "3"}).start()
    yield server
    server.stop()


async def client(srv, who):
    return await ConfClient(srv.base_url, srv.token(who)).connect()


async def test_permission_is_checked_before_availability(srv):
    point, chair = await client(srv, "vinh"), await client(srv, "chair")
    try:
        ack = await point.request("recording:start")
        assert ack["error"] == "forbidden" and "point" in ack["message"]
        assert (await chair.request("recording:start"))["error"] not in ("forbidden", "unauthorized")
    finally:
        await point.close()
        await chair.close()


async def test_unknown_events_spend_the_rate_budget_and_slow_down_is_clear(srv):
    point = await client(srv, "yen-thanh")
    try:
        acks = await asyncio.gather(*[point.request("no:such:event") for _ in range(45)])
        codes = [a["error"] for a in acks]
        assert set(codes) == {"bad_request", "rate_limited"} and codes.count("bad_request") <= 31
        limited = next(a for a in acks if a["error"] == "rate_limited")
        assert "slow down" in limited["message"] and limited["key"] == "slow_down"
        assert limited["details"]["retry_after_s"] > 0
        # the unknown events used the budget: a valid event right after is limited too
        assert (await point.request("clock:sync"))["error"] == "rate_limited"
        await asyncio.sleep(0.4)
        assert (await point.request("clock:sync"))["ok"]
    finally:
        await point.close()


async def test_refused_events_are_logged_at_a_bounded_rate(srv):
    point = await client(srv, "dien-chau")
    try:
        sid = point.sio.get_sid("/conf")
        for _ in range(6):
            await asyncio.gather(*[point.request("flood:me") for _ in range(40)])
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        lines = [ln for ln in srv.log_text().splitlines() if sid in ln and "socket event" in ln]
        assert 10 <= len(lines) <= 20, len(lines)  # 240 refusals, at most 20 lines per 10 s
    finally:
        await point.close()


async def test_a_130_point_console_answer_fits_and_an_oversized_frame_is_cut(srv):
    assert MAX_SDP_BYTES > 2 * CONSOLE_130_ANSWER_BYTES
    chair = await client(srv, "chair")
    try:
        sdp = "v=0\r\n" + "a=candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host\r\n" * (
            CONSOLE_130_ANSWER_BYTES * 2 // 60)
        ack = await chair.request("rtc:answer", {"sdp": sdp})
        assert ack["error"] == "not_found" and "rtc:start" in ack["message"]  # reached the relay
        assert chair.sio.connected
        try:  # beyond the one cap, engine.io drops the frame and the connection
            await chair.sio.call("rtc:answer", {"sdp": "x" * (MAX_EVENT_BYTES + 10)},
                                 namespace="/conf", timeout=3)
        except (socketio.exceptions.TimeoutError, socketio.exceptions.BadNamespaceError):
            pass
        await asyncio.sleep(0.3)
        assert not chair.sio.connected
    finally:
        await chair.close()


async def test_connections_are_capped_per_link(srv):
    clients = [await client(srv, "tech") for _ in range(3)]
    extra = ConfClient(srv.base_url, srv.token("tech"))
    try:
        with pytest.raises(socketio.exceptions.ConnectionError):
            await extra.connect()
        refusal = extra.last("connect_error")
        assert refusal["data"]["error"] == "rate_limited" and "3 windows" in refusal["message"]
        await clients.pop().close()
        await asyncio.sleep(0.2)
        clients.append(await client(srv, "tech"))  # a freed place can be taken again
    finally:
        for c in clients:
            await c.close()
        await extra.close()


async def test_a_link_revoked_while_connected_stops_working(srv):
    point = await client(srv, "nghi-loc")
    try:
        assert (await point.request("clock:sync"))["ok"]
        assert srv.cli("links", "--rotate", "nghi-loc").returncode == 0
        # cut within 2 s (server/revocations.py: no more broadcasts to a revoked link) ...
        for _ in range(25):
            if not point.sio.connected:
                break
            await asyncio.sleep(0.1)
        assert not point.sio.connected
        # ... and the old link no longer connects
        again = ConfClient(srv.base_url, srv.token("nghi-loc"))
        with pytest.raises(socketio.exceptions.ConnectionError):
            await again.connect()
        assert again.last("connect_error")["data"]["key"] == "link_revoked"
        await again.close()
        assert not re.search(r"Traceback", srv.log_text())
    finally:
        await point.close()
        srv.refresh_links()


async def test_a_client_cannot_fake_the_reserved_connect_and_disconnect_events(srv):
    point, chair = await client(srv, "hung-nguyen"), await client(srv, "chair")
    try:
        for name in ("disconnect", "connect"):
            ack = await point.sio.call(name, {"token": "x"}, namespace="/conf", timeout=5)
            assert ack["error"] == "bad_request" and "reserved" in ack["message"]
        assert (await point.request("clock:sync"))["ok"]  # still connected and still itself
        roster = (await chair.request("state:get"))["state"]["roster"]
        assert "hung-nguyen" in roster["online"]
    finally:
        await point.close()
        await chair.close()
