"""A patient's insurance through the API: the payers the clinic can check, coverage recorded and
checked with the payer off the request (the clearinghouse's stand-in, through the eligibility
function on the egress path), the answer in the patient's words, a visit's price and amount due
following it, and the record in FHIR (`Coverage`, `CoverageEligibilityResponse`). The member's
details reach no log."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from local.platform import LocalPlatform
from local.tokens import mint_client_credentials_token
from telehealth.adapters.healthlake import HealthLakeFhirStore
from tests.conftest import eventually, user_tokens
from tests.e2e.conftest import in_record
from tests.e2e.test_scheduling import RIVERSIDE, book, call, fresh_slot, stamp

# Not the patient whose self-pay prices the billing tests assert.
PATIENT = "patient.two@riverside.example"


def _checked(gateway: str, patient: str, status: str) -> dict[str, Any]:
    def found() -> dict[str, Any]:
        reply = call(gateway, "GET", "/v1/me/coverage", patient)
        assert reply.status == 200, reply.body
        coverage = reply.json()
        assert coverage["check"] is not None and coverage["check"]["status"] == status, coverage
        return dict(coverage)

    return dict(eventually(found, timeout_s=30))


def _record(gateway: str, patient: str, member_id: str, **more: Any) -> dict[str, Any]:
    reply = call(
        gateway, "PUT", "/v1/me/coverage", patient, {"payer_id": "RHP01", "member_id": member_id, **more}
    )
    assert reply.status == 200, reply.body
    recorded = reply.json()
    assert recorded["check"] is None and recorded["status_words"].startswith("We are checking")
    return dict(recorded)


def self_pay_again(gateway: str, patient: str) -> None:
    """The patient pays for visits themselves again (the other tests' price): an inactive plan,
    recorded and answered."""
    _record(gateway, patient, "INA3003")
    _checked(gateway, patient, "inactive")


def test_insurance_is_checked_with_the_payer_and_the_visit_costs_the_copay(
    platform: LocalPlatform, gateway: str, fhir: HealthLakeFhirStore
) -> None:
    patient = user_tokens(platform, RIVERSIDE, PATIENT)["access"]
    payers = call(gateway, "GET", "/v1/payers", patient)
    assert payers.status == 200, payers.body
    assert {p["payer_id"]: p["name"] for p in payers.json()["payers"]} == {
        "LKM02": "Lakeside Mutual",
        "RHP01": "Riverside Health Plan",
    }  # not the payer that takes no eligibility checks

    # A member id the payer does not know: said in words, from its AAA reason.
    _record(gateway, patient, "BAD4004")
    refused = _checked(gateway, patient, "rejected")
    assert [r["code"] for r in refused["check"]["rejections"]] == ["72"]
    assert "member ID" in refused["status_words"]
    # The payer does not answer: unavailable, not the patient's to fix.
    _record(gateway, patient, "DWN5005")
    assert _checked(gateway, patient, "unavailable")["check"]["rejections"][0]["code"] == "42"

    # Active, with the visit's own co-payment read past the payer's decoy lines.
    _record(gateway, patient, "ACT1001", group_number="GRP-77")
    active = _checked(gateway, patient, "active")
    check = active["check"]
    assert (check["copay_minor"], check["plan_name"], check["service_type"]) == (2500, "Gold PPO", "general")
    assert (check["deductible_remaining_minor"], check["out_of_pocket_remaining_minor"]) == (25000, 320050)
    assert active["status_words"] == "Your insurance with Riverside Health Plan is active."

    # The search shows what a visit costs this patient; a booked visit is due its co-payment.
    start = datetime.now(UTC) + timedelta(days=6.5)
    window = f"state=NY&from={stamp(start)}&to={stamp(start + timedelta(hours=4))}"
    shown = call(gateway, "GET", f"/v1/slots?{window}", patient)
    assert shown.json()["price"] == {"amount_minor": 2500, "currency": "USD", "insured": True}, shown.body
    visit = book(gateway, patient, fresh_slot(gateway, patient, "dr-ramirez", days_ahead=6.5)).json()[
        "appointment_id"
    ]
    due = call(gateway, "GET", f"/v1/appointments/{visit}/payment", patient).json()
    assert (due["amount_due_minor"], due["status"]) == (2500, "none"), due
    # Covered by insurance: no Good Faith Estimate is owed.
    none = call(gateway, "GET", f"/v1/appointments/{visit}/estimate", patient)
    assert (none.status, none.json()["type"]) == (404, "/problems/not-found"), none.body
    assert call(gateway, "GET", "/v1/estimates/preview?state=NY", patient).status == 404

    # The record: the insurance as Coverage, the last answer as CoverageEligibilityResponse.
    patient_id = call(gateway, "GET", "/v1/me/details", patient).json()["patient_id"]

    def recorded() -> dict[str, Any]:  # the newest version (the refused details came first)
        found = in_record(fhir, "Coverage", f"coverage-{patient_id}")
        assert found["subscriberId"] == "ACT1001", "an earlier version"
        return found

    stored = eventually(recorded, timeout_s=30)
    assert stored["payor"][0]["display"] == "Riverside Health Plan"
    assert stored["class"][0]["value"] == "GRP-77"
    answer = eventually(
        lambda: in_record(
            fhir, "CoverageEligibilityResponse", f"eligibility-{patient_id}-{active['version']}"
        ),
        timeout_s=30,
    )
    item = answer["insurance"][0]
    assert item["inforce"] is True and item["coverage"]["reference"] == f"Coverage/coverage-{patient_id}"
    copay = next(b for b in item["item"][0]["benefit"] if b["type"]["coding"][0]["code"] == "copay")
    assert copay["allowedMoney"] == {"value": 25.0, "currency": "USD"}

    # Back to paying for visits themselves (the other tests' patient): an inactive plan.
    self_pay_again(gateway, patient)
    after = call(gateway, "GET", f"/v1/appointments/{visit}/payment", patient).json()
    assert after["amount_due_minor"] > 2500  # the service's own price again

    # The member's details reached no log of the platform's.
    logs = "".join(
        p.read_text(errors="replace") for p in (platform.settings.state_dir / "logs").glob("*.log")
    )
    for member in ("ACT1001", "BAD4004", "DWN5005", "INA3003"):
        assert member not in logs


def test_insurance_details_the_clinic_cannot_check_are_refused_and_change_nothing(
    platform: LocalPlatform, gateway: str
) -> None:
    patient = user_tokens(platform, RIVERSIDE, PATIENT)["access"]
    before = call(gateway, "GET", "/v1/me/coverage", patient)
    refused = {
        "an insurer not in the list": ({"payer_id": "ZZZ99", "member_id": "ACT1"}, 422),
        "an insurer that takes no checks": ({"payer_id": "PCC03", "member_id": "ACT1"}, 422),
        "a member id with spaces": ({"payer_id": "RHP01", "member_id": "ACT 1"}, 400),
        "a dependent without the policyholder": (
            {"payer_id": "RHP01", "member_id": "DEP8008", "relationship": "child"},
            422,
        ),
        "a policyholder born in the future": (
            {
                "payer_id": "RHP01",
                "member_id": "DEP8008",
                "relationship": "child",
                "subscriber": {"given_name": "Alex", "family_name": "Samplecase", "birth_date": "2999-01-01"},
            },
            400,
        ),
    }
    for why, (body, status) in refused.items():
        reply = call(gateway, "PUT", "/v1/me/coverage", patient, body)
        assert reply.status == status, (why, reply.body)
        assert reply.headers["Content-Type"] == "application/problem+json", why
    after = call(gateway, "GET", "/v1/me/coverage", patient)
    assert (after.status, after.body) == (before.status, before.body)
    # Staff and providers record no patient's insurance here, and the other tenant has no such route.
    staff = user_tokens(platform, RIVERSIDE, "staff@riverside.example")["access"]
    assert (
        call(gateway, "PUT", "/v1/me/coverage", staff, {"payer_id": "RHP01", "member_id": "A1"}).status == 403
    )
    desert = user_tokens(platform, "desert-clinic", "patient.one@desert-clinic.example")["access"]
    assert call(gateway, "GET", "/tenants/desert-clinic/v1/payers", desert).status == 404


def test_the_front_desk_records_a_patients_insurance_and_providers_may_not(
    platform: LocalPlatform, gateway: str
) -> None:
    patient = user_tokens(platform, RIVERSIDE, PATIENT)["access"]
    patient_id = call(gateway, "GET", "/v1/me/details", patient).json()["patient_id"]
    staff = user_tokens(platform, RIVERSIDE, "staff@riverside.example")["access"]
    path = f"/v1/patients/{patient_id}/coverage"
    recorded = call(gateway, "PUT", path, staff, {"payer_id": "LKM02", "member_id": "ACT2002"})
    assert recorded.status == 200, recorded.body
    assert recorded.json()["payer_name"] == "Lakeside Mutual"

    def active() -> dict[str, Any]:
        found = call(gateway, "GET", path, staff).json()
        assert found["check"] is not None and found["check"]["status"] == "active", found
        return dict(found)

    answered = eventually(active, timeout_s=30)
    assert answered["check"]["copay_minor"] == 2500
    # In the desk's words, about the patient; the patient sees what the desk recorded, in theirs.
    assert answered["status_words"] == "The patient's insurance with Lakeside Mutual is active."
    theirs = call(gateway, "GET", "/v1/me/coverage", patient).json()
    assert (theirs["member_id"], theirs["status_words"]) == (
        "ACT2002",
        "Your insurance with Lakeside Mutual is active.",
    )
    provider = user_tokens(platform, RIVERSIDE, "dr.ramirez@riverside.example")["access"]
    assert call(gateway, "GET", path, provider).status == 403
    assert call(gateway, "PUT", path, provider, {"payer_id": "LKM02", "member_id": "A1"}).status == 403
    unknown = call(
        gateway,
        "PUT",
        "/v1/patients/no-such-patient/coverage",
        staff,
        {"payer_id": "LKM02", "member_id": "A1"},
    )
    assert unknown.status == 404, unknown.body
    self_pay_again(gateway, patient)


def test_each_insurance_route_and_the_webhook_refuse_whoever_they_are_not_for(
    platform: LocalPlatform, gateway: str
) -> None:
    """Patients their own insurance; staff any patient's; providers, machine clients and another
    tenant's users none (the authorizer's 401 before the API's 403). Stripe's webhook takes no
    token at all: without its signature every caller gets 400. Bodies name an insurer not in the
    list, so nothing anyone sends here is recorded."""
    patient = user_tokens(platform, RIVERSIDE, PATIENT)["access"]
    patient_id = call(gateway, "GET", "/v1/me/details", patient).json()["patient_id"]
    who = {
        "patient": patient,
        "provider": user_tokens(platform, RIVERSIDE, "dr.ramirez@riverside.example")["access"],
        "staff": user_tokens(platform, RIVERSIDE, "staff@riverside.example")["access"],
        "machine": mint_client_credentials_token(
            issuer=platform.provisioned[RIVERSIDE].issuers["workforce"],
            client_id="ehr-test",
            scopes=["telehealth/appointments.read", "system/*.rs"],
        ),
        "other tenant": user_tokens(platform, "desert-clinic", "patient.one@desert-clinic.example")["access"],
    }
    unlisted = {"payer_id": "ZZZ99", "member_id": "A1"}
    theirs = f"/v1/patients/{patient_id}/coverage"
    routes: list[tuple[str, str, dict[str, Any] | None, dict[str, int]]] = [
        ("GET", "/v1/payers", None, {
            "patient": 200, "provider": 403, "staff": 200, "machine": 401, "other tenant": 401,
        }),
        ("PUT", "/v1/me/coverage", unlisted, {
            "patient": 422, "provider": 403, "staff": 403, "machine": 401, "other tenant": 401,
        }),
        ("GET", "/v1/me/coverage", None, {
            "provider": 403, "staff": 403, "machine": 401, "other tenant": 401,
        }),
        ("PUT", theirs, unlisted, {
            "patient": 403, "provider": 403, "staff": 422, "machine": 401, "other tenant": 401,
        }),
        ("GET", theirs, None, {
            "patient": 403, "provider": 403, "machine": 401, "other tenant": 401,
        }),
        ("POST", f"/tenants/{RIVERSIDE}/webhooks/stripe", {"id": "evt_1"}, {
            "patient": 400, "provider": 400, "staff": 400, "machine": 400, "other tenant": 400,
        }),
    ]  # fmt: skip
    for method, path, body, expected in routes:
        for role, status in expected.items():
            reply = call(gateway, method, path, who[role], body)
            assert reply.status == status, (method, path, role, reply.status, reply.body[:200])


def test_a_retried_insurance_save_gets_its_first_answer_and_is_recorded_once(
    platform: LocalPlatform, gateway: str
) -> None:
    patient = user_tokens(platform, RIVERSIDE, PATIENT)["access"]
    body = {"payer_id": "RHP01", "member_id": "INA3003"}
    key = {"Idempotency-Key": f"coverage-{time.time_ns()}"}
    first = call(gateway, "PUT", "/v1/me/coverage", patient, body, **key)
    again = call(gateway, "PUT", "/v1/me/coverage", patient, body, **key)
    assert first.status == again.status == 200, (first.body, again.body)
    assert again.json() == first.json()
    # One recording: the version moved once (and, checked since, once more), not twice.
    _checked(gateway, patient, "inactive")
    assert call(gateway, "GET", "/v1/me/coverage", patient).json()["version"] == first.json()["version"] + 1
