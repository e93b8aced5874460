"""The `dewan` command: serve, links."""

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

    from .app import create_app
    from .pages import MissingVendorFiles
    from .tls import ensure_self_signed, server_context

    try:
        app = create_app(settings)
    except (MissingVendorFiles, PointsConfigError, JournalDamaged) as exc:
        print(f"dewan: {exc}", file=sys.stderr)
        return 2
    ctx = app["ctx"]
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
    write_private(sheet, links_html(links, ctx.points, settings.conference.title))
    print(f"\nDewan is starting on {base}\n"
          f"  chair console : {links['chair']}\n"
          f"  hall station  : {links['hall']}\n"
          f"  technician    : {links['technicians'][0]}\n"
          f"  the {len(links['points'])} point links: {sheet}  (or `dewan links`)\n", flush=True)
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    web.run_app(app, host=settings.server.host, port=settings.server.port, ssl_context=ssl_context,
                print=None, access_log=None, handle_signals=True, shutdown_timeout=3.0)
    return 0


def cmd_links(args: argparse.Namespace) -> int:
    settings = _settings(args)
    points = load_points(settings.points_path)
    signer = keys.load_signer(settings.state_dir, settings.security.secret)
    if args.rotate:
        subject = args.rotate if ":" in args.rotate else (
            f"hall:{args.rotate}" if args.rotate == points.hall.id else f"point:{args.rotate}")
        role, _, name = subject.partition(":")
        if role in ("point", "hall") and name not in points:
            print(f"dewan: unknown point {name!r}; known: {', '.join(points.by_id)}", file=sys.stderr)
            return 2
        generation = signer.rotate(subject)
        keys.save_generations(settings.state_dir, signer)
        print(f"rotated {subject}: its old link no longer works (generation {generation})", file=sys.stderr)
    links = all_links(settings, points, signer, base_url(settings, args.base_url))
    if args.html:
        write_private(Path(args.html), links_html(links, points, settings.conference.title))
    if args.json:
        print(json.dumps(links, ensure_ascii=False, indent=2))
    elif not args.html:
        print(links_text(links, points))
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
    links.set_defaults(func=cmd_links)
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
