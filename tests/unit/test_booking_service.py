"""The booking service over in-memory stores: the races and retries the emulator never stages (it
serialises writes), and what a caller hears from each."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from telehealth.application.booking import Idempotency, SlotQuery
from telehealth.application.clinic_admin import FixedSettings
from telehealth.domain.appointments import Appointment, AppointmentRuleError, AppointmentStatus
from telehealth.domain.clinic_settings import ClinicSettings, Service
from telehealth.domain.scheduling import cells, slot_id
from telehealth.domain.service_types import SNOMED_CT, ServiceType
from telehealth.ports import IdempotencyMismatchError, IdempotentReplay, SlotTakenError, StaleWriteError
from tests.unit.fakes import NOW, PATIENT, PATIENT_ID, PROVIDER_ID, STAFF, Clinic, clinic, provider_record

AT = NOW.replace(hour=10) + timedelta(days=2)  # Wednesday 10:00 UTC: well outside the window


def _book(c: Clinic, start: datetime = AT, key: str | None = None, payload: str = "h1") -> Appointment:
    return c.booking.book(
        PATIENT,
        slot=slot_id(PROVIDER_ID, start),
        service_type="general",
        state="NY",
        patient_id=None,
        idempotency=_keyed("POST /v1/appointments", key, payload) if key else None,
    )


def _keyed(route: str, key: str, payload: str = "h1") -> Idempotency:
    """A key as the API hands it over: the answer kept is the appointment's id and status."""
    return Idempotency(
        PATIENT.subject,
        route,
        key,
        payload,
        answer=lambda a: json.dumps({"appointment_id": a.appointment_id, "status": a.status.value}),
    )


def _someone_else_books(c: Clinic, start: datetime) -> None:
    other = Appointment(
        "01OTHER", PROVIDER_ID, "patient-2", "general", start, start + timedelta(minutes=30), "NY"
    )
    c.scheduling.book(other, [], None)


def test_a_slot_taken_between_the_search_and_the_write_is_refused_and_nothing_of_the_loser_is_kept() -> None:
    c = clinic()
    offered, _ = c.booking.search(PATIENT, SlotQuery("NY", AT, AT + timedelta(hours=1)))
    assert slot_id(PROVIDER_ID, AT) in [o.slot.slot_id for o in offered]
    c.table.meanwhile(lambda: _someone_else_books(c, AT))
    with pytest.raises(SlotTakenError):
        _book(c)
    assert [a.patient_id for a in c.table.appointments.values()] == ["patient-2"]
    assert c.table.changes() == []  # the loser's Appointment, Slot and event went nowhere
    assert [r["outcome"] for r in c.table.refusals()] == ["4"]  # its refusal is in the trail
    assert c.workflows.started == []
    # The slot is gone from the next search.
    offered, _ = c.booking.search(PATIENT, SlotQuery("NY", AT, AT + timedelta(hours=1)))
    assert slot_id(PROVIDER_ID, AT) not in [o.slot.slot_id for o in offered]


def test_staff_who_name_a_provider_see_that_providers_times_only() -> None:
    c = clinic()
    c.table.providers["dr-other"] = provider_record("dr-other", "sub-other")
    window = SlotQuery("NY", AT, AT + timedelta(hours=1))
    both, _ = c.booking.search(STAFF, window)
    assert {o.provider.profile.provider_id for o in both} == {PROVIDER_ID, "dr-other"}
    named, _ = c.booking.search(STAFF, replace(window, provider_id="dr-other"))
    assert named and {o.provider.profile.provider_id for o in named} == {"dr-other"}
    nobody, _ = c.booking.search(STAFF, replace(window, provider_id="dr-nobody"))
    assert nobody == []


def test_the_one_time_offered_is_the_searchs_first_and_none_where_the_clinic_does_not_serve() -> None:
    c = clinic()
    window = SlotQuery("NY", AT, AT + timedelta(hours=1))
    first, _ = c.booking.search(PATIENT, window)
    offered = c.booking.soonest(PATIENT, window)
    assert offered is not None and offered.slot.slot_id == first[0].slot.slot_id
    with pytest.raises(AppointmentRuleError):  # a state the clinic does not serve: the search refuses
        c.booking.search(PATIENT, replace(window, state="TX"))
    assert c.booking.soonest(PATIENT, replace(window, state="TX")) is None  # the offer: none
    assert c.booking.soonest(PATIENT, replace(window, provider_id="dr-nobody")) is None


