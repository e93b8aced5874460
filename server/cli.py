"""The `dewan` command: serve, links, recordings, export, tls init."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from signaling.journal import JournalDamaged
from signaling.points import PointsConfigError, load_points

from . import keys
from .files import write_private
from .links import all_links, base_url, links_html, links_text
from .logs import setup_logging
from .settings import ConfigError, Settings, load_settings

log = logging.getLogger("dewan")


def _settings(args: argparse.Namespace, **overrides) -> Settings:
    return load_settings(args.config, {"server.state_dir": args.state_dir, **overrides})


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _settings(args, **{"server.host": args.host, "server.port": args.port, "server.redis": args.redis,
                                  "server.http": True if args.http else None,
                                  "server.log_json": True if args.log_json else None})
    setup_logging(settings.server.log_level, settings.server.log_json)
    from aiohttp import web

    from .app import CTX, create_app
    from .pages import MissingVendorFiles
    from .tls import ensure_self_signed, server_context

    try:
        app = create_app(settings)
    except (MissingVendorFiles, PointsConfigError, JournalDamaged) as exc:
        print(f"dewan: {exc}", file=sys.stderr)
        return 2
    ctx = app[CTX]
    ssl_context = None
    if not settings.server.http:
        if settings.server.tls_cert and settings.server.tls_key:
            cert, key = Path(settings.server.tls_cert), Path(settings.server.tls_key)
        else:
            cert, key = ensure_self_signed(settings.state_dir / "tls")
        ssl_context = server_context(cert, key)
    base = base_url(settings)
    links = all_links(settings, ctx.points, ctx.signer, base)
    sheet = settings.state_dir / "links.html"
    write_private(sheet, links_html(links, ctx.points, settings.conference.title, settings))
    print(f"\nDewan is starting on {base}\n"
          f"  chair console : {links['chair']}\n"
          f"  named chairs  : {len(links['chairs'])} links ({', '.join(links['chairs']) or 'none configured'})\n"
          f"  hall station  : {links['hall']}\n"
          f"  technician    : {links['technicians'][0]}\n"
          f"  the {len(links['points'])} point links: {sheet}  (or `dewan links`)\n", flush=True)
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    from .media.gcpolicy import freeze_startup_objects

    freeze_startup_objects()  # full collections then skip them (each one pauses forwarding)
    web.run_app(app, host=settings.server.host, port=settings.server.port, ssl_context=ssl_context,
                print=None, access_log=None, handle_signals=True, shutdown_timeout=3.0)
    return 0


def cmd_links(args: argparse.Namespace) -> int:
    settings = _settings(args, **{"server.redis": args.redis})
    points = load_points(settings.points_path)
    signer = keys.load_signer(settings.state_dir, settings.security.secret)
    redis_url = settings.server.redis
    if redis_url:  # several processes: the generations live in Redis (server/revocations.py)
        from signaling import registry
        from signaling.redis_errors import REDIS_DOWN

        try:
            shared = registry.load_sync(redis_url)
        except REDIS_DOWN as exc:
            print(f"dewan: Redis at {redis_url} does not answer ({exc}); nothing was changed", file=sys.stderr)
            return 3
        signer.generations.update({k: max(v, signer.generations.get(k, 0)) for k, v in shared.items()})
    if args.rotate:
        subject = args.rotate if ":" in args.rotate else (
            f"hall:{args.rotate}" if args.rotate == points.hall.id else f"point:{args.rotate}")
        role, _, name = subject.partition(":")
        if role in ("point", "hall") and name not in points:
            print(f"dewan: unknown point {name!r}; known: {', '.join(points.by_id)}", file=sys.stderr)
            return 2
        if redis_url:
            from signaling import registry
            from signaling.redis_errors import REDIS_DOWN

            try:
                generation, shared = registry.rotate_sync(redis_url, subject)
            except REDIS_DOWN as exc:
                print(f"dewan: Redis at {redis_url} does not answer ({exc}); nothing was changed", file=sys.stderr)
                return 3
            signer.generations.update(shared)
        else:
            generation = signer.rotate(subject)
            keys.save_generations(settings.state_dir, signer)
        print(f"rotated {subject}: its old link no longer works (generation {generation})", file=sys.stderr)
    links = all_links(settings, points, signer, base_url(settings, args.base_url))
    if args.html:
        write_private(Path(args.html), links_html(links, points, settings.conference.title, settings))
    if args.json:
        print(json.dumps(links, ensure_ascii=False, indent=2))
    elif not args.html:
        print(links_text(links, points, settings))
    return 0


def cmd_recordings(args: argparse.Namespace) -> int:
    from .recording.sessions import list_sessions

    settings = _settings(args)
    sessions = list_sessions(settings.recordings_dir)
    if args.json:
        print(json.dumps(sessions, ensure_ascii=False, indent=2))
        return 0
    if not sessions:
        print(f"no recordings in {settings.recordings_dir}")
        return 0
    import time

    for s in sessions:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(s["started_at"])) if s.get("started_at") else "?"
        state = " (recording)" if s.get("recording") else ""
        print(f"{s['id']:<28} {when}  {s['duration_s'] / 60:6.1f} min  {s['size_bytes'] / 1e6:8.1f} MB  "
              f"{s.get('title', '')}{state}{'  ! ' + s['error'] if s.get('error') else ''}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    import os

    from .recording.export import ExportError, ProgressBar, run
    from .recording.sessions import SessionError, load

    settings = _settings(args)
    try:
        session = load(settings.recordings_dir, args.id)
    except SessionError as exc:
        print(f"dewan: {exc}", file=sys.stderr)
        return 1
    out = Path(args.out) if args.out else Path.cwd() / f"export-{session.id}"
    os.nice(10)  # low priority: a relay on the same two cores keeps forwarding
    try:
        files = run(session, out, ProgressBar())
    except ExportError as exc:
        print(f"dewan: export failed: {exc}", file=sys.stderr)
        return 1
    for path in files:
        print(path)
    return 0


def cmd_tls_init(args: argparse.Namespace) -> int:
    from .ca import issue_server_cert

    folder = Path(args.out) if args.out else _settings(args).state_dir / "tls"
    try:
        paths = issue_server_cert(folder, args.name or [], args.ip or [], args.days)
    except ValueError as exc:
        print(f"dewan: {exc}", file=sys.stderr)
        return 2
    made = "created" if paths["ca_created"] else "reused"
    print(f"local CA ({made}): {paths['ca']}  (its key {paths['ca_key']} stays on this machine)\n"
          f"server certificate: {paths['cert']}\nserver key:         {paths['key']}\n"
          f"`dewan serve` uses them from {folder}; coturn: cert={paths['cert']} pkey={paths['key']}\n"
          f"each kiosk trusts the CA once, e.g.:\n"
          f"  certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n 'Dewan local CA' -i {paths['ca']}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dewan", description="Dewan hybrid conference server")
    sub = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, help="a TOML file overriding config/dewan.toml")
    common.add_argument("--state-dir", help="journal, certificate and secret folder (default ./state)")

    serve = sub.add_parser("serve", parents=[common], help="run the server")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--redis", help="Redis URL: state and broadcasts shared by several processes")
    serve.add_argument("--http", action="store_true", help="plain HTTP, loopback only (development, tests)")
    serve.add_argument("--log-json", action="store_true", help="one JSON object per log line")
    serve.set_defaults(func=cmd_serve)

    links = sub.add_parser("links", parents=[common], help="print the join links")
    links.add_argument("--base-url", help="e.g. https://dewan.example.org:8443")
    links.add_argument("--json", action="store_true")
    links.add_argument("--html", help="also write the links as an HTML page to this file")
    links.add_argument("--rotate", metavar="POINT", help="revoke a station's link (point id, 'hall', or role:label)")
    links.add_argument("--redis", help="Redis URL of a several-process deployment: revoke on every process "
                                       "(its live sessions are disconnected within 2 s)")
    links.set_defaults(func=cmd_links)

    recs = sub.add_parser("recordings", parents=[common], help="list the recording sessions")
    recs.add_argument("--json", action="store_true")
    recs.set_defaults(func=cmd_recordings)

    export = sub.add_parser("export", parents=[common], help="export a recording: WebM, chapters, minutes")
    export.add_argument("id", help="a recording id from `dewan recordings`")
    export.add_argument("--out", help="output folder (default ./export-<id>)")
    export.set_defaults(func=cmd_export)

    tls = sub.add_parser("tls", help="certificates").add_subparsers(dest="tls_command", required=True)
    init = tls.add_parser("init", parents=[common],
                          help="a local certificate authority + a server certificate signed by it")
    init.add_argument("--name", action="append", metavar="HOST", help="DNS name (repeatable)")
    init.add_argument("--ip", action="append", metavar="ADDR", help="IP address (repeatable)")
    init.add_argument("--out", help="folder (default <state-dir>/tls, where `dewan serve` looks)")
    init.add_argument("--days", type=int, default=397, help="server certificate lifetime")
    init.set_defaults(func=cmd_tls_init)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, PointsConfigError) as exc:
        print(f"dewan: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
