"""Opaque, sortable identifiers (ULID: 48 bits of milliseconds, 80 of randomness, Crockford base32)."""

from __future__ import annotations

import secrets
from datetime import datetime

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_id(now: datetime) -> str:
    value = (int(now.timestamp() * 1000) << 80) | secrets.randbits(80)
    return "".join(_ALPHABET[(value >> shift) & 31] for shift in range(125, -1, -5))


def id_millis(identifier: str) -> int | None:
    """When an identifier `new_id` made was made (its milliseconds since the epoch); None when it
    is not one (another kind of id)."""
    if len(identifier) != 26:
        return None
    value = 0
    for char in identifier.upper():
        digit = _ALPHABET.find(char)
        if digit < 0:
            return None
        value = value << 5 | digit
    return value >> 80
