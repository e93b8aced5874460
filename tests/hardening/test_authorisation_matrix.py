"""The authorisation matrix, generated from the two tables that decide it:
signaling.protocol.EVENT_PERMISSIONS (every socket event) and server.routes.ROUTE_ACCESS
(every HTTP route of the app's router). Each event and route is tried by chair, co-chair, hall,
point A, point B, technician, and by revoked, expired, forged and missing tokens: exactly the
cells the tables allow get through, every other one is `forbidden` / `unauthorized`. Events
and routes added later are in the matrix without editing this file; a route missing from
ROUTE_ACCESS fails here."""

import asyncio
import re
import urllib.error
import urllib.request

import pytest
import socketio

from server.keys import load_signer
from server.routes import ROUTE_ACCESS
from signaling.protocol import EVENT_PERMISSIONS
from signaling.roles import has
from tests.support.clients import ConfClient
from tests.support.server import DewanServer

A, B = "vinh", "cua-lo"
SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
# a well-formed payload per event where one is needed (any other event gets {})
PAYLOADS = {
    "floor:grant": {"point": A}, "floor:deny": {"point": A}, "floor:move": {"point": A, "position": 1},
    "floor:extend": {"seconds": 30}, "audio:mute": {"point": A, "muted": True},
    "message:send": {"point": A, "text": "xin chào"}, "rtc:answer": {"sdp": SDP},
    "precheck:answer": {"sdp": SDP}, "preview:set": {"point": A}, "health:history": {"point": A},
    "precheck:result": {"verdict": "ready"},
}
REFUSED = ("forbidden", "unauthorized")


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    server = DewanServer(tmp_path_factory.mktemp("matrix") / "state",
                         env={"DEWAN_SECURITY_EVENTS_BURST": "200", "DEWAN_SECURITY_EVENTS_PER_S": "100"}).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def tokens(srv):
    signer = load_signer(srv.state_dir)
    revoked = signer.issue("technician", label="tech-gone")
    assert srv.cli("links", "--rotate", "technician:tech-gone").returncode == 0
    chair = srv.token("chair")
    forged = chair.split(".")[0] + "." + ("A" * 43)
    return {
        "valid": {"chair": ("chair", chair), "co-chair": ("chair", signer.issue("chair", label="chair-2")),
                  "hall": ("hall", srv.token("hall")), "point A": ("point", srv.token(A)),
                  "point B": ("point", srv.token(B)), "technician": ("technician", srv.token("tech"))},
        "invalid": {"revoked": revoked, "expired": signer.issue("chair", label="chair", ttl_s=-60),
                    "forged": forged, "no token": None},
    }


async def test_every_socket_event_by_every_role(srv, tokens):
    clients = {}
    for name, (role, token) in tokens["valid"].items():
        clients[name] = await ConfClient(srv.base_url, token).connect()
    cells, wrong = 0, []
    try:
        for event, perm in EVENT_PERMISSIONS.items():
            for name, (role, _) in tokens["valid"].items():
                ack = await clients[name].request(event, PAYLOADS.get(event, {}))
                cells += 1
                allowed = has(role, perm)
                got = "ok" if ack["ok"] else ack["error"]
                if got == "internal" or (allowed and got in REFUSED) or (not allowed and got != "forbidden"):
                    wrong.append((event, name, got, ack.get("message")))
    finally:
        for client in clients.values():
            await client.close()
    assert not wrong, wrong
    assert cells == len(EVENT_PERMISSIONS) * 6


@pytest.mark.parametrize("kind", ["revoked", "expired", "forged", "no token"])
async def test_invalid_tokens_cannot_connect(srv, tokens, kind):
    client = ConfClient(srv.base_url, tokens["invalid"][kind])
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect()
    assert client.last("connect_error")["data"]["error"] == "unauthorized"
    await client.close()


async def test_a_link_revoked_while_connected_is_refused_every_event(srv):
    signer = load_signer(srv.state_dir)
    token = signer.issue("technician", label="tech-leaving")
    client = await ConfClient(srv.base_url, token).connect()
    try:
        assert srv.cli("links", "--rotate", "technician:tech-leaving").returncode == 0
        # the rotation disconnects the live session within 2 s (server/revocations.py); until
        # then every event it tries is refused as revoked
        deadline = asyncio.get_running_loop().time() + 2.5
        while client.sio.connected and asyncio.get_running_loop().time() < deadline:
            try:
                ack = await client.request("state:get", {})
            except (socketio.exceptions.BadNamespaceError, socketio.exceptions.TimeoutError):
                await asyncio.sleep(0.2)
                continue  # being disconnected meanwhile
            assert ack["error"] == "unauthorized" and ack["key"] == "link_revoked", ack
            await asyncio.sleep(0.2)
        assert not client.sio.connected  # ... and it receives no more broadcasts
        again = ConfClient(srv.base_url, token)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await again.connect()
        assert again.last("connect_error")["data"]["key"] == "link_revoked"
        await again.close()
    finally:
        await client.close()


