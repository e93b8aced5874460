"""Helpers for the real-browser tests: pages per station, media statistics, waits."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.support.browser import new_page


@pytest.fixture
async def open_page(chromium, server):
    """open_page('chair' | 'hall' | point id, query='') -> a Playwright page on its join link."""
    pages = []

    async def make(who: str, query: str = "", clock_shift_s: float | None = None):
        url = server.page_url(who) + (f"?{query}" if query else "")
        if clock_shift_s is None:
            page = await new_page(chromium, url)
        else:
            context = await chromium.new_context(permissions=["camera", "microphone"])
            page = await context.new_page()
            await page.clock.install(time=time.time() + clock_shift_s)
            page.on("pageerror", lambda exc: print(f"[pageerror] {url}: {exc}"))
            await page.goto(url)
        page.on("console", lambda msg: print(f"[console {who}] {msg.text}") if msg.type in ("error", "warning") else None)
        pages.append(page)
        return page

    yield make
    # close the pages before the server stops: a server stopping with live websockets
    # waits ~10 s (then is killed) before it exits
    for page in pages:
        try:
            await page.context.close()
        except Exception:
            pass


async def slot_stats(page) -> dict:
    """window.dewan.rtc.stats(): {streamId: {video: {...}, audio: {...}}}."""
    return await page.evaluate("() => window.dewan.rtc.stats()")


async def wait_media(page, timeout: float = 20.0) -> None:
    await page.wait_for_function("() => window.dewan && window.dewan.rtc && window.dewan.rtc.state === 'connected'",
                                 timeout=timeout * 1000)


async def frames(page, stream: str) -> int:
    return ((await slot_stats(page)).get(stream, {}).get("video") or {}).get("framesDecoded", 0)


async def tile_slot(page, point: str, timeout: float = 10.0) -> str:
    """The stream id (tile-<i>) of the tile slot showing ``point`` on a chair/hall page."""
    handle = await page.wait_for_function(
        "(p) => window.dewan.tiles?.slotOf(p)", arg=point, timeout=timeout * 1000)
    return await handle.json_value()


async def wait_frames(page, stream: str, at_least: int, timeout: float = 20.0) -> int:
    deadline = time.monotonic() + timeout
    value = 0
    while time.monotonic() < deadline:
        value = await frames(page, stream)
        if value >= at_least:
            return value
        await asyncio.sleep(0.25)
    raise AssertionError(f"{stream}: only {value} frames decoded (wanted {at_least}) in {timeout}s")
