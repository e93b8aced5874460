"""Per-viewer layers: which camera layer each of a viewer's video slots carries, from that
viewer's own bandwidth estimate.

Chrome's REMB is one estimate for the whole connection (aiortc hands the same REMB to every
sender), so the relay splits it across the viewer's video slots by priority: floor, then
hall, then presentation, then tiles. Each slot gets the best layer that fits what is left
(``"video"`` = high, ``"low"``, or None = nothing); the audio slots' share is kept aside
first. Going down is immediate; going up needs the estimate to cover the better choice with
``UP_MARGIN`` to spare for ``UP_HOLD_S``. A viewer whose video slots all carry nothing is on
audio only. The relay switches at key frames (``Consumer.set_source``). Pure logic: the
router feeds it rates and estimates once a second.

libwebrtc lets its estimate grow to only about 1.5x what it receives, so a viewer held low
never climbs back by itself: :meth:`ViewerLayers.probe_bps` says how much padding (RTX
copies of recent packets) the relay should add to let the estimate reach the next choice.

A viewer that sends no REMB (Chrome sends this relay none) gets an estimate from its receiver
reports instead (:meth:`ViewerLayers.from_reports`): loss and the round trip (a queue), down on
two congested readings, up one choice at a time after a clean hold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

AUDIO_BPS = 48_000  # kept aside per audio slot that carries sound
UP_MARGIN = 1.15
UP_HOLD_S = 3.0
#: after a cut, reports still show the old choice for a few seconds (the switch waits for a
#: key frame, the queue drains, a report echoes a sender report up to a second old): no
#: second cut before this
LOSS_SETTLE_S = 5.0
#: the wait after a cut before a loss-based estimate tries the better choice (each try is a
#: few congested seconds, and the viewer's picture changes twice); it doubles after each
#: failed try, up to LOSS_HOLD_MAX_S: a link that clears is found again within ~that + 5 s
LOSS_HOLD_S = 8.0
LOSS_HOLD_MAX_S = 12.0
#: a round trip this much above the path's lowest means a queue: congested; under CLEAR_S
#: above it, clear
QUEUE_S, CLEAR_S = 0.15, 0.06
RTT_WINDOW_S = 60.0
#: at most one step up per this (the reports show the last step's effect a second later)
RAISE_GAP_S = 2.0
START_GRACE_S = 4.0  # Chrome's estimate starts low and ramps up: no downgrade before this
PROBE_CAP_BPS = 1_500_000
RANK = {"video": 2, "low": 1, None: 0}


@dataclass
class Demand:
    """One video slot of a viewer, in priority order: the rates of the layers it may take
    (None: not available, e.g. a point with one layer, or tiles that never take high)."""

    slot: str
    high_bps: Optional[float]
    low_bps: Optional[float]


def allocate(budget: float, demands: list[Demand]) -> dict[str, Optional[str]]:
    """Greedy by priority: each slot the best layer that fits what is left. A slot with no
    low layer to fall back on (a one-layer publisher) keeps its one layer."""
    out: dict[str, Optional[str]] = {}
    left = budget
    for d in demands:
        if d.low_bps is None and d.high_bps is not None:
            out[d.slot], left = "video", left - d.high_bps
        elif d.high_bps is not None and d.high_bps <= left:
            out[d.slot], left = "video", left - d.high_bps
        elif d.low_bps is not None and d.low_bps <= left:
            out[d.slot], left = "low", left - d.low_bps
        else:
            out[d.slot] = None
    return out


def next_step(choice: dict[str, Optional[str]], demands: list[Demand]) -> Optional[dict]:
    """``choice`` with the first slot (by priority) that can take a better layer one step up;
    None when every slot has its best."""
    for d in demands:
        current = choice.get(d.slot)
        if current is None and (d.low_bps is not None or d.high_bps is not None):
            return {**choice, d.slot: "low" if d.low_bps is not None else "video"}
        if current == "low" and d.high_bps is not None:
            return {**choice, d.slot: "video"}
    return None


def cost(choice: dict[str, Optional[str]], demands: list[Demand]) -> float:
    rates = {d.slot: {"video": d.high_bps, "low": d.low_bps} for d in demands}
    return sum(rates[s][c] or 0 for s, c in choice.items() if c is not None and s in rates)


@dataclass
class ViewerLayers:
    started_at: float
    #: slot name -> "video" | "low" | None; a slot not listed takes its default
    choice: dict[str, Optional[str]] = field(default_factory=dict)
    budget_bps: Optional[float] = None
    need_bps: float = 0.0  # what the best choice would cost
    reason: str = "no_estimate"  # no_estimate | fits | estimate_low | audio_only
    _better_since: Optional[float] = None
    #: the estimate from the viewer's receiver reports when it sends no REMB (None: no
    #: limit seen); cut on loss, raised while clean after ``loss_hold_s``
    loss_budget: Optional[float] = None
    loss_hold_s: float = LOSS_HOLD_S
    cut_at: float = -1e9
    loss_streak: int = 0
    #: the budget the next better choice needs (None: the best is chosen)
    next_bps: Optional[float] = None
    from_remb: bool = False
    raised_at: float = -1e9
    reports_read_at: float = 0.0  # round trips reported up to this time are counted
    _rtts: list = field(default_factory=list)  # (time, round trip s) of the last RTT_WINDOW_S

    def from_reports(self, loss: Optional[float], rtt: Optional[float], sending_bps: float,
                  now: float) -> Optional[float]:
        """The estimate from the viewer's receiver reports (when it sends no REMB): ``loss``
        since the last reading and the freshest round-trip time (None: nothing new).

        Congested = above 10 % loss, or a round trip ``QUEUE_S`` above the lowest of the
        last ``RTT_WINDOW_S`` (a queue on the path: a capped rural link queues for
        hundreds of milliseconds before it drops much, and NACK repair hides most loss
        from the reports). Two congested readings in a row cut the budget to just below
        what is being sent, once per episode, unless the viewer is on sound only already.
        Clean (under 5 % loss, no queue) for ``loss_hold_s`` after the last cut, the
        budget goes to what the next better choice needs, one choice at a time and at
        most every ``RAISE_GAP_S``: trying it is the probe. The hold doubles (up to
        ``LOSS_HOLD_MAX_S``) when a raise is followed by a cut."""
        base = self._base_rtt(rtt, now)
        queued = rtt is not None and base is not None and rtt > base + QUEUE_S
        congested = (loss is not None and loss > 0.10) or queued
        if loss is not None or rtt is not None:  # else nothing new: the streak stands
            self.loss_streak = self.loss_streak + 1 if congested else 0
        if congested:
            # two readings in a row (not one key frame's burst), and one cut per episode:
            # the reports lag the switch by a second or two
            if self.loss_streak >= 2 and now - self.cut_at > LOSS_SETTLE_S \
                    and self.level != "off":
                if now - self.raised_at < 10.0:
                    self.loss_hold_s = min(LOSS_HOLD_MAX_S, self.loss_hold_s * 2)
                self.loss_budget = max(64_000.0, sending_bps * 0.9)
                self.cut_at = now
        elif (self.loss_budget is not None and self.loss_streak == 0
              and (loss is not None or rtt is not None)  # a fresh reading, and a clean one
              and (loss is None or loss < 0.05)
              and not (rtt is not None and base is not None and rtt > base + CLEAR_S)
              and now - self.cut_at >= self.loss_hold_s and now - self.raised_at >= RAISE_GAP_S):
            if self.next_bps is not None:  # one choice up (sound only tries low before high)
                # with 10 % to spare: the layers' measured rates move from second to second
                raised = max(self.next_bps * 1.1, self.loss_budget)
            else:
                raised = self.loss_budget * 1.5
            self.raised_at = now if raised > self.loss_budget else self.raised_at
            self.loss_budget = raised
            if self.loss_budget > 2 * max(self.need_bps, 1.0):
                self.loss_budget, self.loss_hold_s = None, LOSS_HOLD_S
        return self.loss_budget

    def _base_rtt(self, rtt: Optional[float], now: float) -> Optional[float]:
        """The lowest round trip of the last ``RTT_WINDOW_S`` (the path without a queue)."""
        samples = self._rtts
        if rtt is not None:
            samples.append((now, rtt))
        while samples and now - samples[0][0] > RTT_WINDOW_S:
            samples.pop(0)
        return min(r for _, r in samples) if samples else None

    def update(self, budget_bps: Optional[float], audio_slots: int, demands: list[Demand],
               now: float) -> bool:
        """New estimate and rates; returns True when a slot's choice changed."""
        best = {d.slot: ("video" if d.high_bps is not None else
                         "low" if d.low_bps is not None else None) for d in demands}
        self.need_bps = cost(best, demands)
        if budget_bps is None or now - self.started_at < START_GRACE_S:
            self.budget_bps = budget_bps
            self.reason = "no_estimate"
            return self._set(best)
        self.budget_bps = budget_bps
        usable = budget_bps - audio_slots * AUDIO_BPS
        down = allocate(usable, demands)
        up = allocate(usable / UP_MARGIN, demands)
        new: dict[str, Optional[str]] = {}
        better = False
        for d in demands:
            current = self.choice.get(d.slot, best[d.slot])
            if RANK[down[d.slot]] < RANK[current]:
                new[d.slot] = down[d.slot]  # no longer fits: at once
            elif RANK[up[d.slot]] > RANK[current]:
                better = True
                if self.loss_budget is not None and not self.from_remb:
                    # a budget from the reports: up only once the hold since the last cut is
                    # over (not because a layer's measured rate dipped for a second)
                    held = now - self.cut_at >= self.loss_hold_s
                else:
                    held = self._better_since is not None and now - self._better_since >= UP_HOLD_S
                new[d.slot] = up[d.slot] if held else current
            else:
                new[d.slot] = current
        self._better_since = (self._better_since or now) if better else None
        step = next_step(new, demands)
        self.next_bps = None if step is None else \
            cost(step, demands) * UP_MARGIN + audio_slots * AUDIO_BPS + 1.0
        if demands and all(c is None for c in new.values()):
            self.reason = "audio_only"
        elif new == best:
            self.reason = "fits"
        else:
            self.reason = "estimate_low"
        return self._set(new)

    def _set(self, new: dict[str, Optional[str]]) -> bool:
        changed = new != self.choice
        self.choice = new
        return changed

    @property
    def level(self) -> str:
        """The viewer's main picture: "high", "low" or "off" (audio only)."""
        ranks = [RANK[c] for c in self.choice.values()]
        if not ranks:
            return "high"
        top = max(ranks)
        return "high" if top == 2 else "low" if top == 1 else "off"

    def probe_bps(self, sending_bps: float) -> float:
        """Padding to add so the estimate can reach the next better choice (0: none)."""
        if self.reason not in ("estimate_low", "audio_only") or self.budget_bps is None:
            return 0.0
        target = min(self.need_bps, self.budget_bps * 1.5) * UP_MARGIN
        return max(0.0, min(PROBE_CAP_BPS, target - sending_bps))

    def to_json(self) -> dict:
        return {"video": self.level, "reason": self.reason,
                "budget_kbps": None if self.budget_bps is None else round(self.budget_bps / 1000),
                "need_kbps": round(self.need_bps / 1000)}
