"""The manifest's metadata from an event log (pure): speaker turns and how each ended,
attendance intervals, agenda items, chair actions with who did them, incidents."""

from server.recording import manifest as mf
from server.recording.minutes import chapters, chapters_vtt, minutes
from signaling.events import Event

CHAIRS = {"chair:chu-tich": {"name": "Nguyễn Văn Thành", "title": "Chủ tịch UBND tỉnh"}}
POINTS = {"hall": {"kind": "hall", "names": {"vi": "Hội trường"}},
          "vinh": {"kind": "district", "names": {"vi": "Thành phố Vinh"}},
          "cua-lo": {"kind": "district", "names": {"vi": "Thị xã Cửa Lò"}}}


def log(*items):
    return [Event(seq=i + 1, at=at, conference="main", type=kind, data=data, actor=actor)
            for i, (at, kind, data, actor) in enumerate(items)]


def build(events, now=200.0):
    return mf.build(events, "s1", conference={"id": "main", "title": "T"}, lang="vi", points=POINTS,
                    chairs=CHAIRS, segments=[], now=now)


EVENTS = log(
    (90, "point.joined", {"point": "vinh"}, "point:vinh"),
    (95, "agenda.set", {"title": "Kinh tế", "index": 1}, "chair:chu-tich"),
    (100, "recording.started", {"session": "s1"}, "chair:chu-tich"),
    (101, "point.joined", {"point": "cua-lo"}, "point:cua-lo"),
    (102, "queue.requested", {"point": "vinh", "topic": "Đê"}, "point:vinh"),
    (110, "floor.granted", {"point": "vinh", "granted_at": 110}, "chair:chu-tich"),
    (120, "floor.granted", {"point": "cua-lo", "granted_at": 120}, "chair:chair"),  # takes it from vinh
    (130, "floor.expired", {"point": "cua-lo"}, "system"),
    (131, "health.alert", {"point": "cua-lo", "level": "poor"}, "system"),
    (132, "preview.started", {"point": "vinh"}, "technician:tech-1"),
    (135, "floor.granted", {"point": "vinh", "granted_at": 135}, "chair:chu-tich"),
    (140, "point.left", {"point": "vinh"}, "system"),
    (170, "floor.released", {"point": "vinh", "reason": "left"}, "system"),
    (175, "agenda.set", {"title": "Xã hội", "index": 2}, "chair:chu-tich"),
    (180, "recording.stopped", {"session": "s1", "reason": "chair"}, "chair:chu-tich"),
    (190, "floor.granted", {"point": "cua-lo", "granted_at": 190}, "chair:chu-tich"),  # after the end
)


def test_turns_end_as_the_log_says_and_name_who_granted():
    m = build(EVENTS)
    assert m["started_at"] == 100 and m["ended_at"] == 180 and m["stop_reason"] == "chair"
    turns = [(t["point"], t["granted"], t["duration_s"], t["how"], t["granted_by"]["name"]) for t in m["turns"]]
    assert turns == [("vinh", 110, 10, "revoked", "Nguyễn Văn Thành"), ("cua-lo", 120, 10, "expired", None),
                     ("vinh", 135, 35, "left", "Nguyễn Văn Thành")]
    assert m["turns"][0]["topic"] == "Đê" and m["turns"][2]["topic"] is None


def test_attendance_is_clipped_to_the_recording():
    m = build(EVENTS)
    present = {a["point"]: (a["present_s"], a["intervals"]) for a in m["attendance"]}
    assert present["vinh"][0] == 40 and present["vinh"][1] == [{"joined": 100, "left": 140, "present_s": 40}]
    assert present["cua-lo"][0] == 79 and present["cua-lo"][1][0]["left"] is None


def test_agenda_actions_incidents_and_chapters():
    m = build(EVENTS)
    assert [(a["title"], a["started"], a["ended"], a["offset_s"]) for a in m["agenda"]] == [
        ("Kinh tế", 95, 175, 0), ("Xã hội", 175, None, 75)]
    assert [(a["action"], a["by"]["actor"]) for a in m["chair_actions"]] == [
        ("recording.started", "chair:chu-tich"), ("floor.granted", "chair:chu-tich"), ("floor.granted", "chair:chair"),
        ("floor.granted", "chair:chu-tich"), ("agenda.set", "chair:chu-tich"), ("recording.stopped", "chair:chu-tich")]
    assert [i["type"] for i in m["incidents"]] == ["health.alert", "preview.started"]
    cues = [(c["start"], c["end"], c["text"]) for c in chapters(m)]
    assert cues == [(0, 75, "Nội dung: Kinh tế"), (10, 20, "Thành phố Vinh: Đê"), (20, 30, "Thị xã Cửa Lò"),
                    (35, 70, "Thành phố Vinh"), (75, 80, "Nội dung: Xã hội")]
    assert "00:00:10.000 --> 00:00:20.000\nThành phố Vinh: Đê" in chapters_vtt(m)
    text = minutes(m)
    assert text["turns"][1]["granted_by_text"] == "Chủ tọa"  # the unnamed chair link


def test_a_running_session_has_no_end_and_an_ongoing_turn():
    m = build(EVENTS[:6], now=125.0)
    assert m["ended_at"] is None and m["turns"][0]["ongoing"] and m["turns"][0]["duration_s"] == 15


def test_manifest_is_replaced_atomically(tmp_path):
    path = tmp_path / "manifest.json"
    mf.write_json_atomic(path, {"a": 1})
    mf.write_json_atomic(path, {"a": 2})
    assert path.read_text().startswith("{") and [p.name for p in tmp_path.iterdir()] == ["manifest.json"]
