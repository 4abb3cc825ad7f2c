"""A prescription's life as the network's news moves it (repeats and news out of order included),
the refusal to cancel what was dispensed, what the record holds of it (valid R4), and reading
Photon's webhooks: the signature, the events the platform reads, the ones it ignores."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest

from telehealth.adapters.photon import PhotonNetwork
from telehealth.application.audit import AuditTrail
from telehealth.application.callers import Caller
from telehealth.application.prescriptions import Prescribing
from telehealth.domain.appointments import Actor
from telehealth.domain.clinic_settings import ClinicSettings
from telehealth.domain.prescriptions import (
    LINK_WINDOW,
    Directions,
    Notice,
    NoticeKind,
    PendingLink,
    Pharmacy,
    PrescriberAccount,
    Prescription,
    PrescriptionRuleError,
    PrescriptionStatus,
    check_directions,
)
from telehealth.errors import StaleWriteError
from telehealth.fhir import prescriptions as record
from telehealth.ports import NoticeRefusedError, OutboxEntry, PrescribingRefusedError
from tests.unit.test_audit import Store as AuditStore
from tests.unit.test_record_projection import valid

AT = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
PHARMACY = Pharmacy(
    "phr_riverside00001",
    "Riverside Community Pharmacy",
    "12 Main Street",
    "Albany",
    "NY",
    "12207",
    "+15555550101",
    "3912345",
)
DIRECTIONS = Directions(
    "314076", "1 tablet", "oral", "once a day", 30, "tablet", 30, 1, True, "Take one a day."
)


def written(**changes: object) -> Prescription:
    rx = Prescription(
        "01JRX00000000000000000000A",
        "01JAPPT0000000000000000000",
        1,
        "patient-1",
        "dr-a",
        "NY",
        DIRECTIONS,
        "lisinopril 10 MG Oral Tablet",
        None,
        PHARMACY,
        AT,
    )
    return replace(rx, **changes)  # type: ignore[arg-type]


def notice(
    kind: NoticeKind,
    n: int = 1,
    *,
    reason: str = "",
    fill_id: str = "",
    quantity: int = 0,
    request_id: str = "",
) -> Notice:
    at = AT + timedelta(minutes=n)
    return Notice(
        f"evt-{kind.value}-{n}", kind, "01JRX00000000000000000000A", at, reason, fill_id, quantity, request_id
    )


def test_the_networks_news_moves_it_once_each_in_any_order() -> None:
    sent = written().submitted("rx_1", "ord_1", AT)
    assert (sent.status, sent.version) == (PrescriptionStatus.SUBMITTED, 2)
    transmitted = sent.applied(notice(NoticeKind.TRANSMITTED))
    assert transmitted is not None and transmitted.status is PrescriptionStatus.TRANSMITTED
    assert transmitted.applied(notice(NoticeKind.TRANSMITTED)) is None  # a repeat: nothing
    filled = transmitted.applied(notice(NoticeKind.DISPENSED, 2, fill_id="fil_1", quantity=30))
    assert filled is not None and filled.status is PrescriptionStatus.DISPENSED and filled.fills_left == 1
    # The transmission arriving after the fill (webhooks are unordered) changes nothing.
    late = sent.applied(notice(NoticeKind.DISPENSED, 2, fill_id="fil_1", quantity=30))
    assert late is not None and late.applied(notice(NoticeKind.TRANSMITTED, 3)) is None
    with pytest.raises(PrescriptionRuleError) as refused:
        filled.cancel_requested(AT)
    assert refused.value.kind == "prescription-dispensed"
    renewal = filled.applied(notice(NoticeKind.RENEWAL_REQUESTED, 4, request_id="rnw_1"))
    assert renewal is not None and [r.request_id for r in renewal.renewals] == ["rnw_1"]


def test_an_error_fails_it_and_a_cancel_cancels_only_what_reached_a_pharmacy() -> None:
    sent = written().submitted("rx_1", "ord_1", AT)
    failed = sent.applied(notice(NoticeKind.ERROR, reason="Pharmacy closed"))
    assert failed is not None and (failed.status, failed.failure_reason) == (
        PrescriptionStatus.FAILED,
        "Pharmacy closed",
    )
    with pytest.raises(PrescriptionRuleError):
        failed.cancel_requested(AT)
    asked = sent.cancel_requested(AT)
    cancelled = asked.applied(notice(NoticeKind.CANCELLED))
    assert cancelled is not None and cancelled.status is PrescriptionStatus.CANCELLED
    assert cancelled.applied(notice(NoticeKind.DISPENSED, 2, fill_id="fil_1")) is None
    # A fill that beat the cancel to the pharmacy wins: it was dispensed.
    beaten = asked.applied(notice(NoticeKind.DISPENSED, 3, fill_id="fil_2", quantity=30))
    assert beaten is not None and beaten.status is PrescriptionStatus.DISPENSED


def test_schedule_ii_is_not_refilled_and_iii_to_v_at_most_five_times() -> None:
    with pytest.raises(PrescriptionRuleError, match=r"1306\.12"):
        check_directions(replace(DIRECTIONS, refills=1), "II")
    with pytest.raises(PrescriptionRuleError, match=r"1306\.22"):
        check_directions(replace(DIRECTIONS, refills=6), "IV")
    check_directions(replace(DIRECTIONS, refills=5), "IV")


def test_the_record_holds_valid_resources_that_follow_its_status() -> None:
    sent = written().submitted("rx_1", "ord_1", AT)
    resources = record.record(sent)
    for resource in resources.values():
        valid(resource)
    request = resources[f"MedicationRequest/{sent.prescription_id.lower()}"]
    assert request["status"] == "active" and request["substitution"] == {"allowedBoolean": True}
    assert request["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"] == {"value": 1, "unit": "tablet"}
    performer = request["dispenseRequest"]["performer"]["reference"]
    assert performer in resources
    filled = sent.applied(notice(NoticeKind.DISPENSED, fill_id="fil_1", quantity=30))
    assert filled is not None
    after = record.record(filled)
    dispense = valid(after[f"MedicationDispense/{sent.prescription_id.lower()}-fill-1"])
    assert (
        dispense["authorizingPrescription"][0]["reference"]
        == f"MedicationRequest/{sent.prescription_id.lower()}"
    )
    failed = sent.applied(notice(NoticeKind.ERROR, reason="closed"))
    assert failed is not None
    stopped = valid(record.medication_request(failed))
    assert stopped["status"] == "stopped" and "closed" in stopped["statusReason"]["text"]


def _signed(event: Mapping[str, object], secret: str = "whsec") -> tuple[str, str]:  # noqa: S107 (a test secret)
    body = json.dumps(event)
    return body, hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()


def test_photons_webhooks_are_read_once_signed_and_the_rest_are_ignored() -> None:
    network = PhotonNetwork({"webhook_secret": "whsec"}, api_base="http://unused", auth_base="http://unused")
    placed = {
        "id": "01G7Z7TNFH0YEGVZ719TQZQBER",
        "type": "photon:order:placed",
        "time": "2026-12-01T15:01:00.000Z",
        "subject": "ord_1",
        "data": {"id": "ord_1", "externalId": "01JRX00000000000000000000A", "patient": {"id": "pat_1"}},
    }
    read = network.notice(*_signed(placed))
    assert read is not None and (read.kind, read.prescription_id) == (
        NoticeKind.TRANSMITTED,
        "01JRX00000000000000000000A",
    )
    error = {**placed, "type": "photon:order:error", "data": {**placed["data"], "reason": "closed"}}  # type: ignore[dict-item]
    failed = network.notice(*_signed(error))
    assert failed is not None and (failed.kind, failed.reason) == (NoticeKind.ERROR, "closed")
    created = {**placed, "type": "photon:order:created"}
    assert network.notice(*_signed(created)) is None  # nothing the platform reads
    with pytest.raises(NoticeRefusedError):
        network.notice(_signed(placed)[0], _signed(placed, "another secret")[1])
    with pytest.raises(NoticeRefusedError):
        PhotonNetwork({}).notice(*_signed(placed))  # no secret set: nothing is taken


def test_the_networks_news_may_come_before_the_sends_answer_and_stands() -> None:
    early = written().applied(notice(NoticeKind.TRANSMITTED))
    assert early is not None and early.status is PrescriptionStatus.TRANSMITTED
    sent = early.submitted("rx_1", "ord_1", AT)
    assert (sent.status, sent.vendor_order_id) == (PrescriptionStatus.TRANSMITTED, "ord_1")
    with pytest.raises(PrescriptionRuleError):
        sent.submitted("rx_2", "ord_2", AT)  # the ids are kept once


def test_a_cancellation_confirmed_before_the_request_was_kept_stays_cancelled() -> None:
    asked = written().submitted("rx_1", "ord_1", AT).cancel_requested(AT)
    confirmed = asked.applied(notice(NoticeKind.CANCELLED))
    assert confirmed is not None
    kept = confirmed.asked_to_cancel(AT)
    assert (kept.status, kept.version) == (PrescriptionStatus.CANCELLED, confirmed.version + 1)
    with pytest.raises(PrescriptionRuleError):
        written().submitted("rx_1", "ord_1", AT).applied(
            notice(NoticeKind.DISPENSED, fill_id="f")
        ).asked_to_cancel(AT)  # type: ignore[union-attr]


def test_a_renewal_request_is_answered_once_approved_with_the_prescription_that_renews_it() -> None:
    filled = (
        written()
        .submitted("rx_1", "ord_1", AT)
        .applied(notice(NoticeKind.DISPENSED, fill_id="f", quantity=30))
    )
    assert filled is not None
    asked = filled.applied(notice(NoticeKind.RENEWAL_REQUESTED, 2, request_id="rnw_1"))
    assert asked is not None
    approved = asked.renewal_answered("rnw_1", "01JRX00000000000000000000B", AT)
    assert [(r.status.value, r.renewed_by) for r in approved.renewals] == [
        ("approved", "01JRX00000000000000000000B")
    ]
    with pytest.raises(PrescriptionRuleError, match="answered already"):
        approved.renewal_answered("rnw_1", None, AT)
    with pytest.raises(PrescriptionRuleError, match="No such renewal"):
        approved.renewal_answered("rnw_2", None, AT)
    renewal = replace(
        written(), prescription_id="01JRX00000000000000000000B", renews=approved.prescription_id
    )
    request = valid(record.medication_request(renewal))
    assert request["priorPrescription"] == {
        "reference": f"MedicationRequest/{approved.prescription_id.lower()}"
    }


class Linking(AuditStore):
    """What linking touches of the clinic table (the trail's view included), in memory."""

    def __init__(self) -> None:
        super().__init__(providers={"sub-of-dr-x": "dr-x", "sub-of-dr-y": "dr-y"})
        self.pending: dict[str, PendingLink] = {}
        self.accounts: dict[str, PrescriberAccount] = {}

    def begin_link(self, state: str, pending: PendingLink) -> None:
        self.pending[state] = pending

    def take_link(self, state: str) -> PendingLink | None:
        return self.pending.pop(state, None)

    def prescriber_account(self, provider_id: str) -> PrescriberAccount | None:
        return self.accounts.get(provider_id)

    def save_prescriber_account(self, account: PrescriberAccount, outbox: list[OutboxEntry]) -> None:
        if account.provider_id in self.accounts:
            raise StaleWriteError("an account is linked already")
        self.accounts[account.provider_id] = account
        self.record(outbox)

    def forget_prescriber_account(self, account: PrescriberAccount, outbox: list[OutboxEntry]) -> None:
        if self.accounts.get(account.provider_id) != account:
            raise StaleWriteError("the account was linked again meanwhile")
        del self.accounts[account.provider_id]
        self.record(outbox)


class Network:
    """Photon's sign-in as the prescribing function speaks for it: a code is good for the verifier
    whose S256 was the challenge of its sign-in; a revocation is refused while `refusing`."""

    def __init__(self) -> None:
        self.challenges: dict[str, str] = {}  # state -> challenge
        self.revoked: list[str] = []
        self.refusing = False

    def authorize_url(self, state: str, code_challenge: str, redirect_uri: str) -> str:
        self.challenges[state] = code_challenge
        return f"https://auth.photon.health/authorize?state={state}"

    def link(self, provider_id: str, code: str, code_verifier: str, redirect_uri: str) -> str:
        digest = hashlib.sha256(code_verifier.encode()).digest()
        if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != self.challenges.get(code):
            raise PrescribingRefusedError("invalid_grant")
        return f"sealed-for-{provider_id}"

    def unlink(self, account: PrescriberAccount) -> None:
        if self.refusing:
            raise PrescribingRefusedError("http-401")
        self.revoked.append(account.credential)


def test_a_link_is_finished_once_by_its_provider_within_ten_minutes_and_unlinking_revokes_it() -> None:
    store, network, clock = Linking(), Network(), [AT]
    # Only what linking touches is here: the rest of each collaborator is never called.
    prescribing = Prescribing(
        cast(Any, store),
        cast(Any, network),
        cast(Any, None),
        cast(Any, None),
        cast(Any, store),
        lambda: ClinicSettings(),
        lambda: clock[0],
        AuditTrail(store, lambda: clock[0]),
        lambda profile, vendor_id: None,
        "https://care.riverside.example/dashboard/",
    )
    dr_x = Caller(Actor.PROVIDER, "sub-of-dr-x", frozenset(), frozenset())
    dr_y = Caller(Actor.PROVIDER, "sub-of-dr-y", frozenset(), frozenset())

    def signed_in() -> str:
        _, state = prescribing.start_link(dr_x)
        return state  # the stand-in network takes the state for the code: what Photon sends back

    late = signed_in()
    clock[0] = AT + LINK_WINDOW + timedelta(seconds=1)
    with pytest.raises(PrescriptionRuleError) as expired:
        prescribing.complete_link(dr_x, late, late)
    assert expired.value.kind == "link-expired" and store.accounts == {}
    theirs = signed_in()
    with pytest.raises(PrescriptionRuleError):
        prescribing.complete_link(dr_y, theirs, theirs)  # another provider's sign-in
    with pytest.raises(PrescriptionRuleError):
        prescribing.complete_link(dr_x, theirs, theirs)  # and spent by the attempt
    state = signed_in()
    account = prescribing.complete_link(dr_x, state, state)
    assert account == PrescriberAccount("dr-x", "sealed-for-dr-x", clock[0])
    assert prescribing.prescriber_account(dr_x) == account and prescribing.prescriber_account(dr_y) is None
    with pytest.raises(PrescriptionRuleError) as linked:
        prescribing.start_link(dr_x)  # unlink first: a second link would drop this one unrevoked
    assert linked.value.kind == "already-linked"
    # A second tab's sign-in begun before the link finished: not kept, and revoked at Photon.
    store.pending["other-tab"] = PendingLink("dr-x", "v" * 43, clock[0] + LINK_WINDOW)
    network.challenges["other-tab"] = (
        base64.urlsafe_b64encode(hashlib.sha256(b"v" * 43).digest()).rstrip(b"=").decode()
    )
    with pytest.raises(PrescriptionRuleError):
        prescribing.complete_link(dr_x, "other-tab", "other-tab")
    assert network.revoked == ["sealed-for-dr-x"] and store.accounts == {"dr-x": account}
    network.refusing = True
    with pytest.raises(PrescriptionRuleError) as refused:
        prescribing.unlink(dr_x)  # not revoked: kept, the token may still be live at Photon
    assert refused.value.kind == "unlink-refused" and store.accounts == {"dr-x": account}
    network.refusing = False
    prescribing.unlink(dr_x)
    assert network.revoked == ["sealed-for-dr-x"] * 2 and store.accounts == {}
    audited = [r for r in store.resources() if r["resourceType"] == "AuditEvent"]
    # The link and the unlink, each naming the provider; the six refused attempts, as failures.
    done = [e for e in audited if e["outcome"] == "0"]
    assert [e["entity"][0]["what"]["reference"] for e in done] == ["Practitioner/dr-x"] * 2, done
    assert len(audited) - len(done) == 6


def test_from_a_case_of_photos_the_record_names_the_case_and_no_encounter() -> None:
    from_case = written(appointment_id=None, visit_version=None, case_id="01KB0Z6W3RY1D5Q8CSJ0Y2T9VA")
    request = valid(record.medication_request(from_case.submitted("rx_1", "ord_1", AT)))
    assert "encounter" not in request
    assert request["supportingInformation"] == [
        {"reference": "QuestionnaireResponse/case-01kb0z6w3ry1d5q8csj0y2t9va"}
    ]
    in_visit = valid(record.medication_request(written()))
    assert (
        in_visit["encounter"]["reference"].startswith("Encounter/")
        and "supportingInformation" not in in_visit
    )
    for neither_or_both in ({"appointment_id": None}, {"case_id": "01KB0Z6W3RY1D5Q8CSJ0Y2T9VA"}):
        with pytest.raises(ValueError, match="one of the two"):
            written(**neither_or_both)


class Cases:
    def __init__(self, *cases: Any) -> None:
        self.cases = {c.case_id: c for c in cases}

    def case_by_id(self, case_id: str) -> Any:
        return self.cases.get(case_id)


def test_a_case_is_prescribed_from_once_sent_and_once_answered_only_by_its_answerer() -> None:
    """What is refused before any check runs: a case still a draft, or in a clinic without cases
    (no such case), and another provider's answered case (the answer and the prescription are one
    clinician's decision)."""
    from telehealth.application.booking import NotFoundError
    from telehealth.application.prescriptions import PrescriptionDraft
    from telehealth.domain.photo_cases import (
        AnswerOutcome,
        CaseAnswer,
        CasePhoto,
        CaseStatus,
        PhotoCase,
        PhotoStatus,
    )

    def case(case_id: str, status: CaseStatus, answered_by: str | None = None) -> PhotoCase:
        answer = CaseAnswer(answered_by, "a", "", AnswerOutcome.ADVICE, AT) if answered_by else None
        return PhotoCase(
            case_id, "patient-1", "q|1", {}, AT, status=status, answer=answer, patient_state="NY"
        )

    draft, answered, checking = (
        "01KB0Z6W3RY1D5Q8CSJ0Y2TDRF",
        "01KB0Z6W3RY1D5Q8CSJ0Y2TANS",
        "01KB0Z6W3RY1D5Q8CSJ0Y2TSCN",
    )
    store = Linking()

    def desk(cases: Cases | None) -> Prescribing:
        return Prescribing(
            cast(Any, store),
            cast(Any, None),
            cast(Any, None),
            cast(Any, None),
            cast(Any, store),
            lambda: ClinicSettings(),
            lambda: AT,
            AuditTrail(store, lambda: AT),
            lambda profile, vendor_id: None,
            cases=cases,
        )

    dr_y = Caller(Actor.PROVIDER, "sub-of-dr-y", frozenset(), frozenset())
    asked = PrescriptionDraft(DIRECTIONS, PHARMACY.pharmacy_id)
    scanning = replace(
        case(checking, CaseStatus.SUBMITTED),
        photos=(
            CasePhoto("01KB0Z6W3RY1D5Q8CSJ0Y2TPH1", "image/jpeg", 10, "ab" * 32, AT, PhotoStatus.SCANNING),
        ),
    )
    with_cases = desk(
        Cases(case(draft, CaseStatus.DRAFT), case(answered, CaseStatus.ANSWERED, "dr-x"), scanning)
    )
    with pytest.raises(NotFoundError):
        with_cases.screen_for_case(dr_y, draft, asked)
    with pytest.raises(NotFoundError):
        desk(None).screen_for_case(dr_y, answered, asked)
    with pytest.raises(PrescriptionRuleError) as other:
        with_cases.send_for_case(dr_y, answered, asked, "key-1")
    assert other.value.kind == "case-answered-by-another"
    # The failed attempt is audited naming the case's record (a draft's was not found: no record).
    refused = store.resources()[-1]
    assert refused["resourceType"] == "AuditEvent" and refused["outcome"] != "0"
    assert refused["entity"][0]["what"] == {"reference": f"QuestionnaireResponse/case-{answered.lower()}"}
    # Nobody prescribes from a case while a photo of it is still being checked.
    with pytest.raises(PrescriptionRuleError) as unseen:
        with_cases.screen_for_case(dr_y, checking, asked)
    assert unseen.value.kind == "photos-scanning"
