"""Floor-switch time through the real server and relay: from the chair's `floor:grant` to
the first decoded frame of the new speaker on a third point's floor slot (loopback).

    .venv/bin/python -m bench.floor_switch [--switches 20] [--points-file points-communes.toml]

Starts `dewan serve --http` on a free loopback port, joins two publishing points and a
watching point (aiortc peers drawing a source id into their picture) and a chair, then
alternates the floor between the two publishers. Prints each switch and the median."""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

from tests.support.media_client import MediaParticipant
from tests.support.server import DewanServer


async def measure(switches: int, points_file: str | None = None) -> list[float]:
    import tomllib

    env = {"DEWAN_CONFERENCE_POINTS_FILE": points_file} if points_file else {}
    config = Path(__file__).resolve().parents[1] / "config" / (points_file or "points.toml")
    ids = [p["id"] for p in tomllib.loads(config.read_text(encoding="utf-8"))["points"]]
    one, two, three = (ids[0], ids[1], ids[2]) if points_file else ("vinh", "cua-lo", "thai-hoa")
    with tempfile.TemporaryDirectory() as state:
        server = DewanServer(Path(state), env=env).start()
        people: list[MediaParticipant] = []
        try:
            chair = MediaParticipant(server, "chair")
            await chair.conf.connect()
            people.append(chair)
            a = await MediaParticipant(server, one, source_id=11, audio=True).join()
            b = await MediaParticipant(server, two, source_id=22, audio=True).join()
            watcher = await MediaParticipant(server, three, source_id=33).join()
            people += [a, b, watcher]
            await chair.conf.request("conference:open")
            await asyncio.sleep(2.0)
            times = []
            for i in range(switches):
                target, source = (one, 11) if i % 2 == 0 else (two, 22)
                rx = watcher.peer.rx("floor-video")
                seen = len(rx.marks)
                t0 = time.monotonic()
                ack = await chair.conf.request("floor:grant", {"point": target, "limit_s": 60})
                if not ack["ok"]:
                    raise RuntimeError(ack)
                while not any(s == source for _, s, _ in rx.marks[seen:]):
                    if time.monotonic() - t0 > 10:
                        raise TimeoutError(f"switch {i + 1}: no frame of {target} in 10 s")
                    await asyncio.sleep(0.005)
                first = next(t for t, s, _ in rx.marks[seen:] if s == source)
                times.append((first - t0) * 1000)
                await asyncio.sleep(0.7)
            return times
        finally:
            for p in people:
                await p.close()
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--switches", type=int, default=20)
    parser.add_argument("--points-file", default=None,
                        help="e.g. points-communes.toml (the 130 communes and wards)")
    args = parser.parse_args()
    times = asyncio.run(measure(args.switches, args.points_file))
    print("switch ms:", " ".join(f"{t:.0f}" for t in times))
    result = {"points_file": args.points_file or "points.toml", "switches": len(times), "median_ms": round(statistics.median(times), 1),
              "p90_ms": round(sorted(times)[int(0.9 * (len(times) - 1))], 1), "max_ms": round(max(times), 1)}
    print(json.dumps(result))
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / "floor_switch.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
