"""Roles are named permission sets; code checks permissions, never role names."""

from enum import StrEnum


class Perm(StrEnum):
    VIEW = "conference.view"            # see the conference, queue and floor
    MODERATE = "conference.moderate"    # open/close, grant/deny/move/revoke/extend, mute
    RECORD = "recording.control"
    REQUEST_FLOOR = "floor.request"     # bound to the token's point
    PUBLISH = "media.publish"           # a station: publishes camera and microphone
    HEALTH = "health.view"              # link health, alerts, history
    MESSAGE = "message.send"            # text a point
    PREVIEW = "media.preview"           # see and hear a point before it has the floor


ROLES: dict[str, frozenset[Perm]] = {
    "chair": frozenset({Perm.VIEW, Perm.MODERATE, Perm.RECORD, Perm.HEALTH, Perm.MESSAGE}),
    "hall": frozenset({Perm.VIEW, Perm.PUBLISH}),
    "point": frozenset({Perm.VIEW, Perm.PUBLISH, Perm.REQUEST_FLOOR}),
    "technician": frozenset({Perm.VIEW, Perm.HEALTH, Perm.MESSAGE, Perm.PREVIEW}),
    "observer": frozenset({Perm.VIEW}),
}

# Roles whose token names a point (a station: one live connection per point).
STATION_ROLES = frozenset({"hall", "point"})


def permissions(role: str) -> frozenset[Perm]:
    return ROLES.get(role, frozenset())


def has(role: str, perm: Perm) -> bool:
    return perm in permissions(role)
