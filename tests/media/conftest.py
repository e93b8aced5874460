import pytest

from server.media import MediaSettings, Router

from .peers import Client

HALL = "hall"
POINTS = [HALL, "vinh", "cualo", "thaihoa"]


class Conference:
    """A Router plus the aiortc clients of one test; closes everything at the end."""

    def __init__(self, **settings) -> None:
        self.events: list[tuple[str, dict]] = []
        self.router = Router("conf-1", HALL, POINTS,
                             MediaSettings(ice_host_addresses=["127.0.0.1"], **settings),
                             lambda name, payload: self.events.append((name, payload)))
        self.clients: dict[str, Client] = {}

    async def join(self, participant: str, kind: str, point_id=None, *, source_id=None,
                   audio: bool = False) -> Client:
        from .peers import SynthVideoTrack

        video = SynthVideoTrack(source_id) if source_id is not None else None
        client = Client(participant, video, audio=audio)
        self.clients[participant] = client
        offer = await self.router.start_peer(participant, kind, point_id)
        await self.router.accept_answer(participant, await client.answer(offer))
        return client

    def tile(self, participant: str, point_id: str) -> str:
        """The track id of the tile slot that shows ``point_id`` on that console."""
        slots = self.router.tile_view(participant)["slots"]
        return next(f"{slot}-video" for slot, p in slots.items() if p == point_id)

    def consumer(self, participant: str, slot: str):
        return self.router.peers[participant].consumers[slot]

    def producer(self, point_id: str, track: str):
        return self.router.producers[(point_id, track)]

    async def close(self) -> None:
        await self.router.close()
        for client in self.clients.values():
            await client.close()


@pytest.fixture
async def conference():
    conf = Conference()
    yield conf
    await conf.close()
