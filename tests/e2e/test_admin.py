"""Clinic administration over HTTP: an admin changes the clinic's settings and services and booking
follows without a deploy; anyone else is refused and nothing changes."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest

from local.platform import LocalPlatform
from local.seed import SEED_PROVIDERS
from telehealth.adapters.healthlake import HealthLakeFhirStore
from tests.conftest import CLINIC_SETTINGS_TTL_S, VISIT_TIMINGS, Reply, eventually, user_tokens
from tests.e2e.test_scheduling import RIVERSIDE, _used, book, call, fresh_slot, open_slots


@pytest.fixture(scope="module")
def tokens(platform: LocalPlatform) -> dict[str, str]:
    people = {
        "admin": "admin@riverside.example",
        "staff": "staff@riverside.example",
        "provider": "dr.ramirez@riverside.example",
        "patient": "patient.one@riverside.example",
    }
    return {role: user_tokens(platform, RIVERSIDE, email)["access"] for role, email in people.items()}


RAMIREZ = "/v1/admin/providers/dr-ramirez"


def admin_call(gateway: str, method: str, path: str, token: str, body: Any = None) -> Reply:
    """A call below /v1/admin/, waiting out the route group's throttle (10 a second, bursts of
    20, shared by every admin route as one API Gateway method): a 429 is tried again, for at
    most 5 seconds."""
    deadline = time.monotonic() + 5
    while True:
        reply = call(gateway, method, path, token, body)
        if reply.status != 429 or time.monotonic() > deadline:
            return reply
        time.sleep(0.2)


def _settings(gateway: str, token: str) -> dict[str, Any]:
    reply = admin_call(gateway, "GET", "/v1/admin/settings", token)
    assert reply.status == 200, reply.body
    found: dict[str, Any] = reply.json()
    return found


def _forbidden(reply: Reply) -> None:
    assert reply.status == 403, reply.body
    assert reply.headers["Content-Type"] == "application/problem+json"
    assert reply.json()["type"] == "/problems/forbidden"


def test_the_seeded_clinic_is_what_an_admin_reads(gateway: str, tokens: dict[str, str]) -> None:
    before = _settings(gateway, tokens["admin"])
    # The tenant file's seed value and the session's own, written through the admin service.
    assert (before["cancellation_window_hours"], before["max_open_bookings"]) == (24, 100)
    # The session's clocks reached the table.
    assert before["visit_timings"]["join_window"] == VISIT_TIMINGS["join_window"]
    # Providers too: seeded through the admin service, so they have a version an admin reads.
    provider = admin_call(gateway, "GET", RAMIREZ, tokens["admin"]).json()
    assert provider["version"] >= 1 and {c["state"] for c in provider["licenses"]} >= {"NY"}
    services = admin_call(gateway, "GET", "/v1/admin/services", tokens["admin"]).json()["services"]
    assert {s["code"]: s["price_minor"] for s in services}["general"] == 4000


Snapshot = dict[str, Any]


def _snapshot(gateway: str, admin: str) -> Snapshot:
    """Everything the probes below aim at, as an admin reads it."""
    paths = {
        "settings": "/v1/admin/settings",
        "settings history": "/v1/admin/settings/history",
        "services": "/v1/admin/services",
        "general's history": "/v1/admin/services/general/history",
        "ramirez": RAMIREZ,
    }
    found: Snapshot = {}
    for name, path in paths.items():
        reply = admin_call(gateway, "GET", path, admin)
        assert reply.status == 200, (path, reply.body)
        found[name] = reply.json()
    return found


def _general(now: Snapshot) -> dict[str, Any]:
    return next(s for s in now["services"]["services"] if s["code"] == "general")


# Every admin-only route, each with a request that would be valid from an admin (so the refusal
# is the authorization's, not the validation's): (method, path, body from what stands now).
ADMIN_ONLY: dict[str, tuple[str, str, Any]] = {
    "read the settings": ("GET", "/v1/admin/settings", lambda now: None),
    "change the settings": (
        "PUT",
        "/v1/admin/settings",
        lambda now: {"max_open_bookings": 1, "version": now["settings"]["version"]},
    ),
    "read the settings' history": ("GET", "/v1/admin/settings/history", lambda now: None),
    "list the services": ("GET", "/v1/admin/services", lambda now: None),
    "change a service": (
        "PUT",
        "/v1/admin/services/general",
        lambda now: {
            **{
                k: _general(now)[k] for k in ("display", "minutes", "currency", "active", "coding", "version")
            },
            "price_minor": 0,
        },
    ),
    "add a service": (
        "PUT",
        "/v1/admin/services/free-visit",
        lambda now: {"display": "Free visit", "minutes": 30, "price_minor": 0, "version": 0},
    ),
    "read a service's history": ("GET", "/v1/admin/services/general/history", lambda now: None),
    "read a provider": ("GET", RAMIREZ, lambda now: None),
    "change a provider": (
        "PUT",
        RAMIREZ,
        lambda now: {
            **{k: v for k, v in now["ramirez"].items() if k != "provider_id"},
            "family_name": "Changed",
            "licenses": [],
        },
    ),
    "add a provider": (
        "PUT",
        "/v1/admin/providers/dr-intruder",
        lambda now: {**{k: v for k, v in now["ramirez"].items() if k != "provider_id"}, "version": 0},
    ),
}


def test_only_admins_reach_an_admin_route_and_a_refusal_changes_nothing(
    gateway: str, tokens: dict[str, str]
) -> None:
    """Every route of the table for staff, a provider and a patient: a 403 problem each (all
    collected, so one run names every hole), and what an admin reads after is what it was."""
    before = _snapshot(gateway, tokens["admin"])
    wrong: list[tuple[str, str, int, str]] = []
    for route, (method, path, body) in sorted(ADMIN_ONLY.items()):
        for role in ("staff", "provider", "patient"):
            reply = admin_call(gateway, method, path, tokens[role], body(before))
            kind = reply.json().get("type", "") if reply.body else ""
            if (reply.status, reply.headers.get("Content-Type"), kind) != (
                403,
                "application/problem+json",
                "/problems/forbidden",
            ) or b"Lucia" in reply.body:
                wrong.append((route, role, reply.status, kind))
    assert wrong == []
    assert _snapshot(gateway, tokens["admin"]) == before
    assert admin_call(gateway, "GET", "/v1/admin/providers/dr-intruder", tokens["admin"]).status == 404
    assert "free-visit" not in {s["code"] for s in before["services"]["services"]}


def _directory(gateway: str, token: str, limit: int) -> list[dict[str, Any]]:
    """Every page of the directory, following `next_cursor` (at most 20 pages)."""
    listed: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(20):
        query = f"limit={limit}" + (f"&cursor={quote(cursor)}" if cursor else "")
        reply = admin_call(gateway, "GET", f"/v1/admin/providers?{query}", token)
        assert reply.status == 200, reply.body
        page = reply.json()
        assert len(page["providers"]) <= limit
        listed += page["providers"]
        cursor = page["next_cursor"]
        if cursor is None:
            return listed
    raise AssertionError("the directory did not end within 20 pages")


def test_admins_and_staff_page_through_the_provider_directory_and_no_one_else_sees_it(
    gateway: str, tokens: dict[str, str]
) -> None:
    seeded = {s.provider_id for s in SEED_PROVIDERS}
    by_admin = _directory(gateway, tokens["admin"], limit=5)
    ids = [p["provider_id"] for p in by_admin]
    assert len(ids) == len(set(ids)) and seeded <= set(ids)  # every provider once, over 3+ pages
    names = [(p["family_name"].casefold(), p["given_name"].casefold(), p["provider_id"]) for p in by_admin]
    assert names == sorted(names)
    okafor = next(p for p in by_admin if p["provider_id"] == "dr-okafor")
    full = admin_call(gateway, "GET", "/v1/admin/providers/dr-okafor", tokens["admin"]).json()
    # Seeded with two licences through 2027 and one that lapsed at the end of 2025.
    current = {c["state"] for c in full["licenses"] if c["valid_until"] >= "2027"}
    lapsed = {c["state"] for c in full["licenses"] if c["valid_until"] < "2026"} - current
    assert current and lapsed
    assert okafor == {
        "provider_id": "dr-okafor",
        "given_name": "Ngozi",
        "family_name": "Okafor",
        "specialty": "family-medicine",
        "languages": ["en", "yo"],
        "zone": "America/New_York",
        "states_today": sorted(current),
        "version": full["version"],
    }
    # Staff read the same list (in one page), to pick a provider.
    assert _directory(gateway, tokens["staff"], limit=100) == by_admin

    for role in ("provider", "patient"):
        refused = admin_call(gateway, "GET", "/v1/admin/providers", tokens[role])
        _forbidden(refused)
        assert b"Okafor" not in refused.body and b"dr-" not in refused.body
    for query in ("cursor=bm90IGEgcGxhY2U%3D", "limit=0", "limit=101"):
        bad = admin_call(gateway, "GET", f"/v1/admin/providers?{query}", tokens["staff"])
        assert (bad.status, bad.json()["type"]) == (400, "/problems/invalid-request"), (query, bad.body)


def test_an_admin_shortens_the_booking_horizon_and_booking_follows_without_a_deploy(
    gateway: str, tokens: dict[str, str]
) -> None:
    admin, patient = tokens["admin"], tokens["patient"]
    before = _settings(gateway, admin)
    slot = fresh_slot(gateway, patient, days_ahead=3)
    changed = call(
        gateway, "PUT", "/v1/admin/settings", admin, {"booking_horizon_days": 2, "version": before["version"]}
    )
    assert changed.status == 200, changed.body
    version = changed.json()["version"]
    try:
        assert version == before["version"] + 1
        assert changed.json()["max_open_bookings"] == before["max_open_bookings"]  # the rest stay
        # Another admin who read the old version is told to read again; nothing changes.
        late = {"booking_horizon_days": 90, "version": before["version"]}
        stale = admin_call(gateway, "PUT", "/v1/admin/settings", admin, late)
        assert (stale.status, stale.json()["type"]) == (409, "/problems/conflict")

        # Every function re-reads the settings once its copy is older than the cache time (a
        # second in this session; a minute in a clinic). Before that, a booking would succeed.
        time.sleep(CLINIC_SETTINGS_TTL_S + 0.5)
        refused = book(gateway, patient, slot)
        assert refused.status == 422, refused.body
        assert refused.json()["type"] == "/problems/beyond-booking-horizon"
        assert open_slots(gateway, patient, days_ahead=3, specialty="pediatrics") == []  # nor offered

        history = admin_call(gateway, "GET", "/v1/admin/settings/history", admin).json()["versions"]
        assert history[0]["version"] == version
        assert history[0]["changes"] == {"booking_horizon_days": {"before": 180, "after": 2}}
        assert history[0]["by"].startswith("Practitioner/user-")
        assert datetime.fromisoformat(history[0]["at"]) > datetime.now(UTC) - timedelta(minutes=5)
    finally:
        restored = call(
            gateway,
            "PUT",
            "/v1/admin/settings",
            admin,
            {"booking_horizon_days": before["booking_horizon_days"], "version": version},
        )
        assert restored.status == 200, restored.body

    time.sleep(CLINIC_SETTINGS_TTL_S + 0.5)
    booked = book(gateway, patient, slot)
    assert booked.status == 201, booked.body


def test_an_admin_changes_a_price_at_the_version_read_and_the_change_is_kept(
    gateway: str, tokens: dict[str, str]
) -> None:
    admin = tokens["admin"]
    listed = admin_call(gateway, "GET", "/v1/admin/services", admin).json()["services"]
    general = next(s for s in listed if s["code"] == "general")
    # A PUT is the whole service: what was read goes back (a coding or billing code left out would
    # be taken off).
    body = {k: general[k] for k in ("display", "minutes", "currency", "active", "coding", "billing_code")}
    raised = {**body, "price_minor": general["price_minor"] + 500, "version": general["version"]}
    changed = admin_call(gateway, "PUT", "/v1/admin/services/general", admin, raised)
    assert changed.status == 200, changed.body
    assert changed.json()["version"] == general["version"] + 1
    # A second admin who read the same version is told to read again.
    late = {**body, "price_minor": 1, "version": general["version"]}
    assert admin_call(gateway, "PUT", "/v1/admin/services/general", admin, late).status == 409
    odd = {**body, "minutes": 7, "price_minor": 1, "version": general["version"] + 1}
    bad = admin_call(gateway, "PUT", "/v1/admin/services/general", admin, odd)
    assert bad.status == 400 and [e["field"] for e in bad.json()["errors"]] == ["minutes"]
    listed = admin_call(gateway, "GET", "/v1/admin/services", admin).json()["services"]
    assert next(s for s in listed if s["code"] == "general")["price_minor"] == general["price_minor"] + 500
    history = admin_call(gateway, "GET", "/v1/admin/services/general/history", admin).json()["versions"]
    assert history[0]["changes"] == {
        "price_minor": {"before": general["price_minor"], "after": general["price_minor"] + 500}
    }


def test_an_admins_coding_of_a_service_reaches_the_record_and_taking_it_off_leaves_the_name(
    gateway: str, tokens: dict[str, str], fhir: HealthLakeFhirStore
) -> None:
    admin, patient = tokens["admin"], tokens["patient"]
    listed = admin_call(gateway, "GET", "/v1/admin/services", admin).json()["services"]
    assert next(s for s in listed if s["code"] == "general")["coding"] == {
        "system": "http://snomed.info/sct",
        "code": "11429006",
        "display": "Consultation",
    }  # the seed's, through the admin service
    evaluation = next(s for s in listed if s["code"] == "evaluation")
    assert evaluation["coding"] is None
    body = {
        k: evaluation[k] for k in ("display", "minutes", "price_minor", "currency", "active", "billing_code")
    }
    # A coding FHIR would refuse is a 400 naming the field, and changes nothing.
    odd = {**body, "coding": {"system": "clinic services", "code": "eval"}, "version": evaluation["version"]}
    bad = admin_call(gateway, "PUT", "/v1/admin/services/evaluation", admin, odd)
    assert bad.status == 400 and bad.headers["Content-Type"] == "application/problem+json", bad.body
    assert "system" in bad.json()["errors"][0]["field"]
    # So is a billing code that is no CPT or HCPCS code (the seed bills the evaluation as 90791).
    assert evaluation["billing_code"] == "90791"
    uncoded = {**body, "billing_code": "9079", "version": evaluation["version"]}
    bad = admin_call(gateway, "PUT", "/v1/admin/services/evaluation", admin, uncoded)
    assert bad.status == 400 and bad.json()["errors"][0]["field"].endswith("billing_code"), bad.body
    coding = {"system": "https://riverside.example/fhir/CodeSystem/services", "code": "psych-eval-4h"}
    coded = call(
        gateway,
        "PUT",
        "/v1/admin/services/evaluation",
        admin,
        {**body, "coding": coding, "version": evaluation["version"]},
    )
    assert coded.status == 200, coded.body
    version = coded.json()["version"]
    assert version == evaluation["version"] + 1  # the refused change took no version
    booked: dict[str, Any] = {}
    try:
        time.sleep(CLINIC_SETTINGS_TTL_S + 0.5)  # every function's copy of the services is re-read
        # Four days of them: a four-hour evaluation fits only the mornings of the psychologist's
        # Monday to Thursday, so one day's window from some times of day holds none.
        slots = open_slots(
            gateway,
            patient,
            span_hours=96,
            state="NJ",
            service_type="evaluation",
            specialty="behavioral-health",
        )
        slot = next(s["slot_id"] for s in slots if s["slot_id"] not in _used)
        _used.add(slot)
        reply = book(gateway, patient, slot, state="NJ", service_type="evaluation")
        assert reply.status == 201, reply.body
        booked = reply.json()
        appointment_id = booked["appointment_id"]
        record = eventually(lambda: fhir.read_if_present("Appointment", appointment_id), timeout_s=30)
        assert record["serviceType"] == [{"coding": [coding], "text": "evaluation"}]
    finally:
        # The seed's state again (the record rebuilt later codes every visit as the services stand).
        restored = admin_call(
            gateway, "PUT", "/v1/admin/services/evaluation", admin, {**body, "version": version}
        )
        assert restored.status == 200, restored.body
    # Without a coding the record names the service by its text: the cancellation says so.
    time.sleep(CLINIC_SETTINGS_TTL_S + 0.5)
    cancel = f"/v1/appointments/{booked['appointment_id']}/cancel"
    assert admin_call(gateway, "POST", cancel, patient).status == 200

    def cancelled() -> dict[str, Any] | None:
        found = fhir.read_if_present("Appointment", booked["appointment_id"])
        return found if found and found["status"] == "cancelled" else None

    assert eventually(cancelled, timeout_s=30)["serviceType"] == [{"text": "evaluation"}]
