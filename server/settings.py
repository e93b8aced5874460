"""Settings: config/dewan.toml defaults, a user file, DEWAN_<SECTION>_<KEY> variables, flags.

Unknown keys and malformed files stop start-up with a message naming the file, line and fix.
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from signaling.floor import FloorPolicy

from .health.thresholds import HealthThresholds
from .media.turn import check_urls

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config" / "dewan.toml"


class ConfigError(Exception):
    pass


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServerSettings(_Section):
    host: str = "0.0.0.0"
    port: int = Field(8443, ge=0, le=65535)
    http: bool = False
    state_dir: str = "state"
    public_url: str = ""
    tls_cert: str = ""
    tls_key: str = ""
    log_level: str = "info"
    log_json: bool = False
    redis: str = ""  # redis://host:port/db: state and broadcasts shared by several processes
    lease_ttl_s: float = Field(10.0, ge=1, le=120)  # the media lease (several processes)


class ConferenceSettings(_Section):
    id: str = Field("main", pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    title: str = ""
    points_file: str = "points.toml"


class FloorSettings(_Section):
    default_limit_s: int = Field(180, ge=10, le=3600)
    max_limit_s: int = Field(3600, ge=10, le=86400)
    on_expiry: str = Field("warn", pattern="^(warn|release)$")
    grace_s: float = Field(30, ge=0, le=3600)
    warning_s: int = Field(30, ge=0, le=600)

    def policy(self) -> FloorPolicy:
        return FloorPolicy(self.default_limit_s, self.max_limit_s, self.on_expiry, self.grace_s)


class MediaSettingsSection(_Section):
    ice_servers: list[str] = []
    ice_host_addresses: list[str] = []
    udp_port: int = Field(0, ge=0, le=65535)
    announced_address: str = ""
    turn_urls: list[str] = []
    turn_secret: str = ""
    turn_ttl_s: int = Field(86400, ge=60, le=7 * 86400)
    # video m-lines of a chair console / hall station / technician dashboard (pages through
    # the points); at most 49 so the browser's answer stays under the 64 KiB socket buffer
    tile_slots: int = Field(25, ge=1, le=49)


class SecuritySettings(_Section):
    secret: str = ""
    events_per_s: float = Field(10, gt=0)
    events_burst: int = Field(30, ge=1)
    max_connections_per_token: int = Field(6, ge=1)
    refusal_log_lines: int = Field(20, ge=1)  # refused events logged per connection per 10 s
    metrics_localhost_only: bool = False


class ChairLink(_Section):
    """A named moderator: one link, one identity (the actor `chair:<id>` in the event log)."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    name: str = Field(min_length=1, max_length=120)
    title: str = Field("", max_length=200)


class LinksSettings(_Section):
    technicians: list[str] = Field(["tech-1"], min_length=1)
    chairs: list[ChairLink] = []
    ttl_days: float = Field(0, ge=0)  # console links (chair, technicians) expire; 0 = never
    station_ttl_days: float = Field(0, ge=0)  # hall and point links; 0 = never (kiosks bookmark them)

    @field_validator("chairs")
    @classmethod
    def _unique_ids(cls, chairs: list[ChairLink]) -> list[ChairLink]:
        ids = [c.id for c in chairs]
        dupes = sorted({i for i in ids if ids.count(i) > 1} | ({"chair"} & set(ids)))
        if dupes:
            raise ValueError(f"chair ids must be unique and not 'chair' (the unnamed link): {', '.join(dupes)}")
        return chairs

    def chair_people(self) -> dict[str, dict]:
        """actor -> {"name", "title"} for the named moderators."""
        return {f"chair:{c.id}": {"name": c.name, "title": c.title} for c in self.chairs}


class RecordingSettings(_Section):
    auto: bool = False          # start recording when the conference opens
    min_free_gb: float = Field(2.0, ge=0)  # below this much free disk, recording stops
    dir: str = ""               # "" = <state_dir>/recordings; shared by all processes with --redis


