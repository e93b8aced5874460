"""Fixtures of the network tests (namespaces, nftables, coturn, HTTPS Dewan)."""

from __future__ import annotations

import time

import pytest

from tests.support.netns import have


def need(*tools: str) -> None:
    missing = have(*tools)
    if missing:
        pytest.skip(f"{missing} is not installed (`make test` installs coturn, nftables, libnss3-tools)")


async def join_times(page, reloads: int) -> tuple[list[int], list[int]]:
    """Reload the page ``reloads`` times; per run: (ms from rtc:start to connected,
    ms from navigation start to connected)."""
    from tests.browser.conftest import wait_media

    signal, page_ms = [], []
    for i in range(reloads):
        if i:
            await page.reload()
        await wait_media(page, timeout=20)
        signal.append(await page.evaluate("() => window.dewan.rtc.joinTimes[0]"))
        page_ms.append(await page.evaluate("() => Math.round(window.dewan.rtc.connectedAt)"))
    return signal, page_ms


def median(values):
    values = sorted(values)
    n = len(values)
    return values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2


def wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout}s: {what}")
