"""HTML pages (jinja2) and static files. A join link `/j/<token>` renders the page of the
token's role; the page then connects to the process that owns the conference. Who may open
which route is decided in server/routes.py (ROUTE_ACCESS), not here."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import jinja2
from aiohttp import web

from signaling.errors import DewanError

from .i18n import Catalogs

ROOT = Path(__file__).resolve().parent.parent
CLIENT = ROOT / "client_web"
VENDOR = ROOT / "node_modules" / "socket.io-client" / "dist"

ROLE_PAGES = {"chair": "chair.html", "hall": "hall.html", "point": "point.html",
              "technician": "tech.html", "observer": "point.html"}


def _script_json(data: object) -> str:
    """JSON safe inside <script type=application/json> (no '</script>' break-out)."""
    return json.dumps(data, ensure_ascii=False).replace("</", "<\\/")


class MissingVendorFiles(RuntimeError):
    pass


def check_vendor() -> None:
    if not (VENDOR / "socket.io.esm.min.js").exists():
        raise MissingVendorFiles(f"{VENDOR} is missing: run `make serve` (it runs `npm ci`) first.")


class Pages:
    def __init__(self, app_ctx) -> None:
        self.ctx = app_ctx
        self.catalogs = Catalogs(CLIENT / "i18n")
        self.env = jinja2.Environment(loader=jinja2.FileSystemLoader(CLIENT / "templates"),
                                      autoescape=jinja2.select_autoescape(["html"]), enable_async=False)

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/", self.index)
        app.router.add_get("/j/{token}", self.join)
        app.router.add_get("/j/{token}/check", self.precheck)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_static("/static/", CLIENT, follow_symlinks=False, append_version=False)
        app.router.add_static("/vendor/socket.io/", VENDOR)

    def _lang(self, request: web.Request) -> str:
        return self.catalogs.pick(request.query.get("lang"), self.ctx.settings.ui.default_lang)

    def render(self, template: str, request: web.Request, status: int = 200, **context) -> web.Response:
        lang = self._lang(request)
        t = self.catalogs.translator(lang)
        config = {"lang": lang, "namespace": "/conf", **context.pop("config", {})}
        html = self.env.get_template(template).render(
            t=t, lang=lang, langs=("vi", "en", "ms"), path=request.path,
            catalog_json=_script_json(self.catalogs.catalog(lang)),
            config_json=_script_json(config), **context)
        return web.Response(text=html, content_type="text/html", status=status,
                            headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})

    async def index(self, request: web.Request) -> web.Response:
        return self.render("index.html", request)

    def _page(self, request: web.Request, extra, template: str | None = None) -> web.Response:
        ident = request["identity"]  # verified by server.routes (ROUTE_ACCESS)
        token = request.match_info["token"]
        config = {"token": token, "role": ident.role, "point": ident.point, "label": ident.label,
                  "signal_url": self.ctx.owner_url(request), "processes": self.ctx.process_urls(), **extra(token)}
        return self.render(template or ROLE_PAGES[ident.role], request, config=config, role=ident.role,
                           point=self.ctx.points.get(ident.point) if ident.point else None, label=ident.label)

    async def join(self, request: web.Request) -> web.Response:
        return self._page(request, lambda token: {"check_url": f"/j/{token}/check"})

    async def precheck(self, request: web.Request) -> web.Response:
        return self._page(request, lambda token: {"join_url": f"/j/{token}", "precheck_socket": True,
                                                  "ice_servers": []}, "precheck.html")

    async def healthz(self, request: web.Request) -> web.Response:
        """200 when the state store answers; 503 naming it (Redis) when it does not."""
        store = self.ctx.store_status()
        try:
            conf = await asyncio.wait_for(self.ctx.hub.conference(), 3.0)
        except (DewanError, asyncio.TimeoutError) as exc:
            return web.json_response({"ok": False, "error": "unavailable", "store": store["backend"],
                                      "message": f"{store['backend']} does not answer: the state cannot change "
                                                 f"(live media goes on)", "why": getattr(exc, "message", "timeout")},
                                     status=503, headers={"Cache-Control": "no-store"})
        return web.json_response({"ok": True, "conference": conf.id, "status": conf.status,
                                  "version": conf.version, "online": len(conf.online), "store": store["backend"],
                                  "owner": store.get("owner"), "is_owner": self.ctx.is_owner()},
                                 headers={"Cache-Control": "no-store"})
