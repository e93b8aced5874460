"""A real `dewan serve --http` process on a free loopback port, for integration tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEWAN = [sys.executable, "-m", "server"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DewanServer:
    def __init__(self, state_dir: Path, config: Path | None = None, env: dict | None = None,
                 wrap: list[str] | None = None, log_path: Path | None = None) -> None:
        self.state_dir = Path(state_dir)
        self.wrap = wrap or []  # a command prefix, e.g. nsenter into a mount namespace
        self.config = config
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "DEWAN_MEDIA_ICE_HOST_ADDRESSES": "127.0.0.1",
                    "DEWAN_SERVER_LOG_LEVEL": "info", **(env or {})}
        self.proc: subprocess.Popen | None = None
        self.log_path = log_path or self.state_dir / "server.log"
        self._links: dict | None = None

    def _args(self) -> list[str]:
        args = ["--state-dir", str(self.state_dir)]
        return args + (["--config", str(self.config)] if self.config else [])

    def start(self, timeout: float = 20.0) -> "DewanServer":
        self.state_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("a")
        self.proc = subprocess.Popen(
            [*self.wrap, *DEWAN, "serve", "--http", "--host", "127.0.0.1", "--port", str(self.port), *self._args()],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dewan serve exited: {self.log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/healthz", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"dewan serve did not answer in {timeout}s: {self.log_path.read_text()[-3000:]}")

    def stop(self, kill: bool = False) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self, kill: bool = False) -> "DewanServer":
        self.stop(kill=kill)
        return self.start()

    cwd = ROOT

    def cli_args(self, *args: str) -> list[str]:
        return [*self.wrap, *DEWAN, *args, *self._args()]

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(self.cli_args(*args), cwd=ROOT, env=self.env,
                              capture_output=True, text=True, timeout=30)

    @property
    def links(self) -> dict:
        if self._links is None:
            out = self.cli("links", "--json", "--base-url", self.base_url)
            assert out.returncode == 0, out.stderr
            self._links = json.loads(out.stdout)
        return self._links

    def refresh_links(self) -> dict:
        self._links = None
        return self.links

    def token(self, who: str) -> str:
        """'chair', 'hall', 'tech' or a point id."""
        links = self.links
        url = {"chair": links["chair"], "hall": links["hall"]}.get(who) or (
            links["technicians"][0] if who == "tech" else links["points"][who])
        return url.rsplit("/j/", 1)[1]

    def page_url(self, who: str, lang: str | None = None) -> str:
        return f"{self.base_url}/j/{self.token(who)}" + (f"?lang={lang}" if lang else "")

    def log_text(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""
