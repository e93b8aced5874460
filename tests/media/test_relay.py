"""Integration tests: real aiortc peers in one process over loopback, through the Router.

Sources: each publisher draws its source id and a frame counter (see peers.py), so a
subscriber can tell whose picture it decodes and whether frames went missing."""

import asyncio
import re
import time

import pytest
from aiortc import RTCRtpReceiver

from server.media import MediaError, selfcheck

from .conftest import HALL
from .peers import DecoderCounter, steps_ok

HALL_SRC, VINH_SRC, CUALO_SRC, THAIHOA_SRC = 1, 2, 3, 4


async def wait_for(predicate, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.05)


def assert_continuous(rec, source_id, min_frames, min_ok=0.9):
    """The subscriber decoded ``source_id``'s picture and its counter stepped by one.

    On an idle machine every step is 1. Tests share 2 cores with all the in-process
    encoders/decoders (and whatever else runs), and aiortc's clients then occasionally
    skip a frame, so a 10 % margin is allowed; the relay's own part is checked exactly
    (no send errors, see assert_relay_clean)."""
    counters = rec.counters
    assert len(counters) >= min_frames
    assert set(rec.sources()) == {source_id}
    good, total = steps_ok(counters)
    assert good >= min_ok * total, (good, total)


def assert_relay_clean(router):
    consumers = [c for peer in router.peers.values() for c in peer.consumers.values()]
    assert all(c.send_errors == 0 for c in consumers)


async def test_fanout_hall_to_points_and_points_to_chair(conference):
    with DecoderCounter() as decoders:
        await conference.join("s-hall", "hall", HALL, source_id=HALL_SRC, audio=True)
        points = {}
        for pid, src in (("vinh", VINH_SRC), ("cualo", CUALO_SRC), ("thaihoa", THAIHOA_SRC)):
            points[pid] = await conference.join(f"s-{pid}", "point", pid, source_id=src,
                                                audio=True)
        chair = await conference.join("s-chair", "chair")
        for client in points.values():
            await client.wait_frames("hall-video", 45)
        for pid in points:
            await chair.wait_frames(conference.tile("s-chair", pid), 45)
        await conference.clients["s-hall"].wait_frames(conference.tile("s-hall", "vinh"), 20)

        for client in points.values():
            assert_continuous(client.rx("hall-video"), HALL_SRC, 45)
        for pid, src in (("vinh", VINH_SRC), ("cualo", CUALO_SRC), ("thaihoa", THAIHOA_SRC)):
            assert_continuous(chair.rx(conference.tile("s-chair", pid)), src, 45)
        assert_continuous(chair.rx("hall-video"), HALL_SRC, 20)

        router = conference.router
        relay_decoder_threads = {
            p.receiver._RTCRtpReceiver__decoder_thread
            for peer in router.peers.values() for p in peer.producers.values()
        }
        assert not relay_decoder_threads & set(decoders.threads)
        # every decoder belongs to a client track that received media: 3 points x (hall
        # audio + video), hall x 3 tiles, chair x (hall audio + video + 3 tiles)
        assert len(decoders.threads) == 3 * 2 + 3 + 5
    senders = [c.sender for peer in router.peers.values() for c in peer.consumers.values()]
    assert senders and all(s._RTCRtpSender__encoder is None for s in senders)
    assert_relay_clean(router)
    counters = router.counters()
    assert counters["packets_forwarded"] > 1000
    stats = router.link_stats()
    assert set(stats) == {"hall", "vinh", "cualo", "thaihoa"}
    hall = stats["hall"]
    assert hall["ice_state"] == "completed" and hall["dtls_state"] == "connected"
    assert hall["candidate_type"] == "host"
    assert hall["packets_up"] > 100 and hall["packets_down"] > 100
    assert hall["media_silence_s"] < 1.0
    # the media took the relay's fast path (socket -> producer), not aiortc's queue and
    # receiver: only the first packets of each SSRC may be routed by aiortc (by MID)
    for peer in router.peers.values():
        received = sum(p.packets for p in peer.producers.values())
        if received:
            assert peer.ingress.packets >= 0.95 * received, (peer.participant, received)
            assert peer.ingress.unprotect_errors == 0


