"""`recording.auto = true`: opening the conference starts the recording (every page hears of
it), closing the conference stops it; the journal says who and why. Stopping and starting
again at once makes distinct sessions."""

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
        auto = await point.wait_for("recording", lambda r: r["active"])
        assert (await chair.request("recording:start"))["key"] == "already_recording"
        ids = [auto["session"]]
        for _ in range(2):  # stop and start again within the same second: new sessions each time
            assert (await chair.request("recording:stop"))["ok"]
            ids.append((await chair.request("recording:start"))["recording"]["session"])
        assert len(set(ids)) == 3
        assert (await chair.request("conference:close"))["ok"]
        stopped = await point.wait_for("recording", lambda r: not r["active"] and r["session"] == ids[-1])
        assert stopped["reason"] == "conference_closed"
        journal = server.state_dir / "conferences" / "main" / "events.jsonl"
        events = [json.loads(x) for x in journal.read_text().splitlines()]
        rec = [(e["type"], e["actor"], e["data"]["reason"]) for e in events if e["type"].startswith("recording.")]
        assert rec[0] == ("recording.started", "system", "auto")
        assert rec[-1] == ("recording.stopped", "system", "conference_closed")
        assert [r for r in rec[1:-1] if r[1] != "chair:chair"] == []
        for session in ids:
            manifest = json.loads((server.state_dir / "recordings" / session / "manifest.json").read_text())
            assert manifest["id"] == session and manifest["ended_at"] is not None
    finally:
        for c in clients:
            await c.close()
        server.stop()
