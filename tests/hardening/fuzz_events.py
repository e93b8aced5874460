"""Hostile socket events for the fuzzer: hypothesis strategies for generated and mutated
events (wrong types, huge strings, deep nesting, unicode, binary, malformed SDP and ICE
candidates) and a rig that fires them at a running server over many connections.

Used by tests/hardening/test_fuzz.py (a short CI run) and bench/fuzz.py (the 100,000-event run).
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time

import socketio
from hypothesis import strategies as st

from signaling.events import Event
from signaling.messages import MAX_EVENT_BYTES
from signaling.protocol import EVENT_PERMISSIONS
from signaling.replay import replay
from tests.support.clients import ConfClient

POINTS = ["vinh", "cua-lo", "thai-hoa", "hoang-mai", "quynh-luu", "dien-chau"]
WHO = ["chair", "chair", "hall", "tech", *POINTS]  # one connection each (the chair twice)
EVENTS = sorted(EVENT_PERMISSIONS)
# starting a media connection builds a real peer connection: fuzzed only with bad payloads
COSTLY = {"rtc:start", "precheck:start"}

SDP_LINES = ["v=0", "o=- 1 2 IN IP4 127.0.0.1", "s=-", "t=0 0", "a=group:BUNDLE 0 1",
             "m=audio 9 UDP/TLS/RTP/SAVPF 111", "m=video 9 UDP/TLS/RTP/SAVPF 96", "c=IN IP4 0.0.0.0",
             "a=mid:0", "a=rtpmap:111 opus/48000/2", "a=rtpmap:96 VP8/90000", "a=ice-ufrag:abcd",
             "a=ice-pwd:0123456789abcdefghijkl", "a=setup:active", "a=sendrecv", "a=rtcp-mux",
             "a=fingerprint:sha-256 " + ":".join(["AB"] * 32),
             "a=candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host",
             "a=candidate:x 1 tcp -5 ::ffff:1.2.3.4 99999 typ relay raddr . rport -",
             "a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid", "a=ssrc:1 cname:x", "m=application 9"]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=-2**70, max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40), st.text(alphabet=st.characters(), max_size=120),
    st.sampled_from(["", " ", "\x00", "﷽" * 50, "𝕯𝖊𝖜𝖆𝖓", "\ud7ff", "é" * 3, "<script>", "../../etc/passwd",
                     "vinh", "hall", "VINH", "vinh ", "a" * 65, *POINTS]),
    st.binary(max_size=64),
)
json_like = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=12), inner, max_size=5)), max_leaves=8)


@st.composite
def deep(draw):
    depth = draw(st.integers(min_value=20, max_value=400))
    shape = draw(st.integers(min_value=0, max_value=2**64))  # list or object at each level
    value = draw(scalars)
    for level in range(depth):
        value = [value] if shape >> (level % 64) & 1 else {"k": value}
    return value


huge = st.builds(lambda c, n: c * n, st.sampled_from(["x", "ư", "𝕯", "\x00", "a=candidate:1\r\n"]),
                 st.integers(min_value=1000, max_value=15_000))  # under the cap


@st.composite
def sdp(draw):
    lines = draw(st.lists(st.sampled_from(SDP_LINES) | st.text(max_size=80), min_size=0, max_size=40))
    sep = draw(st.sampled_from(["\r\n", "\n", "\r", ""]))
    return sep.join(lines)


def templates(who: str) -> dict[str, dict]:
    point = who if who in POINTS else "vinh"
    return {
        "conference:open": {"title": "Fuzz"}, "floor:request": {"topic": "t"}, "floor:grant": {"point": point},
        "floor:deny": {"point": point, "reason": "r"}, "floor:move": {"point": point, "position": 1},
        "floor:extend": {"seconds": 30}, "audio:mute": {"point": point, "muted": True},
        "message:send": {"point": point, "text": "x"}, "rtc:answer": {"sdp": "v=0\r\n"},
        "precheck:answer": {"sdp": "v=0\r\n"}, "preview:set": {"point": point},
        "health:history": {"point": point}, "precheck:result": {"verdict": "ready"},
        "stats:report": {"rtt_ms": 20.0}, "floor:revoke": {}, "conference:pause": {},
    }


@st.composite
def mutated(draw, who: str):
    """A valid payload of a known event with one thing wrong (or nothing)."""
    event = draw(st.sampled_from(EVENTS))
    payload = dict(templates(who).get(event, {}))
    action = draw(st.sampled_from(["keep", "keep", "retype", "drop", "add", "sdp", "version"]))
    keys = list(payload)
    if action == "retype" and keys:
        payload[draw(st.sampled_from(keys))] = draw(json_like | deep() | huge)
    elif action == "drop" and keys:
        payload.pop(draw(st.sampled_from(keys)))
    elif action == "add":
        payload[draw(st.text(max_size=10))] = draw(json_like)
    elif action == "sdp":
        payload["sdp"] = draw(sdp())
    elif action == "version":
        payload["version"] = draw(st.integers(min_value=-5, max_value=10**6) | scalars)
    if event in COSTLY:
        payload["fuzz"] = 1  # never a valid rtc:start / precheck:start
    return event, payload


event_names = st.one_of(st.sampled_from(EVENTS), st.text(max_size=80),
                        st.sampled_from(["connect", "disconnect", "message", "", "floor:", "FLOOR:GRANT",
                                         "rtc:start\x00", "__proto__", "x" * 5000]))


@st.composite
def generated(draw):
    name = draw(event_names)
    payload = draw(st.one_of(json_like, deep(), huge, st.binary(max_size=2048)))
    if name in COSTLY or name in ("connect", "disconnect"):
        payload = {"fuzz": payload}
    return name, payload


def one_event():
    """(connection index, event, payload): hypothesis draws one event per example (a big list
    per example overruns its choice buffer); the caller fires them in batches."""
    index = st.integers(min_value=0, max_value=len(WHO) - 1)
    return index.flatmap(lambda i: st.tuples(st.just(i), st.one_of(mutated(WHO[i]), generated())))


def frame_bytes(payload) -> int:
    """About what the client's frame carries (JSON with ASCII escapes; bytes as attachments)."""
    try:
        return len(json.dumps(payload, default=lambda b: "x" * len(b)))
    except (ValueError, RecursionError):
        return 0


