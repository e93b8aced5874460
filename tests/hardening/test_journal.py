"""The journal against real faults: a full disk (a small tmpfs mounted in a mount namespace
this test creates), a crash's partial line, damage in the middle, and writes off the loop."""

import asyncio
import json
import shutil
import signal
import subprocess
import threading

import pytest

from signaling import conference, floor
from signaling.journal import Journal, JournalDamaged
from signaling.replay import replay
from signaling.store import MemoryStore
from signaling.events import Event
from tests.support.clients import ConfClient
from tests.support.server import DEWAN, ROOT, DewanServer


def journal_path(state):
    return state / "conferences" / "c" / "events.jsonl"


async def test_a_partial_last_line_is_cut_in_place(tmp_path):
    store = MemoryStore(tmp_path)
    await store.execute("c", lambda c: conference.open_conference(c, "A", "chair:x"))
    await store.close()
    path = journal_path(tmp_path)
    with path.open("a") as fh:
        fh.write('{"seq": 2, "at": 1, "conf')
    inode = path.stat().st_ino
    store = MemoryStore(tmp_path)
    assert (await store.get("c")).version == 1
    # repaired by truncation, not by rewriting a new file (a crash meanwhile loses nothing)
    assert path.stat().st_ino == inode and path.read_bytes().endswith(b"\n")
    assert len(path.read_text().splitlines()) == 1
    await store.close()


async def test_damage_in_the_middle_stops_start_up_naming_file_line_and_fix(tmp_path):
    store = MemoryStore(tmp_path)
    await store.execute("c", lambda c: conference.open_conference(c, "A", "chair:x"))
    await store.execute("c", lambda c: floor.point_joined(c, "vinh", 1.0))
    await store.execute("c", lambda c: floor.request(c, "vinh", None, 2.0))
    await store.close()
    path = journal_path(tmp_path)
    lines = path.read_text().splitlines(keepends=True)
    path.write_text(lines[0] + lines[1][:20] + "\n" + lines[2])
    with pytest.raises(JournalDamaged) as caught:
        MemoryStore(tmp_path).open("c")
    text = str(caught.value)
    assert str(path) in text and "line 2" in text and f"head -n 1 {path}" in text
    assert path.read_text().count("\n") == 3  # nothing was cut or rewritten