def test_no_slot_is_offered_too_soon_to_take_but_one_about_to_start_still_books() -> None:
    # A minute before a slot starts: neither the search nor the one-tap offer shows it (chosen,
    # it would have started); the next one is the first.
    c = clinic(AT - timedelta(minutes=1))
    window = SlotQuery("NY", AT - timedelta(minutes=1), AT + timedelta(hours=1))
    listed, _ = c.booking.search(PATIENT, window)
    assert listed and listed[0].slot.start > AT
    offered = c.booking.soonest(PATIENT, window)
    assert offered is not None and offered.slot.slot_id == listed[0].slot.slot_id
    # Nothing left in the window after the time to take it: nothing offered.
    assert c.booking.soonest(PATIENT, replace(window, end=AT + timedelta(minutes=1))) is None
    # A patient who had it on their screen still books it: only a slot that started is refused.
    assert _book(c, AT).start == AT


def test_a_twin_booking_under_the_same_key_that_commits_second_gets_the_first_answer_and_books_nothing() -> (
    None
):
    c = clinic()
    first: list[Appointment] = []
    c.table.meanwhile(lambda: first.append(_book(c, key="k1")))
    with pytest.raises(IdempotentReplay) as replay:
        _book(c, key="k1")
    assert json.loads(replay.value.response) == {
        "appointment_id": first[0].appointment_id,
        "status": "booked",
    }
    assert list(c.table.appointments) == [first[0].appointment_id]
    assert len(c.table.events("Appointment.Booked")) == 1
    assert c.table.refusals() == []  # the twin is answered, not refused
    assert c.workflows.started == [(first[0].appointment_id, 1, 0)]  # one lifecycle, the first's


def test_a_key_reused_for_another_slot_is_refused_and_books_nothing() -> None:
    c = clinic()
    _book(c, key="k1", payload="h1")
    written = len(c.table.changes())
    with pytest.raises(IdempotencyMismatchError):
        _book(c, AT + timedelta(hours=1), key="k1", payload="h2")
    assert len(c.table.appointments) == 1
    assert len(c.table.changes()) == written
    assert [r["outcome"] for r in c.table.refusals()] == ["4"]  # the refusal is in the trail
    assert (PROVIDER_ID, AT + timedelta(hours=1)) not in c.table.cells


def test_a_booking_replayed_after_a_cancel_answers_as_it_first_did_and_revives_nothing() -> None:
    c = clinic()
    booked = _book(c, key="k1")
    c.booking.cancel(PATIENT, booked.appointment_id, None)
    started = list(c.workflows.started)
    with pytest.raises(IdempotentReplay) as replay:
        _book(c, key="k1")
    assert json.loads(replay.value.response)["status"] == "booked"  # the first answer, not today's state
    assert c.table.appointments[booked.appointment_id].status is AppointmentStatus.CANCELLED
    assert c.workflows.started == started


def test_a_twin_cancellation_under_the_same_key_that_commits_second_gets_the_first_answer() -> None:
    c = clinic()
    booked = _book(c)
    route = "POST /v1/appointments/{appointment_id}/cancel"
    first: list[Appointment] = []
    c.table.meanwhile(
        lambda: first.append(c.booking.cancel(PATIENT, booked.appointment_id, _keyed(route, "c1")))
    )
    with pytest.raises(IdempotentReplay) as replay:
        c.booking.cancel(PATIENT, booked.appointment_id, _keyed(route, "c1"))
    assert json.loads(replay.value.response)["status"] == "cancelled"
    assert first[0].status is AppointmentStatus.CANCELLED
    assert len(c.table.events("Appointment.Cancelled")) == 1
    assert (booked.appointment_id, 1, "cancelled") in c.workflows.stopped
    assert not any(k[0] == PROVIDER_ID for k in c.table.cells)


def test_a_reschedule_that_read_a_version_changed_meanwhile_fails_and_leaves_the_visit_where_it_was() -> None:
    c = clinic()
    booked = _book(c)
    later = AT + timedelta(hours=2)

    def staff_moves_it() -> None:
        current = c.table.appointments[booked.appointment_id]
        c.scheduling.change(
            current, current.moved(AT + timedelta(hours=4), AT + timedelta(hours=4, minutes=30)), [], None
        )

    c.table.meanwhile(staff_moves_it)
    with pytest.raises(StaleWriteError):
        c.booking.reschedule(PATIENT, booked.appointment_id, slot_id(PROVIDER_ID, later), None)
    now = c.table.appointments[booked.appointment_id]
    assert (now.start, now.version) == (AT + timedelta(hours=4), 2)
    assert (PROVIDER_ID, later) not in c.table.cells
    assert c.workflows.stopped == []  # nothing committed: no lifecycle stopped


