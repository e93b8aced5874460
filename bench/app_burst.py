"""Forwarding never stalls: the whole app (``create_app`` with the journaled MemoryStore,
socket.io namespace, health service, floor timers) hosts the hub scenario, and the same run
is measured twice: quiet, then with a burst of 20 chair actions/s (two chair consoles over
socket.io, in another process: mute toggles, time extensions, messages, each journaled and
broadcast) plus 5 health alerts/s (journaled and broadcast by the real health service).

    .venv/bin/python -m bench.app_burst [--seconds 20] [--rounds 1]

Figures per run: the relay-internal added forwarding latency (p50/p99, bench.hub's probe),
subscriber loss, the event loop's worst lag, and how many actions and alerts were journaled.
Writes bench/results/app_burst.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from aiohttp import web

from bench.hub import HOST, RESULTS, LatencyProbe, LoadGenProcess, join_stations, measure_window
from server.app import CTX, create_app
from server.settings import load_settings
from signaling import conference as conference_ops
from signaling import floor

CHAIR_CLIENT = textwrap.dedent("""
    import asyncio, json, sys, time, socketio
    url, rate, tokens, points = sys.argv[1], float(sys.argv[2]), json.loads(sys.argv[3]), json.loads(sys.argv[4])
    async def console(token, offset):
        for attempt in range(10):
            sio = socketio.AsyncClient(reconnection=False)
            try:
                await sio.connect(url, namespaces=["/conf"], transports=["websocket"], auth={"token": token},
                                  wait_timeout=10)
                break
            except socketio.exceptions.ConnectionError as exc:
                print("retry", attempt, exc, file=sys.stderr, flush=True)
                await asyncio.sleep(0.5)
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        acks = {}
        k, start = 0, time.monotonic()
        while True:
            k += 1
            i = k + offset
            kind = i % 3
            if kind == 0:
                event, payload = "audio:mute", {"point": points[i % len(points)], "muted": bool(i % 2)}
            elif kind == 1:
                event, payload = "floor:extend", {"seconds": 1}
            else:
                event, payload = "message:send", {"point": points[i % len(points)], "text": f"bench {i}"}
            ack = await sio.call(event, payload, namespace="/conf", timeout=10)
            code = "ok" if ack["ok"] else ack["error"]
            acks[code] = acks.get(code, 0) + 1
            if k % 20 == 0:
                print(json.dumps(acks), flush=True)
            await asyncio.sleep(max(0, start + k / rate - time.monotonic()))
    async def main():
        await asyncio.gather(*(console(t, n * 1000) for n, t in enumerate(tokens)))
    asyncio.run(main())
""")


class LoopLag:
    """The worst delay of a 5 ms timer on the event loop that forwards RTP."""

    def __init__(self) -> None:
        self.worst_ms = 0.0
        self._task: asyncio.Task | None = None

    async def _run(self) -> None:
        while True:
            t = time.perf_counter()
            await asyncio.sleep(0.005)
            self.worst_ms = max(self.worst_ms, (time.perf_counter() - t - 0.005) * 1000)

    def start(self) -> None:
        self.worst_ms = 0.0
        self._task = asyncio.create_task(self._run())

    def stop(self) -> float:
        self._task.cancel()
        return round(self.worst_ms, 2)


async def alerts(ctx, per_s: float, counter: dict) -> None:
    """5 alerts/s through the health service's own path (journal + log line)."""
    k = 0
    points = [p.id for p in ctx.points.districts]
    while True:
        k += 1
        ctx.health._alerts.append({"event": "raised" if k % 2 else "cleared", "point": points[k % len(points)],
                                   "level": "poor", "reasons": [{"code": "loss_up", "level": "poor"}],
                                   "id": f"bench-{k}"})
        await ctx.health._log_alerts()
        counter["alerts"] += 1
        await asyncio.sleep(1 / per_s)