ODD_VALUES = [None, True, 0, -1, 2**63, 1e308, float("nan"), float("inf"), "", "\x00", "ư" * 500,
              "𝕯" * 200, b"\x00\xff", [], {}, [[[[]]]], {"__proto__": {}}, "v=0\r\n", "vinh", "hall"]


def mutate(rng: random.Random, event, payload):
    """One random change to a drawn event (its name, a value, the shape, the nesting)."""
    choice = rng.random()
    if choice < 0.1:
        name = event if isinstance(event, str) else "x"
        cut = rng.randrange(len(name) + 1)
        return rng.choice([name[:cut], name.upper(), name + "\x00", name[::-1], rng.choice(EVENTS)]), payload
    if choice < 0.2:
        return event, rng.choice(ODD_VALUES)
    if isinstance(payload, dict):
        payload = dict(payload)
        if payload and choice < 0.6:
            key = rng.choice(list(payload))
            value = payload[key]
            if isinstance(value, str) and value and rng.random() < 0.5:
                cut = rng.randrange(len(value))
                payload[key] = rng.choice([value[:cut], value[cut:] + value[:cut], value * 3,
                                           value.replace("\r\n", "\n"), value + "\ud800"])
            else:
                payload[key] = rng.choice(ODD_VALUES)
        elif choice < 0.8:
            payload[rng.choice(["version", "point", "sdp", "text", "x", "", "muted"])] = rng.choice(ODD_VALUES)
        else:
            payload = {"k": payload} if rng.random() < 0.5 else [payload]
    elif isinstance(payload, list) and payload:
        payload = payload[rng.randrange(len(payload)):]
    else:
        payload = [payload, payload]
    if event in COSTLY and (payload == {} or payload is None):
        payload = {"fuzz": 1}
    return event, payload


