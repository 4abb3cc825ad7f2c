"""Scheduling over HTTP, as the portal, a provider, staff and a health system use it."""

from __future__ import annotations

import functools
import json
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from infra import topology
from local.emulator import ACCOUNT
from local.platform import LocalPlatform
from telehealth.adapters.healthlake import HealthLakeFhirStore
from tests.conftest import SWEEP_EVERY_S, Reply, eventually, http, user_tokens

RIVERSIDE = "riverside"
JSON = {"Content-Type": "application/json"}


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def tokens(platform: LocalPlatform) -> dict[str, str]:
    people = {
        "patient": "patient.one@riverside.example",
        "patient2": "patient.two@riverside.example",
        "provider": "dr.ramirez@riverside.example",
        "other_provider": "dr.okafor@riverside.example",
        "staff": "staff@riverside.example",
    }
    found = {role: user_tokens(platform, RIVERSIDE, email)["access"] for role, email in people.items()}
    found["foreign"] = user_tokens(platform, "desert-clinic", "patient.one@desert-clinic.example")["access"]
    return found


def call(gateway: str, method: str, path: str, token: str | None, body: Any = None, **headers: str) -> Reply:
    sent = {**JSON, **headers, **({"Authorization": token} if token else {})}
    return http(
        method, f"{gateway}{path}", headers=sent, body=json.dumps(body).encode() if body is not None else None
    )


def open_slots(
    gateway: str, token: str, *, days_ahead: float = 3, span_hours: int = 24, **filters: str
) -> list[dict[str, Any]]:
    start = datetime.now(UTC) + timedelta(days=days_ahead)
    query = "&".join(
        f"{k}={v}"
        for k, v in {
            "state": "NY",
            "from": stamp(start),
            "to": stamp(start + timedelta(hours=span_hours)),
            "limit": "100",
            **filters,
        }.items()
    )
    slots: list[dict[str, Any]] = call(gateway, "GET", f"/v1/slots?{query}", token).ok()["slots"]
    return slots


_used: set[str] = set()


SPECIALTY = {"dr-ramirez": "pediatrics", "dr-okafor": "family-medicine"}


def fresh_slot(
    gateway: str, token: str, provider: str | None = "dr-ramirez", *, days_ahead: float = 3, **kwargs: Any
) -> str:
    """An open slot no test took yet: the provider's, or (None) any urgent-care provider's, who see
    patients around the clock (a search a few hours ahead finds one whatever the time of day).

    The first search is the day `days_ahead` from now; where that day holds nothing for the
    provider (dr-okafor works Saturday mornings only, and not Sundays), the next day's, for a week:
    weekly hours repeat, so the suite books the same whatever day of the week it runs."""
    specialty = SPECIALTY[provider] if provider else "urgent-care"
    for later in range(7):
        day = open_slots(gateway, token, specialty=specialty, days_ahead=days_ahead + later, **kwargs)
        for offered in day:
            mine = provider is None or offered["provider"]["provider_id"] == provider
            if mine and offered["slot_id"] not in _used:
                _used.add(offered["slot_id"])
                return str(offered["slot_id"])
    raise AssertionError(f"no open slot in the week from {days_ahead} days ahead")


def book(gateway: str, token: str, slot_id: str, **extra: Any) -> Reply:
    return call(
        gateway,
        "POST",
        "/v1/appointments",
        token,
        {"slot_id": slot_id, "state": "NY", **extra},
        **{"Idempotency-Key": str(uuid.uuid4())},
    )


# --- search ---------------------------------------------------------------------------------------


