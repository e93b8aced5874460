"""Recording cost and export speed (``python -m bench.hub --record``).

1. Relay CPU of the hub scenario (bench.hub's peers and a new load generator for each
   pair: a long-lived load generator falls behind run after run) in windows
   of ``--seconds`` without and with the recorder (hall audio/video and the floor's, written by
   the writer thread: its CPU counts, it is the relay's process), back to back in
   ``--pairs`` pairs, the order alternating (off/on, on/off, ...) so that a drift of the
   machine's load does not favour one side. Each "on" window is a new Recorder, started a
   second before the window (its key frames are in the window's traffic). Ratio per pair;
   the median.
2. Export speed: the recording of the last "on" run exported (WebMs + audio mix) in a
   ``nice`` subprocess, as ``dewan export`` does; seconds of media per second of wall time.

Writes bench/results/hub-record.json.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from server.media import MediaSettings, Router
from server.recording.recorder import Recorder

from .hub import HOST, RESULTS, LoadGenProcess, join, measure_window, table, wait_connected

ROOT = Path(__file__).resolve().parent.parent
#: a pair whose windows differ more than this in forwarded packets is measured again (the
#: load generator stalled); within it, compare CPU per forwarded packet
MIN_TRAFFIC_RATIO = 0.5


def export_speed(session_dir: Path, recording: dict) -> dict:
    manifest = {"started_at": recording["started_at"], "segments": recording["segments"]}
    (session_dir / "manifest.json").write_text(json.dumps(manifest))
    out = session_dir / "export"
    code = ("import json, sys, time; from pathlib import Path;"
            "from server.recording.media_export import export_media;"
            "d = Path(sys.argv[1]); m = json.loads((d / 'manifest.json').read_text());"
            "t = time.perf_counter(); export_media(d, m, d / 'export', m['started_at']);"
            "print(time.perf_counter() - t)")
    cpu0 = os.times()
    proc = subprocess.run(["nice", "-n", "10", sys.executable, "-c", code, str(session_dir)],
                          cwd=ROOT, capture_output=True, text=True, check=True)
    cpu1 = os.times()
    wall = float(proc.stdout.strip().splitlines()[-1])
    media_s = recording["ended_at"] - recording["started_at"]
    size = sum(p.stat().st_size for p in session_dir.rglob("*.rtp"))
    return {
        "media_seconds": round(media_s, 1),
        "export_wall_seconds": round(wall, 2),
        "export_media_s_per_s": round(media_s / wall, 1),
        "export_cpu_seconds": round((cpu1.children_user + cpu1.children_system)
                                    - (cpu0.children_user + cpu0.children_system), 2),
        "recorded_mb": round(size / 1e6, 1),
        "exported_files": sorted(p.name for p in out.iterdir()),
    }


def valid(pair: dict) -> bool:
    """Both windows carried the same traffic (on a busy machine the load generator
    sometimes falls behind for a while) and the recorder recorded."""
    on, off = pair["on"], pair["off"]
    low, high = sorted((on["forwarded_pps"], off["forwarded_pps"]))
    return high > 0 and low >= MIN_TRAFFIC_RATIO * high \
        and len(on["recording"]["segments"][0]["tracks"]) == 4


async def hub_router(gen: LoadGenProcess, points: int, host: str = HOST,
                     settle_s: float = 3.0) -> Router:
    """The hub scenario's peers (as bench.hub, one video layer each), connected and settled."""
    point_ids = [f"p{i:02d}" for i in range(points)]
    router = Router("bench", "hall", ["hall", *point_ids],
                    MediaSettings(ice_host_addresses=[host]))
    await join(gen, router, "hall", "hall", "hall", video="hall", audio=True)
    for pid in point_ids:
        await join(gen, router, pid, "point", pid, video="point", audio=True)
    await join(gen, router, "chair", "chair", None)
    router.set_floor(point_ids[0])
    await wait_connected(router)
    await asyncio.sleep(settle_s)
    return router


async def window(gen: LoadGenProcess, router: Router, seconds: float,
                 record_dir: Path | None) -> dict:
    recorder = None
    if record_dir is not None:  # as a chair's Record: a new recorder, its key frames
        recorder = Recorder(router, record_dir / "seg-001")
        recorder.start()
        started = time.time()
        await asyncio.sleep(1.0)
    core, wall, stats, before, after = await measure_window(gen, seconds, router)
    out = {
        "relay_cpu_core_fraction": round(core, 4),
        "forwarded_pps": round((after["packets_forwarded"] - before["packets_forwarded"])
                               / wall, 1),
        "received_pps": round((after["packets_received"] - before["packets_received"])
                              / wall, 1),
    }
    if recorder is not None:
        await recorder.stop()
        out["recording"] = {"started_at": started, "ended_at": recorder.stopped_at,
                            "writer_cpu_s": round(recorder.writer_cpu_s, 3),
                            "segments": [{"dir": "seg-001", "tracks": recorder.tracks()}]}
    return out


