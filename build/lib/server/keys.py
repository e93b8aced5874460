"""The token secret and revocation generations, kept in the state folder."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from signaling.tokens import TokenSigner


def _secret(state_dir: Path, configured: str) -> bytes:
    configured = configured or os.environ.get("DEWAN_SECRET", "")
    if configured:
        return configured.encode()
    path = state_dir / "secret.key"
    if not path.exists():
        state_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip().encode()


def _generations_path(state_dir: Path) -> Path:
    return state_dir / "token-generations.json"


def load_signer(state_dir: Path, configured_secret: str = "") -> TokenSigner:
    path = _generations_path(state_dir)
    generations = json.loads(path.read_text()) if path.exists() else {}
    return TokenSigner(_secret(state_dir, configured_secret), generations)


def save_generations(state_dir: Path, signer: TokenSigner) -> None:
    path = _generations_path(state_dir)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(signer.generations, indent=1, sort_keys=True))
    os.replace(tmp, path)
