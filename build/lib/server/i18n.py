"""UI string catalogs: client_web/i18n/<lang>/<area>.json, merged per language."""

from __future__ import annotations

import json
from pathlib import Path

LANGS = ("vi", "en", "ms")
DEFAULT_LANG = "vi"


class Catalogs:
    def __init__(self, folder: Path) -> None:
        self.by_lang: dict[str, dict[str, str]] = {}
        for lang in LANGS:
            merged: dict[str, str] = {}
            for path in sorted((folder / lang).glob("*.json")):
                merged.update(json.loads(path.read_text(encoding="utf-8")))
            self.by_lang[lang] = merged

    def pick(self, requested: str | None, default: str = DEFAULT_LANG) -> str:
        return requested if requested in LANGS else default

    def catalog(self, lang: str) -> dict[str, str]:
        # English fills keys a translation lacks, then the key itself shows.
        return {**self.by_lang["en"], **self.by_lang[lang]}

    def translator(self, lang: str):
        catalog = self.catalog(lang)

        def t(key: str, **params: object) -> str:
            text = catalog.get(key, key)
            for name, value in params.items():
                text = text.replace("{" + name + "}", str(value))
            return text

        return t

    def missing(self) -> dict[str, list[str]]:
        """Keys some language lacks (a test keeps this empty)."""
        every = set().union(*(set(c) for c in self.by_lang.values()))
        return {lang: sorted(every - set(c)) for lang, c in self.by_lang.items() if every - set(c)}
