"""`recording.auto = true`: opening the conference starts the recording (every page hears of
it), closing the conference stops it; the journal says who (system) and why."""

import json

from tests.support.clients import ConfClient
from tests.support.server import DewanServer


async def test_auto_recording_follows_the_conference(tmp_path):
    server = DewanServer(tmp_path / "state", env={"DEWAN_RECORDING_AUTO": "true"}).start()
    clients = []
    try:
        chair = await ConfClient(server.base_url, server.token("chair")).connect()
        point = await ConfClient(server.base_url, server.token("vinh")).connect()
        clients += [chair, point]
        assert point.last("state")["recording"]["active"] is False
        assert (await chair.request("conference:open"))["ok"]
        started = await point.wait_for("recording", lambda r: r["active"])
        assert (await chair.request("recording:start"))["key"] == "already_recording"
        assert (await chair.request("conference:close"))["ok"]
        stopped = await point.wait_for("recording", lambda r: not r["active"])
        assert stopped["reason"] == "conference_closed" and stopped["session"] == started["session"]
        journal = server.state_dir / "conferences" / "main" / "events.jsonl"
        events = [json.loads(x) for x in journal.read_text().splitlines()]
        rec = [(e["type"], e["actor"], e["data"]["reason"]) for e in events if e["type"].startswith("recording.")]
        assert rec == [("recording.started", "system", "auto"), ("recording.stopped", "system", "conference_closed")]
        listed = json.loads(server.cli("recordings", "--json").stdout)
        assert [s["id"] for s in listed] == [started["session"]] and listed[0]["stop_reason"] == "conference_closed"
    finally:
        for c in clients:
            await c.close()
        server.stop()


async def test_stop_and_start_again_at_once_makes_two_sessions(server):
    chair = await ConfClient(server.base_url, server.token("chair")).connect()
    try:
        assert (await chair.request("conference:open"))["ok"]
        ids = []
        for _ in range(2):
            ids.append((await chair.request("recording:start"))["recording"]["session"])
            assert (await chair.request("recording:stop"))["ok"]
        assert len(set(ids)) == 2
        listed = json.loads(server.cli("recordings", "--json").stdout)
        assert sorted(s["id"] for s in listed) == sorted(ids)
    finally:
        await chair.close()