def test_search_answers_in_the_patients_zone_and_only_shows_providers_licensed_there(
    gateway: str, tokens: dict[str, str]
) -> None:
    slots = open_slots(gateway, tokens["patient"], zone="America/Denver")
    assert slots and all(s["start"].endswith(("-07:00", "-06:00")) for s in slots)
    # Licensed in NY: Okafor, Ramirez, Nightingale; Lindqvist holds privileges elsewhere only.
    licensed_in_ny = {
        "dr-okafor",
        "dr-ramirez",
        "dr-nightingale",
        "dr-seacole",
        "dr-barton",
        "dr-blackwell",
        "dr-apgar",
        "dr-drew",
        "dr-jacobi",
        "dr-taussig",
        "dr-williams",
    }
    assert {s["provider"]["provider_id"] for s in slots} <= licensed_in_ny
    start, end = datetime.now(UTC) + timedelta(days=3), datetime.now(UTC) + timedelta(days=4)
    ct = call(gateway, "GET", f"/v1/slots?state=CT&from={stamp(start)}&to={stamp(end)}", tokens["patient"])
    # Okafor's CT license lapsed: nobody may see a patient there (besides a PSYPACT privilege).
    assert "dr-okafor" not in {s["provider"]["provider_id"] for s in ct.ok()["slots"]}


def test_search_filters_by_specialty_and_language_and_pages_with_a_cursor(
    gateway: str, tokens: dict[str, str]
) -> None:
    # Two days: one of them has a whole working day of dr-ramirez's, a seeded day off or not.
    spanish = open_slots(gateway, tokens["patient"], language="es", span_hours=48)
    assert spanish and {s["provider"]["provider_id"] for s in spanish} == {"dr-ramirez"}
    start = stamp(datetime.now(UTC) + timedelta(days=3))
    end = stamp(datetime.now(UTC) + timedelta(days=5))
    first = call(
        gateway,
        "GET",
        f"/v1/slots?state=NY&from={start}&to={end}&limit=5&specialty=pediatrics",
        tokens["patient"],
    ).json()
    second = call(
        gateway,
        "GET",
        f"/v1/slots?state=NY&from={start}&to={end}&limit=5&specialty=pediatrics&cursor={first['next_cursor']}",
        tokens["patient"],
    ).json()
    assert len(first["slots"]) == 5 and first["next_cursor"]
    assert first["slots"][-1]["start"] < second["slots"][0]["start"]


@pytest.mark.parametrize(
    ("query", "kind"),
    [
        ("state=ZZ&from=2026-12-01T00:00:00Z&to=2026-12-02T00:00:00Z", "invalid-request"),
        ("state=NY&from=2026-12-01T00:00:00Z&to=2027-02-01T00:00:00Z", "invalid-request"),
        ("state=NY&from=2026-12-01T00:00:00&to=2026-12-02T00:00:00Z", "invalid-request"),
        ("state=TX&from=2026-12-01T00:00:00Z&to=2026-12-02T00:00:00Z", "state-not-served"),
    ],
)
def test_bad_searches_are_problems_that_do_not_echo_the_input(
    gateway: str, tokens: dict[str, str], query: str, kind: str
) -> None:
    reply = call(gateway, "GET", f"/v1/slots?{query}", tokens["patient"])
    assert 400 <= reply.status < 500
    assert reply.headers["Content-Type"] == "application/problem+json"
    assert reply.json()["type"] == f"/problems/{kind}"
    assert "2027-02-01" not in reply.body.decode() and "ZZ" not in reply.body.decode()


# --- booking ---------------------------------------------------------------------------------------


def patient_id(platform: LocalPlatform, email: str) -> str:
    tenant = platform.provisioned[RIVERSIDE]
    user = platform.client("cognito-idp").admin_get_user(
        UserPoolId=tenant.user_pools["patients"], Username=email
    )
    return str(next(a["Value"] for a in user["UserAttributes"] if a["Name"] == "sub"))


def test_of_twenty_concurrent_bookings_of_one_slot_exactly_one_wins(
    platform: LocalPlatform, gateway: str, tokens: dict[str, str], fhir: HealthLakeFhirStore
) -> None:
    slot = fresh_slot(gateway, tokens["staff"])
    patients = [patient_id(platform, f"patient.{n}@riverside.example") for n in ("one", "two")]

    def attempt(n: int) -> int:
        return book(gateway, tokens["staff"], slot, patient_id=patients[n % 2]).status

    with ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = Counter(pool.map(attempt, range(20)))
    assert outcomes == {201: 1, 409: 19}
    # The record holds the winner alone: a refused booking's transaction wrote nothing, so its
    # stream carried nothing for the relay to project.
    winners = eventually(lambda: list(fhir.search("Appointment", {"slot": f"Slot/{slot}"})), timeout_s=30)
    time.sleep(SWEEP_EVERY_S + 1)  # a sweep and the stream's stragglers have had their chance
    assert len(list(fhir.search("Appointment", {"slot": f"Slot/{slot}"}))) == len(winners) == 1


