import pytest

from tests.support.clients import ConfClient
from tests.support.server import DewanServer


@pytest.fixture
def server(tmp_path):
    srv = DewanServer(tmp_path / "state").start()
    yield srv
    srv.stop()


@pytest.fixture
async def connect(server):
    """connect('chair' | 'hall' | 'tech' | point id) -> a connected ConfClient."""
    clients: list[ConfClient] = []

    async def make(who: str) -> ConfClient:
        client = ConfClient(server.base_url, server.token(who))
        clients.append(client)
        return await client.connect()

    yield make
    for client in clients:
        await client.close()


@pytest.fixture
async def chromium():
    from playwright.async_api import async_playwright

    from tests.support.browser import launch

    async with async_playwright() as pw:
        browser = await launch(pw)
        yield browser
        await browser.close()


@pytest.fixture
def redis_server(tmp_path):
    """A real redis-server (AOF in tmp_path) that a test may stop and start again."""
    from tests.support.redis_server import RedisServer

    server = RedisServer(tmp_path)
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server):
    return redis_server.url
