"""The recording sessions on disk: `<recordings_dir>/<session>/manifest.json` + segments.

Listing reads only manifests and file sizes, so it works while a session is recorded, after a
crash (SIGKILL) and from the command line with no server running."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from .manifest import MANIFEST

SESSION_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,100}$")
EXPORT_DIR = "export"


class SessionError(Exception):
    """A session that does not exist or whose manifest cannot be read (the message says which)."""


@dataclass(frozen=True)
class Session:
    id: str
    path: Path
    manifest: dict

    def summary(self) -> dict:
        m = self.manifest
        started = m.get("started_at")
        end = m.get("ended_at") or last_seen(m)
        return {"id": self.id, "title": (m.get("conference") or {}).get("title", ""),
                "conference": (m.get("conference") or {}).get("id"), "started_at": started,
                "ended_at": m.get("ended_at"), "stop_reason": m.get("stop_reason"),
                "duration_s": round(max(0.0, end - started), 3) if started and end else 0.0,
                "segments": len(m.get("segments") or []), "size_bytes": size_bytes(self.path),
                "recording": m.get("ended_at") is None}


def last_seen(manifest: dict) -> float | None:
    """When a session without an end (running, or cut by a crash) was last known to record."""
    times = [manifest.get("updated_at")]
    for seg in manifest.get("segments") or []:
        times += [seg.get("ended_at"), seg.get("updated_at")]
    times = [t for t in times if isinstance(t, (int, float))]
    return max(times) if times else None


def size_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*")
               if f.is_file() and EXPORT_DIR not in f.relative_to(path).parts[:1])


def session_dir(recordings_dir: Path, session_id: str) -> Path:
    if not SESSION_ID.match(session_id or ""):
        raise SessionError(f"{session_id!r} is not a recording id (see `dewan recordings`).")
    return Path(recordings_dir) / session_id


def load(recordings_dir: Path, session_id: str) -> Session:
    path = session_dir(recordings_dir, session_id)
    manifest_path = path / MANIFEST
    if not manifest_path.exists():
        raise SessionError(f"No recording {session_id!r} in {recordings_dir} (see `dewan recordings`).")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise SessionError(f"{manifest_path}: cannot read it ({exc}).") from None
    except json.JSONDecodeError as exc:
        raise SessionError(f"{manifest_path}: not valid JSON ({exc.msg}) at byte {exc.pos}.") from None
    if not isinstance(manifest, dict) or "started_at" not in manifest:
        raise SessionError(f"{manifest_path}: not a Dewan manifest (no started_at) at byte 0.")
    return Session(session_id, path, manifest)


def list_sessions(recordings_dir: Path) -> list[dict]:
    """Summaries, newest first; a damaged manifest is listed with its error, never hidden."""
    out = []
    root = Path(recordings_dir)
    if not root.is_dir():
        return out
    for path in root.iterdir():
        if not (path / MANIFEST).exists() or not SESSION_ID.match(path.name):
            continue
        try:
            out.append(load(root, path.name).summary())
        except SessionError as exc:
            out.append({"id": path.name, "title": "", "started_at": None, "duration_s": 0.0,
                        "size_bytes": size_bytes(path), "error": str(exc)})
    return sorted(out, key=lambda s: s.get("started_at") or 0, reverse=True)
