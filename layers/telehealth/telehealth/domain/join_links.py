"""Join links: single-use, short-lived, bound to one participant, revocable.

A link is `<appointment id>.<link id>.<secret>`. It travels in a request body or a URL fragment,
never a path or a query string (those reach logs). Only a hash of the secret is stored, so the
table cannot hand a working link to anyone who reads it.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from telehealth.domain.appointments import AppointmentRuleError
from telehealth.domain.visits import Role

_LINK = re.compile(r"^([0-9A-Z]{26})\.([0-9A-Z]{26})\.([A-Za-z0-9_-]{43})$")


class LinkState(Enum):
    PREPARED = "prepared"  # an attendee made at admission, waiting for its participant to ask
    ISSUED = "issued"
    REDEEMED = "redeemed"
    REVOKED = "revoked"


class LinkGoneError(AppointmentRuleError):
    """Used, expired or revoked (410)."""

    def __init__(self, message: str) -> None:
        super().__init__("link-gone", message)


class LinkNotYoursError(Exception):
    """Another participant's link, or one nobody issued (403)."""


@dataclass(frozen=True)
class JoinLink:
    appointment_id: str
    link_id: str
    secret: str

    @property
    def text(self) -> str:
        return f"{self.appointment_id}.{self.link_id}.{self.secret}"

    @property
    def secret_hash(self) -> str:
        return secret_hash(self.secret)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_link(appointment_id: str, link_id: str) -> JoinLink:
    return JoinLink(appointment_id, link_id, secrets.token_urlsafe(32))


def parse_link(text: str) -> JoinLink:
    found = _LINK.match(text.strip())
    if found is None:
        raise LinkNotYoursError("That is not a join link this clinic issued.")
    return JoinLink(*found.groups())


@dataclass(frozen=True)
class IssuedLink:
    """A link as stored: whose it is, which attendee it opens, until when."""

    appointment_id: str
    link_id: str
    role: Role
    holder: str  # the user (Cognito sub) it is bound to
    attendee_id: str
    expires_at: datetime
    state: LinkState
    secret_hash: str


def check_redeemable(stored: IssuedLink, presented: JoinLink, holder: str, now: datetime) -> None:
    """The order matters: a stranger learns nothing about a link's state from the answer."""
    if (
        stored.state is LinkState.PREPARED
        or not secrets.compare_digest(stored.secret_hash, presented.secret_hash)
        or stored.holder != holder
    ):
        raise LinkNotYoursError("This join link belongs to someone else.")
    if stored.state is LinkState.REDEEMED:
        raise LinkGoneError("This join link has been used; ask for a new one.")
    if stored.state is LinkState.REVOKED:
        raise LinkGoneError("This join link was replaced by a newer one; use or ask for the newest.")
    if now >= stored.expires_at:
        raise LinkGoneError("This join link has expired; ask for a new one.")
