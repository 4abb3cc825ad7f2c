"""A visit's payment through the API, as the patient and the front desk meet it: the price before
anything is asked of a card, a card saved through Stripe's form (the SetupIntent confirmed as
Stripe.js confirms it, never by the platform) and held at once for a visit this week, the money
taken when the visit completes (from the tenant bus, by the visit-payments function), a refund by
staff, and nobody else's payment within reach. A tenant without payments has none of it."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from infra import topology
from local.emulator import ACCOUNT
from local.platform import STRIPE_KEY, LocalPlatform
from local.tokens import mint_client_credentials_token
from telehealth.adapters.healthlake import HealthLakeFhirStore
from telehealth.adapters.payments import StripePayments
from telehealth.adapters.payments_store import DynamoPaymentRecords
from telehealth.adapters.scheduling_store import DynamoSchedulingStore
from telehealth.domain.payments import VisitPayment
from telehealth.domain.visits import notice_when
from tests.conftest import CLINIC_SETTINGS_TTL_S, eventually, http, user_tokens
from tests.e2e.conftest import in_record
from tests.e2e.test_fhir_facade import Facade, machine_token
from tests.e2e.test_scheduling import book, call, fresh_slot
from tests.e2e.test_visits import check_in, soon_slot

RIVERSIDE, DESERT = "riverside", "desert-clinic"
PATIENT, OTHER = "patient.one@riverside.example", "patient.two@riverside.example"
# Days ahead of the visits held at once (inside a week): clear of the days other modules book.
THIS_WEEK = 4.5


def _confirm_as_stripe_js(platform: LocalPlatform, setup: dict[str, Any], card: str = "pm_card_visa") -> None:
    """What the portal's card form does: Stripe.js confirms the SetupIntent with the card, with
    the publishable key and the client secret; the card's number goes to Stripe alone."""
    reply = http(
        "POST",
        f"{platform.urls['stripe']}/v1/setup_intents/{setup['setup_id']}/confirm",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        body=f"payment_method={card}&client_secret={setup['client_secret']}&key={setup['publishable_key']}".encode(),
    )
    assert reply.status == 200, reply.body


def _price_of(platform: LocalPlatform, gateway: str, service: str) -> int:
    admin = user_tokens(platform, RIVERSIDE, "admin@riverside.example")["access"]
    listed = call(gateway, "GET", "/v1/admin/services", admin).json()["services"]
    return int(next(s["price_minor"] for s in listed if s["code"] == service))


def _visit_event(platform: LocalPlatform, detail_type: str, appointment_id: str, **detail: Any) -> None:
    platform.client("events").put_events(
        Entries=[
            {
                "EventBusName": topology.TENANT_BUS.name(RIVERSIDE),
                "Source": "telehealth.visits",
                "DetailType": detail_type,
                "Detail": json.dumps({"appointment_id": appointment_id, "version": 1, **detail}),
            }
        ]
    )


