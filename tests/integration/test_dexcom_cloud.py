"""The Dexcom client against the Dexcom stand-in: the sign-in's code taken once and only for its
redirect URI, refresh tokens rotated (a spent one refused), the glucose of a window of at most 30
days, newest first and hours behind now, and Dexcom's rate answered 429. Every value is synthetic."""

from __future__ import annotations

import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from infra.assets import ROOT
from local.standins.dexcom import DELAY, DexcomStandIn
from telehealth.adapters.dexcom import DexcomCloud
from telehealth.devices import dexcom
from telehealth.errors import DexcomRefusedError, DexcomThrottledError

BACK = "https://care.example/"


@pytest.fixture
def cloud() -> Iterator[tuple[DexcomStandIn, DexcomCloud]]:
    stand_in = DexcomStandIn("app", "secret", ROOT / "tests" / "fixtures" / "cgm" / "adult-001.json")
    stand_in.redirect_uris.append(BACK)
    stand_in.start()
    try:
        yield stand_in, DexcomCloud({"client_id": "app", "client_secret": "secret"}, api_base=stand_in.url)
    finally:
        stand_in.stop()


def signed_in(stand_in: DexcomStandIn, client: DexcomCloud, email: str = "p@example.com") -> str:
    """The patient at Dexcom's page: the code it sends back to the redirect URI."""
    page = urllib.request.urlopen(client.authorize_url("state-123", BACK), timeout=5).read().decode()  # noqa: S310
    form = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', page)) | {"email": email}

    class Stay(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    with pytest.raises(urllib.error.HTTPError) as back:
        urllib.request.build_opener(Stay).open(
            f"{stand_in.url}/v3/oauth2/login", urllib.parse.urlencode(form).encode(), timeout=5
        )
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(back.value.headers["Location"]).query))
    assert query["state"] == "state-123"
    return query["code"]


def test_a_code_is_taken_once_and_a_refresh_token_is_spent_by_its_use(
    cloud: tuple[DexcomStandIn, DexcomCloud],
) -> None:
    stand_in, client = cloud
    code = signed_in(stand_in, client)
    with pytest.raises(DexcomRefusedError):
        client.exchange(code, "https://elsewhere.example/")  # not the sign-in's redirect URI
    code = signed_in(stand_in, client)
    first = client.exchange(code, BACK)
    with pytest.raises(DexcomRefusedError) as again:
        client.exchange(code, BACK)
    assert again.value.code == "invalid_grant"
    second = client.refresh(first.refresh, BACK)
    assert second.refresh != first.refresh
    with pytest.raises(DexcomRefusedError):
        client.refresh(first.refresh, BACK)  # rotated: the old one is spent
    wrong = DexcomCloud({"client_id": "app", "client_secret": "nope"}, api_base=stand_in.url)
    with pytest.raises(DexcomRefusedError):
        wrong.refresh(second.refresh, BACK)


def test_glucose_comes_a_window_at_a_time_hours_late_and_past_the_rate_429(
    cloud: tuple[DexcomStandIn, DexcomCloud],
) -> None:
    stand_in, client = cloud
    tokens = client.exchange(signed_in(stand_in, client), BACK)
    now = datetime.now(UTC)
    page = client.egvs(tokens.access, now - timedelta(days=1), now)
    taken, refused = dexcom.readings(page, patient_id="p1")
    assert not refused and 21 * 12 - 1 <= len(taken) <= 21 * 12 + 1  # the day but its last 3 hours
    newest = max(r.effective for r in taken)
    assert now - DELAY - timedelta(minutes=5) <= newest <= now - DELAY
    assert page["records"][0]["systemTime"] > page["records"][-1]["systemTime"]  # newest first
    with pytest.raises(DexcomRefusedError):
        client.egvs(tokens.access, now - timedelta(days=31), now)  # more than 30 days
    stand_in.set_rate(1)
    with pytest.raises(DexcomThrottledError):
        for _ in range(3):
            client.egvs(tokens.access, now - timedelta(hours=1), now)
