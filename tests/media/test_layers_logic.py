"""Per-viewer layer choice (server/media/layers.py) on a simulated link, one step a second:
what the relay sends the viewer is the cost of its choice plus sound. What does not fit the
link's capacity first queues (the round trip grows, as behind tbf or a bloated modem), and is
lost once the queue is full; NACK repair hides the loss from the reports before that."""

from server.media.layers import AUDIO_BPS, Demand, ViewerLayers, cost

HALL = [Demand("hall.video", high_bps=1_400_000, low_bps=250_000)]


class Link:
    BASE_RTT = 0.15
    QUEUE_LIMIT_S = 0.8  # what tbf's limit holds at 200 kbit/s

    def __init__(self, viewer: ViewerLayers, queue: bool = True) -> None:
        self.viewer, self.now, self.history, self.queue_s = viewer, 0.0, [], 0.0
        self.queue = queue

    def run(self, seconds: int, capacity_bps: float, remb: float | None = None) -> list:
        levels = []
        for _ in range(seconds):
            self.now += 1.0
            sending = cost(self.viewer.choice, HALL) + AUDIO_BPS
            excess = max(0.0, 1 - capacity_bps / sending)
            if self.queue:
                self.queue_s = min(self.QUEUE_LIMIT_S,
                                   max(0.0, self.queue_s + (sending - capacity_bps) / capacity_bps))
                loss = excess if self.queue_s >= self.QUEUE_LIMIT_S else 0.0
            else:  # no queue: the excess is lost at once
                loss = excess
            rtt = self.BASE_RTT + self.queue_s
            budget = remb if remb is not None else \
                self.viewer.from_reports(loss, rtt, sending, self.now)
            self.viewer.from_remb = remb is not None
            self.viewer.update(budget, 1, HALL, self.now)
            levels.append(self.viewer.level)
        self.history += levels
        return levels


def first(levels: list, level: str) -> int:
    """Seconds until ``level`` is first chosen (1-based); fails when it never is."""
    assert level in levels, levels
    return levels.index(level) + 1


import pytest


@pytest.mark.parametrize("queue", [True, False], ids=["queue-then-loss", "loss-only"])
def test_a_weak_link_steps_down_to_low_then_to_sound_only_and_back_up(queue):
    link = Link(ViewerLayers(started_at=0.0), queue=queue)
    assert link.run(5, 10e6) == ["high"] * 5
    assert first(link.run(10, 1_000_000), "low") <= 10  # 1 Mbit/s: the 1.4 Mbit/s layer does not fit
    assert first(link.run(20, 200_000), "off") <= 20    # 200 kbit/s: not even the low layer
    weak = link.run(60, 200_000)
    assert "high" not in weak  # a link that stays weak is tried one step up (low), never high
    assert weak.count("off") > 45  # ... and not often: mostly sound only
    assert first(link.run(20, 10e6), "high") <= 20  # the link clears: high again within 20 s


def test_a_report_of_loss_is_not_read_twice():
    viewer = ViewerLayers(started_at=-10.0)
    viewer.loss_budget = None
    assert viewer.from_reports(0.5, None, 1_500_000, 1.0) is None  # one lossy second is a burst
    assert viewer.from_reports(None, None, 1_500_000, 2.0) is None  # no new report: the streak stands
    assert viewer.from_reports(0.5, None, 1_500_000, 3.0) == 1_350_000  # two lossy reports: cut


def test_a_growing_round_trip_is_congestion_even_without_reported_loss():
    viewer = ViewerLayers(started_at=-10.0)
    for t in range(1, 4):
        assert viewer.from_reports(0.0, 0.15, 1_500_000, t) is None  # the path's own round trip
    assert viewer.from_reports(0.0, 0.25, 1_500_000, 4) is None  # +100 ms: jitter, not a queue
    assert viewer.from_reports(0.0, 0.45, 1_500_000, 5) is None  # a queue, once
    assert viewer.from_reports(0.0, 0.50, 1_500_000, 6) == 1_350_000  # twice: cut
    # on sound only there is nothing left to cut: a late lossy report does not cut again
    viewer.choice = {"hall.video": None}
    for t in range(20, 23):
        viewer.from_reports(0.4, 0.9, 30_000, t)
    assert viewer.loss_budget == 1_350_000


def test_remb_goes_down_at_once_and_up_after_a_hold():
    link = Link(ViewerLayers(started_at=0.0))
    link.run(5, 10e6, remb=3e6)
    assert link.run(1, 10e6, remb=500_000) == ["low"]
    up = link.run(5, 10e6, remb=3e6)
    assert up[:2] == ["low", "low"] and up[-1] == "high"


def test_interval_loss_from_cumulative_counters_however_often_reports_come():
    """Loss over a reading comes from the reports' cumulative counters (packets lost and
    the highest sequence number), summed over the viewer's slots: a burst of reports that
    each cover a few milliseconds (Chrome sends one with every NACK) does not hide it."""
    from types import SimpleNamespace

    from server.media.viewers import interval_loss

    def slot(lost, highest):
        return SimpleNamespace(rr_lost=lost, rr_highest=highest, rr_read=None, source=object())

    video, audio = slot(0, 1000), slot(0, 500)
    assert interval_loss([video, audio]) is None  # first reading: a baseline
    video.rr_lost, video.rr_highest = 30, 1100    # 100 video packets, 30 lost
    audio.rr_lost, audio.rr_highest = 0, 550      # 50 audio packets, none lost
    assert interval_loss([video, audio]) == 30 / 150
    video.rr_highest = 1103                       # 3 packets: too few to tell; they count next
    assert interval_loss([video, audio]) is None
    video.rr_lost, video.rr_highest = 31, 1110
    assert interval_loss([video, audio]) == 1 / 10
    video.rr_lost, video.rr_highest = 0, 5        # a restarted counter: a new baseline
    assert interval_loss([video, audio]) is None
    video.rr_highest = 105
    assert interval_loss([video, audio]) == 0.0