def test_twenty_concurrent_bookings_of_distinct_slots_all_succeed_side_by_side(
    platform: LocalPlatform, gateway: str, tokens: dict[str, str]
) -> None:
    # Eleven days ahead: the nearer days stay open for the tests that book them.
    slots = [fresh_slot(gateway, tokens["staff"], days_ahead=11) for _ in range(20)]
    patients = [patient_id(platform, f"patient.{n}@riverside.example") for n in ("one", "two")]
    platform.dispatcher.resolve(topology.API.name(RIVERSIDE)).environments.peak = 0
    with ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = Counter(
            pool.map(
                lambda n: book(gateway, tokens["staff"], slots[n], patient_id=patients[n % 2]).status,
                range(20),
            )
        )
    assert outcomes == {201: 20}
    environments = platform.dispatcher.resolve(topology.API.name(RIVERSIDE)).environments
    assert 1 < environments.peak <= environments.limit, "Lambda ran them side by side"


def test_a_retried_booking_returns_the_same_appointment_and_a_reused_key_is_refused(
    gateway: str, tokens: dict[str, str]
) -> None:
    slot, other = fresh_slot(gateway, tokens["patient"]), fresh_slot(gateway, tokens["patient"])
    key = {"Idempotency-Key": f"retry-{uuid.uuid4()}"}
    first = call(
        gateway, "POST", "/v1/appointments", tokens["patient"], {"slot_id": slot, "state": "NY"}, **key
    )
    again = call(
        gateway, "POST", "/v1/appointments", tokens["patient"], {"slot_id": slot, "state": "NY"}, **key
    )
    assert first.status == again.status == 201
    assert first.json()["appointment_id"] == again.json()["appointment_id"]
    reused = call(
        gateway, "POST", "/v1/appointments", tokens["patient"], {"slot_id": other, "state": "NY"}, **key
    )
    assert reused.status == 422 and reused.json()["type"] == "/problems/idempotency-key-reused"
    # Another caller's use of the same key is theirs alone: it books, it never sees the first.
    theirs = call(
        gateway, "POST", "/v1/appointments", tokens["patient2"], {"slot_id": other, "state": "NY"}, **key
    )
    assert theirs.status == 201 and theirs.json()["appointment_id"] != first.json()["appointment_id"]


def test_a_patient_cannot_book_where_the_provider_is_not_licensed(
    gateway: str, tokens: dict[str, str]
) -> None:
    slot = fresh_slot(gateway, tokens["patient"], provider="dr-okafor")
    reply = book(gateway, tokens["patient"], slot, state="CT")
    assert reply.status == 422 and reply.json()["type"] == "/problems/provider-not-licensed"
    assert "not valid on the visit date" in reply.json()["detail"]


