"""Exporting one session: the media (media_export: a WebM per slot, no re-encoding, and the
clerks' audio mix), then chapters.vtt, minutes.html/json and attendance.csv.

Runs at low priority (os.nice) so it cannot starve the relay on two cores: `dewan export`
calls `run` in its own process; the web export starts
`nice -n 10 python -m server.recording.export SESSION_DIR OUT_DIR --json-progress`, which prints
one JSON object per line: {"progress": 0..1}, then {"done": [file names]} or {"error": text}."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from . import minutes
from .manifest import read_segments
from .sessions import Session, SessionError, load

MEDIA_SHARE = 0.9  # of the progress bar


class ExportError(Exception):
    """A clear, one-line reason the export failed (damaged file with its offset, ...)."""


def _with_disk_segments(session: Session) -> dict:
    """The manifest, with the segments as their own files say (after a crash the manifest may
    be up to two seconds older than the last segment.json)."""
    manifest = dict(session.manifest)
    on_disk = {s.get("dir"): s for s in read_segments(session.path)}
    listed = {s.get("dir"): s for s in manifest.get("segments") or []}
    manifest["segments"] = [on_disk.get(d) or listed[d] for d in sorted(set(listed) | set(on_disk))]
    return manifest


def run(session: Session, out_dir: Path, progress: Callable[[float], None] = lambda f: None) -> list[Path]:
    from .media_export import export_media
    from .trackfile import RecordingFileError

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = _with_disk_segments(session)
    try:
        media = export_media(session.path, manifest, out_dir, t0=manifest["started_at"],
                             progress=lambda f: progress(MEDIA_SHARE * max(0.0, min(1.0, f))))
    except RecordingFileError as exc:
        raise ExportError(str(exc)) from None
    except (OSError, ValueError, KeyError) as exc:
        raise ExportError(f"{session.path}: {type(exc).__name__}: {exc}") from None
    files = list(media) + minutes.write_all(manifest, out_dir)
    progress(1.0)
    return files


class ProgressBar:
    """A one-line bar on a terminal (stderr), a few lines otherwise."""

    def __init__(self, stream=sys.stderr, width: int = 30) -> None:
        self.stream, self.width, self.last = stream, width, -1

    def __call__(self, fraction: float) -> None:
        pct = int(fraction * 100)
        if pct == self.last or (not self.stream.isatty() and pct - self.last < 10 and pct < 100):
            return
        self.last = pct
        filled = int(self.width * fraction)
        line = f"exporting [{'#' * filled}{'.' * (self.width - filled)}] {pct:3d} %"
        self.stream.write(("\r" + line) if self.stream.isatty() else line + "\n")
        if pct >= 100 and self.stream.isatty():
            self.stream.write("\n")
        self.stream.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m server.recording.export")
    parser.add_argument("session_dir", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--json-progress", action="store_true")
    args = parser.parse_args(argv)

    def say(obj: dict) -> None:
        print(json.dumps(obj), flush=True)

    last = [-1.0]

    def progress(f: float) -> None:
        if f - last[0] >= 0.01 or f >= 1.0:
            last[0] = f
            say({"progress": round(f, 3)})

    try:
        session = load(args.session_dir.parent, args.session_dir.name)
        files = run(session, args.out_dir, progress if args.json_progress else ProgressBar())
    except (SessionError, ExportError) as exc:
        say({"error": str(exc)})
        return 1
    say({"done": [p.name for p in files]})
    return 0


if __name__ == "__main__":
    sys.exit(main())
