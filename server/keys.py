"""The token secret and revocation generations, kept in the state folder."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from signaling.tokens import TokenSigner

from .files import write_private


def _secret(state_dir: Path, configured: str) -> bytes:
    configured = configured or os.environ.get("DEWAN_SECRET", "")
    if configured:
        return configured.encode()
    path = state_dir / "secret.key"
    if not path.exists():
        write_private(path, secrets.token_urlsafe(32), keep_existing=True)
    return path.read_text().strip().encode()


def _generations_path(state_dir: Path) -> Path:
    return state_dir / "token-generations.json"


def load_signer(state_dir: Path, configured_secret: str = "") -> TokenSigner:
    path = _generations_path(state_dir)
    generations = json.loads(path.read_text()) if path.exists() else {}
    return TokenSigner(_secret(state_dir, configured_secret), generations)


def save_generations(state_dir: Path, signer: TokenSigner) -> None:
    write_private(_generations_path(state_dir), json.dumps(signer.generations, indent=1, sort_keys=True))
