"""Recording through the real server process: aiortc peers publish for ~10 s with two floor
changes (given by two different named chairs) and one agenda item; then `dewan recordings` and
`dewan export` (chapters, minutes, attendance, the WebMs), the HTTP routes (permissions, export
with progress, signed downloads), and bad input."""

import asyncio
import json
import re
import shutil
import time
import urllib.error
import urllib.request

import av
import pytest

from server.recording.web import ROUTES
from tests.support.clients import ConfClient
from tests.support.media_client import MediaParticipant
from tests.support.server import DewanServer

HALL_SRC, VINH_SRC, CUALO_SRC = 1, 2, 3


def chair_token(server, chair_id):
    return server.links["chairs"][chair_id].rsplit("/j/", 1)[1]


def journal(server):
    path = server.state_dir / "conferences" / "main" / "events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


async def live_session(server):
    people = []
    try:
        chu_tich = await ConfClient(server.base_url, chair_token(server, "chu-tich")).connect()
        pho = await ConfClient(server.base_url, chair_token(server, "pho-chu-tich")).connect()
        hall = await MediaParticipant(server, "hall", source_id=HALL_SRC, audio=True).join()
        vinh = await MediaParticipant(server, "vinh", source_id=VINH_SRC, audio=True).join()
        cualo = await MediaParticipant(server, "cua-lo", source_id=CUALO_SRC, audio=True).join()
        people += [hall, vinh, cualo]
        assert (await chu_tich.request("conference:open"))["ok"]
        await asyncio.sleep(1.0)
        ack = await chu_tich.request("recording:start")
        assert ack["ok"] and ack["recording"]["active"], ack
        await vinh.conf.wait_for("recording", lambda r: r["active"])  # every page hears of it
        assert (await chu_tich.request("agenda:set", {"title": "Báo cáo kinh tế – xã hội"}))["ok"]
        assert (await vinh.conf.request("floor:request", {"topic": "Đê điều"}))["ok"]
        assert (await chu_tich.request("floor:grant", {"point": "vinh", "limit_s": 60}))["ok"]
        await asyncio.sleep(3.5)
        assert (await pho.request("floor:grant", {"point": "cua-lo", "limit_s": 60}))["ok"]
        await asyncio.sleep(3.0)
        assert (await pho.request("floor:revoke"))["ok"]
        await asyncio.sleep(1.5)
        ack = await chu_tich.request("recording:stop")
        assert ack["ok"] and not ack["recording"]["active"] and ack["recording"]["reason"] == "chair"
        await vinh.conf.wait_for("recording", lambda r: not r["active"])
        return ack["recording"]["session"]
    finally:
        for p in people:
            await p.close()


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """One live session for the module: (server, session id, export folder)."""
    server = DewanServer(tmp_path_factory.mktemp("rec") / "state").start()
    try:
        session = asyncio.run(live_session(server))
        out = server.state_dir.parent / "export"
        done = server.cli("export", session, "--out", str(out))
        assert done.returncode == 0, done.stderr
        yield server, session, out, done
    finally:
        server.stop()


def test_listed_and_exported_with_a_progress_bar(recorded):
    server, session, out, done = recorded
    listed = json.loads(server.cli("recordings", "--json").stdout)
    [entry] = [s for s in listed if s["id"] == session]
    assert entry["title"] == "Hội nghị trực tuyến tỉnh Nghệ An"
    events = journal(server)
    at = {e["type"]: e["at"] for e in events if e["type"].startswith("recording.")}
    assert entry["duration_s"] > 7.5 and entry["size_bytes"] > 50_000
    assert abs(entry["duration_s"] - (at["recording.stopped"] - at["recording.started"])) < 0.01
    assert "100 %" in done.stderr  # the progress bar
    names = {p.name for p in out.iterdir()}
    assert {"chapters.vtt", "minutes.html", "minutes.json", "attendance.csv", "floor.webm", "hall.webm"} <= names
    with av.open(str(out / "floor.webm")) as c:
        frames = sum(1 for _ in c.decode(c.streams.video[0]))
    assert frames > 50


def _turns_from_journal(events):
    turns, current = [], None
    for e in events:
        if e["type"] in ("floor.granted", "floor.revoked") and current:
            current["ended"] = e["at"]
            current = None
        if e["type"] == "floor.granted":
            current = {"point": e["data"]["point"], "granted": e["data"]["granted_at"], "actor": e["actor"]}
            turns.append(current)
    return turns


def _cues(vtt):
    cues = []
    for block in vtt.strip().split("\n\n")[1:]:
        ident, times, text = block.split("\n", 2)
        start, end = (sum(float(x) * m for x, m in zip(t.split(":"), (3600, 60, 1))) for t in times.split(" --> "))
        cues.append((ident, start, end, text))
    return cues


