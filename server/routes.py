"""THE table of HTTP routes and who may use each, enforced by one middleware.

Every route of the app must have an entry in ROUTE_ACCESS (keyed by the route's canonical
path): a route without one is refused (403, and an error in the log), and the authorisation
matrix test fails, so a route added later cannot be left open by mistake. Handlers of guarded
routes find the verified identity in ``request["identity"]``.

A token is read from the path (`/j/{token}`), an `Authorization: Bearer` header or a
`?token=` query (downloads a browser opens as links). The security headers of every response
(Content-Security-Policy, Referrer-Policy, HSTS under TLS, ...) are set here too.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp import web

from signaling.errors import DewanError
from signaling.roles import Perm, has

from .recording.web import ROUTES as RECORDING_ROUTES

log = logging.getLogger("dewan.http")


@dataclass(frozen=True)
class Access:
    perm: Perm | None  # None: anyone
    page: bool = False  # refusals as a page (links people open), else plain text
    loopback_setting: str | None = None  # when this security setting is true: loopback, no token
    signed: bool = False  # a short-lived signed link (``?sig=``) may stand in for the token;
                          # the handler checks the signature (server/recording/web.py)


PUBLIC = Access(None)

ROUTE_ACCESS: dict[str, Access] = {
    "/": PUBLIC,
    "/healthz": PUBLIC,
    "/owner": PUBLIC,  # where the media owner answers (several processes): pages ask any process
    "/static": PUBLIC,
    "/vendor/socket.io": PUBLIC,
    "/socket.io/": PUBLIC,  # the socket authenticates at connect; every event is authorised by
                            # signaling.protocol.EVENT_PERMISSIONS
    "/j/{token}": Access(Perm.VIEW, page=True),
    "/j/{token}/check": Access(Perm.PUBLISH, page=True),  # the pre-join check: stations only
    "/metrics": Access(Perm.HEALTH, loopback_setting="metrics_localhost_only"),
    # recordings: list, export, download (server/recording/web.py ROUTES)
    **{r.path: Access(r.perm, signed=r.signed) for r in RECORDING_ROUTES},
}

LOOPBACK = ("127.0.0.1", "::1")


def request_token(request: web.Request) -> str | None:
    token = request.match_info.get("token")
    if token:
        return token
    scheme, _, bearer = request.headers.get("Authorization", "").partition(" ")
    if hmac.compare_digest(scheme.lower(), "bearer") and bearer.strip():
        return bearer.strip()
    return request.query.get("token") or None


def guard(ctx) -> web.middleware:
    @web.middleware
    async def check_access(request: web.Request, handler):
        resource = request.match_info.route.resource
        if resource is None:  # no route matched: aiohttp's own 404/405
            return await handler(request)
        access = ROUTE_ACCESS.get(resource.canonical)
        if access is None:
            log.error("route %s has no entry in server/routes.py ROUTE_ACCESS; refused", resource.canonical)
            return web.Response(status=403, text="this route has no access rule\n")
        if access.perm is None:
            return await handler(request)
        if access.loopback_setting and getattr(ctx.settings.security, access.loopback_setting):
            if request.remote not in LOOPBACK:
                return _refuse(ctx, request, access, 403, "This answers on loopback only.")
            return await handler(request)
        token = request_token(request)
        if token is None and access.signed and "sig" in request.query:
            return await handler(request)  # the handler verifies the signed link
        if token is None:
            return _refuse(ctx, request, access, 401, "Send a token: Authorization: Bearer <token>.")
        ctx.refresh_signer()
        try:
            identity = ctx.signer.verify(token)
        except DewanError as exc:
            return _refuse(ctx, request, access, 401, exc.message)
        if not has(identity.role, access.perm):
            return _refuse(ctx, request, access, 403, f"A {identity.role} link may not open this.")
        request["identity"] = identity
        return await handler(request)

    return check_access


def _refuse(ctx, request: web.Request, access: Access, status: int, message: str) -> web.Response:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 and not access.page else {}
    if access.page:
        return ctx.pages.render("index.html", request, status=status, error=message)
    return web.Response(status=status, text=message + "\n", headers=headers)


def content_security_policy(connect_origins: list[str], any_port: bool = False) -> str:
    """No inline script (pages load their code from /static/js; the JSON data blocks are not
    scripts), no framing; the socket may go to this origin and to the processes of a --redis
    deployment. With ``any_port`` (several processes) any port of those hosts is allowed: a
    page keeps its policy for hours, and a process that starts on another port of a known
    host after the page loaded must still be reachable when the owner dies."""
    connect = ["'self'"]
    for origin in connect_origins:
        parts = urlsplit(origin)
        if parts.scheme in ("http", "https") and parts.hostname:
            ws = "wss" if parts.scheme == "https" else "ws"
            host = parts.netloc if not any_port else (
                f"[{parts.hostname}]:*" if ":" in parts.hostname else f"{parts.hostname}:*")
            connect += [f"{parts.scheme}://{host}", f"{ws}://{host}"]
    return ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
            "media-src 'self' blob: mediastream:; font-src 'self'; "
            f"connect-src {' '.join(dict.fromkeys(connect))}; "
            "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def security_headers(ctx) -> web.middleware:
    tls = not ctx.settings.server.http

    @web.middleware
    async def add_headers(request: web.Request, handler):
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            response = exc
            _set(response, request, tls)
            raise
        _set(response, request, tls)
        return response

    def _set(response, request, tls_on: bool) -> None:
        headers = response.headers
        headers.setdefault("Referrer-Policy", "no-referrer")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        if tls_on:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        if (response.content_type or "").startswith("text/html"):
            # the socket and /owner may go to any process of a --redis deployment
            several = ctx.ownership is not None
            origins = [ctx.owner_url(request), *ctx.process_urls()]
            if several:
                origins.append(f"{request.scheme}://{request.host}")
            headers["Content-Security-Policy"] = content_security_policy(
                [o for o in origins if o], any_port=several)

    return add_headers
