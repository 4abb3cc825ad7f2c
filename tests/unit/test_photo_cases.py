"""A case of photos (store-and-forward): one to six photos of the kinds a phone takes, each
uploaded before the case is sent; then due by the clinic's turnaround promise, and escalated as
that nears and once it has passed."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from telehealth.application.photo_cases import AnswerNotice, CaseDeadlines
from telehealth.domain.clinic_settings import ClinicSettings, TriageSettings
from telehealth.domain.photo_cases import (
    MAX_PHOTO_BYTES,
    AnswerOutcome,
    CaseAnswer,
    CasePhoto,
    CaseRuleError,
    CaseStatus,
    DeadlineStep,
    Escalation,
    PhotoCase,
    PhotoStatus,
    add_photo,
    answered,
    deadline_step,
    escalated,
    photo_settled,
    submit,
)

NOW = datetime(2026, 12, 1, 9, tzinfo=UTC)
SHA = "ab" * 32


def case() -> PhotoCase:
    return PhotoCase("C1", "p-1", "urn:q|1", {"body_site": "arm"}, NOW)


def photo(n: int, content_type: str = "image/jpeg", size: int = 1000) -> CasePhoto:
    return CasePhoto(f"P{n}", content_type, size, SHA, NOW)


def test_six_photos_at_most_and_only_a_phones_kinds_within_the_size() -> None:
    c = case()
    for n in range(6):
        c = add_photo(c, photo(n))
    with pytest.raises(CaseRuleError) as seventh:
        add_photo(c, photo(7))
    assert seventh.value.code == "too-many-photos"
    for content_type, size in (
        ("image/gif", 10),
        ("application/pdf", 10),
        ("image/jpeg", MAX_PHOTO_BYTES + 1),
    ):
        with pytest.raises(CaseRuleError) as refused:
            add_photo(case(), photo(1, content_type, size))
        assert refused.value.code == "photo-refused"


def test_a_case_is_sent_once_every_photo_is_uploaded_and_is_due_by_the_promise() -> None:
    c = add_photo(add_photo(case(), photo(1)), photo(2))
    with pytest.raises(CaseRuleError) as early:
        submit(c, {"P1"}, NOW, timedelta(hours=48), "AZ")
    assert early.value.code == "photos-not-uploaded"
    sent = submit(c, {"P1", "P2"}, NOW, timedelta(hours=48), "AZ")
    assert sent.status is CaseStatus.SUBMITTED and sent.due_at == NOW + timedelta(hours=48)
    assert {p.status for p in sent.photos} == {PhotoStatus.SCANNING}
    with pytest.raises(CaseRuleError) as again:
        submit(sent, {"P1", "P2"}, NOW, timedelta(hours=48), "AZ")
    assert again.value.code == "case-submitted"
    with pytest.raises(CaseRuleError) as empty:
        submit(case(), set(), NOW, timedelta(hours=48), "AZ")
    assert empty.value.code == "no-photos"
    # Treated where the patient lives: a case from nowhere known is not sent.
    with pytest.raises(CaseRuleError) as nowhere:
        submit(c, {"P1", "P2"}, NOW, timedelta(hours=48), None)
    assert nowhere.value.code == "home-state-required"
    assert sent.patient_state == "AZ"


def _sent(hours: int = 48) -> PhotoCase:
    return submit(add_photo(case(), photo(1)), {"P1"}, NOW, timedelta(hours=hours), "AZ")


def test_a_case_unanswered_is_escalated_as_its_deadline_nears_and_again_once_overdue() -> None:
    sent, warning = _sent(), timedelta(hours=8)
    nearing, due = NOW + timedelta(hours=40), NOW + timedelta(hours=48)
    assert deadline_step(sent, warning, NOW) == DeadlineStep(None, nearing)
    assert deadline_step(sent, warning, nearing) == DeadlineStep(Escalation.NEARING, due)
    told = escalated(sent, Escalation.NEARING, nearing)
    assert told.escalation is Escalation.NEARING and told.version == sent.version + 1
    assert deadline_step(told, warning, nearing + timedelta(minutes=1)) == DeadlineStep(None, due)
    assert deadline_step(told, warning, due) == DeadlineStep(Escalation.OVERDUE, None)
    late = escalated(told, Escalation.OVERDUE, due)
    assert deadline_step(late, warning, due + timedelta(hours=9)) == DeadlineStep(None, None)


def test_a_step_that_comes_late_escalates_once_to_where_the_case_is_and_an_answer_ends_it() -> None:
    sent = _sent()
    # Woken past the deadline (a step retried for hours): overdue, not nearing first.
    assert deadline_step(sent, timedelta(hours=8), NOW + timedelta(hours=50)).level is Escalation.OVERDUE
    # A warning as long as the turnaround: the on-call are told as the case arrives.
    assert deadline_step(sent, timedelta(hours=48), NOW).level is Escalation.NEARING
    # No warning: told only once it is overdue.
    assert deadline_step(sent, timedelta(0), NOW) == DeadlineStep(None, NOW + timedelta(hours=48))
    done = answered(
        photo_settled(sent, "P1", ready=True),
        CaseAnswer("dr-a", "Eczema.", "Moisturise.", AnswerOutcome.ADVICE, NOW + timedelta(hours=1)),
    )
    assert deadline_step(done, timedelta(hours=8), NOW + timedelta(hours=49)) == DeadlineStep(None, None)
    assert deadline_step(case(), timedelta(hours=8), NOW) == DeadlineStep(None, None)  # a draft


class _Cases:
    def __init__(self, kept: PhotoCase, licensed_in_az: tuple[str, ...] = ()) -> None:
        self.kept, self.saved = kept, 0
        self.told: list[dict[str, Any]] = []
        self.licensed_in_az = licensed_in_az

    def provider(self, provider_id: str) -> Any:
        from telehealth.domain.licensure import License
        from tests.unit.fakes import provider_record

        record = provider_record(provider_id)  # licensed in New York
        if provider_id in self.licensed_in_az:
            return replace(record, licenses=(License("AZ", "AZ-1", date(2020, 1, 1), date(2030, 1, 1)),))
        return record

    def case_by_id(self, case_id: str) -> PhotoCase | None:
        return self.kept if case_id == self.kept.case_id else None

    def save_case(self, case: PhotoCase, outbox: list[Any], claim: Any = None) -> None:
        self.kept, self.saved = case, self.saved + 1
        self.told += [e.resource["detail"] for e in outbox]


class _Pager:
    def __init__(self, unreachable: str = "", refused: tuple[str, ...] = ()) -> None:
        self.unreachable, self.refused = unreachable, refused
        self.paged: list[tuple[str, str]] = []

    def page(self, provider_id: str, about: str = "alert") -> None:
        if provider_id == self.unreachable:
            raise LookupError(provider_id)
        if provider_id in self.refused:
            raise RuntimeError("SES refused the address")
        self.paged.append((provider_id, about))


def test_the_on_call_licensed_where_the_patient_lives_are_paged_and_a_refused_page_stops_no_other() -> None:
    store = _Cases(_sent(), licensed_in_az=("dr-az", "dr-az-2"))
    pager = _Pager(refused=("dr-az",))
    triage = TriageSettings(on_call=("dr-ny", "dr-az", "dr-az-2"))
    deadlines = CaseDeadlines(
        store, lambda: ClinicSettings(triage=triage), pager, lambda: NOW + timedelta(hours=41)
    )
    assert deadlines.step("C1").level is Escalation.NEARING
    # dr-ny cannot answer an Arizona case; dr-az's page was refused; dr-az-2 still hears.
    assert pager.paged == [("dr-az-2", "photo-case-nearing")] and store.kept.escalation is Escalation.NEARING


def test_when_every_page_fails_the_step_fails_and_marks_nothing_so_it_is_tried_again() -> None:
    store = _Cases(_sent(), licensed_in_az=("dr-az",))
    pager = _Pager(refused=("dr-az",))
    triage = TriageSettings(on_call=("dr-az",))
    deadlines = CaseDeadlines(
        store, lambda: ClinicSettings(triage=triage), pager, lambda: NOW + timedelta(hours=41)
    )
    with pytest.raises(RuntimeError):
        deadlines.step("C1")
    assert store.saved == 0 and store.kept.escalation is None


def test_the_timer_pages_the_on_call_nearing_and_the_medical_director_too_once_overdue() -> None:
    store, pager = _Cases(_sent()), _Pager(unreachable="dr-gone")
    clock = [NOW + timedelta(hours=41)]
    triage = TriageSettings(medical_director="dr-md", on_call=("dr-a", "dr-gone", "dr-b"))
    deadlines = CaseDeadlines(store, lambda: ClinicSettings(triage=triage), pager, lambda: clock[0])
    step = deadlines.step("C1")
    assert step == DeadlineStep(Escalation.NEARING, NOW + timedelta(hours=48))
    # One with no address for pages is passed over, not a failure for the others.
    assert pager.paged == [("dr-a", "photo-case-nearing"), ("dr-b", "photo-case-nearing")]
    assert store.kept.escalation is Escalation.NEARING
    assert store.told == [{"schema_version": 1, "case_id": "C1", "patient_id": "p-1", "level": "nearing"}]
    # The same step again (a retried task): nothing more.
    assert deadlines.step("C1").level is None and len(pager.paged) == 2 and store.saved == 1
    clock[0] = NOW + timedelta(hours=48)
    assert deadlines.step("C1") == DeadlineStep(Escalation.OVERDUE, None)
    assert [p for p, about in pager.paged if about == "photo-case-overdue"] == ["dr-a", "dr-b", "dr-md"]
    assert deadlines.step("unknown") == DeadlineStep(None, None)


class _Patients:
    def patient(self, patient_id: str) -> Any:
        from telehealth.fhir.projection import PatientProfile

        return PatientProfile(
            patient_id, "Robin", "Casey", date(1990, 1, 1), "AZ", "America/Phoenix", email="r@x.example"
        )


class _Outbox:
    def __init__(self) -> None:
        self.sent: list[Any] = []

    def send(self, notice: Any) -> list[str]:
        self.sent.append(notice)
        return ["email"]


def test_the_patient_is_told_once_that_their_case_is_answered_and_never_what_it_says() -> None:
    ready = photo_settled(_sent(), "P1", ready=True)
    store, outbox = _Cases(ready), _Outbox()
    notice = AnswerNotice(store, _Patients(), outbox, "https://portal.example/", lambda: NOW)
    assert notice.tell_patient("C1") is False and outbox.sent == []  # not answered yet
    store.kept = answered(
        ready, CaseAnswer("dr-a", "Tinea corporis.", "Clotrimazole.", AnswerOutcome.ADVICE, NOW)
    )
    assert notice.tell_patient("C1") is True
    (sent,) = outbox.sent
    assert sent.email == "r@x.example" and "https://portal.example/#/photos" in sent.text
    assert "Tinea" not in sent.text and "Clotrimazole" not in sent.text and "arm" not in sent.text
    assert store.kept.patient_told_at == NOW
    assert notice.tell_patient("C1") is False and len(outbox.sent) == 1  # a repeated event


def test_a_change_that_meets_another_is_made_again_from_the_case_read_again_a_few_times_at_most() -> None:
    from telehealth.application.photo_cases import SAVE_ATTEMPTS, saved_again
    from telehealth.errors import StaleWriteError

    first, fresh = case(), replace(case(), version=2)
    seen: list[int] = []

    def save(made: PhotoCase) -> None:
        seen.append(made.version)
        if len(seen) == 1:
            raise StaleWriteError("a photo's scan settled meanwhile")

    done = saved_again(first, lambda: fresh, lambda c: replace(c, version=c.version + 1), save)
    assert seen == [2, 3] and done is not None and done.version == 3  # the second made from the fresh read
    assert saved_again(first, lambda: fresh, lambda c: None, save) is None  # nothing to change

    tries: list[PhotoCase] = []

    def always_stale(made: PhotoCase) -> None:
        tries.append(made)
        raise StaleWriteError("the case kept changing")

    with pytest.raises(StaleWriteError):
        saved_again(first, lambda: fresh, lambda c: c, always_stale)
    assert len(tries) == SAVE_ATTEMPTS
