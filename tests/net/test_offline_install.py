"""`make bundle`, then `make install-offline` in a namespace with no network: the fresh
copy's `dewan` serves /healthz. (`make test` builds the bundle before entering the suite's
namespace; making it needs the registries, installing it must not.)"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from tests.net.conftest import need
from tests.support.netns import Netns
from tests.support.server import ROOT, free_port

pytestmark = pytest.mark.timeout(240)
BUNDLE = ROOT / ".bundle"


def test_offline_install_from_the_bundle_serves_healthz(tmp_path):
    need("nsenter", "make", "npm")
    if not (BUNDLE / ".complete").exists():
        pytest.fail("no bundle: `make bundle` (run by `make test` and scripts/run-tests.sh) did not run")
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.split("\n")
    src = tmp_path / "dewan"
    for name in filter(None, files):
        if name.startswith(".bundle/") or not (ROOT / name).is_file():
            continue
        target = src / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((ROOT / name).read_bytes())
    offline = Netns()
    proc = None
    try:
        assert offline.run("ip", "-o", "addr").count("inet ") == 1  # loopback only, no route anywhere
        started = time.monotonic()
        out = subprocess.run([*offline.enter, "make", "-C", str(src), "install-offline", f"BUNDLE={BUNDLE}"],
                             capture_output=True, text=True, timeout=200)
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
        print(f"offline install: {time.monotonic() - started:.1f} s")
        port = free_port()
        log = (tmp_path / "serve.log").open("w")
        proc = offline.popen([str(src / ".venv/bin/dewan"), "serve", "--http", "--host", "127.0.0.1", "--port",
                              str(port), "--state-dir", str(tmp_path / "state")], cwd=src, stdout=log,
                             stderr=subprocess.STDOUT)
        probe = ("import sys, time, urllib.request\nfor _ in range(150):\n    try:\n"
                 f"        print(urllib.request.urlopen('http://127.0.0.1:{port}/healthz', timeout=1).read().decode());"
                 " sys.exit(0)\n    except OSError:\n        time.sleep(0.1)\nsys.exit(1)\n")
        body = offline.run(str(src / ".venv/bin/python"), "-c", probe)
        assert '"ok"' in body or "ok" in body, body
        assert Path(src / "node_modules/socket.io-client/dist/socket.io.esm.min.js").exists()
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)
        offline.close()
