import json

import pytest
from pydantic import ValidationError

from server.health.report import BrowserStatsReport, parse_report

FULL = {
    "outbound": {
        "video": {"fps": 29.5, "width": 640, "height": 360, "bitrate_kbps": 850,
                  "quality_limitation": "bandwidth", "packets_sent": 12345},
        "audio": {"level": 0.2, "bitrate_kbps": 32},
    },
    "inbound": {
        "video": {"fps": 30, "frames_decoded": 900, "freeze_count": 1, "bitrate_kbps": 1500},
        "audio": {"total_audio_energy": 1.5, "packets_lost": 3, "jitter": 0.012},
    },
    "candidate_pair": {"local_type": "relay", "remote_type": "host", "rtt_ms": 42,
                       "available_outgoing_bitrate_kbps": 2500},
    "ice_state": "connected",
    "connection_state": "connected",
}


def test_full_report_parses_and_flattens():
    r = parse_report(FULL)
    f = r.flat()
    assert f["fps"] == 29.5 and f["width"] == 640 and f["height"] == 360
    assert f["quality_limitation"] == "bandwidth"
    assert f["bitrate_up_kbps"] == 882 and f["bitrate_down_kbps"] == 1500
    assert f["jitter_ms"] == pytest.approx(12.0)
    assert f["local_candidate_type"] == "relay" and f["rtt_ms"] == 42
    assert f["ice_state"] == "connected"
    json.dumps(f)


def test_everything_optional_and_extra_ignored():
    r = parse_report({"future_field": {"x": 1}, "outbound": {"video": {"codec": "VP8"}}})
    assert r.outbound.video.fps is None
    assert parse_report({}).flat()["fps"] is None


@pytest.mark.parametrize(
    "bad",
    [
        {"outbound": {"video": {"fps": "thirty"}}},
        {"outbound": {"video": {"fps": "30"}}},  # strings are not numbers
        {"outbound": {"video": {"fps": True}}},
        {"outbound": {"video": {"fps": -1}}},
        {"outbound": {"video": {"width": 10**9}}},
        {"outbound": {"video": {"quality_limitation": "sunspots"}}},
        {"outbound": {"audio": {"level": 1.5}}},
        {"candidate_pair": {"local_type": "carrier-pigeon"}},
        {"candidate_pair": {"rtt_ms": float("nan")}},
        {"ice_state": "exploded"},
        {"outbound": "lots"},
        [1, 2, 3],
    ],
)
def test_invalid_reports_raise_validation_error(bad):
    with pytest.raises(ValidationError):
        BrowserStatsReport.model_validate(bad)
