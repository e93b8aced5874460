import pytest

from server.health.thresholds import HealthThresholds


def test_defaults():
    th = HealthThresholds()
    assert th.degraded_loss == 0.03 and th.poor_loss == 0.10
    assert th.degraded_rtt_ms == 300 and th.poor_rtt_ms == 800
    assert th.degraded_jitter_ms == 50
    assert th.degraded_fps == 15 and th.poor_fps == 5
    assert th.down_after_silence_s == 3 and th.recover_s == 5


def test_from_mapping_accepts_known_keys_and_ints_for_floats():
    th = HealthThresholds.from_mapping({"poor_loss": 0.2, "recover_s": 8, "alert_level": "poor"})
    assert th.poor_loss == 0.2 and th.recover_s == 8.0 and isinstance(th.recover_s, float)
    assert th.alert_level == "poor"
    assert HealthThresholds.from_mapping(None) == HealthThresholds()
    assert HealthThresholds.from_mapping({}) == HealthThresholds()


@pytest.mark.parametrize(
    "data",
    [
        {"poor_los": 0.2},  # typo: unknown key
        {"poor_loss": "high"},
        {"poor_loss": True},
        {"poor_loss": -1},
        {"poor_loss": 0.01},  # below degraded_loss
        {"degraded_fps": 2},  # below poor_fps
        {"worsen_samples": 5, "worsen_window": 3},
        {"worsen_samples": 1.5},
        {"alert_level": "good"},
        {"recover_s": float("inf")},
    ],
)
def test_from_mapping_rejects(data):
    with pytest.raises(ValueError):
        HealthThresholds.from_mapping(data)