def test_the_cli_refuses_to_serve_a_damaged_journal(tmp_path):
    state = tmp_path / "state"
    path = state / "conferences" / "main" / "events.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text('{"seq":1,"at":1,"conference":"main","type":"conference.opened","data":{"title":"x"}}\n'
                    'garbage\n'
                    '{"seq":3,"at":1,"conference":"main","type":"conference.closed","data":{}}\n')
    srv = DewanServer(state)
    out = subprocess.run([*DEWAN, "serve", "--http", "--host", "127.0.0.1", "--port", str(srv.port),
                          "--state-dir", str(state)], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and "line 2" in out.stderr and "Traceback" not in out.stderr


async def test_writes_run_off_the_loop_and_the_action_waits_until_durable(tmp_path):
    store = MemoryStore(tmp_path)
    await store.get("c")
    journal = store._journals["c"]
    gate, threads = threading.Event(), []
    real_append = journal.append

    def slow_disk_append(text):  # the real write, after the disk took its time
        threads.append(threading.get_ident())
        gate.wait(5)
        real_append(text)

    journal.append = slow_disk_append
    task = asyncio.create_task(store.execute("c", lambda c: conference.open_conference(c, "A", "chair:x")))
    ticks = 0
    for _ in range(20):  # the loop keeps running (forwarding RTP) while the disk is slow
        await asyncio.sleep(0.005)
        ticks += 1
    assert not task.done() and (await store.get("c")).status == "scheduled"  # not applied yet
    gate.set()
    conf, events = await task
    assert ticks == 20 and threads and threads[0] != threading.get_ident()
    assert conf.status == "open" and journal_path(tmp_path).read_text().count("\n") == 1
    await store.close()


def test_a_write_refused_by_the_file_size_limit_leaves_nothing_half_written(tmp_path):
    """RLIMIT_FSIZE (EFBIG) in a child process: a second real kernel refusal besides ENOSPC."""
    code = r"""
import asyncio, json, resource, signal, sys
from signaling import conference, floor
from signaling.errors import Unavailable
from signaling.store import MemoryStore
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
async def main():
    store = MemoryStore(sys.argv[1])
    await store.execute("c", lambda c: conference.open_conference(c, "A", "chair:x"))
    resource.setrlimit(resource.RLIMIT_FSIZE, (600, 600))
    ok = refused = 0
    for i in range(40):
        try:
            await store.execute("c", lambda c, i=i: floor.point_joined(c, f"p{i}", 1.0))
            ok += 1
        except Unavailable as exc:
            refused += 1
            assert exc.key == "journal_failed" and "disk is full" in exc.message
    print(json.dumps({"ok": ok, "refused": refused, "version": (await store.get("c")).version}))
asyncio.run(main())
"""
    out = subprocess.run([DEWAN[0], "-c", code, str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["ok"] >= 1 and result["refused"] >= 30
    text = journal_path(tmp_path).read_text()
    assert text.endswith("\n") and len(text) <= 600
    events = [Event.from_json(json.loads(x)) for x in text.splitlines()]
    assert len(events) == result["version"] == 1 + result["ok"]  # exactly the accepted ones


needs_mount_ns = pytest.mark.skipif(
    not shutil.which("unshare") or not shutil.which("nsenter") or subprocess.run(
        ["unshare", "--mount", "true"], capture_output=True).returncode != 0,
    reason="needs mount namespaces (root or user namespaces)")


@needs_mount_ns
async def test_a_full_disk_refuses_chair_actions_with_unavailable_and_the_restart_replays(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    # a mount namespace holding a 64 KiB tmpfs over the state folder, nearly filled
    holder = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                               f"mount -t tmpfs -o size=64k tmpfs {state} && "
                               f"head -c 36864 /dev/zero > {state}/filler && echo ready && exec sleep 600"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        inside = ["nsenter", "--mount", f"--target={holder.pid}"]
        srv = DewanServer(state, wrap=inside, log_path=tmp_path / "server.log").start()
        chair = await ConfClient(srv.base_url, srv.token("chair")).connect()
        assert (await chair.request("conference:open", {"title": "Đầy đĩa"}))["ok"]
        accepted, refusal = 0, None
        for i in range(400):
            ack = await chair.request("message:send", {"point": "vinh", "text": f"{i} " + "ư" * 240})
            if not ack["ok"]:
                refusal = ack
                break
            accepted += 1
            await asyncio.sleep(0.11)  # under the rate limit
        assert refusal is not None and refusal["error"] == "unavailable"
        assert refusal["key"] == "journal_failed" and "disk is full" in refusal["message"]
        assert accepted > 5
        assert (await chair.request("floor:grant", {"point": "vinh"}))["error"] in ("unavailable", "not_found",
                                                                                     "conflict", "bad_request")
        state_now = (await chair.request("state:get"))["state"]
        assert state_now["conference"]["status"] == "open" and "Traceback" not in srv.log_text()
        # nothing half-written: every line is whole, and replays
        raw = subprocess.run([*inside, "cat", str(journal_path_main(state))], capture_output=True).stdout
        assert raw.endswith(b"\n")
        events = [Event.from_json(json.loads(x)) for x in raw.decode().splitlines()]
        sent = [e for e in events if e.type == "message.sent"]
        assert len(sent) == accepted
        await chair.close()
        # space comes back (the technicians freed it): actions work again, and a kill -9 +
        # restart replays cleanly
        subprocess.run([*inside, "rm", f"{state}/filler"], check=True)
        chair = await ConfClient(srv.base_url, srv.token("chair")).connect()
        assert (await chair.request("conference:pause"))["ok"]
        await chair.close()
        srv.stop(kill=True)
        srv.start()
        chair = await ConfClient(srv.base_url, srv.token("chair")).connect()
        assert chair.last("state")["conference"]["status"] == "paused"
        raw = subprocess.run([*inside, "cat", str(journal_path_main(state))], capture_output=True).stdout
        conf = replay("main", [Event.from_json(json.loads(x)) for x in raw.decode().splitlines()])
        assert conf.status == "paused"
        await chair.close()
        srv.stop()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()


def journal_path_main(state):
    return state / "conferences" / "main" / "events.jsonl"