def app_routes(tmp_path):
    from server.app import create_app
    from server.settings import load_settings

    app = create_app(load_settings(None, {"server.state_dir": str(tmp_path), "server.http": True,
                                          "server.host": "127.0.0.1"}))
    return sorted({(r.method, r.resource.canonical) for r in app.router.routes() if r.method != "HEAD"})


SAMPLE_PATHS = {"/static": "/static/css/app.css", "/vendor/socket.io": "/vendor/socket.io/socket.io.esm.min.js",
                "/socket.io/": "/socket.io/?EIO=4&transport=polling"}


def http(method, url, bearer=None):
    request = urllib.request.Request(url, method=method, data=b"" if method in ("POST", "PUT") else None)
    if bearer:
        request.add_header("Authorization", f"Bearer {bearer}")
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_every_route_is_in_the_route_table(tmp_path):
    missing = [path for _, path in app_routes(tmp_path) if path not in ROUTE_ACCESS]
    assert not missing, f"add these routes to server/routes.py ROUTE_ACCESS: {missing}"


def test_every_route_by_every_role(srv, tokens, tmp_path):
    people = {**{n: t for n, (_, t) in tokens["valid"].items()}, **tokens["invalid"]}
    roles = {n: r for n, (r, _) in tokens["valid"].items()}
    wrong, cells = [], 0
    for method, path in app_routes(tmp_path):
        if method == "OPTIONS":
            continue
        access = ROUTE_ACCESS[path]
        for name, token in people.items():
            if "{token}" in path:
                url_path, bearer = path.replace("{token}", token or "-"), None
            else:
                url_path, bearer = SAMPLE_PATHS.get(path, path), token
            url_path = re.sub(r"\{[^}]+\}", "x", url_path)  # other parameters (later routes)
            status = http(method, srv.base_url + url_path, bearer)
            cells += 1
            if access.perm is None or (name in roles and has(roles[name], access.perm)):
                ok = status not in (401, 403) and status < 500
            elif name in roles:
                ok = status == 403
            else:
                ok = status == 401
            if not ok:
                wrong.append((method, path, name, status))
    assert not wrong, wrong
    assert cells >= 7 * 10


async def test_a_point_cannot_speak_for_another_point_nor_see_technician_data(server):
    srv = server  # a fresh conference (the matrix above closed its own)
    a = await ConfClient(srv.base_url, srv.token(A)).connect()
    b = await ConfClient(srv.base_url, srv.token(B)).connect()
    chair = await ConfClient(srv.base_url, srv.token("chair")).connect()
    try:
        assert (await chair.request("conference:open"))["ok"]
        assert (await b.request("floor:request", {"topic": "B"}))["ok"]
        # A cannot request, cancel, mute, move or check in B's name
        assert (await a.request("floor:request", {"point": B}))["error"] == "bad_request"
        assert (await a.request("floor:cancel", {"point": B}))["error"] == "bad_request"
        assert (await a.request("audio:mute", {"point": B, "muted": True}))["error"] == "forbidden"
        assert (await a.request("floor:move", {"point": B, "position": 2}))["error"] == "forbidden"
        assert (await a.request("precheck:result", {"verdict": "blocked", "point": B}))["error"] == "bad_request"
        assert (await a.request("floor:request", {"topic": "A"}))["ok"]
        assert (await a.request("floor:cancel"))["ok"]  # cancels A's own request only
        queue = (await chair.request("state:get"))["state"]["queue"]["entries"]
        assert [e["point"] for e in queue] == [B]
        # no technician data reaches a point
        assert (await a.request("health:history", {"point": B}))["error"] == "forbidden"
        assert http("GET", srv.base_url + "/metrics", srv.token(A)) == 403
        await asyncio.sleep(2.5)  # the health broadcast runs every 2 s
        assert not a.received["health"] and not a.received["log"]
        assert all(n.get("type") == "preview" for n in a.received["notice"])
        assert chair.received["log"]  # (the chair does get the log: the check above can fail)
    finally:
        for c in (a, b, chair):
            await c.close()