def test_a_visit_is_priced_held_on_the_card_the_patient_saved_taken_when_it_completes_and_refunded(
    platform: LocalPlatform, gateway: str, fhir: HealthLakeFhirStore
) -> None:
    patient = user_tokens(platform, RIVERSIDE, PATIENT)["access"]
    booked = book(gateway, patient, fresh_slot(gateway, patient, "dr-ramirez", days_ahead=THIS_WEEK))
    assert booked.status == 201, booked.body
    visit = booked.json()["appointment_id"]
    path = f"/v1/appointments/{visit}/payment"

    # The price first (the service's, as the clinic lists it now), nothing asked of a card yet.
    before = call(gateway, "GET", path, patient)
    assert before.status == 200, before.body
    priced = before.json()
    price = _price_of(platform, gateway, booked.json()["service_type"])
    assert (priced["amount_due_minor"], priced["currency"], priced["status"]) == (price, "USD", "none")
    assert datetime.fromisoformat(priced["hold_at"]) <= datetime.now(UTC) + timedelta(
        minutes=1
    )  # this week's: now

    setup = call(gateway, "POST", "/v1/payments/card-setups", patient)
    assert setup.status == 200, setup.body
    assert setup.json()["publishable_key"].startswith("pk_test_")
    _confirm_as_stripe_js(platform, setup.json())
    key = {"Idempotency-Key": f"card-{visit}"}
    paid = call(gateway, "PUT", f"{path}/card", patient, {"setup_id": setup.json()["setup_id"]}, **key)
    assert paid.status == 200, paid.body
    held = paid.json()
    # A retry (its answer lost) gets the same answer, not the 409 its own hold made true.
    again = call(gateway, "PUT", f"{path}/card", patient, {"setup_id": setup.json()["setup_id"]}, **key)
    assert (again.status, again.json()) == (200, held), again.body
    assert (held["status"], held["held_minor"], held["settling"]) == ("held", price, False)
    assert datetime.fromisoformat(held["capture_before"]) > datetime.now(UTC) + timedelta(days=6)

    # Nobody else's: another patient, a provider, a made-up card setup.
    other = user_tokens(platform, RIVERSIDE, OTHER)["access"]
    assert call(gateway, "GET", path, other).status == 404
    provider = user_tokens(platform, RIVERSIDE, "dr.ramirez@riverside.example")["access"]
    assert call(gateway, "GET", path, provider).status == 403
    foreign = call(gateway, "PUT", f"{path}/card", patient, {"setup_id": "seti_madeup"})
    assert foreign.status == 404, foreign.body

    # The visit completes: the visit-payments function takes what it costs from the hold.
    _visit_event(
        platform, "Visit.Completed", visit, provider_id="dr-ramirez", patient_id="p", ended_by="provider"
    )

    def captured() -> dict[str, Any]:
        now = call(gateway, "GET", path, patient).json()
        assert now["status"] == "captured", now
        return dict(now)

    assert eventually(captured, timeout_s=30)["captured_minor"] == price

    # Entered as a charge (the service's CPT code, modifier 95; the place of service 02, as the
    # patient, never checked in here, did not say they were at home) and invoiced, paid in full.
    item = eventually(lambda: in_record(fhir, "ChargeItem", f"charge-{visit.lower()}"), timeout_s=30)
    general = {"general": "99213", "follow-up": "99212"}[booked.json()["service_type"]]
    assert [c["code"] for c in item["code"]["coding"]] == [general]
    assert sorted(e["valueCoding"]["code"] for e in item["extension"]) == ["02", "95"]

    def invoice_paid(amount_minor: int) -> Any:
        def paid() -> dict[str, Any]:
            found = in_record(fhir, "Invoice", f"invoice-{visit.lower()}")
            assert round(found["extension"][0]["valueMoney"]["value"] * 100) == amount_minor, found
            return found

        return eventually(paid, timeout_s=30)

    invoice = invoice_paid(price)
    # A health system's billing reads both through the FHIR facade (its read scopes), and so does
    # the front desk; an administrator, or a client without those scopes, does not.
    ehr = Facade(gateway, machine_token(platform, "system/ChargeItem.rs", "system/Invoice.rs"))
    read = ehr.get(f"ChargeItem/charge-{visit.lower()}")
    assert read.status == 200 and read.json()["code"]["coding"][0]["code"] == general, read.body
    patient_id = item["subject"]["reference"].removeprefix("Patient/")
    found = ehr.get(f"Invoice?patient={patient_id}&_count=100")
    assert f"invoice-{visit.lower()}" in {e["resource"]["id"] for e in found.json()["entry"]}, found.body
    desk = Facade(gateway, user_tokens(platform, RIVERSIDE, "staff@riverside.example")["access"])
    assert desk.get(f"Invoice/invoice-{visit.lower()}").status == 200
    admin = Facade(gateway, user_tokens(platform, RIVERSIDE, "admin@riverside.example")["access"])
    assert admin.get(f"ChargeItem/charge-{visit.lower()}").status == 403  # no clinical or money record
    assert (
        Facade(gateway, machine_token(platform, "system/Patient.rs"))
        .get(f"Invoice/invoice-{visit.lower()}")
        .status
        == 403
    )

    # The desk (and the patient) read the same with the visit's payment.
    charge = call(gateway, "GET", path, patient).json()["charge"]
    assert charge == {
        "billing_code": general,
        "modifier": "95",
        "place_of_service": "02",
        "invoice_status": "balanced",
        "owed_minor": price,
        "paid_minor": price,
    }
    assert (invoice["status"], round(invoice["totalNet"]["value"] * 100)) == ("balanced", price)

    # The front desk refunds part; a patient may not; more than was taken is refused.
    staff = user_tokens(platform, RIVERSIDE, "staff@riverside.example")["access"]
    assert call(gateway, "POST", f"{path}/refunds", patient, {"amount_minor": 100}).status == 403
    refunded = call(gateway, "POST", f"{path}/refunds", staff, {"amount_minor": 1500})
    assert refunded.status == 200 and refunded.json()["refunded_minor"] == 1500, refunded.body
    too_much = call(gateway, "POST", f"{path}/refunds", staff, {"amount_minor": price - 1500 + 1})
    assert too_much.status == 409 and too_much.json()["type"] == "/problems/over-refund", too_much.body
    # The invoice follows the refund: paid less, and owed less (a refund is not owed again).
    refunded_invoice = invoice_paid(price - 1500)
    assert (refunded_invoice["status"], round(refunded_invoice["totalNet"]["value"] * 100)) == (
        "balanced",
        price - 1500,
    )