async def test_late_joiner_gets_keyframe_with_one_pli(conference):
    await conference.join("s-hall", "hall", HALL, source_id=HALL_SRC)
    vinh = await conference.join("s-vinh", "point", "vinh", source_id=VINH_SRC)
    await vinh.wait_frames("hall-video", 25)  # well past the publisher's first key frame
    hall_video = conference.producer(HALL, "video")
    plis_before = hall_video.plis_sent

    chair = await conference.join("s-chair", "chair")
    peer = conference.router.peers["s-chair"]
    await wait_for(lambda: peer.state == "connected", what="chair connected")
    connected_at = time.monotonic()
    rec = await chair.wait_frames("hall-video", 1, timeout=3.0)
    assert rec.marks[0][0] - connected_at < 1.0
    assert hall_video.plis_sent - plis_before == 1
    await chair.wait_frames("hall-video", 20)
    assert_continuous(chair.rx("hall-video"), HALL_SRC, 20)


async def test_nack_rtx_repairs_loss_on_both_legs(conference):
    await conference.join("s-hall", "hall", HALL, source_id=HALL_SRC)
    vinh = await conference.join("s-vinh", "point", "vinh")
    router = conference.router
    router.impair(HALL, drop_up=0.05)
    router.impair("vinh", drop_down=0.05)
    await vinh.wait_frames("hall-video", 75, timeout=25)
    good, total = steps_ok(vinh.rx("hall-video").counters)
    assert good / total >= 0.9, (good, total)
    consumer = conference.consumer("s-vinh", "hall.video")
    assert consumer.nacks_received > 0 and consumer.retransmissions > 0
    stats = router.link_stats()
    hall_video = conference.producer(HALL, "video")
    assert hall_video.raw_expected > hall_video.raw_received  # the relay saw the loss
    assert 0.0 <= stats[HALL]["loss_up"] <= 0.2
    assert stats[HALL]["fps_up"] > 8
    assert stats[HALL]["bitrate_up_kbps"] > 50
    assert stats["vinh"]["bitrate_down_kbps"] > 50


async def test_floor_rules_audio_and_switch_without_renegotiation(conference):
    router = conference.router
    await conference.join("s-hall", "hall", HALL, source_id=HALL_SRC, audio=True)
    a = await conference.join("s-a", "point", "vinh", source_id=VINH_SRC, audio=True)
    b = await conference.join("s-b", "point", "cualo", source_id=CUALO_SRC, audio=True)
    c = await conference.join("s-c", "point", "thaihoa", source_id=THAIHOA_SRC, audio=True)
    for client in (a, b, c):
        await client.wait_frames("hall-video", 10)
    floor_audio = {p: conference.consumer(p, "floor.audio") for p in ("s-a", "s-b", "s-c")}
    hall_audio = {p: conference.consumer(p, "hall.audio") for p in ("s-a", "s-b", "s-c")}

    # nobody holds the floor: no point's audio goes anywhere, the hall's reaches everyone
    await wait_for(lambda: all(cons.packets > 10 for cons in hall_audio.values()),
                   what="hall audio reaches every point")
    for pid in ("vinh", "cualo", "thaihoa"):
        assert conference.producer(pid, "audio").consumers == ()
        assert conference.producer(pid, "audio").packets > 0
    # unheard audio is counted from its clear RTP header, not decrypted, and its link
    # statistics (receiver reports, the technicians' loss) still follow it
    for sid, pid in (("s-a", "vinh"), ("s-b", "cualo"), ("s-c", "thaihoa")):
        audio = conference.producer(pid, "audio")
        assert router.peers[sid].ingress.header_only > 0.5 * audio.packets
        assert audio.raw_received >= 0.9 * audio.packets
    assert all(cons.packets == 0 for cons in floor_audio.values())

    router.set_floor("vinh")
    hall_floor = conference.consumer("s-hall", "floor.audio")
    await wait_for(lambda: min(floor_audio["s-b"].packets, floor_audio["s-c"].packets,
                               hall_floor.packets) > 20, what="A's audio reaches B, C, hall")
    assert floor_audio["s-a"].packets == 0  # no echo to the holder
    await c.wait_frames("floor-video", 10)
    assert set(c.rx("floor-video").sources()) == {VINH_SRC}
    assert not a.rx("floor-video").marks

    # move the same slot to B: same SSRC, no new offer, C now sees B's picture
    ssrc_before = conference.consumer("s-c", "floor.video").ssrc
    pc_c = router.peers["s-c"].pc
    before = len(c.rx("floor-video").marks)
    router.set_floor("cualo")
    await wait_for(lambda: CUALO_SRC in c.rx("floor-video").sources()[before:],
                   what="C sees B's picture")
    await asyncio.sleep(0.7)
    assert conference.consumer("s-c", "floor.video").ssrc == ssrc_before
    assert pc_c.signalingState == "stable"
    sources = c.rx("floor-video").sources()
    switches = [i for i in range(1, len(sources)) if sources[i] != sources[i - 1]]
    assert len(switches) == 1 and sources[-1] == CUALO_SRC
    after = c.rx("floor-video").counters[switches[0]:]
    good, total = steps_ok(after)
    assert good >= 0.9 * total
    b_floor = floor_audio["s-b"].packets
    a_floor = floor_audio["s-a"].packets
    await wait_for(lambda: floor_audio["s-a"].packets > a_floor + 10, what="A hears B")
    assert floor_audio["s-b"].packets == b_floor  # B is the holder now: nothing to B

    # muting the holder silences it everywhere
    router.set_muted("cualo", True)
    await asyncio.sleep(0.2)
    muted_at = floor_audio["s-c"].packets
    await asyncio.sleep(0.5)
    assert floor_audio["s-c"].packets == muted_at

    # the hall takes the floor back: floor slots carry nothing
    router.set_floor(None)
    await asyncio.sleep(0.2)
    assert all(cons.source is None for cons in floor_audio.values())


