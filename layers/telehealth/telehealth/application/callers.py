"""Who is calling, from the claims API Gateway's authorizer put in the event.

Roles come from the token's issuer (which pool) and, in the workforce pool, from groups, which
only admins set. Nothing here reads an attribute a user can write about themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from telehealth.domain.appointments import Actor
from telehealth.errors import NotFoundError as NotFoundError  # in telehealth.errors, the API maps it


class NotAuthorizedError(Exception):
    """The caller may not do this (403); the message says what, not who they are."""


@dataclass(frozen=True)
class Caller:
    actor: Actor
    subject: str  # Cognito sub (users) or client id (machine clients)
    scopes: frozenset[str]
    groups: frozenset[str]

    def require(self, *actors: Actor) -> None:
        if self.actor not in actors:
            raise NotAuthorizedError("This route is not open to your role.")

    def require_scope(self, scope: str) -> None:
        if self.actor is not Actor.MACHINE or scope not in self.scopes:
            raise NotAuthorizedError("This route needs a machine client with the right scope.")


def _groups(raw: str) -> frozenset[str]:
    # API Gateway flattens the groups list into a string: "[a b]", or "a,b" in some shapes.
    return frozenset(g for g in raw.strip("[]").replace(",", " ").split() if g)


def caller_from_claims(claims: Mapping[str, str], *, workforce_pool_id: str, patient_pool_id: str) -> Caller:
    issuer = claims.get("iss", "")
    pool = issuer.rsplit("/", 1)[-1]
    scopes = frozenset(claims.get("scope", "").split())
    groups = _groups(claims.get("cognito:groups", ""))
    if pool == patient_pool_id:  # the patient pool has no groups and no machine clients
        return Caller(Actor.PATIENT, claims["sub"], scopes, frozenset())
    if pool != workforce_pool_id:
        raise NotAuthorizedError("The token is not from this clinic.")
    if "username" not in claims and claims.get("client_id") == claims.get("sub"):  # client credentials
        return Caller(Actor.MACHINE, claims["sub"], scopes, frozenset())
    if "admins" in groups or "staff" in groups:
        return Caller(Actor.STAFF, claims["sub"], scopes, groups)
    if "providers" in groups:
        return Caller(Actor.PROVIDER, claims["sub"], scopes, groups)
    raise NotAuthorizedError("Your account has no role in this clinic yet.")
