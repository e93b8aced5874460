"""The one exception the media package raises to the rest of the server."""

from __future__ import annotations

CODES = ("bad_request", "unavailable", "not_found")


class MediaError(Exception):
    """A media operation failed for a reason the client can be told.

    ``code`` is one of ``bad_request``, ``unavailable``, ``not_found`` (the protocol's
    stable error words); ``message`` is a human sentence, never a traceback."""

    def __init__(self, code: str, message: str) -> None:
        if code not in CODES:
            raise ValueError(f"unknown MediaError code {code!r}")
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