def test_cancel_and_reschedule_follow_the_cancellation_window(gateway: str, tokens: dict[str, str]) -> None:
    later = book(gateway, tokens["patient"], fresh_slot(gateway, tokens["patient"])).json()
    moved_to = fresh_slot(gateway, tokens["patient"])
    moved = call(
        gateway,
        "POST",
        f"/v1/appointments/{later['appointment_id']}/reschedule",
        tokens["patient"],
        {"slot_id": moved_to},
    )
    assert moved.status == 200 and moved.json()["version"] == 2
    # The old slot is open again, the new one is held.
    assert (
        call(
            gateway, "POST", "/v1/appointments", tokens["patient2"], {"slot_id": moved_to, "state": "NY"}
        ).status
        == 409
    )
    cancelled = call(gateway, "POST", f"/v1/appointments/{later['appointment_id']}/cancel", tokens["patient"])
    assert cancelled.status == 200 and cancelled.json()["status"] == "cancelled"
    again = call(gateway, "POST", f"/v1/appointments/{later['appointment_id']}/cancel", tokens["patient"])
    assert again.status == 409 and again.json()["type"] == "/problems/appointment-cancelled"
    # Inside the window whatever the time of day: an around-the-clock provider a few hours ahead.
    within = fresh_slot(gateway, tokens["patient"], None, days_ahead=0.1, span_hours=12)
    soon = book(gateway, tokens["patient"], within).json()
    refused = call(gateway, "POST", f"/v1/appointments/{soon['appointment_id']}/cancel", tokens["patient"])
    assert refused.status == 409 and refused.json()["type"] == "/problems/outside-cancellation-window"
    by_staff = call(gateway, "POST", f"/v1/appointments/{soon['appointment_id']}/cancel", tokens["staff"])
    assert by_staff.status == 200


# --- who may do what --------------------------------------------------------------------------------


def test_roles_by_routes(platform: LocalPlatform, gateway: str, tokens: dict[str, str]) -> None:
    mine = book(gateway, tokens["patient"], fresh_slot(gateway, tokens["patient"])).json()
    appointment = mine["appointment_id"]
    client_id, secret, _ = platform.provisioned[RIVERSIDE].machine_clients["ehr-sync"]
    import base64
    import urllib.parse

    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    machine = http(
        "POST",
        f"{gateway}/oauth2/token",
        headers={"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"},
        body=urllib.parse.urlencode({"grant_type": "client_credentials"}).encode(),
    ).json()["access_token"]
    everyone = {**tokens, "machine": machine}
    start = stamp(datetime.now(UTC) + timedelta(days=3))
    end = stamp(datetime.now(UTC) + timedelta(days=4))
    routes = {
        "search": ("GET", f"/v1/slots?state=NY&from={start}&to={end}"),
        "read": ("GET", f"/v1/appointments/{appointment}"),
        "list-own": ("GET", "/v1/appointments"),
        "provider-schedule": ("GET", "/v1/appointments?provider_id=dr-ramirez"),
        "integration": ("GET", "/integrations/appointments?provider_id=dr-ramirez"),
    }
    expected = {
        #                   search read list-own provider-schedule integration
        "patient":         (200,   200, 200,     200,              401),
        "patient2":        (200,   404, 200,     200,              401),
        "provider":        (403,   200, 200,     200,              401),
        "other_provider":  (403,   404, 200,     403,              401),
        "staff":           (200,   200, 400,     200,              401),
        "machine":         (401,   401, 401,     401,              200),
        "foreign":         (401,   401, 401,     401,              401),
    }  # fmt: skip
    found = {
        role: tuple(call(gateway, method, path, everyone[role]).status for method, path in routes.values())
        for role in expected
    }
    assert found == expected
    # A patient's list holds only their own; the provider's schedule only theirs.
    own = call(gateway, "GET", "/v1/appointments", tokens["patient2"]).json()["appointments"]
    assert appointment not in {a["appointment_id"] for a in own}
    schedule = call(gateway, "GET", "/v1/appointments", tokens["provider"]).json()["appointments"]
    assert schedule and {a["provider_id"] for a in schedule} == {"dr-ramirez"}


def test_a_signed_in_clinician_learns_who_they_are_without_any_appointment_to_read_it_from(
    gateway: str, tokens: dict[str, str]
) -> None:
    # The dashboard asks this before it has anything else: whose queue and hours, and on whose clock.
    me = {role: call(gateway, "GET", "/v1/me", tokens[role]) for role in ("provider", "staff", "patient")}
    assert {role: reply.status for role, reply in me.items()} == dict.fromkeys(me, 200)
    hours = call(gateway, "GET", "/v1/providers/dr-ramirez/availability", tokens["provider"]).json()
    assert me["provider"].json() == {"role": "provider", "provider_id": "dr-ramirez", "zone": hours["zone"]}
    assert me["staff"].json() == {"role": "staff", "provider_id": None, "zone": None}
    assert me["patient"].json() == {"role": "patient", "provider_id": None, "zone": None}
    assert call(gateway, "GET", "/v1/me", None).status == 401


