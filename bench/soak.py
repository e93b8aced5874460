"""Soak: the whole app (create_app with the journaled store) hosts the hall and 21 simulated
points (bench/loadgen.py: real aiortc peers, VP8 + Opus replayed) for 30 minutes; the floor
moves to the next point every 20 s (granted through the domain, so journaled and broadcast),
and one point drops and rejoins its media every 60 s (a new peer connection, the old one
torn down). Every 10 s the process's RSS, CPU time, asyncio tasks and open file descriptors
are sampled; the result is the least-squares slope per hour of each, first/last values, the
samples, and the pauses of the collector's full collections (each stops the loop that forwards).

    .venv/bin/python -m bench.soak                    # 30 min
    .venv/bin/python -m bench.soak --minutes 5

Writes bench/results/soak.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from aiohttp import web

from bench.hub import HOST, RESULTS, LoadGenProcess, join, join_stations, rss_mb
from server.app import CTX, create_app
from server.media.gcpolicy import freeze_startup_objects
from server.settings import load_settings
from signaling import conference as conference_ops
from signaling import floor


def slope_per_hour(samples: list[tuple[float, float]]) -> float:
    n = len(samples)
    if n < 2:
        return 0.0
    mt = sum(t for t, _ in samples) / n
    mv = sum(v for _, v in samples) / n
    den = sum((t - mt) ** 2 for t, _ in samples) or 1.0
    return sum((t - mt) * (v - mv) for t, v in samples) / den * 3600


def print_growth(before, after, top: int = 12) -> None:
    """--tracemalloc: where the memory that grew after the warm-up minute was allocated."""
    filters = [tracemalloc_filter()]
    diff = after.filter_traces(filters).compare_to(before.filter_traces(filters), "traceback")
    print(f"tracemalloc: {sum(d.size_diff for d in diff) / 1e6:.1f} MB more after the first minute", flush=True)
    for d in diff[:top]:
        print(f"+{d.size_diff / 1e3:.0f} kB in {d.count_diff:+} blocks", flush=True)
        for line in d.traceback.format()[-8:]:
            print("   ", line, flush=True)


def tracemalloc_filter():
    import tracemalloc

    return tracemalloc.Filter(False, tracemalloc.__file__)


def census() -> dict:
    """Live objects the garbage collector tracks, by type, and the lengths of the big
    containers (--census): a container that only grows holds what leaks."""
    import collections
    import gc

    gc.collect()
    counts: dict[str, int] = {}
    sizes: dict[int, tuple] = {}
    for obj in gc.get_objects():
        name = type(obj).__qualname__
        counts[name] = counts.get(name, 0) + 1
        if isinstance(obj, (list, dict, set, collections.deque, bytearray)) and len(obj) >= 200:
            sample = next(iter(obj.items() if isinstance(obj, dict) else obj), None)
            sizes[id(obj)] = (len(obj), name, repr(sample)[:120])
    return {"counts": counts, "sizes": sizes}


def print_census(before: dict, after: dict, top: int = 25) -> None:
    b, a = before["counts"], after["counts"]
    grown = sorted(((a.get(k, 0) - b.get(k, 0), k) for k in set(b) | set(a)), reverse=True)
    print("census: object counts that grew after the first minute", flush=True)
    for delta, name in grown[:top]:
        print(f"  {delta:+8d}  {name} ({a.get(name, 0)})", flush=True)
    print("census: containers that grew", flush=True)
    growth = sorted(((n - before["sizes"].get(key, (0,))[0], n, name, sample)
                     for key, (n, name, sample) in after["sizes"].items()), reverse=True)
    for delta, n, name, sample in growth[:top]:
        print(f"  {delta:+8d}  {name} of {n}: {sample}", flush=True)


def malloc_in_use_mb() -> float:
    """glibc's bytes in use (mallinfo2: uordblks + hblkhd): with RSS, tells a native leak
    (both grow) from fragmentation (RSS grows, this does not)."""
    import ctypes

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
            "fordblks", "keepcost")]

    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = MallInfo2
        info = libc.mallinfo2()
        return (info.uordblks + info.hblkhd) / 2**20
    except (OSError, AttributeError):
        return 0.0


def watch_full_collections() -> list[float]:
    """Durations (ms) of the collector's full (generation 2) collections from now on: each
    one stops the event loop, and with it the RTP forwarding."""
    import gc

    pauses: list[float] = []
    started = [0.0]

    def on_gc(phase: str, info: dict) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        elif info["generation"] == 2:
            pauses.append((time.perf_counter() - started[0]) * 1000)

    gc.callbacks.append(on_gc)
    return pauses


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def soak(args, state_dir: Path) -> dict:
    settings = load_settings(None, {"server.state_dir": str(state_dir), "server.http": True, "server.host": HOST,
                                    "server.port": 0, "server.log_level": "warning",
                                    "media.ice_host_addresses": [HOST]})
    app = create_app(settings)
    ctx = app[CTX]
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, HOST, 0).start()
    freeze_startup_objects()  # as `dewan serve` does
    router, hub = ctx.router, ctx.hub
    peer_events: dict[str, int] = {}

    def on_media_event(name: str, payload: dict) -> None:
        if name == "peer_state":
            key = f"{payload['state']}"
            peer_events[key] = peer_events.get(key, 0) + 1
            if args.verbose and payload["state"] in ("failed", "closed"):
                print("peer", round(time.monotonic(), 1), payload, flush=True)

    router._on_event = on_media_event
    gc_pauses_ms = watch_full_collections()
    hall = ctx.points.hall.id
    districts = [p.id for p in ctx.points.districts][: args.points]
    gen = await LoadGenProcess.start()
    samples: dict[str, list[tuple[float, float]]] = {"rss_mb": [], "malloc_mb": [], "cpu_core_fraction": [],
                                                     "tasks": [], "fds": [], "peers": []}
    floor_changes = rejoins = recoveries = 0
    try:
        await join_stations(gen, router, hall, districts)
        now = time.time()
        await hub.execute(lambda c: conference_ops.open_conference(c, "soak", "chair:chair"))
        for pid in districts:
            await hub.execute(lambda c, p=pid: floor.point_joined(c, p, now))
        if args.verbose:
            print("joined", round(time.monotonic(), 1), len(router.peers), flush=True)
        await asyncio.sleep(5)  # warm-up: key frames, caches filled
        t0 = time.monotonic()
        if args.verbose:
            print("t0", round(t0, 1), len(router.peers), flush=True)
        cpu_prev, t_prev = time.process_time(), t0
        first_snapshot = census_first = None
        if args.tracemalloc:
            import tracemalloc

            tracemalloc.start(8)
        next_floor = next_sample = t0
        next_rejoin = t0 + args.rejoin_every_s if args.rejoin_every_s > 0 else float("inf")
        k = 0
        while (now_m := time.monotonic()) - t0 < args.minutes * 60:
            if now_m >= next_floor:
                holder = districts[k % len(districts)]
                k += 1
                ts = time.time()
                await hub.execute(lambda c, p=holder: floor.request(c, p, None, ts))
                await hub.execute(lambda c, p=holder: floor.grant(c, p, 600, time.time(), hub.policy,
                                                                  "chair:chair", set(districts)))
                floor_changes += 1
                if args.verbose:
                    print("floor", round(time.monotonic(), 1), holder, len(router.peers), flush=True)
                next_floor += args.floor_every_s
            if now_m >= next_rejoin:
                pid = districts[(k + 7) % len(districts)]
                await gen.call(op="drop", id=f"st-{pid}")
                await join(gen, router, f"st-{pid}", "point", pid, video="point", audio=True)
                rejoins += 1
                next_rejoin += args.rejoin_every_s
            for pid in [hall, *districts]:  # a participant whose connection closed rejoins, as a page does
                name = "hall-station" if pid == hall else f"st-{pid}"
                if name not in router.peers:
                    await gen.call(op="drop", id=name)
                    await join(gen, router, name, "hall" if pid == hall else "point", pid, video=(
                        "hall" if pid == hall else "point"), audio=True)
                    recoveries += 1
            if args.tracemalloc and first_snapshot is None and now_m - t0 >= 60:
                first_snapshot = tracemalloc.take_snapshot()  # after the warm-up minute
            if args.census and census_first is None and now_m - t0 >= 60:
                census_first = census()
            if now_m >= next_sample:
                cpu = time.process_time()
                t = now_m - t0
                if now_m - t_prev > 1:  # (not at t = 0)
                    samples["cpu_core_fraction"].append((t, (cpu - cpu_prev) / (now_m - t_prev)))
                cpu_prev, t_prev = cpu, now_m
                samples["rss_mb"].append((t, rss_mb()))
                samples["malloc_mb"].append((t, malloc_in_use_mb()))
                samples["tasks"].append((t, len(asyncio.all_tasks())))
                samples["fds"].append((t, open_fds()))
                samples["peers"].append((t, len(router.peers)))
                next_sample += 10
                if args.verbose:
                    print(json.dumps({k2: v[-1] for k2, v in samples.items() if v}), flush=True)
            await asyncio.sleep(0.5)
        if census_first is not None:
            print_census(census_first, census())
        if first_snapshot is not None:
            print_growth(first_snapshot, tracemalloc.take_snapshot())
        stats = await gen.call(op="stats")
        alive = {"peers_at_end": len(router.peers), "producers_at_end": len(router.producers)}
    finally:
        ids = list(router.peers)
        await runner.cleanup()
        await gen.call(op="close", ids=ids)
        await gen.stop()
    # the first minute (caches, key frames, first rejoin) is warm-up for the slopes
    steady = {k: [s for s in v if s[0] >= 60] or v for k, v in samples.items()}
    return {
        "minutes": args.minutes, "points": len(districts), "floor_changes": floor_changes, "rejoins": rejoins,
        "recoveries_after_a_closed_connection": recoveries,
        **{f"{k}_slope_per_hour": round(slope_per_hour(v), 3) for k, v in steady.items()},
        **{f"{k}_first_last": [round(v[0][1], 2), round(v[-1][1], 2)] for k, v in samples.items() if v},
        "tasks_max": max(v for _, v in samples["tasks"]), "fds_max": max(v for _, v in samples["fds"]),
        **alive, "peer_state_changes": peer_events,
        "loadgen_streams": stats.get("streams"), "load_average_1m": round(os.getloadavg()[0], 2),
        "cpu_count": os.cpu_count(),
        "samples_every_10_s": {k: [round(v, 3) for _, v in vals] for k, vals in samples.items()},
        "full_collections": len(gc_pauses_ms),
        "full_collection_ms_median_max": [round(statistics.median(gc_pauses_ms), 1) if gc_pauses_ms else 0,
                                          round(max(gc_pauses_ms, default=0), 1)],
    }


async def main(args) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        result = await soak(args, Path(tmp) / "state")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "soak.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=1))
    return result


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rejoin-every-s", type=float, default=60.0,
                        help="one point drops and rejoins its media this often (0: never)")
    parser.add_argument("--census", action="store_true",
                        help="print which object types grew after the first minute")
    parser.add_argument("--tracemalloc", action="store_true",
                        help="print where memory grew after the first minute (slows the app)")
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--points", type=int, default=21)
    parser.add_argument("--floor-every-s", type=float, default=20.0)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    import uvloop

    uvloop.install()
    asyncio.run(main(args))


if __name__ == "__main__":
    cli()
