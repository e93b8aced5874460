"""Kill -9 of the media owner: time until a page decodes the hall again from the other process.

Each run starts a fresh redis-server (AOF), two `dewan serve --redis` processes (A first, so A
owns the media) and two Chromium pages on A (the hall publishing, a point receiving), waits
until the point decodes the hall, kills A with SIGKILL and measures, on the point page:
  - kill -> the page is connected to B (it found the new owner by itself),
  - kill -> the first decoded hall frame from B's relay.
Prints each run and the medians; the lease TTL is `--ttl` (production default 10 s).

    .venv/bin/python -m bench.takeover --runs 5 --ttl 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from tests.support.browser import launch, new_page
from tests.support.redis_server import RedisServer
from tests.support.server import DewanServer

FRAMES = "async () => ((await window.dewan.rtc.stats()).hall?.video?.framesDecoded || 0)"


async def one_run(browser, root: Path, ttl: float) -> dict:
    (root / "redis").mkdir(parents=True)
    redis = RedisServer(root / "redis")
    env = {"DEWAN_SERVER_REDIS": redis.url, "DEWAN_SECURITY_SECRET": "b" * 32, "DEWAN_SERVER_LEASE_TTL_S": str(ttl)}
    a = DewanServer(root / "a", env=env).start()
    b = DewanServer(root / "b", env=env).start()
    pages = []
    try:
        pages.append(await new_page(browser, a.page_url("hall") + "?video=320x180@15"))
        point = await new_page(browser, a.page_url("vinh") + "?video=320x180@15")
        pages.append(point)
        await point.wait_for_function(f"async () => (await ({FRAMES})()) > 10", timeout=30000)
        a.stop(kill=True)
        killed = time.monotonic()
        await point.wait_for_function(
            f"() => window.dewan.conn.base === {json.dumps(b.base_url)} && window.dewan.conn.status === 'connected'",
            timeout=60000, polling=50)
        connected = time.monotonic() - killed
        await point.wait_for_function(f"async () => (await ({FRAMES})()) > 0", timeout=60000, polling=50)
        decoded = time.monotonic() - killed
        return {"to_new_owner_s": round(connected, 2), "to_first_frame_s": round(decoded, 2)}
    finally:
        for page in pages:
            await page.context.close()
        a.stop()
        b.stop()
        redis.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--ttl", type=float, default=3.0, help="media lease TTL in seconds")
    args = parser.parse_args()
    from playwright.async_api import async_playwright

    results = []
    async with async_playwright() as pw:
        browser = await launch(pw)
        with tempfile.TemporaryDirectory() as tmp:
            for i in range(args.runs):
                result = await one_run(browser, Path(tmp) / f"run{i}", args.ttl)
                results.append(result)
                print(f"run {i + 1}: kill -> connected to B {result['to_new_owner_s']} s, "
                      f"-> first decoded frame {result['to_first_frame_s']} s", flush=True)
        await browser.close()
    print(f"median of {len(results)} runs (lease TTL {args.ttl} s): connected to B "
          f"{statistics.median(r['to_new_owner_s'] for r in results):.2f} s, first decoded frame "
          f"{statistics.median(r['to_first_frame_s'] for r in results):.2f} s; load average "
          f"{os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
