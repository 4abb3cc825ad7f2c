"""The managed-login stand-in's TOTP against RFC 6238's own test vectors (SHA-1)."""

from __future__ import annotations

import base64

import pytest

from local.signin import totp, totp_matches

# RFC 6238 appendix B: the ASCII secret "12345678901234567890", eight digits.
RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()


@pytest.mark.parametrize(
    ("at", "code"),
    [
        (59, "94287082"),
        (1111111109, "07081804"),
        (1111111111, "14050471"),
        (1234567890, "89005924"),
        (2000000000, "69279037"),
        (20000000000, "65353130"),
    ],
)
def test_the_rfc_vectors(at: int, code: str) -> None:
    assert totp(RFC_SECRET, at, digits=8) == code
    assert totp(RFC_SECRET, at) == code[-6:]  # six digits: the same number, modulo 10^6


def test_a_code_is_accepted_one_step_either_side_and_no_further() -> None:
    code = totp(RFC_SECRET, 1_000_000)
    assert all(totp_matches(RFC_SECRET, code, 1_000_000 + drift) for drift in (-30, 0, 30))
    assert not any(totp_matches(RFC_SECRET, code, 1_000_000 + drift) for drift in (-60, 60))
    assert not totp_matches(RFC_SECRET, "", 1_000_000)
