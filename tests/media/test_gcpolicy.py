"""The collector's schedule (server/media/gcpolicy.py): the garbage a closed peer connection
leaves in reference cycles is freed soon after it closes, with one collection for a burst of
closes and never more often than MIN_GAP_S."""

import asyncio
import gc

from server.media.gcpolicy import AfterPeerClose


class Cycle:
    def __init__(self) -> None:
        self.me = self


async def test_a_closed_peers_cycles_are_freed_soon_once_per_burst(monkeypatch):
    monkeypatch.setattr(AfterPeerClose, "DELAY_S", 0.05)
    monkeypatch.setattr(AfterPeerClose, "MIN_GAP_S", 0.3)
    policy = AfterPeerClose()
    gc.collect()
    gc.disable()  # only the policy collects here
    try:
        garbage = Cycle()
        del garbage
        for _ in range(5):  # a burst: five closes
            policy.peer_closed()
        await asyncio.sleep(0.15)
        assert policy.collections == 1
        assert not any(type(o) is Cycle for o in gc.get_objects())

        policy.peer_closed()  # too soon after the last one: waits for the gap
        await asyncio.sleep(0.1)
        assert policy.collections == 1
        await asyncio.sleep(0.3)
        assert policy.collections == 2
    finally:
        gc.enable()
        policy.cancel()
