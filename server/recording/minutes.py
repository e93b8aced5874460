"""What a session's manifest becomes for people: WebVTT chapters (agenda items and speaker
turns), the minutes (JSON and HTML, in the conference's language) and attendance.csv.

Everything here reads the manifest only; offsets are seconds from the session's start, the
t=0 of every exported media file, so chapters line up with the WebM files."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

import jinja2

from ..i18n import Catalogs

CLIENT = Path(__file__).resolve().parents[2] / "client_web"
_catalogs: Catalogs | None = None


def translator(lang: str):
    global _catalogs
    if _catalogs is None:
        _catalogs = Catalogs(CLIENT / "i18n")
    return _catalogs.translator(_catalogs.pick(lang))


def _end(manifest: dict) -> float:
    from .sessions import last_seen

    return manifest.get("ended_at") or last_seen(manifest) or manifest["started_at"]


def point_name(manifest: dict, point: str | None) -> str:
    names = (manifest.get("points") or {}).get(point or "", {}).get("names") or {}
    return names.get(manifest.get("lang", "vi")) or names.get("vi") or (point or "")


def person(t, who: dict | None) -> str:
    """'Name (title)', or the generic word for the unnamed chair link / the system."""
    if not who:
        return ""
    name, title = who.get("name"), who.get("title")
    if not name:
        role = (who.get("actor") or "system").split(":", 1)[0]
        name = t("minutes.chair") if role == "chair" else t("minutes.system")
    return f"{name} ({title})" if title else name


def vtt_time(seconds: float) -> str:
    ms = int(round(max(0.0, seconds) * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def chapters(manifest: dict) -> list[dict]:
    """Chapter cues (start, end in seconds from t=0; text): agenda items and speaker turns, in
    time order."""
    t = translator(manifest.get("lang", "vi"))
    t0, end = manifest["started_at"], _end(manifest)
    cues = []
    for item in manifest.get("agenda") or []:
        start = max(item["started"], t0) - t0
        stop = (item["ended"] if item["ended"] is not None else end) - t0
        cues.append({"start": round(start, 3), "end": round(max(stop, start), 3), "kind": "agenda",
                     "text": t("minutes.chapter_agenda", title=item["title"])})
    for turn in manifest.get("turns") or []:
        start = max(turn["granted"], t0) - t0
        stop = (turn["ended"] if turn["ended"] is not None else end) - t0
        text = point_name(manifest, turn["point"]) + (f": {turn['topic']}" if turn.get("topic") else "")
        cues.append({"start": round(start, 3), "end": round(max(stop, start), 3), "kind": "turn", "text": text,
                     "point": turn["point"]})
    return sorted(cues, key=lambda c: (c["start"], c["kind"] != "agenda"))


def chapters_vtt(manifest: dict) -> str:
    lines = ["WEBVTT", ""]
    for i, cue in enumerate(chapters(manifest), 1):
        lines += [f"{cue['kind']}-{i}", f"{vtt_time(cue['start'])} --> {vtt_time(cue['end'])}",
                  cue["text"].replace("-->", "->").replace("\n", " "), ""]
    return "\n".join(lines)


def clock(at: float | None) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at)) if at else ""


def minutes(manifest: dict) -> dict:
    """The minutes as data (minutes.json); minutes.html renders the same object."""
    t = translator(manifest.get("lang", "vi"))
    t0 = manifest["started_at"]
    conf = manifest.get("conference") or {}
    return {
        "conference": conf, "session": manifest["id"], "lang": manifest.get("lang", "vi"),
        "started_at": t0, "ended_at": manifest.get("ended_at"), "duration_s": round(_end(manifest) - t0, 3),
        "attendance": [{"point": a["point"], "name": point_name(manifest, a["point"]), "present_s": a["present_s"],
                        "intervals": a["intervals"]}
                       for a in _in_points_order(manifest, manifest.get("attendance") or [])],
        "turns": [{"point": x["point"], "name": point_name(manifest, x["point"]), "topic": x.get("topic"),
                   "start": x["granted"], "start_clock": clock(x["granted"]), "offset_s": x.get("offset_s"),
                   "duration_s": x["duration_s"], "how": x.get("how"), "granted_by": x.get("granted_by"),
                   "granted_by_text": person(t, x.get("granted_by")), "ongoing": x.get("ongoing", False)}
                  for x in manifest.get("turns") or []],
        "agenda": [{"title": a["title"], "index": a.get("index"), "start": a["started"],
                    "start_clock": clock(a["started"]),
                    "end": a["ended"], "set_by": a.get("set_by"), "set_by_text": person(t, a.get("set_by"))}
                   for a in manifest.get("agenda") or []],
        "chair_actions": [{"at": c["at"], "clock": clock(c["at"]), "action": c["action"],
                           "text": t(f"event.{c['action']}", point=point_name(manifest, c["data"].get("point")),
                                     title=c["data"].get("title", "")),
                           "by": c["by"], "by_text": person(t, c["by"])} for c in manifest.get("chair_actions") or []],
        "incidents": [{"at": i["at"], "clock": clock(i["at"]), "type": i["type"],
                       "point": i["data"].get("point"), "name": point_name(manifest, i["data"].get("point")),
                       "level": i["data"].get("level")} for i in manifest.get("incidents") or []],
    }


def _in_points_order(manifest: dict, rows: list[dict]) -> list[dict]:
    order = {p: i for i, p in enumerate(manifest.get("points") or {})}  # the hall, then points.toml's order
    return sorted(rows, key=lambda r: (order.get(r["point"], len(order)), r["point"]))


def duration_text(seconds: float | None) -> str:
    s = int(round(seconds or 0))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


_env = jinja2.Environment(loader=jinja2.FileSystemLoader(CLIENT / "templates"),
                          autoescape=jinja2.select_autoescape(["html"]))
_env.filters["duration"] = duration_text


def minutes_html(data: dict) -> str:
    return _env.get_template("minutes.html").render(m=data, t=translator(data["lang"]), lang=data["lang"],
                                                    clock=clock)


def attendance_csv(data: dict) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["point", "name", "present_s", "joined", "left"])
    for a in data["attendance"]:
        for i in a["intervals"]:
            writer.writerow([a["point"], a["name"], f"{i['present_s']:.1f}", _iso(i["joined"]), _iso(i["left"])])
    return out.getvalue()


def _iso(at: float | None) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(at)) if at else ""


def write_all(manifest: dict, out_dir: Path) -> list[Path]:
    data = minutes(manifest)
    files = {"chapters.vtt": chapters_vtt(manifest), "minutes.html": minutes_html(data),
             "attendance.csv": attendance_csv(data), "minutes.json": json.dumps(data, ensure_ascii=False, indent=1)}
    paths = []
    for name, text in files.items():
        path = Path(out_dir) / name
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths
