"""A point on a weak link: its Chromium runs in a network namespace of its own, joined to the
test's namespace by a veth pair (10.77.x.1 here, 10.77.x.2 there) that is capped with `tbf`
and loses a share of UDP packets to an nftables `numgen` rule. The page reaches the server
through two small TCP forwarders (its own 127.0.0.1:<port> -> 10.77.x.1:<port> ->
127.0.0.1:<port>), so it is a secure context; its media goes to the relay over the veth (the
relay offers 10.77.x.1 among its host addresses), through a user-space delay when asked. Needs root (tests run as root in
their own namespace); everything is removed on close."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
from pathlib import Path

FORWARD = r"""
import asyncio, sys
async def pipe(r, w):
    try:
        while data := await r.read(65536):
            w.write(data); await w.drain()
    except Exception:
        pass
    finally:
        w.close()
async def handle(r, w, host, port):
    try:
        r2, w2 = await asyncio.open_connection(host, port)
    except OSError:
        w.close(); return
    await asyncio.gather(pipe(r, w2), pipe(r2, w))
async def main(listen, lport, host, port):
    server = await asyncio.start_server(lambda r, w: handle(r, w, host, port), listen, lport)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()
asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])))
"""


# User-space delay for the point's media (this kernel has no netem): inside the point's
# namespace, nftables DNATs its UDP to the relay's port onto this shim, which sends it on to the
# relay after half the RTT, and the relay's answers back after the other half. Conntrack puts
# the relay's address back on the answers, so the browser's ICE sees the relay itself.
DELAY = r"""
import asyncio, sys
listen, relay, up, one_way = sys.argv[1], (sys.argv[2], int(sys.argv[3])), sys.argv[4], float(sys.argv[5]) / 1000
host, lport = listen.rsplit(":", 1)
uhost, uport = up.rsplit(":", 1)
async def main():
    loop = asyncio.get_running_loop()
    state = {"client": None}
    class Down(asyncio.DatagramProtocol):
        def datagram_received(self, data, addr):
            state["client"] = addr
            loop.call_later(one_way, up_t.sendto, data, relay)
    class Up(asyncio.DatagramProtocol):
        def datagram_received(self, data, addr):
            if state["client"] is not None:
                loop.call_later(one_way, down_t.sendto, data, state["client"])
    down_t, _ = await loop.create_datagram_endpoint(Down, local_addr=(host, int(lport)))
    up_t, _ = await loop.create_datagram_endpoint(Up, local_addr=(uhost, int(uport)))
    print("ready", flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""
SHIM_PORT, SHIM_UP_PORT = 47001, 47002


def run(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True, text=True)


class WeakLink:
    def __init__(self, port: int, index: int = 1) -> None:
        self.ns = f"dewan-weak-{os.getpid()}-{index}"
        self.here, self.there = f"dwa{index}", f"dwb{index}"
        self.local_ip, self.remote_ip = f"10.77.{index}.1", f"10.77.{index}.2"
        self.port = port
        self.procs: list[subprocess.Popen] = []
        self.dir = Path(tempfile.mkdtemp(prefix="dewan-weak-"))

    @staticmethod
    def available() -> bool:
        return os.geteuid() == 0 and all(
            subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True).returncode == 0
            for tool in ("ip", "tc", "nft"))

    def open(self, rtt_ms: float = 0, relay_udp_port: int | None = None) -> "WeakLink":
        """``rtt_ms``: media round-trip delay added in user space (needs the relay's fixed
        ``relay_udp_port``, media.udp_port)."""
        run("ip", "netns", "add", self.ns)
        run("ip", "link", "add", self.here, "type", "veth", "peer", "name", self.there,
            "netns", self.ns)
        run("ip", "addr", "add", f"{self.local_ip}/24", "dev", self.here)
        run("ip", "link", "set", self.here, "up")
        inside = ["ip", "netns", "exec", self.ns]
        run(*inside, "ip", "link", "set", "lo", "up")
        run(*inside, "ip", "addr", "add", f"{self.remote_ip}/24", "dev", self.there)
        run(*inside, "ip", "link", "set", self.there, "up")
        script = self.dir / "forward.py"
        script.write_text(FORWARD)
        # the page's localhost -> the veth -> the server's loopback
        self._forward([sys.executable, str(script), self.local_ip, str(self.port),
                       "127.0.0.1", str(self.port)])
        self._forward([*inside, sys.executable, str(script), "127.0.0.1", str(self.port),
                       self.local_ip, str(self.port)])
        if rtt_ms:
            delay = self.dir / "delay.py"
            delay.write_text(DELAY)
            # real-time priority: on a busy 2-core box (three browsers encoding and decoding)
            # a starved shim queued the media for seconds, not the 75 ms each way asked for
            self._forward([*inside, "chrt", "-f", "20", sys.executable, str(delay),
                           f"{self.remote_ip}:{SHIM_PORT}",
                           self.local_ip, str(relay_udp_port), f"{self.remote_ip}:{SHIM_UP_PORT}",
                           str(rtt_ms / 2)])
            table = "dewan_delay"
            run(*inside, "nft", "add", "table", "ip", table)
            run(*inside, "nft", f"add chain ip {table} out {{ type nat hook output priority -100 ; }}")
            run(*inside, "nft", f"add rule ip {table} out ip daddr {self.local_ip} udp dport {relay_udp_port} "
                                f"udp sport != {SHIM_UP_PORT} dnat to {self.remote_ip}:{SHIM_PORT}")
            # and nothing from the relay straight to the browser (its ICE checks would find an
            # undelayed pair): the relay's media reaches the browser through the shim only
            run(*inside, "nft", f"add chain ip {table} in {{ type filter hook input priority 0 ; }}")
            run(*inside, "nft", f"add rule ip {table} in iifname {self.there} ip saddr {self.local_ip} "
                                f"udp sport {relay_udp_port} udp dport != {SHIM_UP_PORT} drop")
        self.wrapper = self.dir / "chromium-in-netns"
        from tests.support.browser import CHROMIUM

        self.wrapper.write_text(f'#!/bin/sh\nexec ip netns exec {self.ns} {CHROMIUM} "$@"\n')
        self.wrapper.chmod(0o755)
        return self

    def _forward(self, cmd: list[str]) -> None:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        self.procs.append(proc)
        assert proc.stdout.readline().strip() == "ready", cmd

    def shape(self, kbit: int | None, loss_percent: int = 0) -> None:
        """Cap both directions at ``kbit`` kbit/s (None: no cap) and drop ``loss_percent`` %
        of the UDP packets sent to the point (nftables numgen)."""
        inside = ["ip", "netns", "exec", self.ns]
        for prefix, dev in (([], self.here), (inside, self.there)):
            subprocess.run([*prefix, "tc", "qdisc", "del", "dev", dev, "root"], capture_output=True)
            if kbit is not None:
                run(*prefix, "tc", "qdisc", "add", "dev", dev, "root", "tbf", "rate", f"{kbit}kbit",
                    "burst", "16kb", "latency", "200ms")
        table = f"dewan_weak_{os.getpid()}"
        subprocess.run(["nft", "delete", "table", "ip", table], capture_output=True)
        if loss_percent:
            run("nft", "add", "table", "ip", table)
            run("nft", f"add chain ip {table} out {{ type filter hook output priority 0 ; }}")
            run("nft", f"add rule ip {table} out oifname {self.here} meta l4proto udp "
                       f"numgen random mod 100 < {loss_percent} drop")

    def close(self) -> None:
        subprocess.run(["nft", "delete", "table", "ip", f"dewan_weak_{os.getpid()}"],
                       capture_output=True)
        for proc in self.procs:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
        subprocess.run(["ip", "link", "del", self.here], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)


async def wait_until(predicate, timeout: float, what: str, every: float = 0.25) -> float:
    """Seconds until ``await predicate()`` is true; AssertionError after ``timeout``."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while loop.time() - start < timeout:
        if await predicate():
            return loop.time() - start
        await asyncio.sleep(every)
    raise AssertionError(f"{what}: not within {timeout} s")
