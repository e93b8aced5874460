import pytest

from signaling import floor
from signaling.errors import BadRequest, Conflict, NotFound, Unavailable
from signaling.events import Event
from signaling.replay import apply
from signaling.state import AWAY, LEFT, WAITING, Conference

KNOWN = {"vinh", "cua-lo", "thai-hoa"}


def run(conf: Conference, drafts, now: float = 0.0) -> list[str]:
    for d in drafts:
        apply(conf, Event(conf.version + 1, now, conf.id, d.type, d.data, d.actor))
    return [d.type for d in drafts]


def open_conf(*online: str) -> Conference:
    return Conference(id="c", status="open", online=set(online or KNOWN))


def test_request_then_grant_next_moves_the_first_waiting_point_to_the_floor():
    conf = open_conf()
    run(conf, floor.request(conf, "vinh", "Giao thông", 100.0))
    run(conf, floor.request(conf, "cua-lo", None, 101.0))
    assert conf.position("cua-lo") == 2
    policy = floor.FloorPolicy(default_limit_s=180)
    run(conf, floor.grant(conf, None, None, 200.0, policy, "chair:x", KNOWN), 200.0)
    assert conf.floor.holder == "vinh" and conf.floor.deadline == 380.0
    assert [e.point for e in conf.queue] == ["cua-lo"]
    assert conf.floor.remaining_s(300.0) == 80.0


def test_a_point_cannot_queue_twice_nor_while_holding_the_floor():
    conf = open_conf()
    run(conf, floor.request(conf, "vinh", None, 1.0))
    with pytest.raises(Conflict):
        floor.request(conf, "vinh", None, 2.0)
    run(conf, floor.grant(conf, "vinh", 60, 3.0, floor.FloorPolicy(), "chair:x", KNOWN))
    with pytest.raises(Conflict):
        floor.request(conf, "vinh", None, 4.0)


def test_requests_need_an_open_conference():
    conf = Conference(id="c", online=set(KNOWN))
    with pytest.raises(Conflict):
        floor.request(conf, "vinh", None, 1.0)


def test_grant_refuses_unknown_offline_and_out_of_range():
    conf = open_conf("vinh")
    policy = floor.FloorPolicy()
    with pytest.raises(NotFound):
        floor.grant(conf, "nowhere", None, 1.0, policy, "chair:x", KNOWN)
    with pytest.raises(Unavailable, match="not connected"):
        floor.grant(conf, "cua-lo", None, 1.0, policy, "chair:x", KNOWN)
    with pytest.raises(BadRequest):
        floor.grant(conf, "vinh", 5, 1.0, policy, "chair:x", KNOWN)
    with pytest.raises(NotFound):
        floor.grant(conf, None, None, 1.0, policy, "chair:x", KNOWN)


def test_deny_move_revoke_extend():
    conf = open_conf()
    for i, p in enumerate(["vinh", "cua-lo", "thai-hoa"]):
        run(conf, floor.request(conf, p, None, float(i)))
    run(conf, floor.move(conf, "thai-hoa", 1, "chair:x"))
    assert [e.point for e in conf.queue] == ["thai-hoa", "vinh", "cua-lo"]
    assert floor.move(conf, "thai-hoa", 1, "chair:x") == []
    run(conf, floor.deny(conf, "vinh", "Hết giờ", "chair:x"))
    assert [e.point for e in conf.queue] == ["thai-hoa", "cua-lo"]
    policy = floor.FloorPolicy()
    run(conf, floor.grant(conf, None, 60, 100.0, policy, "chair:x", KNOWN))
    run(conf, floor.extend(conf, 30, 120.0, policy, "chair:x"))
    assert conf.floor.deadline == 190.0
    run(conf, floor.revoke(conf, "chair:x"))
    assert conf.floor.holder is None
    with pytest.raises(Conflict):
        floor.revoke(conf, "chair:x")


@pytest.mark.parametrize("policy,expected", [("warn", "floor.overtime"), ("release", "floor.expired")])
def test_expiry_policy(policy, expected):
    conf = open_conf()
    pol = floor.FloorPolicy(on_expiry=policy)
    run(conf, floor.grant(conf, "vinh", 60, 0.0, pol, "chair:x", KNOWN))
    assert floor.due(conf, 59.9, pol) == []
    assert run(conf, floor.due(conf, 60.0, pol)) == [expected]
    assert (conf.floor.holder, conf.floor.overtime) == (("vinh", True) if policy == "warn" else (None, False))
    assert floor.due(conf, 61.0, pol) == []  # overtime is flagged once


def test_a_dropped_holder_keeps_the_floor_for_the_grace_period_and_gets_it_back():
    conf = open_conf()
    pol = floor.FloorPolicy(grace_s=30)
    run(conf, floor.request(conf, "cua-lo", None, 0.0))
    run(conf, floor.grant(conf, "vinh", 300, 0.0, pol, "chair:x", KNOWN))
    assert run(conf, floor.point_left(conf, "vinh", "network", 10.0, pol)) == ["point.left", "floor.grace_started"]
    assert run(conf, floor.point_left(conf, "cua-lo", "network", 10.0, pol)) == ["point.left", "queue.away"]
    assert conf.entry("cua-lo").status == AWAY
    assert floor.due(conf, 39.0, pol) == []
    assert run(conf, floor.point_joined(conf, "vinh", 20.0)) == ["point.joined", "floor.grace_ended"]
    assert conf.floor.holder == "vinh" and conf.floor.grace_deadline is None
    # cua-lo does not come back in time: its entry is marked "left" and kept in place
    assert run(conf, floor.due(conf, 41.0, pol)) == ["queue.left"]
    assert conf.entry("cua-lo").status == LEFT
    run(conf, floor.point_joined(conf, "cua-lo", 50.0))
    assert conf.entry("cua-lo").status == WAITING


def test_after_the_grace_period_the_floor_returns_to_the_hall():
    conf = open_conf()
    pol = floor.FloorPolicy(grace_s=30)
    run(conf, floor.grant(conf, "vinh", 300, 0.0, pol, "chair:x", KNOWN))
    run(conf, floor.point_left(conf, "vinh", "network", 10.0, pol))
    assert run(conf, floor.due(conf, 40.0, pol)) == ["floor.released"]
    assert conf.floor.holder is None


def test_grant_next_skips_points_that_are_away():
    conf = open_conf()
    pol = floor.FloorPolicy()
    run(conf, floor.request(conf, "vinh", None, 0.0))
    run(conf, floor.request(conf, "cua-lo", None, 1.0))
    run(conf, floor.point_left(conf, "vinh", "network", 2.0, pol))
    drafts = floor.grant(conf, None, None, 3.0, pol, "chair:x", KNOWN)
    assert drafts[0].data["point"] == "cua-lo"
