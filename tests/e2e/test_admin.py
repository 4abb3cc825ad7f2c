"""Clinic administration over HTTP: an admin changes the clinic's settings and services and booking
follows without a deploy; anyone else is refused and nothing changes."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from local.platform import LocalPlatform
from telehealth.adapters.healthlake import HealthLakeFhirStore
from tests.conftest import CLINIC_SETTINGS_TTL_S, Reply, eventually, user_tokens
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


def _settings(gateway: str, token: str) -> dict[str, Any]:
    reply = call(gateway, "GET", "/v1/admin/settings", token)
    assert reply.status == 200, reply.body
    found: dict[str, Any] = reply.json()
    return found


def _forbidden(reply: Reply) -> None:
    assert reply.status == 403, reply.body
    assert reply.headers["Content-Type"] == "application/problem+json"
    assert reply.json()["type"] == "/problems/forbidden"


def test_only_admins_reach_the_settings_and_a_refused_change_changes_nothing(
    gateway: str, tokens: dict[str, str]
) -> None:
    before = _settings(gateway, tokens["admin"])
    # The tenant file's seed value and the session's own, written through the admin service.
    assert (before["cancellation_window_hours"], before["max_open_bookings"]) == (24, 100)
    assert before["visit_timings"]["join_window"] == 6.0  # the session's clocks reached the table
    for role in ("staff", "provider", "patient"):
        _forbidden(call(gateway, "GET", "/v1/admin/settings", tokens[role]))
        _forbidden(
            call(
                gateway,
                "PUT",
                "/v1/admin/settings",
                tokens[role],
                {"max_open_bookings": 1, "version": before["version"]},
            )
        )
        _forbidden(
            call(
                gateway,
                "PUT",
                "/v1/admin/services/general",
                tokens[role],
                {"display": "Free visit", "minutes": 30, "price_minor": 0, "version": 1},
            )
        )
    assert _settings(gateway, tokens["admin"]) == before
    # Providers too: seeded through the admin service, so they have a version an admin reads.
    _forbidden(call(gateway, "GET", "/v1/admin/providers/dr-ramirez", tokens["staff"]))
    provider = call(gateway, "GET", "/v1/admin/providers/dr-ramirez", tokens["admin"]).json()
    assert provider["version"] >= 1 and {c["state"] for c in provider["licenses"]} >= {"NY"}
    services = call(gateway, "GET", "/v1/admin/services", tokens["admin"]).json()["services"]
    assert {s["code"]: s["price_minor"] for s in services}["general"] == 4000


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
        stale = call(gateway, "PUT", "/v1/admin/settings", admin, late)
        assert (stale.status, stale.json()["type"]) == (409, "/problems/conflict")

        # Every function re-reads the settings once its copy is older than the cache time (a
        # second in this session; a minute in a clinic). Before that, a booking would succeed.
        time.sleep(CLINIC_SETTINGS_TTL_S + 0.5)
        refused = book(gateway, patient, slot)
        assert refused.status == 422, refused.body
        assert refused.json()["type"] == "/problems/beyond-booking-horizon"
        assert open_slots(gateway, patient, days_ahead=3, specialty="pediatrics") == []  # nor offered

        history = call(gateway, "GET", "/v1/admin/settings/history", admin).json()["versions"]
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
    listed = call(gateway, "GET", "/v1/admin/services", admin).json()["services"]
    general = next(s for s in listed if s["code"] == "general")
    # A PUT is the whole service: what was read goes back (a coding left out would be taken off).
    body = {k: general[k] for k in ("display", "minutes", "currency", "active", "coding")}
    raised = {**body, "price_minor": general["price_minor"] + 500, "version": general["version"]}
    changed = call(gateway, "PUT", "/v1/admin/services/general", admin, raised)
    assert changed.status == 200, changed.body
    assert changed.json()["version"] == general["version"] + 1
    # A second admin who read the same version is told to read again.
    late = {**body, "price_minor": 1, "version": general["version"]}
    assert call(gateway, "PUT", "/v1/admin/services/general", admin, late).status == 409
    odd = {**body, "minutes": 7, "price_minor": 1, "version": general["version"] + 1}
    bad = call(gateway, "PUT", "/v1/admin/services/general", admin, odd)
    assert bad.status == 400 and [e["field"] for e in bad.json()["errors"]] == ["minutes"]
    listed = call(gateway, "GET", "/v1/admin/services", admin).json()["services"]
    assert next(s for s in listed if s["code"] == "general")["price_minor"] == general["price_minor"] + 500
    history = call(gateway, "GET", "/v1/admin/services/general/history", admin).json()["versions"]
    assert history[0]["changes"] == {
        "price_minor": {"before": general["price_minor"], "after": general["price_minor"] + 500}
    }


def test_an_admins_coding_of_a_service_reaches_the_record_and_taking_it_off_leaves_the_name(
    gateway: str, tokens: dict[str, str], fhir: HealthLakeFhirStore
) -> None:
    admin, patient = tokens["admin"], tokens["patient"]
    listed = call(gateway, "GET", "/v1/admin/services", admin).json()["services"]
    assert next(s for s in listed if s["code"] == "general")["coding"] == {
        "system": "http://snomed.info/sct",
        "code": "11429006",
        "display": "Consultation",
    }  # the seed's, through the admin service
    evaluation = next(s for s in listed if s["code"] == "evaluation")
    assert evaluation["coding"] is None
    body = {k: evaluation[k] for k in ("display", "minutes", "price_minor", "currency", "active")}
    # A coding FHIR would refuse is a 400 naming the field, and changes nothing.
    odd = {**body, "coding": {"system": "clinic services", "code": "eval"}, "version": evaluation["version"]}
    bad = call(gateway, "PUT", "/v1/admin/services/evaluation", admin, odd)
    assert bad.status == 400 and bad.headers["Content-Type"] == "application/problem+json", bad.body
    assert "system" in bad.json()["errors"][0]["field"]
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
        slots = open_slots(
            gateway, patient, state="NJ", service_type="evaluation", specialty="behavioral-health"
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
        restored = call(gateway, "PUT", "/v1/admin/services/evaluation", admin, {**body, "version": version})
        assert restored.status == 200, restored.body
    # Without a coding the record names the service by its text: the cancellation says so.
    time.sleep(CLINIC_SETTINGS_TTL_S + 0.5)
    cancel = f"/v1/appointments/{booked['appointment_id']}/cancel"
    assert call(gateway, "POST", cancel, patient).status == 200

    def cancelled() -> dict[str, Any] | None:
        found = fhir.read_if_present("Appointment", booked["appointment_id"])
        return found if found and found["status"] == "cancelled" else None

    assert eventually(cancelled, timeout_s=30)["serviceType"] == [{"text": "evaluation"}]
