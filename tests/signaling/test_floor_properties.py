"""Property tests of the queue/floor state machine over random operation sequences from
random roles, authorised with the same permission table as the server."""

import copy
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from signaling import conference as conf_ops
from signaling import floor
from signaling.errors import DewanError
from signaling.events import Event
from signaling.protocol import EVENT_PERMISSIONS
from signaling.replay import apply, replay
from signaling.roles import has
from signaling.state import Conference

POINTS = ["vinh", "cua-lo", "thai-hoa", "hoang-mai"]
POLICY = floor.FloorPolicy(default_limit_s=60, grace_s=30, on_expiry="warn")
ROLES = ["chair", "point", "technician", "observer", "hall"]

op = st.one_of(
    st.tuples(st.just("floor:request"), st.sampled_from([None, "Ngân sách", "Câu hỏi"])),
    st.tuples(st.just("floor:cancel")),
    st.tuples(st.just("floor:grant"), st.sampled_from([None, *POINTS]), st.sampled_from([None, 30, 120])),
    st.tuples(st.just("floor:deny"), st.sampled_from(POINTS)),
    st.tuples(st.just("floor:move"), st.sampled_from(POINTS), st.integers(1, 5)),
    st.tuples(st.just("floor:revoke")),
    st.tuples(st.just("floor:extend"), st.sampled_from([10, 60])),
    st.tuples(st.just("conference:open")),
    st.tuples(st.just("conference:close")),
    st.tuples(st.just("join")),
    st.tuples(st.just("leave")),
    st.tuples(st.just("tick"), st.floats(0, 70)),
)
step = st.tuples(st.sampled_from(ROLES), st.sampled_from(POINTS), op)


def decide(conf: Conference, role: str, point: str, operation: tuple, now: float):
    name, *args = operation
    actor = f"{role}:{point}"
    if name == "join":
        return floor.point_joined(conf, point, now)
    if name == "leave":
        return floor.point_left(conf, point, "network", now, POLICY)
    if name == "tick":
        return floor.due(conf, now, POLICY)
    if not has(role, EVENT_PERMISSIONS[name]):
        return None  # the server refuses with "forbidden" before the domain is asked
    return {
        "floor:request": lambda: floor.request(conf, point, args and args[0], now),
        "floor:cancel": lambda: floor.cancel(conf, point),
        "floor:grant": lambda: floor.grant(conf, args[0], args[1], now, POLICY, actor, set(POINTS)),
        "floor:deny": lambda: floor.deny(conf, args[0], None, actor),
        "floor:move": lambda: floor.move(conf, args[0], args[1], actor),
        "floor:revoke": lambda: floor.revoke(conf, actor),
        "floor:extend": lambda: floor.extend(conf, args[0], now, POLICY, actor),
        "conference:open": lambda: conf_ops.open_conference(conf, None, actor),
        "conference:close": lambda: conf_ops.close_conference(conf, actor),
    }[name]()


EXPECTED = {
    "floor:request": ["queue.requested"], "floor:cancel": ["queue.cancelled"],
    "floor:grant": ["floor.granted"], "floor:deny": ["queue.denied"], "floor:revoke": ["floor.revoked"],
    "floor:extend": ["floor.extended"], "conference:open": ["conference.opened"],
    "conference:close": ["conference.closed"],
}


def dump(conf: Conference) -> str:
    return json.dumps({**conf.conference_json(), "queue": conf.queue_json(), "floor": conf.floor.to_json(0),
                       "muted": sorted(conf.muted), "online": sorted(conf.online)}, sort_keys=True)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, min_size=1, max_size=60))
def test_random_sequences_keep_the_invariants(steps):
    conf = Conference(id="c")
    log: list[Event] = []
    now = 1_000.0
    for role, point, operation in steps:
        name = operation[0]
        if name == "tick":
            now += operation[1]
        before = copy.deepcopy(conf)
        try:
            drafts = decide(conf, role, point, operation, now)
        except DewanError:
            assert dump(conf) == dump(before), "a refused operation changed the state"
            continue
        if drafts is None:
            continue
        drafts = list(drafts)
        if name in EXPECTED:
            assert [d.type for d in drafts] == EXPECTED[name]
        if name == "floor:move":
            assert [d.type for d in drafts] in (["queue.moved"], [])
        for d in drafts:
            event = Event(seq=len(log) + 1, at=now, conference="c", type=d.type, data=d.data, actor=d.actor)
            apply(conf, event)
            log.append(event)

        # a point is in the queue at most once; the holder is never in it
        queued = [e.point for e in conf.queue]
        assert len(queued) == len(set(queued))
        assert conf.floor.holder is None or conf.floor.holder not in queued
        # only chairs change the order or the floor
        if not has(role, EVENT_PERMISSIONS["floor:grant"]) and name.startswith("floor:"):
            assert conf.floor.holder == before.floor.holder
            kept = [p for p in queued if p in [e.point for e in before.queue]]
            assert kept == [e.point for e in before.queue if e.point in queued]
        # effects the user sees
        if name == "floor:grant" and drafts:
            assert conf.floor.holder == drafts[0].data["point"]
            assert conf.floor.deadline == now + (operation[2] or POLICY.default_limit_s)
        if name == "floor:request" and drafts:
            assert conf.queue[-1].point == point
        if name == "floor:revoke" and drafts:
            assert conf.floor.holder is None
        assert conf.version == len(log)
    # replaying the event log rebuilds the same state
    assert dump(replay("c", log)) == dump(conf)


def test_two_chairs_granting_at_once_cannot_double_grant():
    """The second chair acted on a stale version: the store refuses it (see test_store)."""
    conf = Conference(id="c", status="open", online={"vinh", "cua-lo"})
    for i, p in enumerate(["vinh", "cua-lo"]):
        for d in floor.request(conf, p, None, 10.0 + i):
            apply(conf, Event(conf.version + 1, 10.0, "c", d.type, d.data, d.actor))
    drafts = floor.grant(conf, None, None, 20.0, POLICY, "chair:a", set(POINTS))
    assert drafts[0].data["point"] == "vinh"
