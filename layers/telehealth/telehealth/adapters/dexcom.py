"""Dexcom's cloud (API v3), for remote monitoring: the `DexcomCloud` client the dexcom function
uses (OAuth 2.0 sign-in, token exchange and rotation, `GET /v3/users/self/egvs`), the seal of a
patient's tokens, and `DexcomFunction`, the way of the api and of the poll to that function
(Lambda Invoke), which alone reaches Dexcom and holds no grant of the clinic's data.

Dexcom rotates refresh tokens: each use answers a new one and the old one is spent, so the new one
is sealed and kept before the access token is used. Requests and answers name the patient's data:
nothing here logs them; an error carries Dexcom's error name or status alone.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from telehealth.adapters.sealing import Seal
from telehealth.api_conventions import DEXCOM_SEAL_PURPOSE
from telehealth.devices import dexcom
from telehealth.errors import DexcomRefusedError, DexcomThrottledError, DexcomUnavailableError

TIMEOUT_S = 20


@dataclass(frozen=True)
class DexcomTokens:
    access: str
    refresh: str


class DexcomCloud:
    """Dexcom's API with the tenant's app credentials (the secret's JSON: client id and secret)."""

    def __init__(self, credentials: Mapping[str, Any], *, api_base: str | None = None) -> None:
        self.client_id = str(credentials.get("client_id", ""))
        self.client_secret = str(credentials.get("client_secret", ""))
        self.api = (api_base or os.environ.get("DEXCOM_API_BASE", "https://api.dexcom.com")).rstrip("/")

    def authorize_url(self, state: str, redirect_uri: str) -> str:
        query = {
            "client_id": self.client_id,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": "offline_access",
            "state": state,
        }
        return f"{self.api}/v3/oauth2/login?{urllib.parse.urlencode(query)}"

    def exchange(self, code: str, redirect_uri: str) -> DexcomTokens:
        return self._token({"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri})

    def refresh(self, refresh_token: str, redirect_uri: str) -> DexcomTokens:
        return self._token(
            {"grant_type": "refresh_token", "refresh_token": refresh_token, "redirect_uri": redirect_uri}
        )

    def egvs(self, access: str, start: datetime, end: datetime) -> dict[str, Any]:
        """One window's estimated glucose values (at most 30 days: `dexcom.windows`)."""
        url = f"{self.api}/v3/users/self/egvs?{urllib.parse.urlencode(dexcom.query(start, end))}"
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {access}"})  # noqa: S310 (https, or the stand-in)
        return dict(self._answer(request))

    def _token(self, form: dict[str, str]) -> DexcomTokens:
        body = urllib.parse.urlencode(
            {**form, "client_id": self.client_id, "client_secret": self.client_secret}
        ).encode()
        request = urllib.request.Request(  # noqa: S310 (https, or the stand-in)
            f"{self.api}/v3/oauth2/token",
            data=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            method="POST",
        )
        answer = self._answer(request)
        return DexcomTokens(str(answer["access_token"]), str(answer["refresh_token"]))

    @staticmethod
    def _answer(request: urllib.request.Request) -> Any:
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:  # noqa: S310
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            if error.code == 429:
                raise DexcomThrottledError("dexcom's rate is spent") from None
            if error.code >= 500 or error.code == 408:
                raise DexcomUnavailableError(f"dexcom answered {error.code}") from None
            try:
                name = str(json.loads(error.read() or b"{}").get("error") or f"http-{error.code}")
            except ValueError:
                name = f"http-{error.code}"
            raise DexcomRefusedError(name) from None
        except (urllib.error.URLError, TimeoutError, OSError):
            raise DexcomUnavailableError("dexcom did not answer") from None


class DexcomSeal(Seal):
    """A patient's Dexcom refresh token sealed under the tenant's dexcom-credentials key, with the
    patient's id as encryption context: opened only by the dexcom function, for that patient."""

    def __init__(self, key_arn: str | None = None, *, client: Any = None) -> None:
        super().__init__(
            key_arn or os.environ["DEXCOM_KEY_ARN"],
            DEXCOM_SEAL_PURPOSE,
            "telehealth:patient",
            lambda: DexcomRefusedError("credential"),
            client=client,
        )


class DexcomFunction:
    """The tenant's dexcom function, which alone reaches Dexcom (for the api and the poll)."""

    def __init__(self, function_name: str | None = None, *, client: Any = None) -> None:
        import boto3
        from botocore.config import Config

        self.function_name = function_name or os.environ["DEXCOM_FUNCTION"]
        self._lambda = client or boto3.client(
            "lambda",
            config=Config(
                connect_timeout=2, read_timeout=25, retries={"mode": "standard", "max_attempts": 1}
            ),
        )

    def _ask(self, request: dict[str, str]) -> dict[str, Any]:
        response = self._lambda.invoke(FunctionName=self.function_name, Payload=json.dumps(request).encode())
        body = json.loads(response["Payload"].read() or b"{}")
        if response.get("FunctionError") or not isinstance(body, dict):
            raise DexcomUnavailableError(f"{self.function_name} failed")
        if body.get("refused"):
            raise DexcomRefusedError(str(body["refused"]))
        if body.get("throttled"):
            raise DexcomThrottledError("dexcom's rate is spent")
        if body.get("unavailable"):
            raise DexcomUnavailableError("dexcom unavailable")
        return body

    def authorize_url(self, state: str, redirect_uri: str) -> str:
        return str(self._ask({"action": "authorize", "state": state, "redirect_uri": redirect_uri})["url"])

    def link(self, patient_id: str, code: str, redirect_uri: str) -> str:
        """The patient's refresh token, sealed (the code exchanged by the function)."""
        asked = {"action": "link", "patient_id": patient_id, "code": code, "redirect_uri": redirect_uri}
        return str(self._ask(asked)["sealed"])

    def rotate(self, patient_id: str, sealed: str, redirect_uri: str) -> tuple[str, str]:
        """The refresh token used (Dexcom spends it): the new one and an access token, both sealed."""
        asked = {"action": "rotate", "patient_id": patient_id, "sealed": sealed, "redirect_uri": redirect_uri}
        found = self._ask(asked)
        return str(found["sealed"]), str(found["access"])

    def glucose(self, patient_id: str, access: str, start: datetime, end: datetime) -> dict[str, Any]:
        """A window's estimated glucose values, as Dexcom's egvs answer (its records' fields the
        readings need)."""
        asked = {
            "action": "glucose",
            "patient_id": patient_id,
            "access": access,
            "start": start.isoformat(),
            "end": end.isoformat(),
        }
        return dict(self._ask(asked)["page"])
