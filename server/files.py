"""State files that hold secrets (token secret, join links, TLS key, token generations):
created 0600 from the first byte and put in place atomically (temp file + rename), so no other
user can read them at any moment and a crash never leaves a half-written one."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def write_private(path: Path, data: bytes | str, *, keep_existing: bool = False) -> bool:
    """Write ``data`` to ``path`` as a 0600 file, atomically. With ``keep_existing`` an existing
    file wins (two processes creating the same secret agree on the first one); returns whether
    this call's data was put in place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)  # whatever the umask
        view = memoryview(raw)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        if keep_existing:
            try:
                os.link(tmp, path)  # fails if the file exists: never replaces another's secret
            except FileExistsError:
                return False
        else:
            os.replace(tmp, path)
        _fsync_dir(path.parent)
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
