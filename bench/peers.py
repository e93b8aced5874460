"""Dewan against a real SFU: the same scenarios through Dewan's relay and through Janus's
VideoRoom plugin, back to back in one run, with the same load generator and the same
encoded media (bench/loadgen.py).

    .venv/bin/python -m bench.peers [--runs 3] [--seconds 20] [--latency-seconds 5]
                                    [--fanout 5,20,50] [--points 21] [--only fanout|hub]

Scenarios:
1. fan-out: one 720p 1.5 Mbit/s VP8 publisher to N subscribers (video only);
2. hub: the hall (720p 1.5 Mbit/s + Opus) and 21 points (360p 0.5 Mbit/s + Opus), as
   bench.hub runs it: every point receives the hall and the floor (one point holds it), a
   chair console receives hall, floor and the 21 points as tiles, the hall station the floor
   and the tiles. In Janus a participant is a publisher handle plus one multistream
   subscriber handle with exactly the streams Dewan's slots carry.

Per system and scenario: SFU CPU (user + system over the window / wall time), packets
forwarded per second (counted at the subscribers' sockets, RTX excluded, the same count for
both), CPU per forwarded packet, subscriber loss, added latency p50/p99 (bench/latency.py:
publisher socket to subscriber socket, per-datagram reads), RSS. Writes
bench/results/peers.json (one object per system, scenario and run, plus the medians).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import statistics
import sys
import time
from pathlib import Path

import aiohttp

from bench.hub import LoadGenProcess, join, rss_mb, wait_connected
from bench.janus import ROOM, JanusError, JanusProcess, JanusSession, ensure_installed
from bench.record import hub_router
from server.media import MediaSettings, Router

RESULTS = Path(__file__).resolve().parent / "results"
# Janus (libnice) gathers no candidate on loopback, so the whole bench runs in a private
# network namespace of its own with one veth pair: both SFUs and the load generator use
# this address, which exists only inside that namespace (local delivery, like loopback).
INTERFACE, HOST = "dwnb0", "198.18.0.1"
KEYS = ("cpu_core_fraction", "forwarded_pps", "cpu_us_per_forwarded_packet",
        "loss_fraction", "latency_ms_p50", "latency_ms_p99", "rss_mb")


# -- the measurement, identical for both systems -----------------------------------------

async def measure(gen: LoadGenProcess, cpu_s, rss, seconds: float, latency_seconds: float,
                  pairs) -> dict:
    """CPU window, then a latency window (bench/latency.py). ``cpu_s()`` is the SFU's CPU time; ``pairs()`` the (received SSRC, source
    SSRC) of every forwarded stream."""
    await gen.call(op="reset")
    c0, t0 = cpu_s(), time.monotonic()
    await asyncio.sleep(seconds)
    cpu, wall = cpu_s() - c0, time.monotonic() - t0
    stats = await gen.call(op="stats")
    await gen.call(op="latency", on=True)
    await asyncio.sleep(latency_seconds)
    latency = await gen.call(op="latency", on=False, pairs=await pairs())
    forwarded = stats["received"]
    return {
        "cpu_core_fraction": round(cpu / wall, 4),
        "forwarded_pps": round(forwarded / wall, 1),
        "cpu_us_per_forwarded_packet": round(1e6 * cpu / max(forwarded, 1), 2),
        "loss_fraction": round(max(0, stats["expected"] - stats["received"])
                               / max(stats["expected"], 1), 5),
        "latency_ms_p50": latency["p50_ms"],
        "latency_ms_p99": latency["p99_ms"],
        "latency_samples": latency["samples"],
        "latency_streams": f"{latency['pairs_matched']}/{latency['pairs']}",
        "subscriber_streams": stats["streams"],
        # what the publishers sent in the window: the same input for both systems
        "published_frames_per_s": round(stats["sent_frames"] / wall, 1),
        "rss_mb": round(rss(), 1),
        "window_s": round(wall, 1),
    }


async def settle(gen: LoadGenProcess, streams: int, timeout: float = 60) -> None:
    """Wait until every subscribed stream delivers, then let key frames and NACKs settle."""
    deadline = time.monotonic() + timeout
    while (await gen.call(op="stats"))["streams"] < streams:
        if time.monotonic() > deadline:
            got = (await gen.call(op="stats"))["streams"]
            raise RuntimeError(f"only {got} of {streams} subscribed streams deliver")
        await asyncio.sleep(0.3)
    await asyncio.sleep(3)


# -- Dewan ---------------------------------------------------------------------------------

def _process_cpu() -> float:
    t = os.times()
    return t.user + t.system


async def dewan(gen: LoadGenProcess, scenario: str, n: int, args) -> dict:
    if scenario == "fanout":
        router = Router("fanout", "hall", ["hall"], MediaSettings(ice_host_addresses=[HOST]))
        await join(gen, router, "hall", "hall", "hall", video="hall", audio=False)
        for i in range(n):
            await join(gen, router, f"s{i}", "observer", None)
    else:  # the hub as bench.hub runs it, one video layer per publisher (as in Janus)
        router = await hub_router(gen, n, HOST, settle_s=0)
    await wait_connected(router)
    consumers = [c for p in router.peers.values() for c in p.consumers.values()
                 if c.source is not None]
    await settle(gen, len(consumers))

    async def pairs():
        return [(c.ssrc, c.source.media_ssrc) for p in router.peers.values()
                for c in p.consumers.values()
                if c.source is not None and c.source.media_ssrc is not None]

    try:
        return await measure(gen, _process_cpu, rss_mb, args.seconds, args.latency_seconds,
                             pairs)
    finally:
        ids = list(router.peers)
        await router.close()
        await gen.call(op="close", ids=ids)


# -- Janus ---------------------------------------------------------------------------------

class JanusRoom:
    """Publishers and subscribers of one VideoRoom, each a Janus session of its own."""

    def __init__(self, http: aiohttp.ClientSession, janus: JanusProcess,
                 gen: LoadGenProcess) -> None:
        self.http, self.janus, self.gen = http, janus, gen
        self.sessions: list[JanusSession] = []
        self.peer_ids: list[str] = []
        self.source_ssrc: dict[tuple[int, str], int] = {}  # (feed, "audio"|"video") -> SSRC
        self.subscriptions: list[tuple[str, dict]] = []  # (peer id, {mid: (feed, kind)})

    async def _session(self) -> tuple[JanusSession, int]:
        session = await JanusSession(self.http, self.janus.url).create()
        self.sessions.append(session)
        return session, await session.attach()

    async def publish(self, feed: int, name: str, video: str, audio: bool) -> None:
        session, handle = await self._session()
        await session.message(handle, {"request": "join", "ptype": "publisher", "room": ROOM,
                                       "id": feed, "display": name})
        pid = f"pub-{name}"
        offer = await self.gen.call(op="offer", id=pid, video=video, audio=audio)
        self.peer_ids.append(pid)
        event = await session.message(handle, {"request": "publish", "audio": audio,
                                               "video": True},
                                      {"type": "offer", "sdp": offer["sdp"], "trickle": False})
        await self.gen.call(op="accept", id=pid, sdp=event["jsep"]["sdp"])
        for kind, ssrc in offer["ssrcs"].items():
            self.source_ssrc[(feed, kind)] = ssrc

    async def subscribe(self, name: str, streams: list[tuple[int, str]]) -> int:
        """Subscribe one multistream connection to (feed, kind) streams; publishers offer
        audio as mid "0" and video as mid "1" (video only: "0")."""
        session, handle = await self._session()
        wanted = [{"feed": feed, "mid": self._mid(feed, kind)} for feed, kind in streams]
        deadline = time.monotonic() + 20
        while True:  # a feed exists once its publisher's PeerConnection is up
            try:
                event = await session.message(handle, {"request": "join", "ptype": "subscriber",
                                                       "room": ROOM, "streams": wanted})
                break
            except JanusError as exc:
                if not str(exc).startswith("428") or time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)
        pid = f"sub-{name}"
        reply = await self.gen.call(op="peer", id=pid, offer=event["jsep"]["sdp"], video=None,
                                    audio=False)
        self.peer_ids.append(pid)
        await session.message(handle, {"request": "start", "room": ROOM},
                              {"type": "answer", "sdp": reply["sdp"], "trickle": False})
        mids = {s["mid"]: (s["feed_id"], s["type"])
                for s in event["plugindata"]["data"].get("streams", []) if s.get("active", True)}
        self.subscriptions.append((pid, mids))
        return len(mids)

    def _mid(self, feed: int, kind: str) -> str:
        has_audio = (feed, "audio") in self.source_ssrc
        return "0" if kind == "audio" or not has_audio else "1"

    async def pairs(self) -> list[tuple[int, int]]:
        out = []
        for pid, mids in self.subscriptions:
            remote = (await self.gen.call(op="remote_ssrcs", id=pid))["mids"]
            for mid, (feed, kind) in mids.items():
                if mid in remote and (feed, kind) in self.source_ssrc:
                    out.append((remote[mid], self.source_ssrc[(feed, kind)]))
        return out

    async def close(self) -> None:
        for session in self.sessions:
            await session.destroy()
        await self.gen.call(op="close", ids=self.peer_ids)


async def janus(gen: LoadGenProcess, scenario: str, n: int, args) -> dict:
    server = await JanusProcess(INTERFACE).start()
    try:
        async with aiohttp.ClientSession() as http:
            room = JanusRoom(http, server, gen)
            streams = 0
            if scenario == "fanout":
                await room.publish(1, "hall", "hall", audio=False)
                for i in range(n):
                    streams += await room.subscribe(f"s{i}", [(1, "video")])
            else:
                hall, feeds = 1, [100 + i for i in range(n)]
                await room.publish(hall, "hall", "hall", audio=True)
                for i, feed in enumerate(feeds):
                    await room.publish(feed, f"p{i:02d}", "point", audio=True)
                floor = feeds[0]
                av = ("audio", "video")
                for i, feed in enumerate(feeds):  # points: the hall, and the floor (no echo)
                    wanted = [(hall, k) for k in av] + ([] if feed == floor else
                                                        [(floor, k) for k in av])
                    streams += await room.subscribe(f"p{i:02d}", wanted)
                tiles = [(f, "video") for f in feeds]
                streams += await room.subscribe("chair", [(hall, k) for k in av]
                                                + [(floor, k) for k in av] + tiles)
                streams += await room.subscribe("hall", [(floor, k) for k in av] + tiles)
            await settle(gen, streams)
            try:
                result = await measure(gen, server.cpu_s, server.rss_mb, args.seconds,
                                       args.latency_seconds, room.pairs)
                result["sfu_threads"] = server.threads()
                return result
            finally:
                await room.close()
    finally:
        server.stop()


# -- the run -------------------------------------------------------------------------------

def medians(rows: list[dict]) -> list[dict]:
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["system"], r["scenario"], r["subscribers"]), []).append(r)
    out = []
    for (system, scenario, subs), runs in groups.items():
        med = {"system": system, "scenario": scenario, "subscribers": subs, "runs": len(runs)}
        for key in KEYS:
            values = [r[key] for r in runs if r.get(key) is not None]
            med[key] = round(statistics.median(values), 4) if values else None
        out.append(med)
    return out


def ratio_table(meds: list[dict]) -> str:
    by = {(m["system"], m["scenario"], m["subscribers"]): m for m in meds}
    lines = [f"{'scenario':<14}{'system':<7}{'CPU':>7}{'fwd pps':>10}{'us/pkt':>8}"
             f"{'loss':>8}{'p50 ms':>8}{'p99 ms':>8}{'RSS MB':>8}"]
    for (system, scenario, subs), m in sorted(by.items(), key=lambda kv: (kv[0][1], kv[0][2],
                                                                          kv[0][0])):
        lines.append(f"{scenario + ' ' + str(subs):<14}{system:<7}{m['cpu_core_fraction']:>7}"
                     f"{m['forwarded_pps']:>10}{m['cpu_us_per_forwarded_packet']:>8}"
                     f"{m['loss_fraction']:>8}{m['latency_ms_p50']!s:>8}"
                     f"{m['latency_ms_p99']!s:>8}{m['rss_mb']:>8}")
    lines.append("")
    for (system, scenario, subs), m in sorted(by.items()):
        other = by.get(("janus", scenario, subs))
        if system == "dewan" and other and other["cpu_us_per_forwarded_packet"]:
            r = m["cpu_us_per_forwarded_packet"] / other["cpu_us_per_forwarded_packet"]
            lines.append(f"Dewan/Janus CPU per forwarded packet, {scenario} {subs}: {r:.2f}")
    return "\n".join(lines)


async def main(args) -> dict:
    scenarios = []
    if args.only in (None, "fanout"):
        scenarios += [("fanout", n) for n in args.fanout]
    if args.only in (None, "hub"):
        scenarios.append(("hub", args.points))
    gen = await LoadGenProcess.start(host=HOST)
    rows = []
    try:
        for run in range(args.runs):
            for scenario, n in scenarios:
                for system, fn in (("dewan", dewan), ("janus", janus)):
                    if system not in args.systems:
                        continue
                    result = await fn(gen, scenario, n, args)
                    row = {"system": system, "scenario": scenario, "subscribers": n,
                           "run": run + 1, **result,
                           "load_average_1m": round(os.getloadavg()[0], 2)}
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    finally:
        await gen.stop()
    meds = medians(rows)
    RESULTS.mkdir(exist_ok=True)
    out = {"medians": meds, "runs": rows, "cpu_count": os.cpu_count()}
    (RESULTS / "peers.json").write_text(json.dumps(meds + rows, indent=2) + "\n")
    print(ratio_table(meds))
    print(f"wrote {RESULTS / 'peers.json'}")
    return out


def _reexec_in_namespace() -> None:
    """Run this bench again inside a new network namespace with only loopback and a veth
    pair carrying HOST: nothing it sends can leave the namespace."""
    setup = (f"ip link set lo up && ip link add {INTERFACE} type veth peer name {INTERFACE}p"
             f" && ip addr add {HOST}/24 dev {INTERFACE} && ip link set {INTERFACE} up"
             f" && ip link set {INTERFACE}p up")
    argv = " ".join(shlex.quote(a) for a in [sys.executable, "-m", "bench.peers", *sys.argv[1:]])
    os.environ["DEWAN_BENCH_NETNS"] = "1"
    cmd = ["unshare", "--net", "sh", "-c", f"{setup} && exec {argv}"]
    if os.geteuid() != 0:
        cmd[1:1] = ["--map-root-user"]
    os.execvp("unshare", cmd)


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=20.0, help="CPU window per scenario")
    parser.add_argument("--latency-seconds", type=float, default=5.0)
    parser.add_argument("--fanout", type=lambda s: [int(x) for x in s.split(",")],
                        default=[5, 20, 50])
    parser.add_argument("--points", type=int, default=21)
    parser.add_argument("--only", choices=("fanout", "hub"))
    parser.add_argument("--systems", type=lambda s: s.split(","), default=["dewan", "janus"],
                        help="for trying one side alone (the comparison needs both)")
    args = parser.parse_args()
    if os.environ.get("DEWAN_BENCH_NETNS") != "1":
        if "janus" in args.systems:
            ensure_installed()  # before the namespace: apt-get needs the registry
        _reexec_in_namespace()
    import uvloop

    uvloop.install()
    asyncio.run(main(args))


if __name__ == "__main__":
    cli()
