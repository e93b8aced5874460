"""Janus (Debian's `janus` package) for the side-by-side bench: configured in a temporary
folder, started and stopped by the bench, driven through its HTTP API as a VideoRoom
client would (create a session, attach `janus.plugin.videoroom`, join as publisher or
subscriber, long-poll the session for events and JSEPs).

Only the VideoRoom plugin and the HTTP transport are loaded; logging is at warnings
(debug_level 3), as Dewan's relay logs warnings only in the bench.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

LIB = Path("/usr/lib/x86_64-linux-gnu/janus")
ROOM = 1234
_PLUGINS = ("audiobridge", "duktape", "echotest", "lua", "nosip", "recordplay", "sip",
            "streaming", "textroom", "videocall", "voicemail")
_TRANSPORTS = ("websockets", "mqtt", "nanomsg", "pfunix", "rabbitmq")


def ensure_installed() -> str:
    """The `janus` binary; installed from Debian when missing (as `make test` installs
    chromium), or a clear error when that is impossible."""
    path = shutil.which("janus")
    if path:
        return path
    if os.geteuid() == 0:
        print("bench.peers: installing Debian's janus (apt-get install janus)", file=sys.stderr)
        subprocess.run(["apt-get", "update", "-q"], check=False, stdout=subprocess.DEVNULL)
        subprocess.run(["apt-get", "install", "-y", "-q", "janus"], check=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
                       stdout=subprocess.DEVNULL)
        path = shutil.which("janus")
    if not path:
        raise SystemExit("bench.peers needs Janus: run `apt-get install janus` as root")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _lib_names(kind: str, names) -> str:
    return ",".join(f"libjanus_{n}.so" for n in names)


class JanusProcess:
    def __init__(self, interface: str, publishers: int = 256) -> None:
        self.interface = interface  # libnice gathers no loopback candidates
        self.binary = ensure_installed()
        self.dir = Path(tempfile.mkdtemp(prefix="dewan-bench-janus-"))
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/janus"
        self.publishers = publishers
        self.proc: subprocess.Popen | None = None

    def _write_config(self) -> None:
        d = self.dir
        (d / "janus.jcfg").write_text(f"""
general: {{
    configs_folder = "{d}"
    plugins_folder = "{LIB / 'plugins'}"
    transports_folder = "{LIB / 'transports'}"
    events_folder = "{LIB / 'events'}"
    loggers_folder = "{LIB / 'loggers'}"
    debug_level = 3
    session_timeout = 600
}}
media: {{
    rtp_port_range = "20000-40000"
}}
nat: {{
    ice_enforce_list = "{self.interface}"
    ice_ignore_list = ""
}}
plugins: {{
    disable = "{_lib_names('plugins', _PLUGINS)}"
}}
transports: {{
    disable = "{_lib_names('transports', _TRANSPORTS)}"
}}
loggers: {{
    disable = "libjanus_jsonlog.so"
}}
events: {{
    broadcast = false
}}
""")
        (d / "janus.transport.http.jcfg").write_text(f"""
general: {{
    json = "compact"
    base_path = "/janus"
    http = true
    port = {self.port}
    ip = "127.0.0.1"
    https = false
}}
admin: {{
    admin_http = false
}}
""")
        (d / "janus.plugin.videoroom.jcfg").write_text(f"""
general: {{
}}
room-{ROOM}: {{
    description = "dewan bench"
    publishers = {self.publishers}
    bitrate = 0
    fir_freq = 0
    audiocodec = "opus"
    videocodec = "vp8"
    record = false
}}
""")

    async def start(self, timeout: float = 20.0) -> "JanusProcess":
        self._write_config()
        log = (self.dir / "janus.log").open("w")
        self.proc = subprocess.Popen([self.binary, "-C", str(self.dir / "janus.jcfg"),
                                      "-F", str(self.dir), "-o"],
                                     stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError("janus exited: " + self.log_tail())
                try:
                    async with http.get(self.url + "/info") as r:
                        if r.status == 200:
                            return self
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.2)
        raise RuntimeError("janus did not answer: " + self.log_tail())

    def log_tail(self) -> str:
        try:
            return (self.dir / "janus.log").read_text()[-3000:]
        except OSError:
            return ""

    def cpu_s(self) -> float:
        """User + system CPU time of the Janus process, all its threads."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def threads(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/task"))

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class JanusError(RuntimeError):
    pass


class JanusSession:
    """One Janus API session (one per simulated participant) over HTTP long-polling."""

    _tx = itertools.count(1)

    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        self.http = http
        self.url = url
        self.id: int | None = None
        self.events: asyncio.Queue = asyncio.Queue()
        self._poller: asyncio.Task | None = None

    async def _post(self, path: str, body: dict) -> dict:
        body = {**body, "transaction": f"t{next(self._tx)}"}
        async with self.http.post(self.url + path, json=body) as r:
            reply = await r.json(content_type=None)
        if reply.get("janus") == "error":
            raise JanusError(str(reply.get("error")))
        reply.setdefault("transaction", body["transaction"])
        return reply

    async def create(self) -> "JanusSession":
        reply = await self._post("", {"janus": "create"})
        self.id = reply["data"]["id"]
        self._poller = asyncio.ensure_future(self._poll())
        return self

    async def _poll(self) -> None:
        while True:
            try:
                async with self.http.get(f"{self.url}/{self.id}?maxev=10",
                                         timeout=aiohttp.ClientTimeout(total=70)) as r:
                    reply = await r.json(content_type=None)
            except asyncio.CancelledError:
                raise
            except Exception:
                await asyncio.sleep(0.2)
                continue
            for event in reply if isinstance(reply, list) else [reply]:
                if event.get("janus") not in ("keepalive", None):
                    await self.events.put(event)

    async def attach(self) -> int:
        reply = await self._post(f"/{self.id}", {"janus": "attach",
                                                "plugin": "janus.plugin.videoroom"})
        return reply["data"]["id"]

    async def message(self, handle: int, body: dict, jsep: dict | None = None,
                      timeout: float = 20.0) -> dict:
        """Send a plugin request and wait for its asynchronous event (with a JSEP, if any)."""
        msg = {"janus": "message", "body": body}
        if jsep is not None:
            msg["jsep"] = jsep
        reply = await self._post(f"/{self.id}/{handle}", msg)
        if reply.get("janus") == "success":  # synchronous request
            return reply
        deadline = time.monotonic() + timeout
        while True:
            event = await asyncio.wait_for(self.events.get(), max(0.1, deadline - time.monotonic()))
            if event.get("janus") != "event" or event.get("transaction") != reply["transaction"]:
                continue  # e.g. a "new publisher" notice to this handle
            data = event.get("plugindata", {}).get("data", {})
            if "error" in data:
                raise JanusError(f"{data.get('error_code')}: {data['error']}")
            return event

    async def destroy(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
        try:
            await self._post(f"/{self.id}", {"janus": "destroy"})
        except Exception:
            pass
