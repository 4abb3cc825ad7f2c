"""The visit: its lifecycle follows the appointment, and check-in resumes it."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from infra import topology
from local.platform import LocalPlatform
from telehealth.adapters.healthlake import HealthLakeFhirStore
from tests.conftest import Reply, eventually
from tests.e2e.test_scheduling import RIVERSIDE, book, call, stamp

CHECK_IN = {
    "state": "NY",
    "emergency_contact": "+1 555 0100",
    "consent_to_telehealth": True,
    "reason": "sore throat",
}


@pytest.fixture(scope="module")
def tokens(platform: LocalPlatform) -> dict[str, str]:
    from tests.conftest import user_tokens

    return {
        "patient": user_tokens(platform, RIVERSIDE, "patient.one@riverside.example")["access"],
        "patient2": user_tokens(platform, RIVERSIDE, "patient.two@riverside.example")["access"],
    }


def check_in(gateway: str, token: str, appointment_id: str, recording: bool = False, **change: Any) -> Reply:
    body = {**CHECK_IN, "consent_to_recording": recording, **change}
    return call(gateway, "POST", f"/v1/appointments/{appointment_id}/check-in", token, body)


def check_in_when_open(gateway: str, token: str, appointment_id: str, recording: bool) -> Reply:
    """Check in as soon as the lifecycle waits for it (it gets there moments after booking)."""
    reply: Reply = eventually(
        lambda: (r := check_in(gateway, token, appointment_id, recording)).status == 200 and r, timeout_s=30
    )
    return reply


def soon_slot(
    gateway: str,
    token: str,
    taken: set[str] = set(),  # noqa: B006 (shared on purpose)
    *,
    not_with: frozenset[str] = frozenset(),
) -> str:
    """A slot with the around-the-clock provider that starts within the check-in window, but not
    so soon that it has started by the time it is booked (which is refused as in the past); with
    none of the providers `not_with`."""
    now = datetime.now(UTC) + timedelta(seconds=30)
    reply = call(
        gateway,
        "GET",
        f"/v1/slots?state=NY&from={stamp(now)}&to={stamp(now + timedelta(minutes=14))}&specialty=urgent-care",
        token,
    )
    for offered in reply.ok()["slots"]:
        if offered["slot_id"] not in taken and offered["provider"]["provider_id"] not in not_with:
            taken.add(offered["slot_id"])
            return str(offered["slot_id"])
    raise AssertionError("no slot starting within 15 minutes")


def execution(platform: LocalPlatform, appointment: dict[str, Any]) -> dict[str, Any]:
    arn = (
        platform.provisioned[RIVERSIDE]
        .state_machine_arns[topology.VISIT_LIFECYCLE.key]
        .replace(":stateMachine:", ":execution:")
    )
    described: dict[str, Any] = platform.client("stepfunctions").describe_execution(
        executionArn=f"{arn}:{appointment['appointment_id']}-v{appointment['version']}"
    )
    return described


def test_booking_starts_the_lifecycle_and_check_in_moves_it_on(
    platform: LocalPlatform, gateway: str, tokens: dict[str, str]
) -> None:
    appointment = book(gateway, tokens["patient"], soon_slot(gateway, tokens["patient"])).json()
    assert execution(platform, appointment)["status"] == "RUNNING"
    # The lifecycle waits on check-in (a task token): check in once the token is waiting.
    checked = check_in_when_open(gateway, tokens["patient"], appointment["appointment_id"], False)
    assert checked.json()["recording_consented"] is False

    # Checked in, the lifecycle waits on admission now: still running, past check-in.
    def entered() -> list[str]:
        history = platform.client("stepfunctions").get_execution_history(
            executionArn=execution(platform, appointment)["executionArn"]
        )
        return [
            e["stateEnteredEventDetails"]["name"]
            for e in history["events"]
            if "stateEnteredEventDetails" in e
        ]

    assert "Timers" in eventually(lambda: "AwaitAdmission" in (names := entered()) and names, timeout_s=30)
    assert execution(platform, appointment)["status"] == "RUNNING"
    again = check_in(gateway, tokens["patient"], appointment["appointment_id"], True)
    assert again.status == 409 and again.json()["type"] == "/problems/already-checked-in"


def test_check_in_records_consents_reason_and_emergency_contact_in_the_fhir_store(
    platform: LocalPlatform, gateway: str, tokens: dict[str, str], fhir: HealthLakeFhirStore
) -> None:
    appointment = book(gateway, tokens["patient2"], soon_slot(gateway, tokens["patient2"])).json()
    check_in_when_open(gateway, tokens["patient2"], appointment["appointment_id"], True)
    visit = appointment["appointment_id"].lower()
    for purpose, decision in (("telehealth", "permit"), ("recording", "permit")):
        consent = eventually(
            functools.partial(fhir.read_if_present, "Consent", f"{visit}-{purpose}"), timeout_s=30
        )
        assert consent["provision"]["type"] == decision
        assert consent["patient"]["reference"] == f"Patient/{appointment['patient_id']}"
    # What a clinician needs from the check-in, read back as the store keeps it: why the patient
    # came, on the encounter, and the emergency contact, which the encounter names.
    encounter = eventually(functools.partial(fhir.read_if_present, "Encounter", f"{visit}-v1"), timeout_s=30)
    assert encounter["reasonCode"] == [{"text": CHECK_IN["reason"]}]
    (emergency,) = [p for p in encounter["participant"] if p["type"][0]["coding"][0]["code"] == "emergency"]
    kind, contact_id = emergency["individual"]["reference"].split("/")
    contact = eventually(functools.partial(fhir.read_if_present, kind, contact_id), timeout_s=30)
    assert contact["telecom"] == [{"system": "phone", "value": CHECK_IN["emergency_contact"]}]
    assert contact["relationship"][0]["coding"][0]["code"] == "C"
    assert contact["patient"]["reference"] == f"Patient/{appointment['patient_id']}"


@pytest.mark.parametrize(
    ("change", "kind", "status"),
    [({"consent_to_telehealth": False}, "consent-required", 422), ({"state": "XX"}, "invalid-request", 400)],
)
def test_a_check_in_without_consent_or_with_bad_input_changes_nothing(
    gateway: str, tokens: dict[str, str], change: dict[str, Any], kind: str, status: int
) -> None:
    appointment = book(gateway, tokens["patient"], soon_slot(gateway, tokens["patient"])).json()
    refused = check_in(gateway, tokens["patient"], appointment["appointment_id"], False, **change)
    assert refused.status == status and refused.json()["type"] == f"/problems/{kind}"
    # Nothing was recorded: the real check-in still goes through.
    check_in_when_open(gateway, tokens["patient"], appointment["appointment_id"], False)


def test_check_in_opens_fifteen_minutes_before_and_only_for_the_patient(
    gateway: str, tokens: dict[str, str]
) -> None:
    from tests.e2e.test_scheduling import fresh_slot

    later = book(gateway, tokens["patient"], fresh_slot(gateway, tokens["patient"])).json()
    early = check_in(gateway, tokens["patient"], later["appointment_id"], False)
    assert early.status == 409 and early.json()["type"] == "/problems/check-in-not-open"
    theirs = check_in(gateway, tokens["patient2"], later["appointment_id"], False)
    assert theirs.status == 404


def test_a_cancelled_or_moved_visit_stops_its_lifecycle(
    platform: LocalPlatform, gateway: str, tokens: dict[str, str]
) -> None:
    from tests.e2e.test_scheduling import fresh_slot

    appointment = book(gateway, tokens["patient"], fresh_slot(gateway, tokens["patient"])).json()
    moved = call(
        gateway,
        "POST",
        f"/v1/appointments/{appointment['appointment_id']}/reschedule",
        tokens["patient"],
        {"slot_id": fresh_slot(gateway, tokens["patient"])},
    ).json()
    assert eventually(lambda: execution(platform, appointment)["status"] == "ABORTED")
    assert execution(platform, moved)["status"] == "RUNNING"
    call(gateway, "POST", f"/v1/appointments/{appointment['appointment_id']}/cancel", tokens["patient"])
    assert eventually(lambda: execution(platform, moved)["status"] == "ABORTED")


def test_each_change_is_announced_on_the_tenant_bus_with_ids_only(
    platform: LocalPlatform, gateway: str, tokens: dict[str, str]
) -> None:
    import json

    from tests.e2e.test_scheduling import fresh_slot

    events, sqs = platform.client("events"), platform.client("sqs")
    bus = topology.TENANT_BUS.name(RIVERSIDE)
    url = sqs.create_queue(QueueName="probe-domain-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(
        Name="probe-domain-events",
        EventBusName=bus,
        EventPattern=json.dumps({"source": [{"prefix": "telehealth."}]}),
    )
    events.put_targets(Rule="probe-domain-events", EventBusName=bus, Targets=[{"Id": "probe", "Arn": arn}])

    booked = book(gateway, tokens["patient"], fresh_slot(gateway, tokens["patient"])).json()
    moved = call(
        gateway,
        "POST",
        f"/v1/appointments/{booked['appointment_id']}/reschedule",
        tokens["patient"],
        {"slot_id": fresh_slot(gateway, tokens["patient"])},
    )
    assert moved.status == 200
    assert (
        call(gateway, "POST", f"/v1/appointments/{booked['appointment_id']}/cancel", tokens["patient"]).status
        == 200
    )

    seen: dict[str, dict[str, Any]] = {}

    def announced() -> bool:
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        ):
            event = json.loads(message["Body"])
            if event["detail"].get("appointment_id") == booked["appointment_id"]:
                seen[event["detail-type"]] = event
        return {"Appointment.Booked", "Appointment.Rescheduled", "Appointment.Cancelled"} <= set(seen)

    assert eventually(announced, timeout_s=30)
    # Checking in is announced too, with the recording decision and nothing else about the patient.
    soon = book(gateway, tokens["patient2"], soon_slot(gateway, tokens["patient2"])).json()
    check_in_when_open(gateway, tokens["patient2"], soon["appointment_id"], True)

    def checked_in() -> dict[str, Any] | None:
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        ):
            event = json.loads(message["Body"])
            if (
                event["detail-type"] == "Visit.CheckedIn"
                and event["detail"]["appointment_id"] == soon["appointment_id"]
            ):
                return dict(event["detail"])
        return None

    detail = eventually(checked_in, timeout_s=30)
    # The outbox entry it left through, for a consumer to drop a repeat by.
    assert detail.pop("outbox_id").startswith("Event/")
    assert detail == {
        "schema_version": 1,
        "appointment_id": soon["appointment_id"],
        "version": 1,
        "recording_consented": True,
    }
    assert seen["Appointment.Booked"]["source"] == "telehealth.scheduling"
    assert seen["Appointment.Rescheduled"]["detail"]["version"] == 2
    for event in seen.values():
        assert set(event["detail"]) <= {
            "outbox_id",
            "schema_version",
            "appointment_id",
            "version",
            "provider_id",
            "patient_id",
            "start",
            "end",
            "reason",  # Visit.Cancelled, published with the cancellation: an enum, not the patient's
            "late_fee",  # Visit.Cancelled: whether staff charged the late fee (a flag)
        }
