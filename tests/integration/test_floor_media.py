"""The floor moves through the real server and relay: granting A then B makes a third point
receive A's then B's picture on the same floor slot (no renegotiation); a point that does not
hold the floor is never heard by another point."""

import asyncio
import statistics
import time

from tests.support.media_client import MediaParticipant

A, B = 11, 22  # source ids drawn into each publisher's picture


async def wait_until(predicate, timeout=10.0, step=0.02):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError
        await asyncio.sleep(step)


async def test_floor_switches_on_one_slot_and_only_the_holder_is_heard(server):
    people = []
    try:
        chair = MediaParticipant(server, "chair")
        await chair.conf.connect()
        people.append(chair)
        a = await MediaParticipant(server, "vinh", source_id=A, audio=True).join()
        b = await MediaParticipant(server, "cua-lo", source_id=B, audio=True).join()
        c = await MediaParticipant(server, "thai-hoa", source_id=33, audio=True).join()
        people += [a, b, c]
        assert (await chair.conf.request("conference:open"))["ok"]
        await asyncio.sleep(2.0)
        # nobody holds the floor: no point's audio or picture reaches another point
        assert c.peer.rx("floor-audio").audio_frames == 0 and not c.peer.rx("floor-video").marks
        assert a.peer.rx("floor-audio").audio_frames == 0
        offers_before = len(c.conf.received["rtc:offer"])

        switch_ms = []
        for target, source in [("vinh", A), ("cua-lo", B), ("vinh", A), ("cua-lo", B)]:
            seen = len(c.peer.rx("floor-video").marks)
            t0 = time.monotonic()
            ack = await chair.conf.request("floor:grant", {"point": target, "limit_s": 60})
            assert ack["ok"], ack
            await wait_until(lambda: any(s == source for _, s, _ in c.peer.rx("floor-video").marks[seen:]))
            first = next(t for t, s, _ in c.peer.rx("floor-video").marks[seen:] if s == source)
            switch_ms.append((first - t0) * 1000)
            await asyncio.sleep(0.8)
        sources = c.peer.rx("floor-video").sources()
        assert A in sources and B in sources
        # one continuous slot: no new offer, the same track decoded both pictures
        assert len(c.conf.received["rtc:offer"]) == offers_before
        # the holder's audio reaches the others, and never comes back to the holder itself
        heard_by_c = c.peer.rx("floor-audio").audio_frames
        assert heard_by_c > 20
        holder_echo = b.peer.rx("floor-audio").audio_frames
        await asyncio.sleep(1.0)
        assert b.peer.rx("floor-audio").audio_frames == holder_echo  # b holds the floor now
        assert c.peer.rx("floor-audio").audio_frames > heard_by_c
        # back to the hall: the floor slots fall silent
        assert (await chair.conf.request("floor:revoke"))["ok"]
        await asyncio.sleep(0.5)
        quiet = c.peer.rx("floor-audio").audio_frames
        await asyncio.sleep(1.0)
        assert c.peer.rx("floor-audio").audio_frames == quiet
        print(f"floor switch to first decoded frame: {[round(x) for x in switch_ms]} ms, "
              f"median {statistics.median(switch_ms):.0f} ms")
        assert statistics.median(switch_ms) < 400
    finally:
        for p in people:
            await p.close()