# --- the clinical record ------------------------------------------------------------------------------


def test_a_booking_reaches_the_fhir_store_with_its_slot_audit_and_the_seeded_record(
    platform: LocalPlatform, gateway: str, tokens: dict[str, str], fhir: HealthLakeFhirStore
) -> None:
    booked = book(gateway, tokens["patient"], fresh_slot(gateway, tokens["patient"])).json()
    record = eventually(lambda: fhir.read_if_present("Appointment", booked["appointment_id"]), timeout_s=30)
    assert record["status"] == "booked"
    slot_reference = record["slot"][0]["reference"]
    assert eventually(
        lambda: (fhir.read_if_present("Slot", slot_reference.split("/")[1]) or {}).get("status") == "busy"
    )
    practitioner = fhir.read("Practitioner", "dr-ramirez")
    states = {q["extension"][0]["valueCoding"]["code"] for q in practitioner["qualification"]}
    assert "NY" in states
    assert fhir.read("Schedule", "dr-ramirez-schedule")["actor"] == [{"reference": "Practitioner/dr-ramirez"}]
    assert fhir.read("Patient", booked["patient_id"])["birthDate"]
    audits = eventually(
        lambda: [
            e
            for e in fhir.search("AuditEvent", {"entity": f"Appointment/{booked['appointment_id']}"})
            if e["action"] == "C"
        ],
        timeout_s=30,
    )
    assert audits[0]["purposeOfEvent"][0]["coding"][0]["code"] == "TREAT"
    # The relay archives an AuditEvent beside writing it to the record: moments apart, either first.
    # By its key (the day it was recorded, its id): a listing pages by the thousand, and a busy
    # suite archives more than that.
    recorded = audits[0]["recorded"]
    key = f"audit-events/{recorded[:4]}/{recorded[5:7]}/{recorded[8:10]}/{audits[0]['id']}.json"

    def archived() -> bool:
        s3 = platform.client("s3")
        found = s3.list_objects_v2(Bucket=topology.bucket_name(RIVERSIDE, "audit", ACCOUNT), Prefix=key)
        return bool(found.get("KeyCount", 0) == 1)

    assert eventually(archived, timeout_s=30)


def test_with_the_fhir_store_down_booking_works_and_the_record_catches_up_without_duplicates(
    platform: LocalPlatform, gateway: str, tokens: dict[str, str], fhir: HealthLakeFhirStore
) -> None:
    failures = topology.OUTBOX_RELAY.dlq.name(RIVERSIDE)  # type: ignore[union-attr]
    sqs = platform.client("sqs")
    failure_queue = sqs.get_queue_url(QueueName=failures)["QueueUrl"]
    relay = topology.OUTBOX_RELAY.name(RIVERSIDE)
    before = platform.dispatcher.completions[relay]
    platform.pause("healthlake")
    try:
        booked = [book(gateway, tokens["patient"], fresh_slot(gateway, tokens["patient"])) for _ in range(2)]
        assert all(b.status == 201 for b in booked)
        # The record's relay tries, finds the store down and leaves the entries to the sweeper's
        # lane: it finishes its batches rather than replaying the stream behind them.
        eventually(
            lambda: platform.dispatcher.completions[relay] > before,
            timeout_s=60,
        )
    finally:
        platform.resume("healthlake")
    assert not sqs.receive_message(QueueUrl=failure_queue, WaitTimeSeconds=1).get("Messages")
    for appointment_id in (reply.json()["appointment_id"] for reply in booked):
        record = eventually(
            functools.partial(fhir.read_if_present, "Appointment", appointment_id), timeout_s=90
        )
        assert record["status"] == "booked"
        assert len(fhir.history("Appointment", appointment_id)["entry"]) == 1