def test_a_missed_visit_costs_the_no_show_fee_and_a_cancelled_one_nothing(
    platform: LocalPlatform, gateway: str
) -> None:
    admin = user_tokens(platform, RIVERSIDE, "admin@riverside.example")["access"]
    assert _settings(gateway, admin, no_show_fee_minor=2500)["no_show_fee_minor"] == 2500
    patient = user_tokens(platform, RIVERSIDE, PATIENT)["access"]
    visits = []
    for _ in range(2):
        visit = book(
            gateway, patient, fresh_slot(gateway, patient, "dr-ramirez", days_ahead=THIS_WEEK)
        ).json()["appointment_id"]
        setup = call(gateway, "POST", "/v1/payments/card-setups", patient).json()
        _confirm_as_stripe_js(platform, setup)
        assert (
            call(
                gateway,
                "PUT",
                f"/v1/appointments/{visit}/payment/card",
                patient,
                {"setup_id": setup["setup_id"]},
            ).json()["status"]
            == "held"
        )
        visits.append(visit)
    missed, cancelled = visits
    _visit_event(platform, "Visit.NoShow", missed, absent="patient", provider_id="dr-ramirez", patient_id="p")
    _visit_event(
        platform, "Visit.Cancelled", cancelled, reason="cancelled", provider_id="dr-ramirez", patient_id="p"
    )

    def settled() -> tuple[dict[str, Any], dict[str, Any]]:
        fee, let_go = (call(gateway, "GET", f"/v1/appointments/{v}/payment", patient).json() for v in visits)
        assert (fee["status"], let_go["status"]) == ("captured", "released"), (fee, let_go)
        return fee, let_go

    fee, let_go = eventually(settled, timeout_s=30)
    assert fee["captured_minor"] == 2500 and let_go["captured_minor"] == 0


