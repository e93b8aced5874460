"""Fault-to-alert time through the real server: a point (aiortc peer) whose outgoing packets
are dropped (15 %) until it is rated poor, then healed, then cut (100 %) until it is rated
down; repeated, medians printed.

    .venv/bin/python -m bench.health_alert [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

from tests.support.clients import ConfClient
from tests.support.media_client import MediaParticipant, impair
from tests.support.server import DewanServer


async def until(tech: ConfClient, point: str, rating: str, timeout: float) -> float:
    t0 = time.monotonic()
    await tech.wait_for("health", lambda h: h["points"][point]["rating"] == rating, timeout=timeout,
                        after=len(tech.received["health"]))
    return time.monotonic() - t0


async def measure(runs: int) -> dict[str, list[float]]:
    figures: dict[str, list[float]] = {"loss15_to_poor_s": [], "healed_to_good_s": [], "cut_to_down_s": []}
    with tempfile.TemporaryDirectory() as state:
        server = DewanServer(Path(state)).start()
        try:
            tech = ConfClient(server.base_url, server.token("tech"))
            await tech.connect()
            for i in range(runs):
                point = await MediaParticipant(server, "vinh", source_id=5, audio=True).join()
                await until(tech, "vinh", "good", 30)
                knob = impair(point)
                knob["drop"] = 0.15
                figures["loss15_to_poor_s"].append(await until(tech, "vinh", "poor", 30))
                knob["drop"] = 0.0
                figures["healed_to_good_s"].append(await until(tech, "vinh", "good", 60))
                knob["drop"] = 1.0
                figures["cut_to_down_s"].append(await until(tech, "vinh", "down", 30))
                await point.close()
                print(f"run {i + 1}: " + ", ".join(f"{k} {v[-1]:.1f}" for k, v in figures.items()), flush=True)
            await tech.close()
        finally:
            server.stop()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    figures = asyncio.run(measure(parser.parse_args().runs))
    summary = {k: round(statistics.median(v), 2) for k, v in figures.items()}
    print(json.dumps({"median": summary, "runs": figures}))
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / "health_alert.json").write_text(json.dumps({"median": summary, "runs": figures}, indent=1))


if __name__ == "__main__":
    main()
