"""The local platform, started once per test session, driven over HTTP as clients drive it."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from local.platform import LocalPlatform, Settings
from local.seed import DEMO_PASSWORD

# Short enough to watch a meeting end itself within a test; Chime's own is five minutes.
EMPTY_MEETING_TIMEOUT_S = 3.0


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPlatform]:
    running = LocalPlatform(
        Settings(
            port=0,
            state_dir=Path(tmp_path_factory.mktemp("local")),
            chime_empty_timeout_s=EMPTY_MEETING_TIMEOUT_S,
            cors_origins=frozenset({"http://portal.example"}),
        )
    )
    running.start()
    yield running
    running.stop()


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def http(method: str, url: str, *, headers: dict[str, str] | None = None, body: bytes | None = None) -> Reply:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return Reply(response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as error:
        return Reply(error.code, dict(error.headers), error.read())


@pytest.fixture(scope="session")
def gateway(platform: LocalPlatform) -> str:
    return platform.urls["gateway"]


def user_tokens(platform: LocalPlatform, tenant_id: str, email: str) -> dict[str, str]:
    tenant = platform.provisioned[tenant_id]
    idp = platform.client("cognito-idp", tenant.region)
    pool = "patients" if email.startswith("patient") else "workforce"
    result = idp.initiate_auth(
        ClientId=tenant.portal_clients[pool],
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": email, "PASSWORD": DEMO_PASSWORD},
    )["AuthenticationResult"]
    return {"access": result["AccessToken"], "id": result["IdToken"]}


def eventually(check: Callable[[], Any], *, timeout_s: float = 15.0, interval_s: float = 0.1) -> Any:
    """The first truthy result of `check` within the timeout, else the assertion that failed."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            result = check()
            if result:
                return result
        except AssertionError:
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout_s} s: {check}")
        time.sleep(interval_s)