def test_a_self_pay_patient_gets_a_good_faith_estimate_with_the_booking_and_another_when_it_moves(
    platform: LocalPlatform, gateway: str
) -> None:
    patient = user_tokens(platform, RIVERSIDE, PATIENT)["access"]
    # Before booking: the estimate as it will be issued, less the time and clinician (chosen next).
    preview = call(gateway, "GET", "/v1/estimates/preview?state=NY&service_type=general", patient)
    assert preview.status == 200, preview.body
    ahead = preview.json()
    assert (ahead["appointment_id"], ahead["scheduled_start"], ahead["clinician"]) == (None, None, None)
    assert [i["billing_code"] for i in ahead["items"]] == ["99213"] and ahead["disclaimers"]
    unpriced = call(gateway, "GET", "/v1/estimates/preview?state=NY&service_type=no-such-visit", patient)
    assert unpriced.status == 404, unpriced.body  # nothing priced: nothing to estimate
    booked = book(gateway, patient, fresh_slot(gateway, patient, "dr-ramirez", days_ahead=12)).json()
    visit = booked["appointment_id"]
    path = f"/v1/appointments/{visit}/estimate"

    def issued(start: str) -> dict[str, Any]:
        reply = call(gateway, "GET", path, patient)  # issued then, if visit-payments has not yet
        assert reply.status == 200, reply.body
        found = dict(reply.json())
        assert datetime.fromisoformat(found["scheduled_start"]) == datetime.fromisoformat(start), found
        return found

    estimate = eventually(lambda: issued(booked["start"]), timeout_s=30)
    price = _price_of(platform, gateway, booked["service_type"])
    code = {"general": "99213", "follow-up": "99212"}[booked["service_type"]]
    # What 45 CFR 149.610 asks of it: who it is for, the service and when, each item with its
    # code and expected charge, who bills (NPI and TIN) and where, and the disclaimers.
    details = call(gateway, "GET", "/v1/me/details", patient).json()
    assert (estimate["patient_name"], estimate["patient_birth_date"]) == (
        f"{details['given_name']} {details['family_name']}",
        details["birth_date"],
    )
    assert [(i["billing_code"], i["expected_minor"]) for i in estimate["items"]] == [(code, price)]
    assert (estimate["total_minor"], estimate["currency"]) == (price, "USD")
    assert estimate["billing_provider"] == {
        "name": "Riverside Health (example)",
        "npi": "1234567893",
        "tin": "00-0000000",
    }
    assert estimate["clinician"] == "Lucia Ramirez" and estimate["location_state"] == "NY"
    # What was shown before booking is what was issued, with the time and clinician.
    if booked["service_type"] == "general":
        assert (ahead["items"], ahead["patient_name"]) == (estimate["items"], estimate["patient_name"])
    said = " ".join(estimate["disclaimers"])
    for must in ("$400", "dispute", "not a contract", "may differ", "scheduled or requested separately"):
        assert must in said, must

    # The desk reads it too; another patient and a provider do not.
    staff = user_tokens(platform, RIVERSIDE, "staff@riverside.example")["access"]
    assert call(gateway, "GET", path, staff).json() == estimate
    assert call(gateway, "GET", path, user_tokens(platform, RIVERSIDE, OTHER)["access"]).status == 404
    provider = user_tokens(platform, RIVERSIDE, "dr.ramirez@riverside.example")["access"]
    assert call(gateway, "GET", path, provider).status == 403

    # Moved: an estimate for the new time, the first kept as it was issued.
    moved = _moved(gateway, patient, visit, days_ahead=15)
    again = eventually(lambda: issued(moved["start"]), timeout_s=30)
    assert again["issued_at"] >= estimate["issued_at"]


def test_a_tenant_without_payments_has_no_payment_routes(platform: LocalPlatform, gateway: str) -> None:
    patient = user_tokens(platform, DESERT, "patient.one@desert-clinic.example")["access"]
    for method, path in (
        ("POST", "/v1/payments/card-setups"),
        ("GET", "/v1/appointments/01ARZ3NDEKTSV4RRFFQ69G5FAV/payment"),
        ("GET", "/v1/appointments/01ARZ3NDEKTSV4RRFFQ69G5FAV/estimate"),
    ):
        reply = call(gateway, method, f"/tenants/{DESERT}{path}", patient)
        assert reply.status == 404 and reply.headers["Content-Type"] == "application/problem+json", reply.body


