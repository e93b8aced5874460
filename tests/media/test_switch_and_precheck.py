"""Make-before-break floor switches, the pre-join check's private loopback, and sender
reports that keep the round-trip time right on quiet slots."""

import asyncio

from .conftest import HALL
from .test_relay import wait_for

A_SRC, B_SRC, C_SRC, CHECK_SRC = 21, 22, 23, 99


async def test_a_switch_keeps_the_old_picture_until_the_new_key_frame(conference):
    router = conference.router
    await conference.join("s-hall", "hall", HALL, source_id=1)
    await conference.join("s-a", "point", "vinh", source_id=A_SRC)
    await conference.join("s-b", "point", "cualo", source_id=B_SRC)
    c = await conference.join("s-c", "point", "thaihoa", source_id=C_SRC)
    router.set_floor("vinh")
    await c.wait_frames("floor-video", 10)
    slot = conference.consumer("s-c", "floor.video")
    a, b = conference.producer("vinh", "video"), conference.producer("cualo", "video")

    router.set_floor("cualo")
    # still showing A, waiting for B's key frame (asked for with one PLI)
    assert slot.source is a and slot.next_source is b
    await wait_for(lambda: slot.source is b and slot.next_source is None, what="switch at B's key frame")
    await wait_for(lambda: B_SRC in c.rx("floor-video").sources(), what="C decodes B")
    sources = c.rx("floor-video").sources()
    assert sources[0] == A_SRC and sources[-1] == B_SRC
    assert sum(1 for x, y in zip(sources, sources[1:]) if x != y) == 1  # one clean cut

    # the hall takes the floor back: the slot stops at once (nothing to wait for)
    router.set_floor(None)
    assert slot.source is None and slot.next_source is None

    # a switch still waiting when its producer leaves is dropped cleanly
    router.set_floor("vinh")
    await wait_for(lambda: slot.source is a and not slot.waiting_keyframe, what="A's picture again")
    router.set_floor("cualo")
    assert slot.next_source is b
    await router.close_peer("s-b", "left")
    assert slot.next_source is None and slot.source is None  # B held the floor and left


async def test_the_precheck_loopback_is_private_and_never_replaces_the_station(conference):
    router = conference.router
    await conference.join("s-hall", "hall", HALL, source_id=1)
    await conference.join("s-a", "point", "vinh", source_id=A_SRC, audio=True)
    chair = await conference.join("s-chair", "chair")
    check = await conference.join("s-check", "precheck", "vinh", source_id=CHECK_SRC, audio=True)
    await check.wait_frames("echo-video", 10)
    assert set(check.rx("echo-video").sources()) == {CHECK_SRC}
    await wait_for(lambda: check.rx("echo-audio").audio_frames > 10, what="echo audio")
    # the kiosk still publishes vinh; the chair's tile shows the kiosk, not the check
    assert router.producers[("vinh", "video")] is conference.producer("vinh", "video")
    await chair.wait_frames(conference.tile("s-chair", "vinh"), 10)
    assert set(chair.rx(conference.tile("s-chair", "vinh")).sources()) == {A_SRC}
    assert all(p.point_id != "vinh" or p is router.producers[("vinh", p.track)]
               for p in router.producers.values())
    await router.close_peer("s-check", "precheck done")
    assert ("vinh", "video") in router.producers


async def test_round_trip_time_is_right_on_quiet_slots(conference):
    router = conference.router
    await conference.join("s-hall", "hall", HALL, source_id=1, audio=True)
    await conference.join("s-a", "point", "vinh", source_id=A_SRC, audio=True)
    await conference.join("s-b", "point", "cualo", source_id=B_SRC, audio=True)
    router.set_floor("vinh")
    await asyncio.sleep(1.0)
    router.set_floor(None)  # the floor slots fall quiet; their sender reports go on
    await asyncio.sleep(4.0)
    quiet = conference.consumer("s-b", "floor.video")
    await wait_for(lambda: quiet.rtt_s is not None, what="a receiver report on the quiet slot")
    await asyncio.sleep(2.5)  # reports sent well after the last forwarded packet
    assert quiet.rtt_s < 0.1, quiet.rtt_s
    stats = router.link_stats()
    for point in ("vinh", "cualo"):
        assert stats[point]["rtt_ms"] is not None and stats[point]["rtt_ms"] < 100, stats[point]


async def test_tile_slots_page_and_follow_the_queue_without_renegotiation():
    from .conftest import Conference

    conference = Conference(tile_slots=2)
    try:
        router = conference.router
        await conference.join("s-a", "point", "vinh", source_id=A_SRC)
        await conference.join("s-b", "point", "cualo", source_id=B_SRC)
        await conference.join("s-c", "point", "thaihoa", source_id=C_SRC)
        chair = await conference.join("s-chair", "chair")
        assert sum(1 for name in router.peers["s-chair"].consumers if name.startswith("tile.")) == 2
        view = router.tile_view("s-chair")
        assert view["slots"] == {"tile-0": "vinh", "tile-1": "cualo"} and view["pages"] == 2
        await chair.wait_frames("tile-0-video", 10)
        ssrc = conference.consumer("s-chair", "tile.0.video").ssrc
        events = len(conference.events)
        # next page: thaihoa takes slot 0, the other slot carries nothing; same SSRC
        view = router.set_tiles("s-chair", page=1)
        assert view["slots"] == {"tile-0": "thaihoa", "tile-1": None}
        assert ("tiles", {"participant": "s-chair", **view}) in conference.events[events:]
        await wait_for(lambda: C_SRC in chair.rx("tile-0-video").sources(), what="slot 0 shows C")
        assert conference.consumer("s-chair", "tile.0.video").ssrc == ssrc
        assert conference.consumer("s-chair", "tile.1.video").source is None
        # a point in the queue comes first whatever the page; pins come next
        router.set_queue(["cualo"])
        assert router.tile_view("s-chair")["slots"]["tile-1"] == "cualo"
        view = router.set_tiles("s-chair", page=0, pinned=["vinh"])
        assert set(view["slots"].values()) == {"cualo", "vinh"} and view["per_page"] == 0
        assert conference.consumer("s-chair", "tile.1.video").source is conference.producer("cualo", "video")
        for bad in ({"pinned": ["nowhere"]}, {"pinned": [HALL]}):
            try:
                router.set_tiles("s-chair", **bad)
                raise AssertionError("accepted")
            except Exception as exc:
                assert getattr(exc, "code", None) == "not_found"
    finally:
        await conference.close()
