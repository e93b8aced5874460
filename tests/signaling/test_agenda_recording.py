"""agenda:set and recording start/segment/stop as pure domain decisions replayed from the log."""

import pytest

from signaling import agenda, recording
from signaling.conference import open_conference
from signaling.errors import Conflict
from signaling.events import number
from signaling.replay import apply, replay
from signaling.state import Conference


def run(conf, drafts):
    events = number(list(drafts), conf.id, conf.version, 100.0)
    for e in events:
        apply(conf, e)
    return events


def test_agenda_and_recording_survive_a_replay():
    conf = Conference("main")
    with pytest.raises(Conflict):
        recording.start(conf, "s", "chair:a", "chair", 1.0, "p")
    log = run(conf, open_conference(conf, "T", "chair:a"))
    log += run(conf, agenda.set_item(conf, "Kinh tế", "chair:a", 2.0))
    assert agenda.set_item(conf, "Kinh tế", "chair:a", 3.0) == []  # the same item again: nothing
    log += run(conf, agenda.set_item(conf, "Xã hội", "chair:b", 3.0))
    log += run(conf, recording.start(conf, "s1", "chair:a", "chair", 4.0, "p"))
    with pytest.raises(Conflict):
        recording.start(conf, "s2", "chair:a", "chair", 5.0, "p")
    log += run(conf, recording.new_segment(conf, "p2", "resumed", 6.0))
    again = replay("main", log)
    assert again.agenda_item["title"] == "Xã hội" and again.agenda_item["index"] == 2
    assert again.recording == {"session": "s1", "segment": 2, "started_at": 4.0}
    assert recording.payload(again.recording)["active"] is True
    log += run(conf, recording.stop(conf, "system", "disk_low", 7.0))
    assert replay("main", log).recording is None and log[-1].data["reason"] == "disk_low"
    with pytest.raises(Conflict):
        recording.stop(conf, "chair:a", "chair", 8.0)