def _moved(gateway: str, patient: str, visit: str, *, days_ahead: float) -> dict[str, Any]:
    """The visit moved to a free time with the same clinician, `days_ahead`: its new version."""
    moved = call(
        gateway,
        "POST",
        f"/v1/appointments/{visit}/reschedule",
        patient,
        {"slot_id": fresh_slot(gateway, patient, "dr-ramirez", days_ahead=days_ahead)},
        **{"Idempotency-Key": f"move-{visit}"},
    )
    assert moved.status == 200, moved.body
    return dict(moved.json())


def _paid(
    platform: LocalPlatform, gateway: str, patient: str, visit: str, card: str = "pm_card_visa"
) -> dict[str, Any]:
    setup = call(gateway, "POST", "/v1/payments/card-setups", patient).json()
    _confirm_as_stripe_js(platform, setup, card)
    paid = call(
        gateway, "PUT", f"/v1/appointments/{visit}/payment/card", patient, {"setup_id": setup["setup_id"]}
    )
    assert paid.status == 200, paid.body
    return dict(paid.json())


def test_a_later_visit_keeps_the_card_until_two_days_before_and_a_move_past_its_hold_lets_it_go(
    platform: LocalPlatform, gateway: str
) -> None:
    patient = user_tokens(platform, RIVERSIDE, PATIENT)["access"]
    later = book(gateway, patient, fresh_slot(gateway, patient, "dr-ramirez", days_ahead=13)).json()
    saved = _paid(platform, gateway, patient, later["appointment_id"])
    start = datetime.fromisoformat(later["start"])
    assert saved["status"] == "card-saved" and saved["held_minor"] == 0
    assert datetime.fromisoformat(saved["hold_at"]) == start - timedelta(hours=48)

    # Held this week, then moved ten days out: past its hold's deadline, so the hold is let go
    # (and the sweep holds it again two days before).
    soon = book(gateway, patient, fresh_slot(gateway, patient, "dr-ramirez", days_ahead=THIS_WEEK)).json()[
        "appointment_id"
    ]
    assert _paid(platform, gateway, patient, soon)["status"] == "held"
    _moved(gateway, patient, soon, days_ahead=14)

    def let_go() -> dict[str, Any]:
        now = call(gateway, "GET", f"/v1/appointments/{soon}/payment", patient).json()
        assert now["status"] == "released", now
        return dict(now)

    assert eventually(let_go, timeout_s=30)["held_minor"] == 0


def test_the_sweep_holds_a_visit_starting_within_two_days_whose_card_waits(
    platform: LocalPlatform, gateway: str
) -> None:
    """A visit within two days with a card saved and nothing held (its hold's answer was lost, or
    it was saved for later and the time has come) is held by the every-15-minutes sweep."""
    patient = user_tokens(platform, RIVERSIDE, PATIENT)["access"]
    visit = book(gateway, patient, fresh_slot(gateway, patient, "dr-ramirez", days_ahead=1)).json()[
        "appointment_id"
    ]
    customer = StripePayments(api_key=STRIPE_KEY, api_base=platform.urls["stripe"]).new_customer(f"c-{visit}")
    records = DynamoPaymentRecords(topology.CLINIC_TABLE.name(RIVERSIDE), platform.client("dynamodb"))
    records.save_payment(
        VisitPayment(visit, "USD").card_saved(customer, "pm_card_visa"), [], datetime.now(UTC)
    )
    swept = platform.client("lambda").invoke(
        FunctionName=topology.VISIT_PAYMENTS.name(RIVERSIDE),
        Payload=json.dumps({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}).encode(),
    )
    assert json.loads(swept["Payload"].read())["asked"] >= 1
    now = call(gateway, "GET", f"/v1/appointments/{visit}/payment", patient).json()
    assert (now["status"], now["held_minor"]) == ("held", now["amount_due_minor"]), now


def _settings(gateway: str, admin: str, **change: Any) -> dict[str, Any]:
    current = call(gateway, "GET", "/v1/admin/settings", admin).json()
    changed = call(gateway, "PUT", "/v1/admin/settings", admin, {**change, "version": current["version"]})
    assert changed.status == 200, changed.body
    time.sleep(CLINIC_SETTINGS_TTL_S + 0.5)  # past every function's cached settings
    return dict(changed.json())


