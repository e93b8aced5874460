"""One UDP port for every peer (media.udp_port), one port per process, and the start-up
line of a relay that would offer no candidate."""

from __future__ import annotations

import asyncio
import re
import socket
import subprocess
import time

import pytest

from tests.net.conftest import need, wait_until
from tests.support.media_client import MediaParticipant
from tests.support.netns import HttpsDewan
from tests.support.server import DewanServer

pytestmark = pytest.mark.timeout(90)
POINTS = ["vinh", "cua-lo", "thai-hoa", "hoang-mai", "quynh-luu"]


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def udp_ports_of(pid: int) -> list[int]:
    """Local UDP ports of process ``pid``, as `ss -uanp` shows them."""
    out = subprocess.run(["ss", "-uanp"], capture_output=True, text=True, timeout=10).stdout
    ports = []
    for line in out.splitlines():
        if f"pid={pid}," in line:
            local = line.split()[3]
            ports.append(int(local.rpartition(":")[2]))
    return ports


async def test_five_peers_share_the_configured_port_and_a_second_process_needs_its_own(tmp_path):
    need("ss")
    port = free_udp_port()
    server = DewanServer(tmp_path / "a", env={"DEWAN_MEDIA_UDP_PORT": str(port)}).start()
    participants = []
    try:
        assert udp_ports_of(server.proc.pid) == [port]  # bound at start-up, before any peer
        for point in POINTS:
            participants.append(await MediaParticipant(server, point).join())
        for p in participants:
            deadline = time.monotonic() + 15
            while p.peer.pc.connectionState != "connected" and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            assert p.peer.pc.connectionState == "connected", p.who
        ports = udp_ports_of(server.proc.pid)
        print(f"ss -uanp, relay process: UDP ports {ports}")
        assert set(ports) - {5353} == {port} and ports.count(port) == 1, ports
        # the relay's candidates all carry that one port
        for p in participants:
            remote = p.peer.pc.getTransceivers()[0].receiver.transport.transport.getRemoteCandidates()
            assert {c.port for c in remote} == {port}

        # a second process on the same host with the same port stops with a clear line
        second = DewanServer(tmp_path / "b", env={"DEWAN_MEDIA_UDP_PORT": str(port)})
        with pytest.raises(RuntimeError, match=r"media\.udp_port"):
            second.start(timeout=15)
        assert second.proc.wait(5) != 0
    finally:
        for p in participants:
            await p.close()
        server.stop()


def test_a_relay_without_usable_candidate_says_so_at_start_up(tmp_path):
    """In this loopback-only namespace, a server bound to 0.0.0.0 with no ICE settings has
    no address a browser could reach: one start-up line names media.ice_host_addresses."""
    if any(not a.startswith("127.") for a in _addresses()):
        pytest.skip("this test needs the loopback-only namespace of scripts/run-tests.sh")
    server = HttpsDewan(tmp_path / "state", "0.0.0.0", "127.0.0.1", env={"DEWAN_MEDIA_ICE_HOST_ADDRESSES": ""})
    server.start()
    try:
        lines = wait_until(lambda: [l for l in server.log_text().splitlines() if "media.ice_host_addresses" in l],
                           5, "the no-candidate line")
        print(lines[0])
        assert len(lines) == 1 and re.search(r"no usable ICE host address", lines[0])
    finally:
        server.stop()


def _addresses() -> list[str]:
    out = subprocess.run(["ip", "-o", "-4", "addr"], capture_output=True, text=True).stdout
    return re.findall(r"inet (\S+)/", out)
