"""The recording strings: same keys and placeholders in vi, en, ms, and every key the
recording pages and the minutes use exists (stop reasons included)."""

import json
import re
from pathlib import Path

from server.i18n import LANGS, Catalogs
from signaling.recording import STOP_REASONS

CLIENT = Path(__file__).resolve().parents[2] / "client_web"
USERS = [CLIENT / "js" / "chair_recording.js", CLIENT / "js" / "tech_recordings.js", CLIENT / "templates" / "base.html",
         CLIENT / "templates" / "chair.html", CLIENT / "templates" / "tech.html", CLIENT / "templates" / "minutes.html",
         CLIENT / "templates" / "_recordings.html",
         Path(__file__).resolve().parents[2] / "server" / "recording" / "minutes.py"]


def test_same_keys_and_placeholders_in_every_language():
    cats = {lang: json.loads((CLIENT / "i18n" / lang / "recording.json").read_text(encoding="utf-8")) for lang in LANGS}
    for lang, cat in cats.items():
        assert set(cat) == set(cats["en"]), (lang, set(cat) ^ set(cats["en"]))
        for key, text in cat.items():
            assert text.strip()
            assert set(re.findall(r"\{(\w+)\}", text)) == set(re.findall(r"\{(\w+)\}", cats["en"][key])), (lang, key)


def test_every_key_used_exists_in_every_language():
    used = set()
    for path in USERS:
        used |= set(re.findall(r"""\bt\(\s*["']((?:recording|recordings|agenda|minutes)\.[\w.]+)["']""",
                               path.read_text(encoding="utf-8")))
    used |= {f"recording.reason.{r}" for r in STOP_REASONS}
    used |= {f"minutes.how.{h}" for h in ("revoked", "expired", "released", "left", "ongoing")}
    used |= {"event.recording.started", "event.recording.stopped", "event.recording.segment", "event.agenda.set",
             "refusal.already_recording", "refusal.not_recording", "refusal.disk_low", "tech.notice.recording_disk_low"}
    assert len(used) > 40
    catalogs = Catalogs(CLIENT / "i18n")
    for lang in LANGS:
        missing = sorted(k for k in used if not k.endswith(".") and k not in catalogs.by_lang[lang])
        assert not missing, (lang, missing)
