"""Real headless Debian Chromium driven by Playwright (never `playwright install`)."""

from __future__ import annotations

import shutil

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream=fps=30",
    "--autoplay-policy=no-user-gesture-required", "--allow-loopback-in-peer-connection",
]


async def launch(playwright):
    return await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)


async def new_page(browser, url: str):
    """A page in its own context, with camera and microphone granted (so ICE uses 127.0.0.1)."""
    context = await browser.new_context(permissions=["camera", "microphone"])
    page = await context.new_page()
    page.on("pageerror", lambda exc: print(f"[pageerror] {url}: {exc}"))
    await page.goto(url)
    return page