def test_a_late_cancellation_the_patient_asked_for_costs_the_clinics_fee_when_staff_charge_it(
    platform: LocalPlatform, gateway: str
) -> None:
    admin = user_tokens(platform, RIVERSIDE, "admin@riverside.example")["access"]
    assert _settings(gateway, admin, late_cancellation_fee_minor=1500)["late_cancellation_fee_minor"] == 1500
    patient = user_tokens(platform, RIVERSIDE, PATIENT)["access"]
    staff = user_tokens(platform, RIVERSIDE, "staff@riverside.example")["access"]
    late = book(gateway, patient, soon_slot(gateway, patient)).json()["appointment_id"]
    assert _paid(platform, gateway, patient, late)["status"] == "held"
    # In good time there is no fee to charge; and charging one is the front desk's to do.
    early = book(gateway, patient, fresh_slot(gateway, patient, "dr-ramirez", days_ahead=THIS_WEEK)).json()[
        "appointment_id"
    ]
    fee = {"charge_late_fee": True}
    refused = call(
        gateway, "POST", f"/v1/appointments/{early}/cancel", staff, fee, **{"Idempotency-Key": f"c-{early}"}
    )
    assert refused.status == 422 and refused.json()["type"] == "/problems/late-fee-not-late", refused.body
    cancelled = call(
        gateway, "POST", f"/v1/appointments/{late}/cancel", staff, fee, **{"Idempotency-Key": f"c-{late}"}
    )
    assert cancelled.status == 200, cancelled.body

    def charged() -> dict[str, Any]:
        now = call(gateway, "GET", f"/v1/appointments/{late}/payment", patient).json()
        assert now["status"] == "captured", now
        return dict(now)

    assert eventually(charged, timeout_s=30)["captured_minor"] == 1500


def test_a_clinic_that_lets_no_unpaid_visit_go_ahead_checks_the_patient_in_once_it_is_held(
    platform: LocalPlatform, gateway: str
) -> None:
    admin = user_tokens(platform, RIVERSIDE, "admin@riverside.example")["access"]
    patient = user_tokens(platform, RIVERSIDE, PATIENT)["access"]
    visit = book(gateway, patient, soon_slot(gateway, patient)).json()["appointment_id"]
    _settings(gateway, admin, proceed_unpaid=False)
    try:
        unpaid = check_in(gateway, patient, visit)
        assert unpaid.status == 409 and unpaid.json()["type"] == "/problems/payment-required", unpaid.body
        assert _paid(platform, gateway, patient, visit)["status"] == "held"
        assert eventually(lambda: check_in(gateway, patient, visit).status == 200, timeout_s=30)
    finally:
        _settings(gateway, admin, proceed_unpaid=True)  # the other tests' clinic