async def test_technician_preview_audio_only_to_that_technician(conference):
    router = conference.router
    await conference.join("s-vinh", "point", "vinh", source_id=VINH_SRC, audio=True)
    tech = await conference.join("s-tech", "technician")
    await conference.join("s-obs", "observer")
    router.set_preview("s-tech", "vinh")
    await tech.wait_frames("preview-video", 10)
    await wait_for(lambda: conference.consumer("s-tech", "preview.audio").packets > 10,
                   what="preview audio reaches the technician")
    assert conference.consumer("s-obs", "floor.audio").packets == 0
    audio = conference.producer("vinh", "audio")
    assert audio.consumers == (conference.consumer("s-tech", "preview.audio"),)
    with pytest.raises(MediaError) as err:
        router.set_preview("s-obs", "vinh")
    assert err.value.code == "not_found"


async def test_bad_answers_are_rejected_cleanly(conference):
    from .peers import Client

    router = conference.router
    offer = await router.start_peer("s-vinh", "point", "vinh")
    client = Client("vinh")
    conference.clients["s-vinh"] = client
    good = await client.answer(offer)
    no_vp8 = re.sub(r"VP8/90000", "H264/90000", good)
    no_opus = good.replace("opus/48000/2", "PCMU/8000")
    cases = ["", "hello", "v=0\r\nm=garbage\r\n", offer, no_vp8, no_opus,
             good + "a=x:" + "y" * 300_000, good.split("m=video")[0]]
    for bad in cases:
        with pytest.raises(MediaError) as err:
            await router.accept_answer("s-vinh", bad)
        assert err.value.code == "bad_request", bad[:40]
        assert err.value.message
    with pytest.raises(MediaError) as err:
        await router.accept_answer("nobody", good)
    assert err.value.code == "not_found"
    await router.accept_answer("s-vinh", good)  # the peer survived all of that
    with pytest.raises(MediaError) as err:
        await router.accept_answer("s-vinh", good)
    assert err.value.code == "bad_request"
    with pytest.raises(MediaError):
        await router.start_peer("x", "point", "nowhere")
    with pytest.raises(MediaError):
        await router.start_peer("x", "pilot", None)


async def test_restart_replaces_peer_and_close_is_idempotent(conference):
    router = conference.router
    await conference.join("s-hall", "hall", HALL, source_id=HALL_SRC)
    vinh = await conference.join("s-vinh", "point", "vinh")
    await vinh.wait_frames("hall-video", 5)
    old_peer = router.peers["s-vinh"]
    vinh2 = await conference.join("s-vinh", "point", "vinh")  # rtc:start again
    assert old_peer.closed and router.peers["s-vinh"] is not old_peer
    await vinh2.wait_frames("hall-video", 5)
    await router.close_peer("s-vinh", "left")
    await router.close_peer("s-vinh", "left")
    assert ("peer_closed", {"participant": "s-vinh", "point": "vinh", "kind": "point",
                            "reason": "left"}) in conference.events
    await router.close()
    await router.close()
    with pytest.raises(MediaError) as err:
        await router.start_peer("s-x", "chair", None)
    assert err.value.code == "unavailable"


async def test_selfcheck_passes_and_names_missing_hooks(monkeypatch):
    report = await selfcheck()
    assert report["aiortc"] == "1.16.0"
    monkeypatch.delattr(RTCRtpReceiver, "_send_rtcp_pli")
    with pytest.raises(RuntimeError, match="_send_rtcp_pli"):
        await selfcheck()
