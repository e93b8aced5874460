"""The long socket fuzz run: 100,000 hypothesis-drawn and mutated events at a real server
(`dewan serve`, rate limit raised by config) over ten connections; prints the result counts
and fails on any `internal`, traceback, crash or state that differs from the journal's replay.

    .venv/bin/python -m bench.fuzz                 # 100,000 events (~4-8 min on 2 busy cores)
    .venv/bin/python -m bench.fuzz --events 20000
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from tests.hardening.fuzz_events import Rig, replayed_matches
from tests.hardening.test_fuzz import FUZZ_ENV
from tests.support.server import DewanServer


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--corpus", type=int, default=2000, help="events drawn by hypothesis; the rest mutated")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = DewanServer(Path(tmp) / "state", env=FUZZ_ENV).start()
        rig = Rig(server)
        started = time.perf_counter()
        try:
            rig.fuzz(args.events, corpus_size=args.corpus)
            state = rig.state()
            diffs = replayed_matches(server, state)
            log = server.log_text()
            result = {"events": rig.sent, "seconds": round(time.perf_counter() - started, 1),
                      "results": rig.codes, "internal": rig.internal, "tracebacks_to_clients": rig.tracebacks,
                      "dropped_connections": rig.dropped, "server_alive": server.proc.poll() is None,
                      "tracebacks_in_log": log.count("Traceback"), "state_differs_from_replay": diffs,
                      "moderation_version": state["conference"]["version"]}
        finally:
            rig.close()
            server.stop()
    print(json.dumps(result, indent=1, ensure_ascii=False))
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "fuzz.json").write_text(json.dumps(result, indent=1))
    bad = (result["internal"] or result["tracebacks_to_clients"] or result["dropped_connections"]
           or not result["server_alive"] or result["tracebacks_in_log"] or diffs)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