def test_a_provider_publishes_hours_that_search_then_follows(gateway: str, tokens: dict[str, str]) -> None:
    path = "/v1/providers/dr-ramirez/availability"
    current = call(gateway, "GET", path, tokens["provider"])
    assert current.status == 200 and current.json()["zone"] == "America/Los_Angeles"
    assert call(gateway, "GET", path, tokens["other_provider"]).status == 403
    assert call(gateway, "GET", path, tokens["patient"]).status == 403
    day = (datetime.now(UTC) + timedelta(days=9)).date()
    hours = {k: v for k, v in current.json().items() if k not in ("provider_id", "zone")}
    updated = call(
        gateway, "PUT", path, tokens["provider"], {**hours, "days_off": [*hours["days_off"], day.isoformat()]}
    )
    assert updated.status == 200 and updated.json()["version"] == hours["version"] + 1
    stale = call(gateway, "PUT", path, tokens["staff"], hours)
    assert stale.status == 409 and stale.json()["type"] == "/problems/conflict"
    start = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=14)
    offered = call(
        gateway,
        "GET",
        f"/v1/slots?state=NY&from={stamp(start)}&to={stamp(start + timedelta(hours=6))}",
        tokens["patient"],
    ).ok()["slots"]
    assert "dr-ramirez" not in {s["provider"]["provider_id"] for s in offered}
    overlapping = {
        **hours,
        "version": hours["version"] + 1,
        "weekly": {"1": [{"start": "09:00:00", "end": "12:00:00"}, {"start": "11:00:00", "end": "13:00:00"}]},
    }
    refused = call(gateway, "PUT", path, tokens["staff"], overlapping)
    assert refused.status == 400 and "overlap" in refused.json()["detail"]


def test_visits_of_different_lengths_cannot_overlap(gateway: str, tokens: dict[str, str]) -> None:
    from telehealth.domain.scheduling import parse_slot_id, slot_id

    general = fresh_slot(gateway, tokens["patient"], provider="dr-okafor")
    assert book(gateway, tokens["patient"], general).status == 201
    provider, start = parse_slot_id(general)
    overlapping = slot_id(provider, start + timedelta(minutes=15))  # a 15-minute follow-up inside it
    _used.add(overlapping)
    reply = book(gateway, tokens["patient2"], overlapping, service_type="follow-up")
    assert reply.status == 409 and reply.json()["type"] == "/problems/slot-taken"


def test_a_form_encoded_body_is_refused_without_echoing_what_it_held(
    gateway: str, tokens: dict[str, str]
) -> None:
    reply = http(
        "POST",
        f"{gateway}/v1/appointments",
        headers={"Authorization": tokens["patient"], "Content-Type": "application/x-www-form-urlencoded"},
        # JSON sent as a form: the whole document becomes one form "key", which must not be echoed.
        body=b'{"slot_id": "x", "birth_date": "1990-01-01", "name": "Jordan Testpatient"}',
    )
    assert reply.status == 400 and reply.json()["type"] == "/problems/invalid-request"
    assert b"1990-01-01" not in reply.body and b"Jordan" not in reply.body


def test_a_retried_cancel_or_reschedule_replays_its_answer(gateway: str, tokens: dict[str, str]) -> None:
    moved_to = fresh_slot(gateway, tokens["patient"])
    booked = book(gateway, tokens["patient"], fresh_slot(gateway, tokens["patient"])).json()
    path = f"/v1/appointments/{booked['appointment_id']}"
    move = {"Idempotency-Key": f"move-{uuid.uuid4()}"}
    first = call(gateway, "POST", f"{path}/reschedule", tokens["patient"], {"slot_id": moved_to}, **move)
    again = call(gateway, "POST", f"{path}/reschedule", tokens["patient"], {"slot_id": moved_to}, **move)
    assert first.status == again.status == 200 and first.json() == again.json()
    key = {"Idempotency-Key": f"cancel-{uuid.uuid4()}"}
    cancelled = call(gateway, "POST", f"{path}/cancel", tokens["patient"], **key)
    retried = call(gateway, "POST", f"{path}/cancel", tokens["patient"], **key)
    assert cancelled.status == retried.status == 200
    assert retried.json() == cancelled.json() and retried.json()["status"] == "cancelled"
    # Without the key, cancelling twice is refused: the visit is cancelled already.
    twice = call(gateway, "POST", f"{path}/cancel", tokens["patient"])
    assert twice.status == 409 and twice.json()["type"] == "/problems/appointment-cancelled"
    # Someone else's retry with the same key gets nothing of it.
    assert call(gateway, "POST", f"{path}/cancel", tokens["patient2"], **key).status == 404


