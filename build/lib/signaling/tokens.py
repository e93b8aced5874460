"""Signed join tokens (HMAC-SHA256): role, point, a label and a revocation generation.

A token is `<payload>.<signature>` in base64url. Station tokens are long-lived (kiosks bookmark
them) and revoked one by one by bumping the subject's generation (`dewan links --rotate`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass

from .errors import Unauthorized
from .roles import ROLES, STATION_ROLES

MAX_TOKEN_LEN = 1024


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Identity:
    role: str
    point: str | None  # stations (hall, point) only
    label: str  # e.g. "chair", "tech-1", the point id
    generation: int = 0
    expires_at: float | None = None

    @property
    def subject(self) -> str:
        """What a rotation revokes: one station, or one named console."""
        return f"{self.role}:{self.point or self.label}"

    @property
    def actor(self) -> str:
        return f"{self.role}:{self.point or self.label}"


class TokenSigner:
    def __init__(self, secret: bytes, generations: dict[str, int] | None = None) -> None:
        if len(secret) < 16:
            raise ValueError("the token secret must be at least 16 bytes")
        self._secret = secret
        self.generations = generations if generations is not None else {}

    def _sign(self, payload: bytes) -> str:
        return _b64(hmac.new(self._secret, payload, hashlib.sha256).digest())

    def issue(self, role: str, point: str | None = None, label: str | None = None,
              ttl_s: float | None = None) -> str:
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
        if (role in STATION_ROLES) != (point is not None):
            raise ValueError("a station token needs a point, other roles none")
        identity = Identity(role, point, label or point or role)
        body = {"r": role, "l": identity.label, "g": self.generations.get(identity.subject, 0)}
        if point is not None:
            body["p"] = point
        if ttl_s is not None:
            body["x"] = int(time.time() + ttl_s)
        payload = json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
        return f"{_b64(payload)}.{self._sign(payload)}"

    def verify(self, token: object, now: float | None = None) -> Identity:
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LEN or token.count(".") != 1:
            raise Unauthorized("The link is not valid: no readable token.", key="link_invalid")
        body_b64, signature = token.split(".")
        try:
            payload = _unb64(body_b64)
        except (ValueError, base64.binascii.Error):
            raise Unauthorized("The link is not valid: the token is damaged.", key="link_invalid") from None
        if not hmac.compare_digest(self._sign(payload), signature):
            raise Unauthorized("The link is not valid: the token's signature does not match.", key="link_invalid")
        try:
            body = json.loads(payload)
            identity = Identity(role=body["r"], point=body.get("p"), label=body["l"],
                                generation=int(body.get("g", 0)), expires_at=body.get("x"))
        except (ValueError, KeyError, TypeError):
            raise Unauthorized("The link is not valid: the token is damaged.", key="link_invalid") from None
        if identity.role not in ROLES:
            raise Unauthorized("The link is not valid: unknown role.", key="link_invalid")
        if identity.expires_at is not None and (now or time.time()) > identity.expires_at:
            raise Unauthorized("This link has expired; ask the technicians for a new one.", key="link_expired")
        if identity.generation < self.generations.get(identity.subject, 0):
            raise Unauthorized("This link was revoked; ask the technicians for the new one.", key="link_revoked")
        return identity

    def rotate(self, subject: str) -> int:
        self.generations[subject] = self.generations.get(subject, 0) + 1
        return self.generations[subject]
