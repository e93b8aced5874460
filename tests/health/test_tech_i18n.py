"""The dashboard's and pre-join check's strings: same keys and placeholders in vi, en, ms,
and every key the pages use exists."""

import json
import re
from pathlib import Path

from server.i18n import LANGS, Catalogs

CLIENT = Path(__file__).resolve().parents[2] / "client_web"
FILES = [CLIENT / "js" / "tech.js", CLIENT / "js" / "precheck.js",
         CLIENT / "templates" / "tech.html", CLIENT / "templates" / "precheck.html"]


def load(lang):
    return json.loads((CLIENT / "i18n" / lang / "tech.json").read_text(encoding="utf-8"))


def test_same_keys_and_placeholders_in_every_language():
    cats = {lang: load(lang) for lang in LANGS}
    keys = set(cats["en"])
    for lang, cat in cats.items():
        assert set(cat) == keys, (lang, set(cat) ^ keys)
        for key, text in cat.items():
            assert text.strip(), (lang, key)
            assert set(re.findall(r"\{(\w+)\}", text)) == set(re.findall(r"\{(\w+)\}", cats["en"][key])), (lang, key)


def test_every_static_key_used_exists():
    merged = Catalogs(CLIENT / "i18n").catalog("vi")
    used = set()
    for path in FILES:
        text = path.read_text(encoding="utf-8")
        used |= set(re.findall(r"""\bt\(\s*["']((?:tech|precheck|error|conn|common)\.[\w.]+)["']""", text))
    assert used, "no keys found"
    missing = sorted(k for k in used if not k.endswith(".") and k not in merged)
    assert not missing, missing


def test_dynamic_key_families_are_complete():
    cat = load("en")
    from server.health.thresholds import RATINGS

    for rating in (*RATINGS, "unknown"):
        assert f"tech.rating.{rating}" in cat
    # reasons are built by the monitor (immediate ones) and by rating.py (sampled ones)
    health = Path(__file__).resolve().parents[2] / "server" / "health"
    monitor = "".join((health / name).read_text() for name in ("monitor.py", "rating.py"))
    codes = set(re.findall(r'_reason\(\s*"(\w+)"', monitor))
    codes |= set(re.findall(r'_limit_reasons\(\s*reasons,\s*"(\w+)"', monitor))
    codes |= {"fps"}  # _fps_reason
    assert {"offline", "media_silence", "loss_up", "rtt"} <= codes
    for code in codes:
        assert f"tech.reason.{code}" in cat, code
    for v in ("checking", "ready", "weak", "blocked"):
        assert f"precheck.verdict.{v}" in cat
    for s in ("checking", "ok", "missing", "denied", "silent"):
        assert f"precheck.status.{s}" in cat
