"""Domain errors with stable protocol codes (DESIGN §4). Raised in the domain, translated once."""


class DewanError(Exception):
    code = "internal"

    def __init__(self, message: str, key: str | None = None, **details: object) -> None:
        super().__init__(message)
        self.message = message  # one English sentence, for logs and tools
        self.key = key  # a stable word pages translate ("refusal.<key>" in the catalogs)
        self.details = details

    def to_ack(self) -> dict:
        ack = {"ok": False, "error": self.code, "message": self.message}
        if self.key:
            ack["key"] = self.key
        if self.details:
            ack["details"] = self.details
        return ack


class BadRequest(DewanError):
    code = "bad_request"


class Unauthorized(DewanError):
    code = "unauthorized"


class Forbidden(DewanError):
    code = "forbidden"


class NotFound(DewanError):
    code = "not_found"


class Conflict(DewanError):
    """The state changed meanwhile: the client acted on a stale version."""

    code = "conflict"


class RateLimited(DewanError):
    code = "rate_limited"


class Unavailable(DewanError):
    code = "unavailable"


ERROR_CODES = ("bad_request", "unauthorized", "forbidden", "not_found", "conflict",
               "rate_limited", "unavailable", "internal")