class UiSettings(_Section):
    default_lang: str = Field("vi", pattern="^(vi|en|ms)$")


class Settings(_Section):
    server: ServerSettings = ServerSettings()
    conference: ConferenceSettings = ConferenceSettings()
    floor: FloorSettings = FloorSettings()
    media: MediaSettingsSection = MediaSettingsSection()
    security: SecuritySettings = SecuritySettings()
    links: LinksSettings = LinksSettings()
    ui: UiSettings = UiSettings()
    recording: RecordingSettings = RecordingSettings()
    health: dict[str, Any] = {}
    # where the points file is resolved from (the config file's folder)
    config_dir: Path = DEFAULT_CONFIG.parent

    @property
    def state_dir(self) -> Path:
        return Path(self.server.state_dir).resolve()

    @property
    def recordings_dir(self) -> Path:
        return Path(self.recording.dir).resolve() if self.recording.dir else self.state_dir / "recordings"

    @property
    def points_path(self) -> Path:
        path = Path(self.conference.points_file)
        return path if path.is_absolute() else self.config_dir / path


def _read_toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}. Fix the TOML syntax at that line "
                          "(strings in \"quotes\", one key = value per line).") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc.strerror}).") from exc


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _env_value(raw: str, default: object) -> object:
    if isinstance(default, bool):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if isinstance(default, list):
        raw = raw.strip()
        return json.loads(raw) if raw.startswith("[") else [x.strip() for x in raw.split(",") if x.strip()]
    return raw


def _apply_env(data: dict, env: dict[str, str]) -> dict:
    for name, raw in env.items():
        if not name.startswith("DEWAN_") or name.count("_") < 2:
            continue
        section, _, key = name[len("DEWAN_"):].lower().partition("_")
        model = Settings.model_fields.get(section)
        if model is None or section in ("health", "config_dir"):
            continue
        fields = model.annotation.model_fields  # type: ignore[union-attr]
        if key not in fields:
            continue
        data.setdefault(section, {})[key] = _env_value(raw, fields[key].default)
    return data


def _explain(exc: ValidationError, source: str) -> str:
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            lines.append(f"{source}: unknown setting '{where}'. Remove it or fix its spelling "
                         f"(see {DEFAULT_CONFIG} for every setting).")
        else:
            lines.append(f"{source}: setting '{where}': {err['msg']}.")
    return "\n".join(lines)


def load_settings(config_file: Path | None = None, overrides: dict | None = None,
                  env: dict[str, str] | None = None) -> Settings:
    data = _read_toml(DEFAULT_CONFIG)
    source = str(DEFAULT_CONFIG)
    config_dir = DEFAULT_CONFIG.parent
    if config_file is not None:
        config_file = Path(config_file).resolve()
        data = _merge(data, _read_toml(config_file))
        source, config_dir = str(config_file), config_file.parent
    data = _apply_env(data, dict(os.environ if env is None else env))
    for dotted, value in (overrides or {}).items():
        if value is None:
            continue
        section, key = dotted.split(".")
        data.setdefault(section, {})[key] = value
    try:
        settings = Settings.model_validate({**data, "config_dir": config_dir})
    except ValidationError as exc:
        raise ConfigError(_explain(exc, source)) from None
    try:
        HealthThresholds.from_mapping(settings.health)
    except ValueError as exc:
        raise ConfigError(f"{source}: {exc}. See server/health/thresholds.py for the keys.") from None
    media = settings.media
    bad_turn = check_urls(media.turn_urls)
    if bad_turn or (any(u.startswith("turn") for u in media.turn_urls) and not media.turn_secret):
        raise ConfigError(f"{source}: setting 'media.turn_urls': " + (
            bad_turn or "TURN servers need media.turn_secret (coturn's static-auth-secret)") + ".")
    if settings.server.http and not _is_loopback(settings.server.host):
        raise ConfigError(f"{source}: plain HTTP (--http) is allowed on loopback only; "
                          f"use --host 127.0.0.1 or drop --http (host is {settings.server.host!r}).")
    return settings


def _is_loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")
