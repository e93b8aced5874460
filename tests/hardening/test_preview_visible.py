"""Visible listening in: a technician's preview of a point is journaled and shown on the
point's page (real server, a real aiortc technician peer, the point's page in Chromium)."""

import json

from tests.support.browser import new_page
from tests.support.media_client import MediaParticipant


def journal(server):
    path = server.state_dir / "conferences" / "main" / "events.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()]


async def test_a_preview_is_journaled_and_the_point_sees_it(server, chromium):
    page = await new_page(chromium, server.page_url("vinh", lang="en"))
    await page.wait_for_function("() => window.dewan.conn.state !== null", timeout=10000)
    assert await page.locator("#preview-box").is_hidden()
    tech = await MediaParticipant(server, "tech").join()
    try:
        ack = await tech.conf.request("preview:set", {"point": "vinh"})
        assert ack == {"ok": True, "point": "vinh"}
        box = page.locator("#preview-box")
        await box.wait_for(state="visible", timeout=5000)
        assert "tech-1" in await box.inner_text() and "seeing and hearing" in await box.inner_text()
        # a reload keeps showing it (the snapshot carries it)
        await page.reload()
        await box.wait_for(state="visible", timeout=10000)
        # switching to another point stops this preview, then the technician leaves
        assert (await tech.conf.request("preview:set", {"point": "cua-lo"}))["ok"]
        await box.wait_for(state="hidden", timeout=5000)
        assert (await tech.conf.request("preview:set", {"point": "no-such"}))["error"] == "not_found"
    finally:
        await tech.close()
    for _ in range(50):
        kinds = [(e["type"], e["data"].get("point")) for e in journal(server) if e["type"].startswith("preview.")]
        if len(kinds) == 4:
            break
        await page.wait_for_timeout(100)
    assert kinds == [("preview.started", "vinh"), ("preview.stopped", "vinh"),
                     ("preview.started", "cua-lo"), ("preview.stopped", "cua-lo")]
    started = next(e for e in journal(server) if e["type"] == "preview.started")
    assert started["data"]["technician"] == "tech-1" and started["actor"] == "technician:tech-1"
    await page.context.close()


async def test_vietnamese_and_malay_pages_say_it_too(server, chromium):
    tech = await MediaParticipant(server, "tech").join()
    try:
        assert (await tech.conf.request("preview:set", {"point": "vinh"}))["ok"]
        for lang, words in (("vi", "đang xem và nghe"), ("ms", "melihat dan mendengar")):
            page = await new_page(chromium, server.page_url("vinh", lang=lang))
            box = page.locator("#preview-box")
            await box.wait_for(state="visible", timeout=10000)
            assert words in await box.inner_text()
            await page.context.close()
    finally:
        await tech.close()
