"""The hall and the district points, loaded from points.toml (never hard-coded)."""

from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

LANGS = ("vi", "en", "ms")
_SLUG_OK = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


class PointsConfigError(ValueError):
    pass


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def slugify(text: str) -> str:
    """ASCII slug: đ becomes d, diacritics dropped, words joined by '-'."""
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFD", text)
    ascii_text = "".join(c for c in decomposed if not unicodedata.combining(c))
    ascii_text = ascii_text.encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")


@dataclass(frozen=True)
class Point:
    id: str
    names: dict[str, str]
    kind: str  # "hall" | "district"
    unit: str = ""  # city | town | district | commune | ward (administrative level); "" for the hall

    def name(self, lang: str = "vi") -> str:
        return self.names.get(lang) or self.names["vi"]

    def to_json(self) -> dict:
        return {"id": self.id, "names": dict(self.names), "kind": self.kind, "unit": self.unit}


@dataclass(frozen=True)
class PointDirectory:
    hall: Point
    districts: tuple[Point, ...]
    by_id: dict[str, Point] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_id.update({p.id: p for p in (self.hall, *self.districts)})

    def get(self, point_id: str) -> Point | None:
        return self.by_id.get(point_id)

    def __contains__(self, point_id: object) -> bool:
        return point_id in self.by_id

    @property
    def district_ids(self) -> list[str]:
        return [p.id for p in self.districts]

    def to_json(self) -> list[dict]:
        return [p.to_json() for p in (self.hall, *self.districts)]


def _parse_point(raw: dict, kind: str, where: str) -> Point:
    if not isinstance(raw, dict):
        raise PointsConfigError(f"{where}: expected a table")
    names = raw.get("name")
    if not isinstance(names, dict) or not isinstance(names.get("vi"), str):
        raise PointsConfigError(f"{where}: needs name = {{ vi = \"...\", en = \"...\", ms = \"...\" }}")
    unknown = set(names) - set(LANGS)
    if unknown:
        raise PointsConfigError(f"{where}: unknown language(s) {sorted(unknown)}; use {LANGS}")
    names = {lang: nfc(str(value)).strip() for lang, value in names.items()}
    point_id = raw.get("id") or slugify(names["vi"])
    if not isinstance(point_id, str) or not _SLUG_OK.match(point_id):
        raise PointsConfigError(f"{where}: id {point_id!r} must be an ASCII slug like 'cua-lo'")
    extra = set(raw) - {"id", "name", "unit"}
    if extra:
        raise PointsConfigError(f"{where}: unknown key(s) {sorted(extra)}; allowed: id, name, unit")
    return Point(id=point_id, names=names, kind=kind, unit=str(raw.get("unit", "")))


def load_points(path: Path) -> PointDirectory:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise PointsConfigError(f"{path}: {exc}. Fix the TOML syntax on that line.") from exc
    except OSError as exc:
        raise PointsConfigError(f"{path}: cannot read ({exc.strerror})") from exc
    if "hall" not in data:
        raise PointsConfigError(f"{path}: missing the [hall] table")
    hall = _parse_point(data["hall"], "hall", f"{path} [hall]")
    raw_points = data.get("points", [])
    if not isinstance(raw_points, list) or not raw_points:
        raise PointsConfigError(f"{path}: add at least one [[points]] table")
    districts = tuple(
        _parse_point(raw, "district", f"{path} [[points]] #{i + 1}") for i, raw in enumerate(raw_points)
    )
    seen: set[str] = set()
    for p in (hall, *districts):
        if p.id in seen:
            raise PointsConfigError(f"{path}: duplicate point id {p.id!r}; give one an explicit id")
        seen.add(p.id)
    return PointDirectory(hall=hall, districts=districts)
