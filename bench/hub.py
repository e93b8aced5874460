"""The hub scenario and the fan-out comparison, measured on the relay process.

    .venv/bin/python -m bench.hub [--seconds 60] [--points 21] [--fanout-seconds 15]
    .venv/bin/python -m bench.hub --record [--seconds 20] [--pairs 3]   # recording cost
    .venv/bin/python -m bench.hub --points 130   # also 21 and 65 points: how cost grows

This process is the relay (uvloop, Dewan's Router driven directly, signalling over a pipe);
the simulated participants run in a separate process (bench/loadgen.py: media encoded once,
replayed, received media counted without decoding), so the CPU figures are the relay's.

1. Hub: the hall publishes two layers (720p VP8 at 1.5 Mbps, 180p at 0.2 Mbps) + Opus to
   the points, the chair and the hall station; every point publishes its low layer (180p
   at 0.2 Mbps) + Opus, seen as tiles (25 slots) by the chair and the hall station; one
   point holds the floor (its high layer, 360p at 0.5 Mbps, too) and reaches everyone.
2. Fan-out: one 720p 1.5 Mbps publisher to 5 subscribers, through the Router, then through
   aiortc's stock ``MediaRelay`` (decode once, re-encode per subscriber).

Prints a table and writes bench/results/hub.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from array import array
from pathlib import Path

from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.contrib.media import MediaRelay

from server.media import MediaSettings, Router
from server.media.forward import Consumer, Producer
from server.media.ice import rtc_configuration

RESULTS = Path(__file__).resolve().parent / "results"
HOST = "127.0.0.1"
#: --udp: the relay's sockets (shared: one port, as served; per-peer: aioice's own socket
#: per connection, as before media.udp_port)
UDP_MODES = {"shared": {}, "per-peer": {"udp_port": None}}
UDP_MODE = "shared"
#: --points N starts ceil(N / this) load generator processes (--loadgens to choose)
PEERS_PER_LOADGEN = 45


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class LoadGenProcess:
    """bench/loadgen.py in a child process, spoken to in JSON lines."""

    def __init__(self, proc) -> None:
        self.proc = proc
        self.lock = asyncio.Lock()

    @classmethod
    async def start(cls, batch_ms: float = 2.0, host: str = HOST,
                    fast_send: bool = False) -> "LoadGenProcess":
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.loadgen", "--host", host, "--batch-ms", str(batch_ms),
            *(["--fast-send"] if fast_send else []),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            cwd=str(Path(__file__).resolve().parent.parent), limit=2**22)
        self = cls(proc)
        assert (await self._read())["op"] == "ready"
        return self

    async def _read(self) -> dict:
        line = await self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the load generator exited")
        return json.loads(line)

    async def call(self, **msg) -> dict:
        async with self.lock:
            self.proc.stdin.write((json.dumps(msg) + "\n").encode())
            await self.proc.stdin.drain()
            return await self._read()

    async def stop(self) -> None:
        try:
            self.proc.stdin.write(b'{"op": "stop"}\n')
            await self.proc.stdin.drain()
            await asyncio.wait_for(self.proc.wait(), 10)
        except (asyncio.TimeoutError, ConnectionError):
            self.proc.kill()


class LoadGenPool:
    """Several load generator processes behind one ``call`` (one event loop drives ~40 peers
    in time: with 130 points one process answers ICE consent checks too late and its peers
    close). A peer lives in the process with the fewest peers; stats are summed (``cpu_s``
    too: the pool's CPU); reset, close and stop go to every process."""

    SUMMED = ("streams", "received", "expected", "bytes", "sent_frames", "cpu_s")

    def __init__(self, gens: list[LoadGenProcess]) -> None:
        self.gens = gens
        self.home: dict[str, LoadGenProcess] = {}

    @classmethod
    async def start(cls, processes: int, **kw) -> "LoadGenPool":
        return cls(list(await asyncio.gather(*(LoadGenProcess.start(**kw) for _ in range(processes)))))

    async def call(self, **msg) -> dict:
        op = msg["op"]
        if op == "peer":
            load = {id(g): 0 for g in self.gens}
            for g in self.home.values():
                load[id(g)] += 1
            gen = self.home[msg["id"]] = min(self.gens, key=lambda g: load[id(g)])
            return await gen.call(**msg)
        if op == "drop":
            return await self.home.pop(msg["id"]).call(**msg)
        replies = await asyncio.gather(*(g.call(**msg) for g in self.gens))
        if op == "close":
            for pid in msg["ids"]:
                self.home.pop(pid, None)
        if op == "stats":
            return {"op": "stats", **{k: sum(r.get(k, 0) for r in replies) for k in self.SUMMED}}
        return replies[0]

    async def stop(self) -> None:
        await asyncio.gather(*(g.stop() for g in self.gens))


class LatencyProbe:
    """Relay-internal added latency: from the moment a decrypted RTP datagram reaches its
    producer until each forwarded copy has been rewritten, protected and handed to the
    socket (so the position in the fan-out counts). Sampled 1 in ``every``. It wraps two
    methods of the hot path, so it runs in its own window, after the CPU window."""

    def __init__(self, every: int = 4) -> None:
        self.every = every
        self.t_in = 0.0
        self.n = 0
        self.samples = array("d")  # compact: the probe must not inflate the relay's RSS
        self._on_rtp = Producer.on_rtp
        self._forward = Consumer.forward

    def install(self) -> None:
        probe = self
        on_rtp, forward = self._on_rtp, self._forward

        def timed_on_rtp(producer, data, ssrc):
            probe.t_in = time.perf_counter()
            on_rtp(producer, data, ssrc)

        def timed_forward(consumer, pkt, now, ast):
            forward(consumer, pkt, now, ast)  # rewrite, protect, send (inline)
            probe.n += 1
            if probe.n % probe.every == 0:
                probe.samples.append(time.perf_counter() - probe.t_in)

        Producer.on_rtp = timed_on_rtp
        Consumer.forward = timed_forward

    def remove(self) -> None:
        Producer.on_rtp = self._on_rtp
        Consumer.forward = self._forward

    def percentile_ms(self, q: float) -> float | None:
        if not self.samples:
            return None
        ordered = sorted(self.samples)
        return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def join(gen: LoadGenProcess, router: Router, pid: str, kind: str, point,
               video=None, audio=False, videos=None) -> None:
    offer = await router.start_peer(pid, kind, point)
    reply = await gen.call(op="peer", id=pid, offer=offer, video=video, audio=audio,
                           videos=videos)
    await router.accept_answer(pid, reply["sdp"])


async def join_stations(gen: LoadGenProcess, router: Router, hall: str, districts: list[str]) -> None:
    """A whole-app bench's hall station, points and chair console, connected."""
    await join(gen, router, "hall-station", "hall", hall, video="hall", audio=True)
    for pid in districts:
        await join(gen, router, f"st-{pid}", "point", pid, video="point", audio=True)
    await join(gen, router, "chair-console", "chair", None)
    await wait_connected(router)


async def wait_connected(router: Router, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while any(p.state != "connected" for p in router.peers.values()):
        if time.monotonic() > deadline:
            states = {k: p.state for k, p in router.peers.items() if p.state != "connected"}
            raise RuntimeError(f"peers not connected: {states}")
        await asyncio.sleep(0.2)


def upstream(router: Router) -> dict:
    """Per live producer/consumer: (expected, received) media packets publisher -> relay
    before repair, relay send errors."""
    out = {}
    for peer in router.peers.values():
        for p in peer.producers.values():
            out[id(p)] = (p.raw_expected, p.raw_received, 0)
        for c in peer.consumers.values():
            out[id(c)] = (0, 0, c.send_errors)
    return out


def upstream_delta(before: dict, after: dict) -> list[int]:
    """Summed over the objects alive at both ends of the window."""
    total = [0, 0, 0]
    for key, b in after.items():
        a = before.get(key)
        if a is not None:
            for i in range(3):
                total[i] += b[i] - a[i]
    return total


async def measure_window(gen: LoadGenProcess, seconds: float, router: Router | None = None):
    await gen.call(op="reset")
    g0 = await gen.call(op="stats")
    before = router.counters() if router else None
    up0 = upstream(router) if router else None
    print(f"  measuring {seconds:g} s", file=sys.stderr, flush=True)
    cpu0, t0 = time.process_time(), time.monotonic()
    await asyncio.sleep(seconds)
    cpu, wall = time.process_time() - cpu0, time.monotonic() - t0
    stats = await gen.call(op="stats")
    stats["loadgen_cpu_core_fraction"] = (stats["cpu_s"] - g0["cpu_s"]) / wall
    after = router.counters() if router else None
    if router:
        stats["upstream"] = upstream_delta(up0, upstream(router))
        stats["peers_lost"] = len(up0) - len(upstream(router))
    return cpu / wall, wall, stats, before, after


async def hub(gen: LoadGenProcess, seconds: float, points: int,
              latency_seconds: float) -> dict:
    point_ids = [f"p{i:02d}" for i in range(points)]
    router = Router("bench", "hall", ["hall", *point_ids],
                    MediaSettings(ice_host_addresses=[HOST], **UDP_MODES[UDP_MODE]))
    # two layers: the hall sends high + low; the floor holder high + low; the others low
    await join(gen, router, "hall", "hall", "hall", audio=True, videos=["hall", "low"])
    for i, pid in enumerate(point_ids):
        await join(gen, router, pid, "point", pid, audio=True,
                   videos=["point" if i == 0 else None, "low"])
    await join(gen, router, "chair", "chair", None)
    router.set_floor(point_ids[0])
    await wait_connected(router)
    await asyncio.sleep(3)  # key frames, NACK/REMB settle
    core, wall, stats, before, after = await measure_window(gen, seconds, router)
    probe = LatencyProbe()
    probe.install()
    try:
        await asyncio.sleep(latency_seconds)
    finally:
        probe.remove()
    expected = max(stats["expected"], 1)
    result = {
        "relay_cpu_core_fraction": round(core, 4),
        "forwarded_pps": round((after["packets_forwarded"] - before["packets_forwarded"])
                               / wall, 1),
        "received_pps": round((after["packets_received"] - before["packets_received"])
                              / wall, 1),
        "forwarded_mbps": round((after["bytes_forwarded"] - before["bytes_forwarded"])
                                * 8 / wall / 1e6, 2),
        # the forwarding path's cost per forwarded packet, inbound share included, and the
        # output rate one core would sustain at that cost
        "cpu_us_per_forwarded_packet": round(
            1e6 * core * wall / max(after["packets_forwarded"] - before["packets_forwarded"], 1),
            2),
        "added_latency_ms_p50": round(probe.percentile_ms(0.50) or 0, 3),
        "added_latency_ms_p99": round(probe.percentile_ms(0.99) or 0, 3),
        "loss_fraction": round(max(0, stats["expected"] - stats["received"]) / expected, 5),
        "upstream_loss_fraction": round(
            max(0, stats["upstream"][0] - stats["upstream"][1]) / max(stats["upstream"][0], 1),
            5),
        "relay_send_errors": stats["upstream"][2],
        "loadgen_cpu_core_fraction": round(stats["loadgen_cpu_core_fraction"], 3),
        "rss_mb": round(rss_mb(), 1),
        "subscriber_streams": stats["streams"],
        "peers": len(router.peers),
        "peers_closed_during_window": 2 + points - len(router.peers),
        "hub_seconds": round(wall, 1),
    }
    ids = list(router.peers)
    await router.close()
    await gen.call(op="close", ids=ids)
    return result


async def fanout_router(gen: LoadGenProcess, seconds: float, subscribers: int) -> dict:
    router = Router("fanout", "hall", ["hall"], MediaSettings(ice_host_addresses=[HOST], **UDP_MODES[UDP_MODE]))
    await join(gen, router, "hall", "hall", "hall", video="hall", audio=False)
    for i in range(subscribers):
        await join(gen, router, f"s{i}", "observer", None)
    await wait_connected(router)
    await asyncio.sleep(2)
    core, wall, stats, before, after = await measure_window(gen, seconds, router)
    ids = list(router.peers)
    await router.close()
    await gen.call(op="close", ids=ids)
    return {"cpu": core, "delivered_mbps": stats["bytes"] * 8 / wall / 1e6}


async def fanout_media_relay(gen: LoadGenProcess, seconds: float, subscribers: int) -> dict:
    """aiortc's stock way: decode the publisher once, re-encode per subscriber."""
    config = rtc_configuration([])
    pcs: dict[str, RTCPeerConnection] = {}

    async def negotiate(pid: str, pc: RTCPeerConnection, **kw) -> None:
        pcs[pid] = pc
        await pc.setLocalDescription(await pc.createOffer())
        reply = await gen.call(op="peer", id=pid, offer=pc.localDescription.sdp, **kw)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=reply["sdp"], type="answer"))

    def vp8_only(transceiver) -> None:
        caps = RTCRtpSender.getCapabilities("video").codecs
        transceiver.setCodecPreferences(
            [c for c in caps if c.mimeType in ("video/VP8", "video/rtx")])

    publisher = RTCPeerConnection(config)
    got_track: asyncio.Future = asyncio.get_running_loop().create_future()
    publisher.on("track", lambda track: got_track.done() or got_track.set_result(track))
    vp8_only(publisher.addTransceiver("video", direction="recvonly"))
    await negotiate("pub", publisher, video="hall", audio=False)
    track = await asyncio.wait_for(got_track, 30)
    relay = MediaRelay()
    for i in range(subscribers):
        pc = RTCPeerConnection(config)
        vp8_only(pc.addTransceiver(relay.subscribe(track), direction="sendonly"))
        await negotiate(f"m{i}", pc)
    deadline = time.monotonic() + 60
    while any(pc.connectionState != "connected" for pc in pcs.values()):
        if time.monotonic() > deadline:
            raise RuntimeError("MediaRelay peers did not connect")
        await asyncio.sleep(0.2)
    await asyncio.sleep(2)
    core, wall, stats, _, _ = await measure_window(gen, seconds)
    for pc in pcs.values():
        await pc.close()
    await gen.call(op="close", ids=list(pcs))
    return {"cpu": core, "delivered_mbps": stats["bytes"] * 8 / wall / 1e6}