def test_a_move_onto_a_slot_taken_meanwhile_keeps_the_old_slot_never_neither() -> None:
    c = clinic()
    booked = _book(c)
    later = AT + timedelta(hours=2)
    c.table.meanwhile(lambda: _someone_else_books(c, later))
    with pytest.raises(SlotTakenError):
        c.booking.reschedule(PATIENT, booked.appointment_id, slot_id(PROVIDER_ID, later), None)
    held = {c.table.cells[(PROVIDER_ID, cell)] for cell in cells(AT, AT + timedelta(minutes=30))}
    assert held == {booked.appointment_id}
    assert c.table.appointments[booked.appointment_id] == booked


def test_a_move_releases_the_old_cells_and_starts_the_new_versions_lifecycle_even_if_the_stop_fails() -> None:
    c = clinic()
    booked = _book(c)
    later = AT + timedelta(hours=2)

    def broken_stop(appointment: Appointment, cause: str) -> None:
        raise ConnectionError("states unreachable")

    c.workflows.stop = broken_stop  # type: ignore[method-assign]
    moved = c.booking.reschedule(PATIENT, booked.appointment_id, slot_id(PROVIDER_ID, later), None)
    assert moved.version == 2
    assert (booked.appointment_id, 2, 0) in c.workflows.started
    assert (PROVIDER_ID, AT) not in c.table.cells
    assert c.table.cells[(PROVIDER_ID, later)] == booked.appointment_id


def test_staff_booking_for_a_patient_the_clinic_does_not_have_is_refused_before_anything_is_written() -> None:
    from telehealth.application.booking import NotFoundError
    from tests.unit.fakes import STAFF

    c = clinic()
    with pytest.raises(NotFoundError):
        c.booking.book(
            STAFF,
            slot=slot_id(PROVIDER_ID, AT),
            service_type="general",
            state="NY",
            patient_id="nobody",
            idempotency=None,
        )
    assert c.table.changes() == []
    assert [r["outcome"] for r in c.table.refusals()] == ["4"]  # the refusal is in the trail


def test_availability_published_over_a_change_made_meanwhile_is_refused() -> None:
    from tests.unit.fakes import PROVIDER, provider_record

    c = clinic()
    hours = provider_record().availability
    c.table.meanwhile(lambda: c.scheduling.replace_availability(PROVIDER_ID, hours, 1))
    with pytest.raises(StaleWriteError):
        c.booking.publish_availability(PROVIDER, PROVIDER_ID, lambda zone: hours, expected_version=1)
    assert c.table.providers[PROVIDER_ID].profile.version == 2  # the other change, once


def test_every_booking_read_is_audited_as_the_caller() -> None:
    c = clinic()
    booked = _book(c)
    c.booking.appointment(PATIENT, booked.appointment_id)
    audits = c.table.entries(kind="AuditEvent")
    assert len(audits) == 2  # the booking's, then the read's
    assert all(f"Patient/{PATIENT_ID}" in str(a.resource["agent"]) for a in audits)


def test_the_record_codes_a_visit_as_the_clinics_services_code_it_when_the_visit_changes() -> None:
    c = clinic()
    consultation = ServiceType("11429006", SNOMED_CT, "Consultation")
    general = Service("general", "General visit", 30, 4000, coding=consultation)
    c.booking.settings = FixedSettings(ClinicSettings(), {"general": general})
    booked = _book(c)
    (appointment,) = c.table.entries(kind="Appointment")
    assert appointment.resource["serviceType"] == [
        {"coding": [{"system": SNOMED_CT, "code": "11429006", "display": "Consultation"}], "text": "general"}
    ]
    # The clinic takes the code off: the cancellation's Appointment names the service by its text.
    c.booking.settings = FixedSettings(ClinicSettings(), {"general": replace(general, coding=None)})
    c.booking.cancel(PATIENT, booked.appointment_id, None)
    cancelled = c.table.entries(kind="Appointment")[-1].resource
    assert (cancelled["status"], cancelled["serviceType"]) == ("cancelled", [{"text": "general"}])


def test_a_provider_finds_their_own_profile_and_no_one_else_is_given_one() -> None:
    from tests.unit.fakes import PROVIDER, PROVIDER_SUB, STAFF

    c = clinic()
    own = c.booking.own_provider(PROVIDER)
    assert own is not None and own.profile.provider_id == PROVIDER_ID
    # A clinician the API treats as staff (in both groups) acts as staff: no provider's views.
    both = replace(STAFF, subject=PROVIDER_SUB, groups=frozenset({"providers", "staff"}))
    assert [c.booking.own_provider(x) for x in (both, STAFF, PATIENT)] == [None, None, None]
    # A provider whose profile names another user has none yet.
    assert c.booking.own_provider(replace(PROVIDER, subject="sub-new-hire")) is None
