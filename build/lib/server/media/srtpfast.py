"""SRTP protect/unprotect without pylibsrtp's per-call overhead.

pylibsrtp's ``Session.protect`` type-checks, allocates an ``int *`` and goes through a
private dispatcher on every call; at ~10 000 packets/s that is a measurable share of the
relay. :func:`protector` and :func:`unprotector` bind one session's libsrtp context, its
buffer and a length cell once, and call libsrtp directly. They share the session's buffer
with aiortc's own calls, which is safe: everything runs on the event loop thread and each
call copies its result out before returning.
"""

from __future__ import annotations

from typing import Callable

import pylibsrtp
from pylibsrtp._binding import ffi, lib

_BUFFER_LEN = 1500
_TRAILER_LEN = 16 + 128  # SRTP_MAX_TAG_LEN + SRTP_MAX_MKI_LEN (as pylibsrtp reserves)


def _bind(session: pylibsrtp.Session, func, reserve: int) -> Callable[[bytes], bytes]:
    srtp = session._srtp[0]  # private (see selfcheck)
    cdata = session._cdata
    buffer = session._buffer
    length = ffi.new("int *")
    limit = len(buffer) - reserve
    errors = pylibsrtp.ERRORS

    def process(data: bytes) -> bytes:
        n = len(data)
        if n > limit:
            raise pylibsrtp.Error("packet is too long")
        buffer[0:n] = data
        length[0] = n
        rc = func(srtp, cdata, length)
        if rc:
            raise pylibsrtp.Error(errors[rc] if rc < len(errors) else f"libsrtp error {rc}")
        return buffer[0:length[0]]

    return process


def protector(session: pylibsrtp.Session) -> Callable[[bytes], bytes]:
    """``session.protect`` (SRTP, not SRTCP), bound once."""
    return _bind(session, lib.srtp_protect, _TRAILER_LEN)


def unprotector(session: pylibsrtp.Session) -> Callable[[bytes], bytes]:
    """``session.unprotect`` (SRTP, not SRTCP), bound once."""
    return _bind(session, lib.srtp_unprotect, 0)


def check() -> list[str]:
    """Names of the pylibsrtp internals this module needs that are missing."""
    missing = []
    session = pylibsrtp.Session()
    for name in ("_srtp", "_cdata", "_buffer"):
        if not hasattr(session, name):
            missing.append(f"pylibsrtp.Session.{name}")
    for name in ("srtp_protect", "srtp_unprotect"):
        if not hasattr(lib, name):
            missing.append(f"pylibsrtp._binding.lib.{name}")
    if not isinstance(getattr(pylibsrtp, "ERRORS", None), list):
        missing.append("pylibsrtp.ERRORS")
    if not missing and len(session._buffer) != _BUFFER_LEN:
        missing.append(f"pylibsrtp.Session buffer of {_BUFFER_LEN} bytes")
    return missing