async def main(args) -> dict:
    runs = []
    invalid = 0
    work = Path(tempfile.mkdtemp(prefix="dewan-bench-rec-"))
    gen = None
    try:
        attempt = 0
        while len(runs) < args.pairs and attempt < 3 * args.pairs:
            i, attempt = len(runs), attempt + 1
            pair = {}
            # a new load generator per pair: a long-lived one slows down run after run
            gen = await LoadGenProcess.start()
            router = await hub_router(gen, args.points)
            for mode in (("off", "on") if i % 2 == 0 else ("on", "off")):
                record_dir = work / f"pair{i}" if mode == "on" else None
                if record_dir is not None:
                    shutil.rmtree(record_dir, ignore_errors=True)
                pair[mode] = result = await window(gen, router, args.seconds, record_dir)
                print(f"pair {i + 1} recording {mode}: relay CPU "
                      f"{result['relay_cpu_core_fraction']}, forwarded packets/s "
                      f"{result['forwarded_pps']}", flush=True)
            await router.close()
            await gen.stop()
            gen = None
            if valid(pair):
                runs.append(pair)
            else:
                invalid += 1
                print("  the traffic differed between the two windows: run the pair again",
                      flush=True)
    finally:
        if gen is not None:
            await gen.stop()
    try:
        last = runs[-1] if runs else None
        if not runs:
            raise SystemExit("no valid pair of windows: is the machine overloaded?")
        speed = export_speed(work / f"pair{len(runs) - 1}", last["on"]["recording"])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ratios = [p["on"]["relay_cpu_core_fraction"] / p["off"]["relay_cpu_core_fraction"]
              for p in runs]
    # the same per packet the relay forwarded: fair when a busy machine lets the load
    # generator send less in one window than in the other
    per_packet = [(p["on"]["relay_cpu_core_fraction"] / max(p["on"]["forwarded_pps"], 1))
                  / (p["off"]["relay_cpu_core_fraction"] / max(p["off"]["forwarded_pps"], 1))
                  for p in runs]
    tracks = last["on"]["recording"]["segments"][0]["tracks"]
    result = {
        "relay_cpu_off": [p["off"]["relay_cpu_core_fraction"] for p in runs],
        "relay_cpu_on": [p["on"]["relay_cpu_core_fraction"] for p in runs],
        "ratios": [round(r, 3) for r in ratios],
        "median_ratio": round(statistics.median(ratios), 3),
        "forwarded_pps_off": [p["off"]["forwarded_pps"] for p in runs],
        "forwarded_pps_on": [p["on"]["forwarded_pps"] for p in runs],
        "per_forwarded_packet_ratios": [round(r, 3) for r in per_packet],
        "median_per_forwarded_packet_ratio": round(statistics.median(per_packet), 3),
        "recorded_pps": round(sum(t["packets"] for t in tracks)
                              / max(last["on"]["recording"]["ended_at"]
                                    - last["on"]["recording"]["started_at"], 1e-6), 1),
        "recorded_tracks": sorted(t["slot"] for t in tracks),
        "writer_thread_cpu_core_fraction": [
            round(p["on"]["recording"]["writer_cpu_s"]
                  / max(p["on"]["recording"]["ended_at"] - p["on"]["recording"]["started_at"],
                        1e-6), 5) for p in runs],
        **speed,
        "invalid_pairs_rerun": invalid,
        "seconds": args.seconds,
        "points": args.points,
        "cpu_count": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "hub-record.json").write_text(json.dumps(result, indent=2) + "\n")
    r = result
    print(table([
        ("metric", "value", "target"),
        ("relay CPU without recording (cores)", " ".join(map(str, r["relay_cpu_off"])), ""),
        ("relay CPU with recording (cores)", " ".join(map(str, r["relay_cpu_on"])), ""),
        ("with / without, per pair", " ".join(map(str, r["ratios"])), ""),
        ("  median of the pairs", r["median_ratio"], "<= 1.1"),
        ("forwarded packets/s without | with", f"{r['forwarded_pps_off']} | "
         f"{r['forwarded_pps_on']}", ""),
        ("CPU per forwarded packet, with / without", " ".join(
            map(str, r["per_forwarded_packet_ratios"])), ""),
        ("  median of the pairs", r["median_per_forwarded_packet_ratio"], "<= 1.1"),
        ("recorded packets/s", r["recorded_pps"], ""),
        ("  writer thread CPU (cores)", " ".join(
            map(str, r["writer_thread_cpu_core_fraction"])), ""),
        ("export: seconds of media per second", r["export_media_s_per_s"], ""),
        ("  media s | wall s | CPU s", f"{r['media_seconds']} | {r['export_wall_seconds']}"
         f" | {r['export_cpu_seconds']}", ""),
        ("pairs run again (load generator stalled)", r["invalid_pairs_rerun"], ""),
        ("machine load average (1 min)", r["load_average_1m"], f"{r['cpu_count']} cores"),
    ]))
    print(f"wrote {RESULTS / 'hub-record.json'}")
    return result
