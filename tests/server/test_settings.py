import subprocess
import sys
from pathlib import Path

import pytest

from server.settings import ConfigError, load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_and_overrides_from_env_and_flags():
    s = load_settings(env={"DEWAN_SERVER_PORT": "9000", "DEWAN_MEDIA_ICE_HOST_ADDRESSES": "127.0.0.1,::1",
                           "DEWAN_FLOOR_ON_EXPIRY": "release"})
    assert s.server.port == 9000 and s.media.ice_host_addresses == ["127.0.0.1", "::1"]
    assert s.floor.on_expiry == "release" and s.server.http is False
    s = load_settings(overrides={"server.port": 1234}, env={"DEWAN_SERVER_PORT": "9000"})
    assert s.server.port == 1234  # a flag beats the environment


def test_a_malformed_file_names_the_file_the_line_and_the_fix(tmp_path):
    f = tmp_path / "dewan.toml"
    f.write_text('[server]\nport = 8443\nhost = "0.0.0.0\n')
    with pytest.raises(ConfigError) as err:
        load_settings(f, env={})
    text = str(err.value)
    assert str(f) in text and "line 3" in text and "Fix" in text


def test_unknown_keys_and_bad_values_are_refused(tmp_path):
    f = tmp_path / "dewan.toml"
    f.write_text("[floor]\ngrace_seconds = 5\n")
    with pytest.raises(ConfigError, match="unknown setting 'floor.grace_seconds'"):
        load_settings(f, env={})
    f.write_text('[floor]\non_expiry = "explode"\n')
    with pytest.raises(ConfigError, match="floor.on_expiry"):
        load_settings(f, env={})
    f.write_text("[health]\nloss = 3\n")
    with pytest.raises(ConfigError, match="health"):
        load_settings(f, env={})


def test_plain_http_is_for_loopback_only():
    with pytest.raises(ConfigError, match="loopback"):
        load_settings(overrides={"server.http": True, "server.host": "0.0.0.0"}, env={})
    load_settings(overrides={"server.http": True, "server.host": "127.0.0.1"}, env={})


def test_the_cli_reports_a_broken_config_without_a_traceback(tmp_path):
    f = tmp_path / "dewan.toml"
    f.write_text("[server\n")
    out = subprocess.run([sys.executable, "-m", "server", "links", "--config", str(f), "--state-dir",
                          str(tmp_path / "s")], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 2
    assert str(f) in out.stderr and "line 1" in out.stderr and "Traceback" not in out.stderr
