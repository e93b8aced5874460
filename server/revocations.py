"""Revoked join links: the generations live in the state folder (one process) or in Redis
(--redis, shared by every process and by `dewan links --rotate POINT --redis URL`).

Every `every_s` the generations are re-read; a session whose link was rotated is told
(`error {error: "unauthorized", key: "link_revoked"}`) and disconnected on whichever process it
is, so it cannot stay connected on the old link (its reconnect is refused)."""

from __future__ import annotations

import asyncio
import logging

from signaling.errors import Unavailable
from signaling.registry import Generations

from . import keys
from .hub import NAMESPACE

log = logging.getLogger("dewan.revocations")


class Revocations:
    def __init__(self, ctx) -> None:
        self.ctx = ctx
        self.shared = Generations(ctx.store.client, ctx.store.prefix) if ctx.settings.server.redis else None
        self._mtime = self._file_stamp()

    def _file_stamp(self) -> float:
        path = self.ctx.state_dir / "token-generations.json"
        return path.stat().st_mtime if path.exists() else 0.0

    async def start(self) -> None:
        if self.shared is not None:
            await self.shared.merge(dict(self.ctx.signer.generations))
            self._set(await self.shared.load())

    def refresh(self) -> None:
        """One process: pick up a rotation written to the state folder by `dewan links`."""
        if self.shared is not None:
            return
        stamp = self._file_stamp()
        if stamp != self._mtime:
            self._mtime = stamp
            self._set(keys.load_signer(self.ctx.state_dir, self.ctx.settings.security.secret).generations)

    def _set(self, generations: dict[str, int]) -> bool:
        current = self.ctx.signer.generations
        if generations == current:
            return False
        current.clear()
        current.update(generations)
        return True

    async def run(self, every_s: float = 0.5) -> None:
        while True:
            try:
                if self.shared is not None:
                    changed = self._set(await self.shared.load())
                else:
                    before = dict(self.ctx.signer.generations)
                    self.refresh()
                    changed = before != self.ctx.signer.generations
                if changed:
                    await self.disconnect_revoked()
            except asyncio.CancelledError:
                raise
            except Unavailable:
                pass
            except Exception:
                log.exception("reading the revocations failed")
            await asyncio.sleep(every_s)

    async def disconnect_revoked(self) -> None:
        generations = self.ctx.signer.generations
        hub = self.ctx.hub
        for sid, session in list(hub.sessions.items()):
            ident = session.identity
            if ident.generation < generations.get(ident.subject, 0):
                log.warning("link revoked: disconnecting its session", extra={"sid": sid, "subject": ident.subject})
                await hub.sio.emit("error", {"error": "unauthorized", "key": "link_revoked",
                                             "message": "This link was revoked; ask the technicians for the new one."},
                                   to=sid, namespace=NAMESPACE, ignore_queue=True)
                await hub.sio.disconnect(sid, namespace=NAMESPACE, ignore_queue=True)
