"""The pre-join check beside a running kiosk: its own socket never replaces the station, its
loopback test comes back through the relay, and its verdict reaches the technicians."""

import asyncio

from tests.media.peers import Client, SynthVideoTrack, loopback_only
from tests.support.clients import ConfClient


async def test_precheck_loops_back_and_reports_without_touching_the_kiosk(server, connect):
    loopback_only()
    tech = await connect("tech")
    kiosk = await connect("vinh")
    check = ConfClient(server.base_url, server.token("vinh"), mode="precheck")
    peer = Client("check", video=SynthVideoTrack(77), audio=True)
    try:
        await check.connect()
        # the check may only run the check
        assert (await check.request("floor:request"))["error"] == "forbidden"
        start = await check.request("precheck:start")
        assert start["ok"], start
        assert (await check.request("precheck:answer", {"sdp": await peer.answer(start["sdp"])}))["ok"]
        await peer.wait_frames("echo-video", 10, timeout=15)
        assert set(peer.rx("echo-video").sources()) == {77}
        result = {"verdict": "weak", "camera": "ok", "microphone": "ok", "mic_peak": 0.4, "link": "done",
                  "rtt_ms": 3.0, "loss_up": 0.0, "loss_down": 0.12, "bitrate_kbps": 900,
                  "candidate_type": "host", "problems": ["high_loss"]}
        assert (await check.request("precheck:result", result))["ok"]
        notice = await tech.wait_for("notice", lambda n: n["type"] == "precheck")
        assert notice["point"] == "vinh" and notice["result"]["verdict"] == "weak"
        assert (await check.request("precheck:result", {"verdict": "great"}))["error"] == "bad_request"
        assert (await check.request("precheck:stop"))["ok"]
        await asyncio.sleep(0.3)
        assert kiosk.sio.connected and not kiosk.received["error"]  # the kiosk was never replaced
        assert "vinh" in (await tech.request("state:get"))["state"]["roster"]["online"]
    finally:
        await peer.close()
        await check.close()
    journal = (server.state_dir / "conferences" / "main" / "events.jsonl").read_text()
    assert '"type":"station.checked"' in journal
