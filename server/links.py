"""Join links for every station and console, as text, JSON or an HTML sheet."""

from __future__ import annotations

import html
import socket

from signaling.points import PointDirectory
from signaling.tokens import TokenSigner

from .settings import Settings


def base_url(settings: Settings, override: str | None = None) -> str:
    if override:
        return override.rstrip("/")
    if settings.server.public_url:
        return settings.server.public_url.rstrip("/")
    scheme = "http" if settings.server.http else "https"
    host = settings.server.host
    if host in ("0.0.0.0", "::", ""):
        host = socket.gethostname()
    return f"{scheme}://{host}:{settings.server.port}"


def all_links(settings: Settings, points: PointDirectory, signer: TokenSigner, base: str) -> dict:
    def url(token: str) -> str:
        return f"{base}/j/{token}"

    def ttl(days: float) -> float | None:
        return days * 86400 if days > 0 else None

    console, station = ttl(settings.links.ttl_days), ttl(settings.links.station_ttl_days)
    return {
        "chair": url(signer.issue("chair", label="chair", ttl_s=console)),
        # one link per named moderator: the token's label is the chair id (actor `chair:<id>`)
        "chairs": {c.id: url(signer.issue("chair", label=c.id, ttl_s=console)) for c in settings.links.chairs},
        "hall": url(signer.issue("hall", point=points.hall.id, ttl_s=station)),
        "technicians": [url(signer.issue("technician", label=label, ttl_s=console))
                        for label in settings.links.technicians],
        "points": {p.id: url(signer.issue("point", point=p.id, ttl_s=station)) for p in points.districts},
    }


def links_text(links: dict, points: PointDirectory, settings: Settings | None = None) -> str:
    lines = [f"chair console : {links['chair']}"]
    names = {c.id: f"{c.name} ({c.title})" if c.title else c.name for c in (settings.links.chairs if settings else [])}
    lines += [f"chair {names.get(cid, cid)}: {u}" for cid, u in links.get("chairs", {}).items()]
    lines.append(f"hall station  : {links['hall']}")
    lines += [f"technician    : {u}" for u in links["technicians"]]
    lines += [f"{points.get(pid).name('vi'):<22}: {u}" for pid, u in links["points"].items()]
    return "\n".join(lines)


def links_html(links: dict, points: PointDirectory, title: str, settings: Settings | None = None) -> str:
    def row(name: str, url: str) -> str:
        return f"<tr><td>{html.escape(name)}</td><td><a href=\"{html.escape(url)}\">{html.escape(url)}</a></td></tr>"

    rows = [row("Chủ tọa / Chair", links["chair"])]
    people = {c.id: c for c in (settings.links.chairs if settings else [])}
    for cid, u in links.get("chairs", {}).items():
        c = people.get(cid)
        rows.append(row(f"{c.name} — {c.title}" if c and c.title else (c.name if c else cid), u))
    rows.append(row(points.hall.name("vi"), links["hall"]))
    rows += [row(f"Kỹ thuật / Technician {i + 1}", u) for i, u in enumerate(links["technicians"])]
    rows += [row(points.get(pid).name("vi"), u) for pid, u in links["points"].items()]
    return ("<!doctype html><meta charset=utf-8><title>Dewan links</title>"
            "<style>body{font:15px system-ui;margin:2em}td{padding:.3em .8em;border-bottom:1px solid #ddd}"
            "a{word-break:break-all}</style>"
            f"<h1>{html.escape(title)}</h1><p>Keep this page private: each link lets its holder join as that "
            f"station.</p><table>{''.join(rows)}</table>")