class Rig:
    """Connections to a running server on a loop of their own, fed batches from any thread."""

    def __init__(self, server) -> None:
        self.server = server
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.clients: list[ConfClient | None] = [None] * len(WHO)
        self.sent = self.internal = self.tracebacks = self.reconnects = self.dropped = 0
        self.dropped_by: list = []
        self.verbose = False
        self.codes: dict[str, int] = {}
        self.seconds = 0.0
        self.run(self._connect_all())

    def run(self, coro, timeout: float = 120):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _connect(self, i: int) -> ConfClient:
        client = ConfClient(self.server.base_url, self.server.token(WHO[i]))
        await client.connect()
        self.clients[i] = client
        return client

    async def _connect_all(self) -> None:
        for i in range(len(WHO)):
            await self._connect(i)
        chair = self.clients[0]
        await chair.request("conference:open", {"title": "Fuzz"})

    async def _one(self, i: int, event: str, payload) -> None:
        client = self.clients[i]
        if client is None or not client.sio.connected:
            return  # dropped earlier in this batch
        try:
            ack = await client.sio.call(event, payload, namespace="/conf", timeout=10)
        except (TypeError, ValueError, RecursionError):  # the client itself cannot encode it
            return
        except (socketio.exceptions.TimeoutError, socketio.exceptions.BadNamespaceError):
            # engine.io drops a connection whose frame is over the cap (never expected here)
            self.dropped += 1
            self.dropped_by.append((event, repr(payload)[:300]))
            await client.close()
            self.clients[i] = None
            return
        self.sent += 1
        if not isinstance(ack, dict) or not isinstance(ack.get("ok"), bool):
            raise AssertionError(f"a malformed ack for {event!r}: {ack!r}")
        code = "ok" if ack["ok"] else ack["error"]
        self.codes[code] = self.codes.get(code, 0) + 1
        if code == "internal":
            self.internal += 1
        if "Traceback" in json.dumps(ack, default=str) or "File \"" in str(ack.get("message", "")):
            self.tracebacks += 1

    async def _batch(self, items) -> None:
        for i in range(len(WHO)):  # (re)connect outside the burst
            if self.clients[i] is None or not self.clients[i].sio.connected:
                self.reconnects += 1
                await self._connect(i)
        await asyncio.gather(*(self._one(i, event, payload) for i, event, payload in items))

    def fire(self, items) -> None:
        started = time.perf_counter()
        self.run(self._batch([(i, e, p) for i, (e, p) in items]))
        self.seconds += time.perf_counter() - started
        if self.verbose:
            print(f"batch of {len(items)}: {time.perf_counter() - started:.2f} s, sent {self.sent}", flush=True)

    def fuzz(self, count: int, batch: int = 200, corpus_size: int = 600, seed: int = 1) -> None:
        """Fire ``count`` events, ``batch`` at a time: ``corpus_size`` drawn by hypothesis (its
        per-example cost is ms), the rest mutations of those (microseconds each)."""
        from hypothesis import HealthCheck, Phase, given, settings

        corpus: list = []
        pending: list = []

        def add(item) -> None:
            pending.append(item)
            if len(pending) >= batch:
                self.fire(pending)
                pending.clear()

        @settings(max_examples=min(corpus_size, count), deadline=None, database=None, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @given(one_event())
        def draw(item):
            corpus.append(item)
            add(item)

        draw()
        rng = random.Random(seed)
        for _ in range(count - len(corpus)):
            i, (event, payload) = rng.choice(corpus)
            mutant = mutate(rng, event, payload)
            if frame_bytes(mutant[1]) > MAX_EVENT_BYTES - 1024:  # over the cap: the connection is cut
                mutant = (event, payload)                       # (tested in test_limits.py)
            add((rng.randrange(len(WHO)) if rng.random() < 0.2 else i, mutant))
        if pending:
            self.fire(pending)

    def state(self) -> dict:
        async def get():
            return (await self.clients[1].request("state:get"))["state"]
        return self.run(get())

    def close(self) -> None:
        async def close_all():
            for c in self.clients:
                if c is not None:
                    await c.close()
        self.run(close_all())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def replayed_matches(server, state: dict) -> list[str]:
    """Differences between the live state and a replay of the journal (the accepted events)."""
    path = server.state_dir / "conferences" / "main" / "events.jsonl"
    conf = replay("main", [Event.from_json(json.loads(x)) for x in path.read_text().splitlines()])
    now = state["server_time"]
    diffs = []
    if conf.conference_json() != state["conference"]:
        diffs.append(f"conference {conf.conference_json()} != {state['conference']}")
    if conf.queue_json() != state["queue"]:
        diffs.append(f"queue {conf.queue_json()} != {state['queue']}")
    live_floor = {k: v for k, v in state["floor"].items() if k not in ("server_time", "warning_s", "remaining_s")}
    want_floor = {k: v for k, v in conf.floor_json(now).items() if k != "remaining_s"}
    if want_floor != live_floor:
        diffs.append(f"floor {want_floor} != {live_floor}")
    if sorted(conf.online) != state["roster"]["online"]:
        diffs.append(f"online {sorted(conf.online)} != {state['roster']['online']}")
    return diffs
