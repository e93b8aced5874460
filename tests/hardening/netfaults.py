"""Faults on the media path, inside the network namespace the test suite runs in
(scripts/run-tests.sh): kernel loss and blackouts with nftables (`numgen random` on the
loopback device, matched by UDP/TCP port), delay and reordering in user space (this kernel has
no netem) by wrapping an aiortc participant's ICE sockets."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess

import pytest

from tests.media.peers import Client

TABLE = "dewan_fault"

needs_nft = pytest.mark.skipif(
    os.environ.get("DEWAN_NETNS") != "1" or not shutil.which("nft"),
    reason="needs nftables and the suite's own network namespace (scripts/run-tests.sh); "
           "never touches the host's firewall")


def nft(*commands: str) -> None:
    script = "\n".join(commands) + "\n"
    out = subprocess.run(["nft", "-f", "-"], input=script, text=True, capture_output=True)
    if out.returncode:
        raise RuntimeError(f"nft failed: {out.stderr.strip()}")


class Nft:
    """One nftables table in this namespace; rules drop a share of matching loopback packets."""

    def __init__(self) -> None:
        nft(f"add table inet {TABLE}", f"flush table inet {TABLE}",
            f"add chain inet {TABLE} input {{ type filter hook input priority 0; policy accept; }}")

    def loss(self, ports: list[int], percent: int, proto: str = "udp") -> None:
        rules = []
        chance = "" if percent >= 100 else f"numgen random mod 100 < {percent} "
        for port in ports:
            for side in ("dport", "sport"):
                rules.append(f"add rule inet {TABLE} input {proto} {side} {port} {chance}drop")
        nft(*rules)

    def clear(self) -> None:
        nft(f"flush chain inet {TABLE} input")

    def close(self) -> None:
        subprocess.run(["nft", "delete", "table", "inet", TABLE], capture_output=True)


def ice_protocols(pc):
    seen = []
    for t in pc.getTransceivers():
        connection = t.receiver.transport.transport._connection
        for protocol in connection._protocols:
            if protocol not in seen:
                seen.append(protocol)
    return seen


def udp_ports(pc) -> list[int]:
    return sorted({p.transport.get_extra_info("sockname")[1] for p in ice_protocols(pc) if p.transport})


class FaultyClient(Client):
    """An aiortc participant whose datagrams (both ways) can be delayed and reordered."""

    def __init__(self, *args, delay_s: float = 0.0, reorder_every: int = 0, **kw) -> None:
        super().__init__(*args, **kw)
        self.delay_s, self.reorder_every = delay_s, reorder_every

    async def answer(self, offer_sdp: str) -> str:
        sdp = await super().answer(offer_sdp)
        for protocol in ice_protocols(self.pc):
            self._wrap(protocol)
        return sdp

    def _wrap(self, protocol) -> None:
        loop = asyncio.get_running_loop()
        received = protocol.datagram_received
        transport = protocol.transport
        sendto = transport.sendto
        client = self
        held: list = []
        count = [0]

        def later(fn, *args):
            def run():
                try:
                    fn(*args)
                except (AttributeError, OSError):  # closed meanwhile
                    pass
            loop.call_later(client.delay_s, run)

        def delayed_receive(data, addr):
            if client.reorder_every:
                count[0] += 1
                if count[0] % client.reorder_every == 0 and not held:
                    held.append((data, addr))  # this one arrives after the next one
                    return
            deliver = [(data, addr), *held]
            held.clear()
            for item in deliver:
                if client.delay_s:
                    later(received, *item)
                else:
                    received(*item)

        def delayed_send(data, addr=None):
            if client.delay_s:
                later(sendto, data, addr)
            else:
                sendto(data, addr)

        protocol.datagram_received = delayed_receive
        transport.sendto = delayed_send
