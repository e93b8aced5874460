"""Time-limited TURN credentials for browsers, as coturn's REST API expects
(``use-auth-secret`` + ``static-auth-secret``; draft-uberti-behave-turn-rest):

    username   = "<unix expiry time>:<user>"
    credential = base64(HMAC-SHA1(secret, username))

A kiosk page stays open longer than any lifetime, so nothing is baked into the page: the
server sends fresh credentials with every ``rtc:offer`` (and pre-join check offer) as the
browser's ``iceServers``. The relay itself never allocates on TURN.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from typing import Optional

_URL = re.compile(r"^(turns?|stuns?):[^\s@]+$")


def check_urls(urls: list[str]) -> Optional[str]:
    """An error message for the first malformed URL, or None."""
    for url in urls:
        if not _URL.match(url):
            return (f"TURN URL not understood: {url!r} (e.g. \"turns:turn.example.org:443?transport=tcp\"; "
                    "no user:password@, the credentials come from media.turn_secret)")
    return None


def credentials(secret: str, ttl_s: int, user: str, now: Optional[float] = None) -> tuple[str, str]:
    expiry = int(time.time() if now is None else now) + int(ttl_s)
    username = f"{expiry}:{re.sub(r'[^A-Za-z0-9_.-]', '-', user) or 'dewan'}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def browser_ice_servers(urls: list[str], secret: str, ttl_s: int, user: str,
                        now: Optional[float] = None) -> list[dict]:
    """The ``iceServers`` a browser gets ([] when no TURN server is configured)."""
    turn = [u for u in urls if u.startswith("turn")]
    stun = [u for u in urls if u.startswith("stun")]
    servers: list[dict] = [{"urls": stun}] if stun else []
    if turn and secret:
        username, credential = credentials(secret, ttl_s, user, now)
        servers.append({"urls": turn, "username": username, "credential": credential})
    return servers
