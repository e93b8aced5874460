"""Recording never fills the disk: the server records into its own small tmpfs (a private
mount namespace); when free space falls below `recording.min_free_gb` while recording, the
recording stops cleanly, the chairs see why and the technicians get a notice."""

import json
import subprocess

import pytest

from tests.support.clients import ConfClient
from tests.support.server import DewanServer

MOUNT = 'mount -t tmpfs -o size=48m tmpfs "$0" && exec "$@"'


def can_mount() -> bool:
    probe = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", "mount -t tmpfs tmpfs /mnt"],
                           capture_output=True)
    return probe.returncode == 0


@pytest.mark.skipif(not can_mount(), reason="needs mount namespaces (root)")
async def test_recording_stops_before_the_disk_fills(tmp_path):
    rec_dir = tmp_path / "recordings"
    rec_dir.mkdir()
    server = DewanServer(tmp_path / "state", env={"DEWAN_RECORDING_DIR": str(rec_dir),
                                                  "DEWAN_RECORDING_MIN_FREE_GB": str(24 / 1024)},
                         wrap=["unshare", "-m", "--propagation", "private", "sh", "-c", MOUNT, str(rec_dir)]).start()
    clients = []
    try:
        chair = await ConfClient(server.base_url, server.token("chair")).connect()
        tech = await ConfClient(server.base_url, server.token("tech")).connect()
        clients += [chair, tech]
        assert (await chair.request("conference:open"))["ok"]
        ack = await chair.request("recording:start")
        assert ack["ok"], ack  # 48 MB free > 24 MB
        # something else fills the recording disk (inside the server's mount namespace)
        subprocess.run(["nsenter", "-t", str(server.proc.pid), "-m", "dd", "if=/dev/zero", f"of={rec_dir}/filler",
                        "bs=1M", "count=30"], check=True, capture_output=True)
        rec = await chair.wait_for("recording", lambda r: not r["active"], timeout=8)
        assert rec["reason"] == "disk_low" and rec["free_gb"] < 24 / 1024
        notice = await tech.wait_for("notice", lambda n: n["type"] == "recording_disk_low")
        assert notice["free_gb"] < notice["min_free_gb"]
        journal = server.state_dir / "conferences" / "main" / "events.jsonl"
        events = [json.loads(x) for x in journal.read_text().splitlines()]
        stopped = [e for e in events if e["type"] == "recording.stopped"]
        assert [(e["actor"], e["data"]["reason"]) for e in stopped] == [("system", "disk_low")]
        # the stop was clean: the manifest in the small disk is whole and names the reason
        manifest = subprocess.run(["nsenter", "-t", str(server.proc.pid), "-m", "cat",
                                   f"{rec_dir}/{ack['recording']['session']}/manifest.json"],
                                  capture_output=True, text=True, check=True).stdout
        assert json.loads(manifest)["stop_reason"] == "disk_low"
    finally:
        for c in clients:
            await c.close()
        server.stop()