async def run(args, burst: bool, state_dir: Path) -> dict:
    settings = load_settings(None, {"server.state_dir": str(state_dir), "server.http": True,
                                    "server.host": HOST, "server.port": 0, "server.log_level": "warning",
                                    "security.events_per_s": 50, "security.events_burst": 100,
                                    "media.ice_host_addresses": [HOST]})
    app = create_app(settings)
    ctx = app[CTX]
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, HOST, 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    router = ctx.router
    hall = ctx.points.hall.id
    districts = [p.id for p in ctx.points.districts][: args.points]
    gen = await LoadGenProcess.start()
    chair_proc = None
    counter = {"alerts": 0}
    try:
        await join_stations(gen, router, hall, districts)
        holder = districts[0]
        now = time.time()
        await ctx.hub.execute(lambda c: conference_ops.open_conference(c, "bench", "chair:chair"))
        await ctx.hub.execute(lambda c: floor.point_joined(c, holder, now))
        await ctx.hub.execute(lambda c: floor.request(c, holder, None, now))
        await ctx.hub.execute(lambda c: floor.grant(c, holder, 600, time.time(), ctx.hub.policy, "chair:chair",
                                                    set(districts)))
        await asyncio.sleep(3)
        tasks = []
        if burst:
            tokens = [ctx.signer.issue("chair", label="chair"), ctx.signer.issue("chair", label="chair-2")]
            chair_proc = await asyncio.create_subprocess_exec(
                sys.executable, "-c", CHAIR_CLIENT, f"http://{HOST}:{port}", str(args.actions_per_s / 2),
                json.dumps(tokens), json.dumps(districts[1:]), stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE)
            for _ in tokens:
                assert (await chair_proc.stdout.readline()).strip() == b"ready"
            chair_proc.stdin.write(b"go\ngo\n")
            await chair_proc.stdin.drain()
            tasks.append(asyncio.create_task(alerts(ctx, args.alerts_per_s, counter)))
        version0 = (await ctx.hub.conference()).version
        lag = LoopLag()
        lag.start()
        core, wall, stats, before, after = await measure_window(gen, args.seconds, router)
        probe = LatencyProbe(every=2)
        probe.install()
        try:
            await asyncio.sleep(args.latency_seconds)
        finally:
            probe.remove()
        worst_lag = lag.stop()
        journaled = (await ctx.hub.conference()).version - version0
        for task in tasks:
            task.cancel()
        acks = {}
        if chair_proc is not None:
            chair_proc.kill()
            lines = [ln for ln in (await chair_proc.stdout.read()).decode().splitlines() if ln.startswith("{")]
            for line in lines[-2:]:  # the last count of each console
                for code, n in json.loads(line).items():
                    acks[code] = acks.get(code, 0) + n
        expected = max(stats["expected"], 1)
        return {
            "burst": burst,
            "added_latency_ms_p50": round(probe.percentile_ms(0.50) or 0, 3),
            "added_latency_ms_p99": round(probe.percentile_ms(0.99) or 0, 3),
            "loss_fraction": round(max(0, stats["expected"] - stats["received"]) / expected, 5),
            "upstream_loss_fraction": round(max(0, stats["upstream"][0] - stats["upstream"][1])
                                            / max(stats["upstream"][0], 1), 5),
            "event_loop_worst_lag_ms": worst_lag,
            "relay_cpu_core_fraction": round(core, 3),
            "journaled_events_in_window": journaled,
            "journaled_per_s": round(journaled / (wall + args.latency_seconds), 1),
            "alerts_sent": counter["alerts"],
            "last_chair_acks": acks,
            "forwarded_pps": round((after["packets_forwarded"] - before["packets_forwarded"]) / wall, 1),
            "seconds": round(wall, 1),
        }
    finally:
        if chair_proc is not None and chair_proc.returncode is None:
            chair_proc.kill()
        ids = list(router.peers)
        await runner.cleanup()
        await gen.call(op="close", ids=ids)
        await gen.stop()


async def main(args) -> dict:
    runs = []
    for _ in range(args.rounds):
        for burst in (False, True):
            with tempfile.TemporaryDirectory() as tmp:
                runs.append(await run(args, burst, Path(tmp) / "state"))
                print(json.dumps(runs[-1]), flush=True)
    quiet = [r for r in runs if not r["burst"]]
    busy = [r for r in runs if r["burst"]]

    def median(rows, key):
        values = sorted(r[key] for r in rows)
        return values[len(values) // 2]

    result = {"runs": runs, "points": args.points, "load_average_1m": round(os.getloadavg()[0], 2),
              "quiet_p99_ms": median(quiet, "added_latency_ms_p99"),
              "burst_p99_ms": median(busy, "added_latency_ms_p99"),
              "quiet_loss": median(quiet, "loss_fraction"), "burst_loss": median(busy, "loss_fraction"),
              "quiet_loop_lag_ms": median(quiet, "event_loop_worst_lag_ms"),
              "burst_loop_lag_ms": median(busy, "event_loop_worst_lag_ms")}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "app_burst.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=1))
    return result


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0, help="loss/CPU window")
    parser.add_argument("--latency-seconds", type=float, default=10.0, help="latency probe window")
    parser.add_argument("--points", type=int, default=21)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--actions-per-s", type=float, default=20.0)
    parser.add_argument("--alerts-per-s", type=float, default=5.0)
    args = parser.parse_args()
    import uvloop

    uvloop.install()
    asyncio.run(main(args))


if __name__ == "__main__":
    cli()
