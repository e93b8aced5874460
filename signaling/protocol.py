"""The client events of the `/conf` namespace and the permission each needs (DESIGN §4).

The server authorises every event with this table; the names are a contract other tools use."""

from .roles import Perm

EVENT_PERMISSIONS: dict[str, Perm] = {
    "conference:open": Perm.MODERATE,
    "conference:close": Perm.MODERATE,
    "conference:pause": Perm.MODERATE,
    "conference:resume": Perm.MODERATE,
    "floor:request": Perm.REQUEST_FLOOR,
    "floor:cancel": Perm.REQUEST_FLOOR,
    "floor:grant": Perm.MODERATE,
    "floor:deny": Perm.MODERATE,
    "floor:move": Perm.MODERATE,
    "floor:revoke": Perm.MODERATE,
    "floor:extend": Perm.MODERATE,
    "audio:mute": Perm.MODERATE,
    "recording:start": Perm.RECORD,
    "recording:stop": Perm.RECORD,
    "agenda:set": Perm.MODERATE,
    "clock:sync": Perm.VIEW,
    "state:get": Perm.VIEW,
    "message:send": Perm.MESSAGE,
    "rtc:start": Perm.VIEW,
    "rtc:answer": Perm.VIEW,
    "preview:set": Perm.PREVIEW,
    "tiles:view": Perm.VIEW,
    "stats:report": Perm.VIEW,
    "health:history": Perm.HEALTH,
    "precheck:start": Perm.PUBLISH,
    "precheck:answer": Perm.PUBLISH,
    "precheck:result": Perm.PUBLISH,
    "precheck:stop": Perm.PUBLISH,
}

ERROR_CODES = ("bad_request", "unauthorized", "forbidden", "not_found", "conflict",
               "rate_limited", "unavailable", "internal")
