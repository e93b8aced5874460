"""Fuzzing a running server with hypothesis-generated and mutated socket events over ten
connections (rate limit raised by config): no crash, no `internal`, no traceback to a client,
and the state equals a replay of the journal. CI fires DEWAN_FUZZ_EVENTS (default 5,000);
`python -m bench.fuzz` runs the 100,000-event figure."""

import os
import re

import pytest

from tests.hardening.fuzz_events import Rig, replayed_matches
from tests.support.server import DewanServer

EVENTS = int(os.environ.get("DEWAN_FUZZ_EVENTS", "5000"))
BATCH = 200

FUZZ_ENV = {"DEWAN_SECURITY_EVENTS_PER_S": "1000000", "DEWAN_SECURITY_EVENTS_BURST": "1000000",
            "DEWAN_SECURITY_MAX_CONNECTIONS_PER_TOKEN": "50", "DEWAN_SERVER_LOG_LEVEL": "warning"}


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    server = DewanServer(tmp_path_factory.mktemp("fuzz") / "state", env=FUZZ_ENV).start()
    rig = Rig(server)
    yield rig
    rig.close()
    server.stop()


@pytest.mark.timeout(600)
def test_fuzzed_events_never_crash_nor_leak_and_state_equals_the_replay(rig):
    rig.fuzz(EVENTS, BATCH, corpus_size=min(400, EVENTS))
    server = rig.server
    print(f"\nfuzz: {rig.sent} events in {rig.seconds:.1f} s, results {rig.codes}, reconnects {rig.reconnects}, dropped {rig.dropped}")
    assert rig.sent >= EVENTS * 0.95
    assert rig.internal == 0 and rig.tracebacks == 0 and rig.dropped == 0
    assert server.proc.poll() is None  # still running
    log = server.log_text()
    assert "Traceback" not in log and "handler failed" not in log, log[-3000:]
    assert rig.codes.get("ok", 0) > 100 and rig.codes.get("bad_request", 0) > EVENTS / 4
    diffs = replayed_matches(server, rig.state())
    assert not diffs, diffs
    # the server still serves a normal client normally
    assert re.search(r"\d", str(rig.state()["conference"]["version"]))
