"""Per-viewer layer choice (server/media/layers.py) on a simulated link, one step a second:
what the relay sends the viewer is the cost of its choice plus sound, and the viewer's
receiver reports lose what does not fit the link's capacity."""

from server.media.layers import AUDIO_BPS, Demand, ViewerLayers, cost

HALL = [Demand("hall.video", high_bps=1_400_000, low_bps=250_000)]


class Link:
    def __init__(self, viewer: ViewerLayers) -> None:
        self.viewer, self.now, self.history = viewer, 0.0, []

    def run(self, seconds: int, capacity_bps: float, remb: float | None = None) -> list:
        levels = []
        for _ in range(seconds):
            self.now += 1.0
            sending = cost(self.viewer.choice, HALL) + AUDIO_BPS
            loss = max(0.0, 1 - capacity_bps / sending)
            budget = remb if remb is not None else self.viewer.from_loss(loss, sending, self.now)
            self.viewer.from_remb = remb is not None
            self.viewer.update(budget, 1, HALL, self.now)
            levels.append(self.viewer.level)
        self.history += levels
        return levels


def first(levels: list, level: str) -> int:
    """Seconds until ``level`` is first chosen (1-based); fails when it never is."""
    assert level in levels, levels
    return levels.index(level) + 1


def test_a_weak_link_steps_down_to_low_then_to_sound_only_and_back_up():
    link = Link(ViewerLayers(started_at=0.0))
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
    assert viewer.from_loss(0.5, 1_500_000, 1.0) is None  # one lossy second is a burst
    assert viewer.from_loss(None, 1_500_000, 2.0) is None  # no new report: the streak stands
    assert viewer.from_loss(0.5, 1_500_000, 3.0) == 1_350_000  # two lossy reports: cut


def test_remb_goes_down_at_once_and_up_after_a_hold():
    link = Link(ViewerLayers(started_at=0.0))
    link.run(5, 10e6, remb=3e6)
    assert link.run(1, 10e6, remb=500_000) == ["low"]
    up = link.run(5, 10e6, remb=3e6)
    assert up[:2] == ["low", "low"] and up[-1] == "high"
