"""Network namespaces, veth pairs, nftables rules, coturn and an HTTPS Dewan for the
network tests. Everything is created by the test inside the suite's own namespace
(scripts/run-tests.sh) and removed at the end; no name is registered in /run/netns: a
namespace is held by a `sleep` process and entered with `nsenter --net=/proc/PID/ns/net`."""

from __future__ import annotations

import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.support.server import DewanServer, free_port

NSENTER = shutil.which("nsenter")


def have(*tools: str) -> str | None:
    """The first missing tool, or None."""
    for tool in tools:
        if shutil.which(tool) is None:
            return tool
    return None


def run(*args: str, input: str | None = None) -> str:
    out = subprocess.run(args, input=input, capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {out.stderr.strip() or out.stdout.strip()}")
    return out.stdout


class Netns:
    """A network namespace held by a sleeping child process (only lo, up)."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(["unshare", "--net", "sh", "-c", "ip link set lo up && exec sleep 3600"])
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                if os.readlink(f"/proc/{self.proc.pid}/ns/net") != os.readlink("/proc/self/ns/net"):
                    break
            except OSError:
                pass
            time.sleep(0.02)
        self.path = f"/proc/{self.proc.pid}/ns/net"
        self.enter = [NSENTER, f"--net={self.path}"]

    def run(self, *args: str, input: str | None = None) -> str:
        return run(*self.enter, *args, input=input)

    def popen(self, args: list[str], **kwargs) -> subprocess.Popen:
        return subprocess.Popen([*self.enter, *args], **kwargs)

    def wrapper(self, folder: Path, program: str) -> Path:
        """An executable that runs ``program`` inside this namespace (for Playwright)."""
        path = folder / f"in-netns-{Path(program).name}"
        path.write_text(f"#!/bin/sh\nexec {NSENTER} --net={self.path} {program} \"$@\"\n")
        path.chmod(0o755)
        return path

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def veth(inner: Netns, outer_addr: str, inner_addr: str, prefix: int = 24) -> str:
    """A veth pair: one end here (``outer_addr``), the other in ``inner``; returns its name."""
    name = f"dw{os.getpid() % 10000}"
    run("ip", "link", "add", name, "type", "veth", "peer", "name", "eth0", "netns", str(inner.proc.pid))
    run("ip", "addr", "add", f"{outer_addr}/{prefix}", "dev", name)
    run("ip", "link", "set", name, "up")
    inner.run("ip", "addr", "add", f"{inner_addr}/{prefix}", "dev", "eth0")
    inner.run("ip", "link", "set", "eth0", "up")
    return name


def drop_udp_to(ns: Netns, address: str) -> None:
    """nftables in ``ns``: every UDP datagram to ``address`` is dropped (a district firewall)."""
    ns.run("nft", "-f", "-", input=(
        "table inet dewan_test {\n chain out {\n  type filter hook output priority 0;\n"
        f"  ip daddr {address} meta l4proto udp counter drop\n }}\n}}\n"))


def drop_udp_port(port: int) -> None:
    """nftables here: every UDP datagram to or from ``port`` is dropped (no media route)."""
    run("nft", "-f", "-", input=(
        "table inet dewan_noroute {\n chain out {\n  type filter hook output priority 0;\n"
        f"  udp dport {port} drop\n  udp sport {port} drop\n }}\n}}\n"))


def delete_table(name: str, ns: Netns | None = None) -> None:
    args = ["nft", "delete", "table", "inet", name]
    subprocess.run([*(ns.enter if ns else []), *args], capture_output=True, timeout=10)


class Coturn:
    """Debian's coturn `turnserver`, TURN over TLS only, REST credentials (use-auth-secret)."""

    def __init__(self, folder: Path, listen: str, tls_port: int, cert: Path, key: Path, secret: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.log = folder / "turnserver.log"
        conf = folder / "turnserver.conf"
        conf.write_text("\n".join([
            f"listening-ip={listen}", f"relay-ip={listen}", f"tls-listening-port={tls_port}",
            "no-udp", "no-tcp", "no-dtls", f"cert={cert}", f"pkey={key}",
            "use-auth-secret", f"static-auth-secret={secret}", "realm=dewan.test", "fingerprint",
            "min-port=49200", "max-port=49300", "allow-loopback-peers", "cli-password=dewan-test-cli",
            "no-cli", f"log-file={self.log}", "simple-log", "no-stdout-log", f"pidfile={folder}/turnserver.pid",
        ]) + "\n")
        self.proc = subprocess.Popen(["turnserver", "-c", str(conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.STDOUT)
        self.address = (listen, tls_port)

    def wait_ready(self, timeout: float = 10) -> None:
        import socket
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"turnserver exited: {self.log_text()[-2000:]}")
            with socket.socket() as s:
                s.settimeout(0.5)
                if s.connect_ex(self.address) == 0:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"turnserver did not listen on {self.address}: {self.log_text()[-2000:]}")

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class HttpsDewan(DewanServer):
    """`dewan serve` over HTTPS on ``host`` (any address), its certificate from ``state/tls``."""

    def __init__(self, state_dir: Path, host: str, public_host: str, env: dict | None = None) -> None:
        super().__init__(state_dir, env=env)
        self.host = host
        self.base_url = f"https://{public_host}:{self.port}"
        self.ctx = ssl.create_default_context()
        self.ctx.check_hostname = False
        self.ctx.verify_mode = ssl.CERT_NONE

    def start(self, timeout: float = 20.0) -> "HttpsDewan":
        self.state_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("a")
        self.proc = subprocess.Popen(
            [*DEWAN_CMD, "serve", "--host", self.host, "--port", str(self.port), *self._args()],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dewan serve exited: {self.log_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"https://127.0.0.1:{self.port}/healthz", timeout=1,
                                            context=self.ctx) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"dewan serve did not answer in {timeout}s: {self.log_text()[-3000:]}")


def nss_db(home: Path, ca: Path) -> None:
    """Chromium's certificate store on Linux: $HOME/.pki/nssdb, with the local CA trusted."""
    db = home / ".pki" / "nssdb"
    db.mkdir(parents=True, exist_ok=True)
    run("certutil", "-N", "-d", f"sql:{db}", "--empty-password")
    run("certutil", "-A", "-d", f"sql:{db}", "-t", "C,,", "-n", "Dewan test CA", "-i", str(ca))


DEWAN_CMD = [sys.executable, "-m", "server"]
ROOT = Path(__file__).resolve().parents[2]
__all__ = ["Netns", "veth", "drop_udp_to", "drop_udp_port", "delete_table", "Coturn", "HttpsDewan",
           "nss_db", "have", "free_port"]