def test_each_payment_route_refuses_whoever_it_is_not_for(platform: LocalPlatform, gateway: str) -> None:
    """Patients their own visits' payments; staff refunds; providers, machine clients, another
    patient and another tenant's users nothing (the authorizer's 401 before the API's 403/404)."""
    patient = user_tokens(platform, RIVERSIDE, PATIENT)["access"]
    visit = book(gateway, patient, fresh_slot(gateway, patient, "dr-ramirez", days_ahead=THIS_WEEK)).json()[
        "appointment_id"
    ]
    who = {
        "other patient": user_tokens(platform, RIVERSIDE, OTHER)["access"],
        "provider": user_tokens(platform, RIVERSIDE, "dr.ramirez@riverside.example")["access"],
        "staff": user_tokens(platform, RIVERSIDE, "staff@riverside.example")["access"],
        "machine": mint_client_credentials_token(
            issuer=platform.provisioned[RIVERSIDE].issuers["workforce"],
            client_id="ehr-test",
            scopes=["telehealth/appointments.read", "system/*.rs"],
        ),
        "other tenant": user_tokens(platform, DESERT, "patient.one@desert-clinic.example")["access"],
    }
    payment = f"/v1/appointments/{visit}/payment"
    routes: list[tuple[str, str, dict[str, Any] | None, dict[str, int]]] = [
        ("POST", "/v1/payments/card-setups", None, {
            "other patient": 200, "provider": 403, "staff": 403, "machine": 401, "other tenant": 401,
        }),
        ("GET", payment, None, {
            "other patient": 404, "provider": 403, "staff": 200, "machine": 401, "other tenant": 401,
        }),
        ("PUT", f"{payment}/card", {"setup_id": "seti_nothing"}, {
            "other patient": 404, "provider": 403, "staff": 403, "machine": 401, "other tenant": 401,
        }),
        ("POST", f"{payment}/refunds", {"amount_minor": 100}, {
            "other patient": 403, "provider": 403, "staff": 409, "machine": 401, "other tenant": 401,
        }),
        ("GET", f"/v1/appointments/{visit}/estimate", None, {
            "other patient": 404, "provider": 403, "staff": 200, "machine": 401, "other tenant": 401,
        }),
        ("GET", "/v1/estimates/preview?state=NY", None, {  # a patient's own, before booking
            "provider": 403, "staff": 403, "machine": 401, "other tenant": 401,
        }),
    ]  # fmt: skip
    for method, path, body, expected in routes:
        for role, status in expected.items():
            reply = call(gateway, method, path, who[role], body)
            assert reply.status == status, (method, path, role, reply.status, reply.body[:200])


def _refusal_notices(platform: LocalPlatform, start: datetime, zone: str) -> int:
    """E-mails to the patient saying their card for the visit at `start` was not accepted."""
    from moto.ses.models import ses_backends

    when = notice_when(start, zone)
    sent = ses_backends[ACCOUNT][platform.provisioned[RIVERSIDE].region].sent_messages
    return sum(
        1
        for m in sent
        if PATIENT in m.destinations.get("ToAddresses", []) and when in m.body and "not accepted" in m.body
    )


def test_a_card_that_refuses_the_hold_is_told_to_the_patient_once_and_another_card_holds_it(
    platform: LocalPlatform, gateway: str
) -> None:
    patient = user_tokens(platform, RIVERSIDE, PATIENT)["access"]
    booked = book(gateway, patient, fresh_slot(gateway, patient, "dr-ramirez", days_ahead=THIS_WEEK)).json()
    visit = booked["appointment_id"]
    start = datetime.fromisoformat(booked["start"])
    profile = DynamoSchedulingStore(
        topology.CLINIC_TABLE.name(RIVERSIDE), platform.client("dynamodb")
    ).patient(booked["patient_id"])
    assert profile is not None and profile.zone is not None
    zone = profile.zone

    refused = _paid(platform, gateway, patient, visit, card="pm_card_visa_chargeDeclined")
    assert (refused["status"], refused["failure"]) == ("failed", "card_declined")
    # Payment.Failed reaches the visit-payments function, which tells the patient by e-mail.
    assert eventually(lambda: _refusal_notices(platform, start, zone) == 1, timeout_s=30)
    # EventBridge delivers at least once: a second delivery tells nobody again.
    failed = {"appointment_id": visit, "step": "hold", "sequence": 1, "code": "card_declined"}
    _payment_event(platform, "Payment.Failed", failed)
    # Another card holds it; the old refusal, delivered late, is no longer news.
    assert _paid(platform, gateway, patient, visit)["status"] == "held"
    _payment_event(platform, "Payment.Failed", failed | {"sequence": 2})
    time.sleep(3)  # what the two late deliveries would have taken
    assert _refusal_notices(platform, start, zone) == 1


def _payment_event(platform: LocalPlatform, detail_type: str, detail: dict[str, Any]) -> None:
    platform.client("events").put_events(
        Entries=[
            {
                "EventBusName": topology.TENANT_BUS.name(RIVERSIDE),
                "Source": "telehealth.payments",
                "DetailType": detail_type,
                "Detail": json.dumps(detail),
            }
        ]
    )