# --- the longest visit and the largest hours: AWS's limits stay out of reach ---------------------------


def _evaluation_slots(gateway: str, token: str) -> list[str]:
    """Four-hour behavioural-health evaluations (the longest visit the clinic offers), in NJ."""
    found = []
    for days in (3, 4, 5, 6, 7):
        found += [
            s["slot_id"]
            for s in open_slots(
                gateway,
                token,
                days_ahead=days,
                state="NJ",
                service_type="evaluation",
                specialty="behavioral-health",
            )
            if s["slot_id"] not in _used
        ]
    _used.update(found)
    return found


def test_the_longest_visit_moves_in_one_transaction_never_holding_neither_slot_nor_both(
    platform: LocalPlatform, gateway: str, tokens: dict[str, str]
) -> None:
    from telehealth.adapters.scheduling_store import DynamoSchedulingStore, cells_held, hour_key
    from telehealth.domain.scheduling import cells, parse_slot_id

    first, second = _evaluation_slots(gateway, tokens["patient"])[:2]
    booked = call(
        gateway,
        "POST",
        "/v1/appointments",
        tokens["patient"],
        {"slot_id": first, "state": "NJ", "service_type": "evaluation"},
    )
    assert booked.status == 201, booked.body
    appointment = booked.json()
    assert datetime.fromisoformat(appointment["end"]) - datetime.fromisoformat(
        appointment["start"]
    ) == timedelta(hours=4)
    provider = appointment["provider_id"]
    held = {
        slot: cells(start, start + timedelta(hours=4))
        for slot, (_, start) in ((s, parse_slot_id(s)) for s in (first, second))
    }
    store = DynamoSchedulingStore(topology.CLINIC_TABLE.name(RIVERSIDE), client=platform.client("dynamodb"))
    keys = {tuple(hour_key(provider, c).items()) for moments in held.values() for c in moments}
    requests = [{"Get": {"TableName": store.table, "Key": store._item(dict(k))}} for k in sorted(keys)]
    seen: list[frozenset[datetime]] = []
    moving = threading.Event()

    def observe() -> None:
        # Serializable reads of every hour both times touch, while the visit moves back and forth.
        while not moving.is_set():
            items = platform.client("dynamodb").transact_get_items(TransactItems=requests)["Responses"]
            mine: set[datetime] = set()
            for item in (store._plain(i["Item"]) for i in items if "Item" in i):
                mine |= {
                    c for c, holder in cells_held(item).items() if holder == appointment["appointment_id"]
                }
            seen.append(frozenset(mine))

    meter = platform.emulator.meter.largest_transaction
    meter.clear()
    watcher = threading.Thread(target=observe)
    watcher.start()
    try:
        for target in (second, first, second):
            moved = call(
                gateway,
                "POST",
                f"/v1/appointments/{appointment['appointment_id']}/reschedule",
                tokens["patient"],
                {"slot_id": target},
            )
            assert moved.status == 200, moved.body
    finally:
        moving.set()
        watcher.join()
    # At every read the visit held exactly one of its two times, whole.
    whole = {frozenset(held[first]), frozenset(held[second])}
    assert seen and set(seen) <= whole, [sorted(s)[:1] for s in set(seen) - whole]
    # Each move was one transaction of the size the key design says (at most 17 actions).
    assert 10 <= meter["TransactWriteItems"] <= 17, meter


