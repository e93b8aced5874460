"""Below `recording.min_free_gb` free, recording does not run: the chairs see why (a reason
key the pages translate), the technicians get a notice, nothing is written."""

from tests.support.clients import ConfClient
from tests.support.server import DewanServer


async def test_low_disk_stops_auto_recording_and_tells_chairs_and_technicians(tmp_path):
    server = DewanServer(tmp_path / "state", env={"DEWAN_RECORDING_AUTO": "true",
                                                  "DEWAN_RECORDING_MIN_FREE_GB": "1000000"}).start()
    clients = []
    try:
        chair = await ConfClient(server.base_url, server.token("chair")).connect()
        tech = await ConfClient(server.base_url, server.token("tech")).connect()
        clients += [chair, tech]
        assert (await chair.request("conference:open"))["ok"]  # auto recording tries to start
        rec = await chair.wait_for("recording", lambda r: r.get("reason") == "disk_low")
        assert rec["active"] is False and rec["free_gb"] < 1000000
        notice = await tech.wait_for("notice", lambda n: n["type"] == "recording_disk_low")
        assert notice["min_free_gb"] == 1000000
        ack = await chair.request("recording:start")
        assert ack["ok"] is False and ack["error"] == "unavailable" and ack["key"] == "disk_low"
        assert not (server.state_dir / "recordings").exists() or not any((server.state_dir / "recordings").iterdir())
        assert chair.last("state")["recording"]["active"] is False
    finally:
        for c in clients:
            await c.close()
        server.stop()