def test_chapters_and_minutes_match_the_event_log(recorded):
    server, session, out, _ = recorded
    events = journal(server)
    t0 = next(e["at"] for e in events if e["type"] == "recording.started")
    turns = _turns_from_journal(events)
    assert [t["point"] for t in turns] == ["vinh", "cua-lo"]
    agenda = next(e for e in events if e["type"] == "agenda.set")

    cues = _cues((out / "chapters.vtt").read_text())
    assert [c[3] for c in cues] == ["Nội dung: Báo cáo kinh tế – xã hội", "Thành phố Vinh: Đê điều", "Thị xã Cửa Lò"]
    agenda_cue, vinh_cue, cualo_cue = cues
    assert abs(agenda_cue[1] - (agenda["at"] - t0)) < 0.002
    for cue, turn in ((vinh_cue, turns[0]), (cualo_cue, turns[1])):
        assert abs(cue[1] - (turn["granted"] - t0)) < 0.002 and abs(cue[2] - (turn["ended"] - t0)) < 0.002

    minutes = json.loads((out / "minutes.json").read_text())
    assert minutes["lang"] == "vi"
    by_point = {t["point"]: t for t in minutes["turns"]}
    assert set(by_point) == {"vinh", "cua-lo"}
    for turn in turns:
        m = by_point[turn["point"]]
        assert abs(m["duration_s"] - (turn["ended"] - turn["granted"])) < 0.5
    assert by_point["vinh"]["granted_by"]["name"] == "Nguyễn Văn Thành"
    assert by_point["cua-lo"]["granted_by"]["name"] == "Trần Thị Mai"
    assert by_point["vinh"]["topic"] == "Đê điều" and by_point["cua-lo"]["how"] == "revoked"
    html = (out / "minutes.html").read_text()
    assert "Biên bản hội nghị" in html and "Thành phố Vinh" in html
    assert "Nguyễn Văn Thành (Chủ tịch UBND tỉnh)" in html and "Trần Thị Mai (Phó Chủ tịch UBND tỉnh)" in html
    assert "Báo cáo kinh tế – xã hội" in html
    # chair actions name who did them (the journal's actor is chair:<id>)
    actions = {(a["action"], a["by"]["actor"]) for a in minutes["chair_actions"]}
    assert {("recording.started", "chair:chu-tich"), ("agenda.set", "chair:chu-tich"),
            ("floor.granted", "chair:pho-chu-tich"), ("floor.revoked", "chair:pho-chu-tich"),
            ("recording.stopped", "chair:chu-tich")} <= actions
    # attendance: the three stations were there the whole time
    present = {a["point"]: a["present_s"] for a in minutes["attendance"]}
    assert set(present) >= {"hall", "vinh", "cua-lo"} and min(present.values()) > 8
    csv_rows = (out / "attendance.csv").read_text().splitlines()
    assert csv_rows[0] == "point,name,present_s,joined,left"
    assert any(r.startswith("vinh,Thành phố Vinh,") for r in csv_rows)


def _http(server, method, path, token=None, data=None):
    request = urllib.request.Request(server.base_url + path, method=method, data=data)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_recording_routes_permissions_export_and_signed_downloads(recorded):
    server, session, _, _ = recorded
    for route in ROUTES:
        path = route.path.replace("{id}", session).replace("{name}", "floor.webm")
        data = b"" if route.method == "POST" else None
        assert _http(server, route.method, path, server.token("vinh"), data)[0] == 403, route
        assert _http(server, route.method, path, None, data)[0] == 401, route
    tech = server.token("tech")
    status, body = _http(server, "GET", "/api/recordings", tech)
    assert status == 200 and session in [r["id"] for r in json.loads(body)["recordings"]]
    status, body = _http(server, "POST", f"/api/recordings/{session}/export", tech, b"")
    assert status == 202
    deadline, progress = time.monotonic() + 60, []
    while time.monotonic() < deadline:
        secretariat = chair_token(server, "van-phong")  # a chair may follow it too
        job = json.loads(_http(server, "GET", f"/api/recordings/{session}/export", secretariat)[1])["export"]
        progress.append(job["progress"])
        if job["state"] != "running":
            break
        time.sleep(0.3)
    assert job["state"] == "done", job
    assert progress == sorted(progress) and progress[-1] == 1.0
    files = {f["name"]: f for f in job["files"]}
    assert {"floor.webm", "minutes.html", "chapters.vtt"} <= set(files)
    url = files["chapters.vtt"]["url"]
    status, body = _http(server, "GET", url)  # no token needed: the link is signed
    assert status == 200 and body.startswith(b"WEBVTT")
    assert _http(server, "GET", url.replace("chapters.vtt", "minutes.html"))[0] == 403  # signed for another file
    expired = re.sub(r"exp=\d+", "exp=1000", url)
    assert _http(server, "GET", expired)[0] == 403
    assert _http(server, "GET", "/api/recordings/nope/export", tech)[0] == 404


def test_missing_and_damaged_recordings_give_clear_errors(recorded, tmp_path):
    server, session, _, _ = recorded
    out = server.cli("export", "no-such-recording")
    assert out.returncode != 0 and "No recording 'no-such-recording'" in out.stderr and "Traceback" not in out.stderr

    copy_state = tmp_path / "state"
    src = server.state_dir / "recordings" / session
    dst = copy_state / "recordings" / session
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("export"))
    copy = DewanServer(copy_state)
    track = dst / "seg-001" / "floor.video.rtp"
    data = bytearray(track.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 64] = b"\xff" * 64  # damage in the middle of the file
    track.write_bytes(bytes(data))
    bad = copy.cli("export", session, "--out", str(tmp_path / "out"))
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert "floor.video.rtp" in bad.stderr and re.search(r"at byte \d+", bad.stderr), bad.stderr

    (dst / "manifest.json").write_text('{"id": "x", "started_at": 1,')  # cut short
    listed = json.loads(copy.cli("recordings", "--json").stdout)
    assert "manifest.json" in listed[0]["error"]
    bad = copy.cli("export", session)
    assert bad.returncode == 1 and "manifest.json" in bad.stderr and "at byte" in bad.stderr
    assert "Traceback" not in bad.stderr


async def test_points_may_not_record_or_set_the_agenda(recorded):
    server, _, _, _ = recorded
    point = await ConfClient(server.base_url, server.token("cua-lo")).connect()
    try:
        for event, payload in (("recording:start", {}), ("recording:stop", {}), ("agenda:set", {"title": "x"})):
            ack = await point.request(event, payload)
            assert ack["ok"] is False and ack["error"] == "forbidden", (event, ack)
        assert point.last("state")["recording"]["active"] is False
    finally:
        await point.close()