def test_the_largest_hours_the_api_accepts_are_stored_and_one_more_is_refused(
    gateway: str, tokens: dict[str, str]
) -> None:
    path = "/v1/providers/dr-lindqvist/availability"
    current = call(gateway, "GET", path, tokens["staff"]).json()
    # Half-hour blocks all day, every day; a year of days off and of extra hours; twenty services.
    day = [
        {"start": f"{h:02d}:{m:02d}:00", "end": f"{h:02d}:{m + 25:02d}:00"}
        for h in range(24)
        for m in (0, 30)
    ]
    today = datetime.now(UTC).date()
    largest = {
        "weekly": {str(d): day for d in range(1, 8)},
        "visit_minutes": {**{f"service-{n:02d}": 30 for n in range(18)}, "general": 50, "evaluation": 240},
        "days_off": [(today + timedelta(days=400 + n)).isoformat() for n in range(366)],
        "extra": [
            {"day": (today + timedelta(days=800 + n)).isoformat(), "start": "06:00:00", "end": "07:00:00"}
            for n in range(366)
        ],
        "version": current["version"],
    }
    for field, more in (
        ("weekly", {**largest["weekly"], "1": [*day, {"start": "00:25:00", "end": "00:30:00"}]}),
        ("days_off", [*largest["days_off"], (today + timedelta(days=399)).isoformat()]),
        ("visit_minutes", {**largest["visit_minutes"], "one-more": 30}),
    ):
        refused = call(gateway, "PUT", path, tokens["staff"], {**largest, field: more})
        assert refused.status == 400, (field, refused.body)
    stored = call(gateway, "PUT", path, tokens["staff"], largest)
    assert stored.status == 200, stored.body
    assert call(gateway, "GET", path, tokens["staff"]).json()["days_off"] == largest["days_off"]
    # Put back what the other tests book against.
    back = {k: v for k, v in current.items() if k not in ("provider_id", "zone")}
    assert (
        call(gateway, "PUT", path, tokens["staff"], {**back, "version": current["version"] + 1}).status == 200
    )


# --- every list: what the caller may see decides, never the query --------------------------------------


def test_no_list_shows_a_caller_anothers_rows_whatever_the_query_says(
    platform: LocalPlatform, gateway: str, tokens: dict[str, str]
) -> None:
    theirs = book(gateway, tokens["patient"], fresh_slot(gateway, tokens["patient"])).json()
    now = datetime.now(UTC)
    wide = f"from={stamp(now - timedelta(days=30))}&to={stamp(now + timedelta(days=80))}"
    # Another patient, asking for the same provider over a wide window: only their own rows.
    for query in (
        "",
        f"?provider_id={theirs['provider_id']}&{wide}",
        f"?patient_id={theirs['patient_id']}&{wide}",
    ):
        rows = call(gateway, "GET", f"/v1/appointments{query}", tokens["patient2"]).json()["appointments"]
        assert theirs["appointment_id"] not in {r["appointment_id"] for r in rows}
        assert {r["patient_id"] for r in rows} <= {patient_id(platform, "patient.two@riverside.example")}
    # Another provider: their own schedule, or a refusal, never dr-ramirez's.
    other = call(gateway, "GET", f"/v1/appointments?provider_id=dr-ramirez&{wide}", tokens["other_provider"])
    assert other.status == 403
    own = call(gateway, "GET", f"/v1/appointments?{wide}", tokens["other_provider"]).json()["appointments"]
    assert {r["provider_id"] for r in own} <= {"dr-okafor"}
    # A patient's own rows, narrowed by the query, never widened by it.
    okafor = book(
        gateway, tokens["patient"], fresh_slot(gateway, tokens["patient"], provider="dr-okafor")
    ).json()
    narrowed = call(gateway, "GET", f"/v1/appointments?provider_id=dr-okafor&{wide}", tokens["patient"])
    rows = narrowed.json()["appointments"]
    assert okafor["appointment_id"] in {r["appointment_id"] for r in rows}
    assert {r["provider_id"] for r in rows} == {"dr-okafor"}
    # Another clinic's users and machine clients see nothing of this one, whatever they ask.
    for path in (
        "/v1/appointments?provider_id=dr-ramirez",
        "/integrations/appointments?provider_id=dr-ramirez",
    ):
        assert call(gateway, "GET", path, tokens["foreign"]).status == 401
