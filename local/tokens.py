"""Tokens, locally: the emulator's signing key for every pool, and the checks API Gateway makes.

moto signs every user pool's tokens with one bundled RSA key and has no `/oauth2/token`, so the
local platform mints client-credentials tokens for machine clients itself, with that same key: one
verifier serves all tokens, and a token of the wrong pool shows in its `iss`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey
from moto.utilities.utils import load_resource

ACCESS_TOKEN_SECONDS = 15 * 60


def _key(name: str) -> RSAKey:
    data = load_resource(f"cognitoidp/resources/{name}")
    return RSAKey.import_key(data["keys"][0] if "keys" in data else data)


_PRIVATE = _key("jwks-private.json")
_PUBLIC = _key("jwks-public.json")


class Unauthorized(Exception):  # noqa: N818 (API Gateway's own word for the answer)
    """What API Gateway's Cognito authorizer answers 401 for; the reason stays in the server."""


@dataclass(frozen=True)
class Authorizer:
    """API Gateway's COGNITO_USER_POOLS authorizer for one API: the pools it trusts."""

    issuers: frozenset[str]

    def check(self, header: str | None, scopes: Iterable[str], now: float | None = None) -> dict[str, Any]:
        """The token's claims if API Gateway would let the request through, else Unauthorized.

        With OAuth scopes on the method, API Gateway wants an access token carrying one of them;
        without, an ID token. Signature, issuer and expiry are checked either way, nothing else
        (audience, groups and relationships are the handler's business).
        """
        if not header:
            raise Unauthorized("no token")
        token = header.removeprefix("Bearer ").strip()
        try:
            claims: dict[str, Any] = dict(jwt.decode(token, _PUBLIC, algorithms=["RS256"]).claims)
        except (JoseError, ValueError) as error:
            raise Unauthorized(f"bad token: {type(error).__name__}") from error
        if claims.get("iss") not in self.issuers:
            raise Unauthorized("issuer is not one of this API's pools")
        if float(claims.get("exp", 0)) <= (now if now is not None else time.time()):
            raise Unauthorized("expired")
        required = set(scopes)
        if required:
            granted = set(str(claims.get("scope", "")).split())
            if claims.get("token_use") != "access" or not granted & required:
                raise Unauthorized("scope")
        elif claims.get("token_use") != "id":
            raise Unauthorized("an ID token is required")
        return claims


def api_gateway_claims(claims: dict[str, Any]) -> dict[str, str]:
    """Claims as API Gateway puts them in `requestContext.authorizer.claims`: strings only."""
    out: dict[str, str] = {}
    for name, value in claims.items():
        if isinstance(value, list):
            out[name] = "[" + " ".join(str(v) for v in value) + "]"
        else:
            out[name] = str(value)
    return out


def mint_client_credentials_token(*, issuer: str, client_id: str, scopes: Iterable[str]) -> str:
    """An access token shaped like Cognito's for the client-credentials grant."""
    now = int(time.time())
    claims = {
        "sub": client_id,
        "token_use": "access",
        "scope": " ".join(scopes),
        "auth_time": now,
        "iss": issuer,
        "exp": now + ACCESS_TOKEN_SECONDS,
        "iat": now,
        "version": 2,
        "jti": str(uuid.uuid4()),
        "client_id": client_id,
    }
    return jwt.encode({"alg": "RS256", "kid": "dummy"}, claims, _PRIVATE)


def with_claims(token: str, claims: dict[str, Any], *, lifetime_s: int | None = None) -> str:
    """A pool's token with claims added, signed again with the pool's key: the ID token Cognito
    issues for an authorization request with a `nonce` carries it, and moto's cannot; with
    `lifetime_s`, expiring that long after it was issued (moto's live an hour, whatever the
    client's validity)."""
    decoded = jwt.decode(token, _PUBLIC, algorithms=["RS256"])
    lifetime = {"exp": int(decoded.claims["iat"]) + lifetime_s} if lifetime_s is not None else {}
    return jwt.encode(dict(decoded.header), {**decoded.claims, **claims, **lifetime}, _PRIVATE)


def sign_for_tests(claims: dict[str, Any], *, forged: bool = False) -> str:
    """A token with arbitrary claims; `forged` signs it with a key the verifier does not trust."""
    key = RSAKey.generate_key(2048) if forged else _PRIVATE
    return jwt.encode({"alg": "RS256", "kid": "dummy"}, claims, key)
