import unicodedata
from pathlib import Path

import pytest

from signaling.points import PointsConfigError, load_points, slugify

DEFAULT = Path(__file__).resolve().parents[2] / "config" / "points.toml"


def test_the_default_lists_the_hall_and_the_21_units_of_nghe_an():
    points = load_points(DEFAULT)
    assert points.hall.kind == "hall"
    assert len(points.districts) == 21
    units = [p.unit for p in points.districts]
    assert (units.count("city"), units.count("town"), units.count("district")) == (1, 3, 17)
    assert points.get("do-luong").names["vi"] == "Huyện Đô Lương"
    assert points.get("cua-lo").names["en"].endswith("Town")
    for p in (points.hall, *points.districts):
        assert p.id.isascii() and set(p.names) == {"vi", "en", "ms"}
        assert all(unicodedata.is_normalized("NFC", n) for n in p.names.values())


def test_slugify_drops_diacritics_and_turns_d_stroke_into_d():
    assert slugify("Đô Lương") == "do-luong"
    assert slugify("Cửa Lò") == "cua-lo"
    assert slugify("Quỳ Hợp") == "quy-hop"


def test_names_are_normalised_to_nfc_and_ids_derived(tmp_path):
    decomposed = unicodedata.normalize("NFD", "Nghĩa Đàn")
    f = tmp_path / "points.toml"
    f.write_text(f'[hall]\nname = {{ vi = "Hội trường" }}\n[[points]]\nname = {{ vi = "{decomposed}" }}\n')
    points = load_points(f)
    assert points.districts[0].id == "nghia-dan"
    assert points.districts[0].names["vi"] == unicodedata.normalize("NFC", "Nghĩa Đàn")


@pytest.mark.parametrize("text,needle", [
    ('[hall]\nname = { vi = "H" \n', "line"),
    ('[hall]\nname = { vi = "H" }\n[[points]]\nid = "Bad Id"\nname = { vi = "X" }\n', "ASCII slug"),
    ('[hall]\nname = { vi = "H" }\n[[points]]\nname = { vi = "X" }\ncolour = 1\n', "unknown key"),
    ('[hall]\nname = { vi = "H" }\n[[points]]\nname = { vi = "X" }\n[[points]]\nname = { vi = "X" }\n', "duplicate"),
    ('[hall]\nname = { vi = "H" }\n', "at least one"),
])
def test_malformed_files_name_the_file_and_the_fix(tmp_path, text, needle):
    f = tmp_path / "points.toml"
    f.write_text(text)
    with pytest.raises(PointsConfigError) as err:
        load_points(f)
    assert str(f) in str(err.value) and needle in str(err.value)


COMMUNES = DEFAULT.with_name("points-communes.toml")


def test_the_communes_file_lists_the_hall_and_the_130_units_since_july_2025():
    points = load_points(COMMUNES)
    assert points.hall.id == "hall"
    assert len(points.districts) == 130
    units = [p.unit for p in points.districts]
    assert (units.count("commune"), units.count("ward")) == (119, 11)
    assert points.get("vinh-phu").names == {
        "vi": "Phường Vinh Phú", "en": "Vinh Phú Ward", "ms": "Wad Vinh Phú"}
    assert points.get("do-luong").names["vi"] == "Xã Đô Lương"
    for p in points.districts:
        prefix, base = p.names["vi"].split(" ", 1)
        assert prefix == ("Phường" if p.unit == "ward" else "Xã")
        assert p.id == slugify(base)
        assert p.names["en"] == f"{base} {'Ward' if p.unit == 'ward' else 'Commune'}"
        assert p.names["ms"] == f"{'Wad' if p.unit == 'ward' else 'Komun'} {base}"
        assert all(unicodedata.is_normalized("NFC", n) for n in p.names.values())
