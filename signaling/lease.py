"""The media lease: which process hosts a conference's media relay (several processes, Redis).

The lease is a Redis key `<prefix>:conf:<id>:owner` holding a fencing token `<url>#<epoch>`
(the epoch increments on every take) with a time-to-live. Every operation is ONE Lua script, so
renew and release are compare-and-set: a process renews or releases only the token it holds.

- A holder renews every ttl/3. Redis being unreachable is NOT the lease being lost (nobody else
  can take it either): `claim` raises Unavailable and the caller keeps forwarding.
- When the key is gone (the holder died, or stayed away longer than the TTL), the previous
  holder's address takes it back at once; any other process waits `takeover_wait` (min(ttl/2, 2 s)) more (the
  previous holder, back from a Redis restart, gets to re-claim first). Then it takes the lease
  with a new epoch.
- If, when Redis answers again, the key names someone else, the caller must stop forwarding.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import Unavailable
from .redis_errors import unavailable

CLAIM = """
local cur = redis.call('GET', KEYS[1])
if cur and cur == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {cur, 'renewed', tonumber(ARGV[2])}
end
if cur then return {cur, 'other', redis.call('PTTL', KEYS[1])} end
local last = redis.call('GET', KEYS[2])
if last and string.match(last, '^(.*)#') ~= ARGV[3] then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local since = tonumber(redis.call('GET', KEYS[4]) or '0')
  if since == 0 then
    redis.call('SET', KEYS[4], now, 'PX', 3 * tonumber(ARGV[2]))
    return {'', 'waiting', tonumber(ARGV[4])}
  end
  if now - since < tonumber(ARGV[4]) then return {'', 'waiting', tonumber(ARGV[4]) - (now - since)} end
end
local epoch = redis.call('INCR', KEYS[3])
local token = ARGV[3] .. '#' .. epoch
redis.call('SET', KEYS[1], token, 'PX', ARGV[2])
redis.call('SET', KEYS[2], token)
redis.call('DEL', KEYS[4])
return {token, 'taken', tonumber(ARGV[2])}
"""

RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""


def owner_url(token: str) -> str:
    return token.rpartition("#")[0] if "#" in token else token


@dataclass(frozen=True)
class LeaseState:
    token: str  # the holder's fencing token, "" when nobody holds the lease
    status: str  # "taken" (by us, just now), "renewed" (ours), "other" (someone else's), "waiting"
    ms_left: int = 0  # other: until the lease expires; waiting: until it may be taken

    @property
    def owner(self) -> str:
        return owner_url(self.token)


class OwnerLease:
    def __init__(self, redis_client, prefix: str, conference_id: str, me: str, ttl_s: float = 10.0,
                 takeover_wait_s: float | None = None) -> None:
        self._redis = redis_client
        base = f"{prefix}:conf:{conference_id}:owner"
        self.keys = [base, f"{base}:last", f"{base}:epoch", f"{base}:free-since"]
        self.key = base
        self.me = me
        self.ttl_ms = int(ttl_s * 1000)
        # long enough for a previous holder retrying every 0.5 s (server/ownership.py) to win
        self.wait_ms = int((min(ttl_s / 2, 2.0) if takeover_wait_s is None else takeover_wait_s) * 1000)
        self.token = ""  # ours while we hold the lease
        self._claim = redis_client.register_script(CLAIM)
        self._release = redis_client.register_script(RELEASE)

    async def claim(self) -> LeaseState:
        """Renew our lease or take a free one (compare-and-set). Raises Unavailable when Redis
        does not answer: the caller keeps whatever it had."""
        with unavailable("the media lease"):
            token, status, ms_left = await self._claim(keys=self.keys,
                                                       args=[self.token, self.ttl_ms, self.me, self.wait_ms])
        self.token = token if status in ("taken", "renewed") else ""
        return LeaseState(token, status, max(0, int(ms_left)))

    async def release(self) -> bool:
        if not self.token:
            return False
        try:
            with unavailable("the media lease"):
                done = bool(await self._release(keys=[self.key], args=[self.token]))
        except Unavailable:
            return False
        self.token = ""
        return done
