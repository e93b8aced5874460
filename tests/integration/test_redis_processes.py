"""Two `dewan serve --redis` processes on one real redis-server: state and broadcasts are
shared, the conference's media is hosted by one owner, pages send clients to it, and the
other process takes over when the owner dies (and resumes the recording in the shared recording
folder as a new segment: the manifest lists what each process wrote)."""

import asyncio
import json
import re
import time
import urllib.request

from tests.support.clients import ConfClient
from tests.support.server import DewanServer


def page_config(server: DewanServer, who: str) -> dict:
    with urllib.request.urlopen(server.page_url(who), timeout=5) as r:
        html = r.read().decode()
    return json.loads(re.search(r'id="dewan-config" type="application/json">(.*?)</script>', html).group(1))


async def test_two_processes_share_one_conference(tmp_path, redis_url):
    recordings = tmp_path / "recordings"  # shared by both processes
    env = {"DEWAN_SERVER_REDIS": redis_url, "DEWAN_SECURITY_SECRET": "s" * 32, "DEWAN_RECORDING_DIR": str(recordings)}
    a = DewanServer(tmp_path / "a", env=env).start()
    b = DewanServer(tmp_path / "b", env=env).start()
    clients = []
    try:
        assert page_config(a, "vinh")["signal_url"] == ""  # a owns the conference
        assert page_config(b, "vinh")["signal_url"] == a.base_url  # b sends the kiosk to a

        point = ConfClient(a.base_url, a.token("vinh"))
        chair_on_b = ConfClient(b.base_url, b.token("chair"))
        clients += [point, chair_on_b]
        await point.connect()
        await chair_on_b.connect()
        assert "vinh" in chair_on_b.last("state")["roster"]["online"]  # shared state
        assert (await chair_on_b.request("conference:open", {"title": "Hai máy chủ"}))["ok"]
        await point.wait_for("conference", lambda c: c["status"] == "open")  # broadcast through Redis
        assert (await point.request("floor:request"))["ok"]
        await chair_on_b.wait_for("queue", lambda q: [e["point"] for e in q["entries"]] == ["vinh"])
        media = await chair_on_b.request("rtc:start")
        assert media["error"] == "unavailable" and "reload" in media["message"]
        chair_on_a = ConfClient(a.base_url, a.token("chair"))
        clients.append(chair_on_a)
        await chair_on_a.connect()
        session = (await chair_on_a.request("recording:start"))["recording"]["session"]
        await chair_on_b.wait_for("recording", lambda r: r["active"])  # every process's pages hear of it

        await point.close()
        a.stop(kill=True)
        t0 = time.monotonic()
        while page_config(b, "vinh")["signal_url"] != "":
            assert time.monotonic() - t0 < 30, "b did not take over the conference"
            await asyncio.sleep(0.5)
        back = ConfClient(b.base_url, b.token("vinh"))
        clients.append(back)
        await back.connect()
        state = back.last("state")
        assert state["conference"]["title"] == "Hai máy chủ"
        assert [e["point"] for e in state["queue"]["entries"]] == ["vinh"]
        assert (await back.request("rtc:start"))["ok"]
        assert state["recording"]["active"] and state["recording"]["segment"] == 2
        manifest = json.loads((recordings / session / "manifest.json").read_text())
        writers = [(s["dir"], s["process"].split(" pid ")[0]) for s in manifest["segments"]]
        assert writers == [("seg-001", a.base_url), ("seg-002", b.base_url)]
    finally:
        for c in clients:
            await c.close()
        a.stop()
        b.stop()