def table(rows: list[tuple[str, object, str]]) -> str:
    width = max(len(r[0]) for r in rows)
    return "\n".join(f"{name:<{width}}  {value!s:>10}  {target}" for name, value, target in rows)


def sweep_sizes(points: int) -> list[int]:
    """``--points N`` above 21 also measures 21 and N/2 points: how the cost grows."""
    return sorted({21, points // 2, points}) if points > 21 else [points]


GROWTH_KEYS = ("relay_cpu_core_fraction", "forwarded_pps", "received_pps",
               "cpu_us_per_forwarded_packet", "forwarded_pps_per_core", "loss_fraction",
               "added_latency_ms_p99", "rss_mb")


async def main(args) -> dict:
    processes = args.loadgens or max(1, -(-args.points // PEERS_PER_LOADGEN))
    fast = args.fast_send
    gen = await (LoadGenPool.start(processes, fast_send=fast) if processes > 1
                 else LoadGenProcess.start(fast_send=fast))
    sweep = {}
    try:
        for n in sweep_sizes(args.points):
            sweep[n] = await hub(gen, args.seconds, n, args.latency_seconds)
            sweep[n]["forwarded_pps_per_core"] = round(
                1e6 / max(sweep[n]["cpu_us_per_forwarded_packet"], 1e-3))
            print(f"{n} points: " + ", ".join(f"{k}={sweep[n][k]}" for k in GROWTH_KEYS),
                  flush=True)
        result = dict(sweep[args.points])
        fan = await fanout_router(gen, args.fanout_seconds, 5)
        base = await fanout_media_relay(gen, args.fanout_seconds, 5)
    finally:
        await gen.stop()
    result["sweep"] = {str(n): {k: r[k] for k in GROWTH_KEYS} for n, r in sweep.items()}
    result.update({
        "fanout_relay_cpu_core_fraction": round(fan["cpu"], 4),
        "fanout_baseline_cpu_core_fraction": round(base["cpu"], 4),
        "fanout_relay_delivered_mbps": round(fan["delivered_mbps"], 2),
        "fanout_baseline_delivered_mbps": round(base["delivered_mbps"], 2),
        "fanout_cpu_ratio": round(base["cpu"] / max(fan["cpu"], 1e-6), 1),
        # CPU per delivered Mbit/s: fair when a starved MediaRelay delivers fewer frames
        "fanout_cpu_per_mbps_ratio": round(
            (base["cpu"] / max(base["delivered_mbps"], 1e-6))
            / max(fan["cpu"] / max(fan["delivered_mbps"], 1e-6), 1e-9), 1),
        "points": args.points,
        "cpu_count": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "udp": UDP_MODE,
    })
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "hub.json").write_text(json.dumps(result, indent=2) + "\n")
    r = result
    big = args.points > 21
    if len(sweep) > 1:
        print(table([("cost as points grow", " | ".join(f"{n} points" for n in sweep), "")]
                    + [(k, " | ".join(str(sweep[n][k]) for n in sweep), "") for k in GROWTH_KEYS]))
    print(table([
        ("metric", "value", "target"),
        ("relay CPU (cores)", r["relay_cpu_core_fraction"], "< 0.8" if big else "< 0.2"),
        ("forwarded packets/s", r["forwarded_pps"], ""),
        ("received packets/s", r["received_pps"], ""),
        ("CPU per forwarded packet (us, inbound incl.)", r["cpu_us_per_forwarded_packet"],
         "<= 25"),
        ("  = forwarded packets/s per core", r["forwarded_pps_per_core"],
         ">= 60000" if big else ">= 40000"),
        ("forwarded Mbit/s", r["forwarded_mbps"], ""),
        ("added latency p50 (ms)", r["added_latency_ms_p50"], ""),
        ("added latency p99 (ms)", r["added_latency_ms_p99"], "< 5"),
        ("loss fraction (at subscribers)", r["loss_fraction"], "0"),
        ("  of which upstream (pub->relay)", r["upstream_loss_fraction"], ""),
        ("  relay send errors", r["relay_send_errors"], ""),
        ("load generator CPU (cores)", r["loadgen_cpu_core_fraction"], ""),
        ("relay RSS (MB)", r["rss_mb"], "< 400" if big else "< 150"),
        ("fan-out x5 Router CPU", r["fanout_relay_cpu_core_fraction"], ""),
        ("fan-out x5 MediaRelay CPU", r["fanout_baseline_cpu_core_fraction"], ""),
        ("MediaRelay / Router CPU", r["fanout_cpu_ratio"], ">= 20"),
        ("  per delivered Mbit/s", r["fanout_cpu_per_mbps_ratio"], ""),
        ("  delivered Mbit/s Router | MediaRelay",
         f"{r['fanout_relay_delivered_mbps']} | {r['fanout_baseline_delivered_mbps']}", ""),
        ("peers closed during the hub window", r["peers_closed_during_window"], "0"),
        ("machine load average (1 min)", r["load_average_1m"], f"{r['cpu_count']} cores"),
    ]))
    print(f"wrote {RESULTS / 'hub.json'}")
    return result


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="hub measurement window")
    parser.add_argument("--points", type=int, default=21)
    parser.add_argument("--latency-seconds", type=float, default=10.0,
                        help="latency window (probe installed), after the CPU window")
    parser.add_argument("--fanout-seconds", type=float, default=15.0)
    parser.add_argument("--record", action="store_true",
                        help="instead: hub windows without and with the recorder, back to back "
                             "(--pairs), then the export of a recording (bench/record.py)")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--fast-send", action="store_true",
                        help="the load generator publishes through bench/fastsend.py (one "
                             "scheduler, not aiortc's coroutine per sender): needed for 130 points")
    parser.add_argument("--loadgens", type=int, default=0,
                        help=f"load generator processes (default: one per {PEERS_PER_LOADGEN} points)")
    parser.add_argument("--udp", choices=list(UDP_MODES), default="shared",
                        help="relay sockets: one shared port (as served) or one per peer (as before)")
    args = parser.parse_args()
    global UDP_MODE
    UDP_MODE = args.udp
    import uvloop

    uvloop.install()
    if args.record:
        from .record import main as record_main

        asyncio.run(record_main(args))
    else:
        asyncio.run(main(args))


if __name__ == "__main__":
    cli()
