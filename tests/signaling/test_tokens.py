import pytest

from signaling.errors import Unauthorized
from signaling.tokens import TokenSigner

SECRET = b"0123456789abcdef0123456789abcdef"


def test_tokens_carry_role_and_point_and_verify():
    signer = TokenSigner(SECRET)
    ident = signer.verify(signer.issue("point", point="vinh"))
    assert (ident.role, ident.point) == ("point", "vinh")
    assert signer.verify(signer.issue("chair")).point is None


@pytest.mark.parametrize("mangle", [
    lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # signature changed
    lambda t: "eyJyIjoiY2hhaXIiLCJsIjoieCIsImciOjB9." + t.split(".")[1],  # payload swapped
    lambda t: "garbage",
    lambda t: "",
])
def test_forged_or_damaged_tokens_are_refused(mangle):
    signer = TokenSigner(SECRET)
    with pytest.raises(Unauthorized):
        signer.verify(mangle(signer.issue("point", point="vinh")))


def test_another_secret_does_not_verify():
    token = TokenSigner(b"x" * 32).issue("chair")
    with pytest.raises(Unauthorized):
        TokenSigner(SECRET).verify(token)


def test_rotation_revokes_one_station_only():
    signer = TokenSigner(SECRET)
    vinh, cua_lo = signer.issue("point", point="vinh"), signer.issue("point", point="cua-lo")
    signer.rotate("point:vinh")
    with pytest.raises(Unauthorized, match="revoked"):
        signer.verify(vinh)
    signer.verify(cua_lo)
    signer.verify(signer.issue("point", point="vinh"))  # the new link works


def test_expired_tokens_are_refused():
    signer = TokenSigner(SECRET)
    token = signer.issue("technician", label="t", ttl_s=10)
    with pytest.raises(Unauthorized, match="expired"):
        signer.verify(token, now=10**10)


def test_station_roles_need_a_point():
    with pytest.raises(ValueError):
        TokenSigner(SECRET).issue("point")
    with pytest.raises(ValueError):
        TokenSigner(SECRET).issue("chair", point="vinh")
