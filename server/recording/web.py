"""HTTP routes for recordings: list, export with progress, download through short-lived
signed links. Authorisation is table-driven: `ROUTES` names every route with the permission it
needs, and `authorise` is the only check (a bearer token: none -> 401, a token without the
permission -> 403; a download also takes a signed link: HMAC over session, file and expiry).

    GET  /api/recordings                     -> [{id, title, started_at, duration_s, size_bytes, ...}]
    POST /api/recordings/{id}/export         -> the export job (starts one unless running)
    GET  /api/recordings/{id}/export         -> {state, progress, error, files: [{name, size, url}]}
    GET  /recordings/{id}/files/{name}?exp=&sig=   the file (signed link, valid LINK_TTL_S)
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from signaling.roles import Perm

from .sessions import EXPORT_DIR, SessionError, list_sessions, load, session_dir

log = logging.getLogger("dewan.recording.web")
LINK_TTL_S = 600
FILE_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,80}$")


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    perm: Perm
    handler: str  # RecordingRoutes method name
    signed: bool = False  # also accepts a signed link instead of a bearer token


ROUTES: tuple[Route, ...] = (
    Route("GET", "/api/recordings", Perm.RECORDINGS, "list"),
    Route("POST", "/api/recordings/{id}/export", Perm.RECORDINGS, "start_export"),
    Route("GET", "/api/recordings/{id}/export", Perm.RECORDINGS, "export_status"),
    Route("GET", "/recordings/{id}/files/{name}", Perm.RECORDINGS, "download", signed=True),
)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"ok": False, "error": {401: "unauthorized", 403: "forbidden", 404: "not_found",
                                                     409: "conflict"}.get(status, "bad_request"),
                              "message": message}, status=status,
                             headers={"WWW-Authenticate": "Bearer"} if status == 401 else None)


@dataclass
class ExportJob:
    session: str
    out_dir: Path
    state: str = "running"  # running, done, failed
    progress: float = 0.0
    error: str | None = None
    files: list[str] = field(default_factory=list)
    started_at: float = field(default_factory=time.time)
    task: asyncio.Task | None = None


class RecordingRoutes:
    def __init__(self, ctx) -> None:
        self.ctx = ctx
        self.jobs: dict[str, ExportJob] = {}

    @property
    def root(self) -> Path:
        return self.ctx.settings.recordings_dir

    def routes(self, app: web.Application) -> None:
        for route in ROUTES:
            app.router.add_route(route.method, route.path, self._guard(route))
        app.cleanup_ctx.append(self._cleanup)

    async def _cleanup(self, app):
        yield
        for job in self.jobs.values():
            if job.task is not None:
                job.task.cancel()

    # --- authorisation (the one place) ------------------------------------------------------
    def authorise(self, route: Route, request: web.Request) -> web.Response | None:
        """The token (and its permission) was checked by the app's one access guard
        (server/routes.py, from ROUTES); what is left here is a download's signed link."""
        if request.get("identity") is not None:
            return None
        if route.signed and "sig" in request.query:
            return None if self._signature_ok(request) else _error(403, "This download link is invalid or expired.")
        return _error(401, "Send a token: Authorization: Bearer <token>.")

    def _guard(self, route: Route):
        handler = getattr(self, route.handler)

        async def guarded(request: web.Request) -> web.StreamResponse:
            refused = self.authorise(route, request)
            if refused is None:
                try:
                    return await handler(request)
                except SessionError as exc:
                    refused = _error(404, str(exc))
            log.info("recording route refused", extra={"path": request.path, "method": request.method,
                                                       "status": refused.status})
            return refused
        return guarded

    # --- signed links -----------------------------------------------------------------------
    def _signed_url(self, session: str, name: str, now: float | None = None) -> str:
        exp = int((now or time.time()) + LINK_TTL_S)
        sig = self.ctx.signer.mac(f"{session}/{name}/{exp}")
        return f"/recordings/{session}/files/{name}?exp={exp}&sig={sig}"

    def _signature_ok(self, request: web.Request) -> bool:
        try:
            exp = int(request.query.get("exp", ""))
        except ValueError:
            return False
        session, name = request.match_info["id"], request.match_info["name"]
        expected = self.ctx.signer.mac(f"{session}/{name}/{exp}")
        return exp >= time.time() and hmac.compare_digest(expected, request.query.get("sig", ""))

    # --- handlers ---------------------------------------------------------------------------
    async def list(self, request: web.Request) -> web.Response:
        sessions = await asyncio.to_thread(list_sessions, self.root)
        for s in sessions:
            job = self.jobs.get(s["id"])
            s["export"] = self._job_json(job) if job else None
        return web.json_response({"ok": True, "recordings": sessions})

    async def start_export(self, request: web.Request) -> web.Response:
        session = load(self.root, request.match_info["id"])
        job = self.jobs.get(session.id)
        if job is None or job.state != "running":
            job = ExportJob(session.id, session.path / EXPORT_DIR)
            job.task = asyncio.create_task(self._run_export(job, session.path), name=f"export-{session.id}")
            self.jobs[session.id] = job
            log.info("export started", extra={"session": session.id})
        return web.json_response({"ok": True, "export": self._job_json(job)}, status=202)

    async def export_status(self, request: web.Request) -> web.Response:
        sid = request.match_info["id"]
        load(self.root, sid)  # 404 for an unknown session
        job = self.jobs.get(sid)
        if job is None:
            return _error(404, f"No export of {sid!r} was started.")
        return web.json_response({"ok": True, "export": self._job_json(job)})

    async def download(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        folder = session_dir(self.root, request.match_info["id"]) / EXPORT_DIR
        if not FILE_NAME.match(name) or not (folder / name).is_file():
            return _error(404, f"No exported file {name!r}.")
        return web.FileResponse(folder / name, headers={
            "Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})

    def _job_json(self, job: ExportJob) -> dict:
        files = []
        if job.state == "done":
            for name in job.files:
                path = job.out_dir / name
                if path.is_file():
                    files.append({"name": name, "size": path.stat().st_size,
                                  "url": self._signed_url(job.session, name)})
        return {"session": job.session, "state": job.state, "progress": job.progress, "error": job.error,
                "files": files, "started_at": job.started_at}

    async def _run_export(self, job: ExportJob, path: Path) -> None:
        """A low-priority child process; its JSON lines carry the progress."""
        nice = [shutil.which("nice"), "-n", "10"] if shutil.which("nice") else []
        job.out_dir.mkdir(parents=True, exist_ok=True)
        log_path = job.out_dir.parent / "export.log"
        with log_path.open("ab") as err:
            proc = await asyncio.create_subprocess_exec(
                *nice, sys.executable, "-m", "server.recording.export", str(path), str(job.out_dir), "--json-progress",
                stdout=asyncio.subprocess.PIPE, stderr=err, cwd=Path(__file__).resolve().parents[2])
        try:
            async for raw in proc.stdout:
                try:
                    line = json.loads(raw)
                except ValueError:
                    continue
                if "progress" in line:
                    job.progress = float(line["progress"])
                elif "done" in line:
                    job.files, job.progress = list(line["done"]), 1.0
                elif "error" in line:
                    job.error = str(line["error"])
            code = await proc.wait()
            if code == 0 and job.error is None:
                job.state = "done"
            else:
                job.state = "failed"
                if job.error is None:
                    tail = log_path.read_text(errors="replace").strip().splitlines()[-1:]
                    job.error = tail[0] if tail else f"the export process exited with {code}"
            log.info("export finished", extra={"session": job.session, "state": job.state, "why": job.error})
        except asyncio.CancelledError:
            proc.kill()
            raise
