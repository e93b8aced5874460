"""kill -9 mid-recording: the session is still listed and exportable up to the last flushed
second, manifest.json is valid JSON; the restarted server resumes it as a new segment."""

import asyncio
import json
import time

import av

from tests.support.clients import ConfClient
from tests.support.media_client import MediaParticipant

HALL_SRC = 7


def video_pts(path):
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        return [float(f.pts * stream.time_base) for f in c.decode(stream)]


async def test_kill_9_keeps_the_recording_and_resumes_it_as_a_new_segment(server):
    chair = await ConfClient(server.base_url, server.token("chair")).connect()
    hall = await MediaParticipant(server, "hall", source_id=HALL_SRC, audio=True).join()
    assert (await chair.request("conference:open"))["ok"]
    ack = await chair.request("recording:start")
    assert ack["ok"], ack
    session = ack["recording"]["session"]
    await asyncio.sleep(3.0)
    killed_at = time.time()
    server.stop(kill=True)
    await hall.close()
    await chair.close()

    session_dir = server.state_dir / "recordings" / session
    manifest = json.loads((session_dir / "manifest.json").read_text())  # valid JSON after SIGKILL
    assert manifest["ended_at"] is None and manifest["segments"][0]["dir"] == "seg-001"
    listed = json.loads(server.cli("recordings", "--json").stdout)  # no server running
    [entry] = listed
    assert entry["id"] == session and entry["recording"] and entry["duration_s"] > 2

    server.start()
    restarted_at = time.time()
    chair = await ConfClient(server.base_url, server.token("chair")).connect()
    hall = await MediaParticipant(server, "hall", source_id=HALL_SRC, audio=True).join()
    try:
        rec = chair.last("state")["recording"]
        assert rec["active"] and rec["session"] == session and rec["segment"] == 2
        await asyncio.sleep(2.0)
        assert (await chair.request("recording:stop"))["ok"]
    finally:
        await hall.close()
        await chair.close()
    assert (session_dir / "seg-002" / "segment.json").exists()
    journal = server.state_dir / "conferences" / "main" / "events.jsonl"
    events = [json.loads(x) for x in journal.read_text().splitlines()]
    assert [e["data"]["segment"] for e in events if e["type"] == "recording.segment"] == [2]

    out = server.state_dir.parent / "export"
    done = server.cli("export", session, "--out", str(out))
    assert done.returncode == 0, done.stderr
    manifest = json.loads((session_dir / "manifest.json").read_text())
    assert [s["dir"] for s in manifest["segments"]] == ["seg-001", "seg-002"]
    t0 = manifest["started_at"]
    pts = video_pts(out / "hall.webm")
    before = [p for p in pts if p < restarted_at - t0]
    after = [p for p in pts if p > restarted_at - t0]
    # the media up to the last flushed second before the kill is there, and the new segment too
    assert before and max(before) > killed_at - t0 - 1.5, (max(before), killed_at - t0)
    assert len(after) > 10
