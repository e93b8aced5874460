"""A stand-in server for the pre-join check's link test (until the real server has the
`precheck:*` events): renders precheck.html like server/pages.py and answers the protocol
with an aiortc loopback peer that echoes the page's camera and microphone back.

It is also a reference for the server side:
  precheck:start {}       -> {ok, sdp}   (the relay's offer: audio + video, sendrecv)
  precheck:answer {sdp}   -> {ok}
  precheck:result {...}   -> {ok}        (forwarded to the technicians as a `notice`)
  precheck:stop {}        -> {ok}
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import jinja2
import socketio
from aiohttp import web

from server.i18n import Catalogs

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "client_web"
VENDOR = ROOT / "node_modules" / "socket.io-client" / "dist"


class PrecheckServer:
    def __init__(self, precheck_socket: bool = True) -> None:
        self.precheck_socket = precheck_socket
        self.sio = socketio.AsyncServer(async_mode="aiohttp", cors_allowed_origins=[])
        self.app = web.Application()
        self.sio.attach(self.app)
        self.catalogs = Catalogs(CLIENT / "i18n")
        self.env = jinja2.Environment(loader=jinja2.FileSystemLoader(CLIENT / "templates"),
                                      autoescape=jinja2.select_autoescape(["html"]))
        self.app.router.add_get("/check", self.page)
        self.app.router.add_static("/static/", CLIENT)
        self.app.router.add_static("/vendor/socket.io/", VENDOR)
        self.peers: dict[str, object] = {}
        self.results: list[dict] = []
        self.auths: list[object] = []
        self.events: list[str] = []
        ns = "/conf"
        self.sio.on("connect", self.on_connect, namespace=ns)
        self.sio.on("disconnect", self.on_disconnect, namespace=ns)
        for name, fn in (("clock:sync", self.clock_sync), ("precheck:start", self.start),
                         ("precheck:answer", self.answer), ("precheck:result", self.result),
                         ("precheck:stop", self.stop_peer)):
            self.sio.on(name, self._logged(name, fn), namespace=ns)
        self.runner: web.AppRunner | None = None
        self.base_url = ""

    def _logged(self, name, fn):
        async def handler(sid, data=None):
            self.events.append(name)
            return await fn(sid, data)
        return handler

    async def page(self, request: web.Request) -> web.Response:
        lang = self.catalogs.pick(request.query.get("lang"), "vi")
        t = self.catalogs.translator(lang)
        config = {"lang": lang, "namespace": "/conf", "token": "test-token", "role": "point",
                  "point": "test", "signal_url": "", "join_url": "/joined",
                  "precheck_socket": self.precheck_socket}
        dump = lambda d: json.dumps(d, ensure_ascii=False).replace("</", "<\\/")  # noqa: E731
        html = self.env.get_template("precheck.html").render(
            t=t, lang=lang, langs=("vi", "en", "ms"), path=request.path, role="point", point=None,
            catalog_json=dump(self.catalogs.catalog(lang)), config_json=dump(config))
        return web.Response(text=html, content_type="text/html")

    async def on_connect(self, sid, environ, auth=None):
        self.auths.append(auth)

    async def on_disconnect(self, sid, reason=None):
        await self.stop_peer(sid, None)

    async def clock_sync(self, sid, data):
        return {"ok": True, "server_time": time.time()}

    async def start(self, sid, data):
        from aiortc import RTCConfiguration, RTCPeerConnection
        from aiortc.contrib.media import MediaRelay

        await self.stop_peer(sid, None)
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        relay = MediaRelay()
        self.peers[sid] = pc
        senders = {kind: pc.addTransceiver(kind, direction="sendrecv").sender for kind in ("audio", "video")}

        @pc.on("track")
        def on_track(track):  # echo what the page sends
            senders[track.kind].replaceTrack(relay.subscribe(track))

        await pc.setLocalDescription(await pc.createOffer())
        return {"ok": True, "sdp": pc.localDescription.sdp}

    async def answer(self, sid, data):
        from aiortc import RTCSessionDescription

        pc = self.peers.get(sid)
        if pc is None or not isinstance(data, dict) or not isinstance(data.get("sdp"), str):
            return {"ok": False, "error": "bad_request", "message": "no precheck peer"}
        await pc.setRemoteDescription(RTCSessionDescription(sdp=data["sdp"], type="answer"))
        return {"ok": True}

    async def result(self, sid, data):
        self.results.append(data)
        return {"ok": True}

    async def stop_peer(self, sid, data):
        pc = self.peers.pop(sid, None)
        if pc is not None:
            await pc.close()
        return {"ok": True}

    async def __aenter__(self) -> "PrecheckServer":
        self.runner = web.AppRunner(self.app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc) -> None:
        for sid in list(self.peers):
            await self.stop_peer(sid, None)
        await asyncio.sleep(0)
        if self.runner is not None:
            await self.runner.cleanup()
