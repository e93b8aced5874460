"""A district whose UDP is blocked joins through coturn on TURN/TLS 443.

The test builds: a "district" network namespace linked to the suite's namespace (the
provincial server side) by a veth pair; nftables in the district drop every UDP datagram
to the server. Dewan serves HTTPS with a certificate from `dewan tls init` (its local CA);
Debian's coturn listens for TURN over TLS on 10.211.0.1:443 with the same certificate and
coturn's REST secret. Chromium runs inside the district with the local CA trusted in its
NSS database (no certificate error is ignored, neither for the page nor for TURN/TLS).
The hall publishes from an aiortc client on the server side.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys

import pytest

from tests.browser.conftest import wait_frames, wait_media
from tests.media.peers import Client, SynthVideoTrack, loopback_only
from tests.net.conftest import join_times, median, need
from tests.support.browser import ARGS
from tests.support.clients import ConfClient
from tests.support.netns import Coturn, HttpsDewan, Netns, delete_table, drop_udp_to, nss_db, veth

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

SERVER, DISTRICT = "10.211.0.1", "10.211.0.2"
SECRET = "turn-rest-secret-for-tests"


async def test_district_without_udp_joins_through_turn_tls_443(tmp_path):
    need("turnserver", "nft", "certutil", "nsenter")
    from playwright.async_api import async_playwright

    district = Netns()
    link = None
    coturn = server = hall_conf = hall_peer = None
    try:
        link = veth(district, SERVER, DISTRICT)
        drop_udp_to(district, SERVER)
        state = tmp_path / "state"
        out = subprocess.run([sys.executable, "-m", "server", "tls", "init", "--ip", SERVER, "--ip", "127.0.0.1",
                              "--state-dir", str(state)], capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        tls = state / "tls"
        coturn = Coturn(tmp_path / "coturn", SERVER, 443, tls / "cert.pem", tls / "key.pem", SECRET)
        server = HttpsDewan(state, "0.0.0.0", SERVER, env={
            "DEWAN_MEDIA_ICE_HOST_ADDRESSES": SERVER,
            "DEWAN_MEDIA_TURN_URLS": f"turns:{SERVER}:443?transport=tcp",
            "DEWAN_MEDIA_TURN_SECRET": SECRET, "DEWAN_MEDIA_TURN_TTL_S": "600"}).start()
        coturn.wait_ready()

        # the hall publishes (server side, aiortc)
        loopback_only()
        hall_conf = await ConfClient(f"https://127.0.0.1:{server.port}", server.token("hall"),
                                     ssl_verify=False).connect()
        hall_peer = Client("hall", video=SynthVideoTrack(1))
        assert (await hall_conf.request("rtc:start"))["ok"]
        offer = await hall_conf.wait_for("rtc:offer", timeout=10)
        assert offer["iceServers"][0]["urls"] == [f"turns:{SERVER}:443?transport=tcp"]
        assert re.fullmatch(r"\d+:hall", offer["iceServers"][0]["username"])
        assert (await hall_conf.request("rtc:answer", {"sdp": await hall_peer.answer(offer["sdp"])}))["ok"]

        home = tmp_path / "home"
        nss_db(home, tls / "ca.pem")
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path=str(district.wrapper(tmp_path, "/usr/bin/chromium")), headless=True,
                args=ARGS, env={"HOME": str(home), "PATH": "/usr/bin:/bin"})
            try:
                context = await browser.new_context(permissions=["camera", "microphone"])
                page = await context.new_page()
                page.on("console", lambda m: print(f"[district] {m.text}") if m.type in ("error", "warning") else None)
                await page.goto(f"https://{SERVER}:{server.port}/j/{server.token('vinh')}?video=320x180")
                await wait_media(page, timeout=30)
                await wait_frames(page, "hall", 10, timeout=20)
                pair = await page.evaluate("""async () => {
                    const stats = await window.dewan.rtc.pc.getStats();
                    let transport = null; const byId = new Map();
                    stats.forEach((r) => { byId.set(r.id, r); if (r.type === 'transport') transport = r; });
                    const pair = byId.get(transport.selectedCandidatePairId);
                    const local = byId.get(pair.localCandidateId), remote = byId.get(pair.remoteCandidateId);
                    return {type: local.candidateType, relayProtocol: local.relayProtocol, url: local.url,
                            remote: remote.address + ':' + remote.port};
                }""")
                print(f"district selected pair: {pair}")
                assert pair["type"] == "relay" and pair["relayProtocol"] == "tls", pair
                # the firewall really dropped the district's direct UDP attempts
                counters = district.run("nft", "list", "table", "inet", "dewan_test")
                assert int(re.search(r"counter packets (\d+)", counters).group(1)) > 0, counters
                # the technicians see the relayed link
                await page.wait_for_function(
                    "() => window.dewan.rtc.lastSummary?.candidate_pair?.relay_protocol === 'tls'", timeout=10000)

                signal, page_ms = await join_times(page, 3)
                print(f"join through TURN/TLS 443: rtc:start->connected {signal} ms (median {median(signal)}), "
                      f"page load->connected {page_ms} ms (median {median(page_ms)})")
                assert median(signal) < 5000
            finally:
                await browser.close()
    finally:
        if hall_conf is not None:
            await hall_conf.close()
        if hall_peer is not None:
            await hall_peer.close()
        if server is not None:
            server.stop()
        if coturn is not None:
            coturn.stop()
        delete_table("dewan_test", district)
        district.close()
        if link is not None:
            subprocess.run(["ip", "link", "del", link], capture_output=True)
        await asyncio.sleep(0)
