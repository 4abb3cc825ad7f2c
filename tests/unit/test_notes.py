"""The note's rules: drafts on the revision they were made on, signing by the author alone, a
signed note never rewritten (amendments keep every version, addenda append), the record's limit
on a document's text, and the ICD-10-CM list the diagnoses come from."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from telehealth.domain.appointments import AppointmentRuleError
from telehealth.domain.clinic_settings import ClinicSettings, SettingsError, with_changes
from telehealth.domain.notes import (
    MAX_AMENDMENTS,
    MAX_RENDERED_CHARACTERS,
    SOAP,
    ClinicalNote,
    Diagnosis,
    FollowUp,
    NoteContent,
    render,
)
from telehealth.terminology import icd10cm

AT = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
PHARYNGITIS = Diagnosis("J02.9", "Acute pharyngitis, unspecified")


def started() -> ClinicalNote:
    return ClinicalNote.started(
        appointment_id="A1", visit_version=1, patient_id="p1", provider_id="dr-a", template=SOAP, at=AT
    )


def content(assessment: str = "Viral pharyngitis", *diagnoses: Diagnosis) -> NoteContent:
    return NoteContent(
        tuple((t, assessment if t == "Assessment" else "") for t in SOAP), diagnoses or (PHARYNGITIS,)
    )


def saved(note: ClinicalNote, text: NoteContent) -> ClinicalNote:
    return note.saved(text, on_revision=note.revision, by="dr-a", at=AT, rendered_length=100)


def kind(error: pytest.ExceptionInfo[AppointmentRuleError]) -> str:
    return error.value.kind


def test_each_save_is_a_new_revision_made_on_the_one_before() -> None:
    note = saved(saved(started(), content("first")), content("second"))
    assert (note.revision, note.status) == (2, "draft")
    with pytest.raises(AppointmentRuleError) as stale:
        note.saved(content("from a stale tab"), on_revision=1, by="dr-a", at=AT, rendered_length=100)
    assert kind(stale) == "note-changed"


def test_an_autosave_retried_after_its_answer_was_lost_is_the_save_that_went_through() -> None:
    note = saved(saved(started(), content("first")), content("second"))
    again = note.saved(content("second"), on_revision=1, by="dr-a", at=AT, rendered_length=100)
    assert again is note  # the same revision, nothing new to write
    with pytest.raises(AppointmentRuleError) as other:  # other words on that revision: a conflict
        note.saved(content("third"), on_revision=1, by="dr-a", at=AT, rendered_length=100)
    assert kind(other) == "note-changed"


def test_only_the_visits_provider_writes_and_signs() -> None:
    note = saved(started(), content())
    with pytest.raises(AppointmentRuleError) as other:
        note.saved(content(), on_revision=1, by="dr-b", at=AT, rendered_length=100)
    assert kind(other) == "not-the-author"
    with pytest.raises(AppointmentRuleError) as signing:
        note.signed_now(on_revision=1, by="dr-b", at=AT, rendered="signed")
    assert kind(signing) == "not-the-author"


def test_signing_takes_what_was_saved_and_needs_words_and_a_diagnosis() -> None:
    with pytest.raises(AppointmentRuleError) as empty:
        saved(started(), content("")).signed_now(on_revision=1, by="dr-a", at=AT, rendered="signed")
    assert kind(empty) == "note-empty"
    undiagnosed = saved(started(), NoteContent(tuple((t, "words") for t in SOAP)))
    with pytest.raises(AppointmentRuleError) as none:
        undiagnosed.signed_now(on_revision=1, by="dr-a", at=AT, rendered="signed")
    assert kind(none) == "note-no-diagnosis"
    note = saved(started(), content())
    with pytest.raises(AppointmentRuleError) as stale:
        note.signed_now(on_revision=0, by="dr-a", at=AT, rendered="signed")
    assert kind(stale) == "note-changed"
    signed = note.signed_now(on_revision=1, by="dr-a", at=AT, rendered="signed")
    assert signed.status == "signed" and signed.current is not None
    assert signed.current.content == content() and signed.current.revision == 1
    assert signed.current.rendered == "signed"  # the document as signed, kept word for word
    with pytest.raises(AppointmentRuleError) as long:
        note.signed_now(on_revision=1, by="dr-a", at=AT, rendered="x" * (MAX_RENDERED_CHARACTERS + 1))
    assert kind(long) == "note-too-long"


def test_a_signed_note_is_never_saved_over_or_signed_again() -> None:
    signed = saved(started(), content()).signed_now(on_revision=1, by="dr-a", at=AT, rendered="signed")
    with pytest.raises(AppointmentRuleError) as save:
        saved(signed, content("changed"))
    assert kind(save) == "note-signed"
    with pytest.raises(AppointmentRuleError) as twice:
        signed.signed_now(on_revision=signed.revision, by="dr-a", at=AT, rendered="again")
    assert kind(twice) == "note-signed"


def test_an_amendment_keeps_every_version_signed_before_it_and_says_why() -> None:
    signed = saved(started(), content()).signed_now(on_revision=1, by="dr-a", at=AT, rendered="signed")
    corrected = content("Viral URI", Diagnosis("J06.9", "Acute upper respiratory infection, unspecified"))
    later = AT + timedelta(hours=2)
    with pytest.raises(AppointmentRuleError) as unsaid:
        signed.amended(corrected, reason=" ", on_revision=2, by="dr-a", at=later, rendered="x")
    assert kind(unsaid) == "note-amendment-reason"
    with pytest.raises(AppointmentRuleError) as same:
        signed.amended(content(), reason="typo", on_revision=2, by="dr-a", at=later, rendered="x")
    assert kind(same) == "note-amendment-unchanged"
    amended = signed.amended(
        corrected, reason="wrong code", on_revision=2, by="dr-a", at=later, rendered="amended copy"
    )
    assert amended.status == "amended" and amended.content == corrected
    assert [s.number for s in amended.signed] == [1, 2]
    assert amended.signed[0] == signed.signed[0]  # the original, untouched
    assert (amended.signed[1].reason, amended.signed[1].signed_at) == ("wrong code", later)
    assert amended.signed[1].rendered == "amended copy"


def test_a_draft_is_not_amended_and_amendments_are_bounded() -> None:
    draft = saved(started(), content())
    with pytest.raises(AppointmentRuleError) as unsigned:
        draft.amended(content("x"), reason="r", on_revision=1, by="dr-a", at=AT, rendered="x")
    assert kind(unsigned) == "note-not-signed"
    note = draft.signed_now(on_revision=1, by="dr-a", at=AT, rendered="signed")
    for n in range(MAX_AMENDMENTS):
        note = note.amended(
            content(f"take {n}"), reason="r", on_revision=note.revision, by="dr-a", at=AT, rendered="x"
        )
    with pytest.raises(AppointmentRuleError) as bounded:
        note.amended(
            content("one more"), reason="r", on_revision=note.revision, by="dr-a", at=AT, rendered="x"
        )
    assert kind(bounded) == "note-too-many-amendments"


def test_an_addendum_appends_to_a_signed_note_only() -> None:
    draft = saved(started(), content())
    with pytest.raises(AppointmentRuleError) as unsigned:
        draft.with_addendum("later", on_revision=1, by="dr-a", at=AT, render=str)
    assert kind(unsigned) == "note-not-signed"
    signed = draft.signed_now(on_revision=1, by="dr-a", at=AT, rendered="signed")
    added = signed.with_addendum(
        "  Strep test negative.  ", on_revision=2, by="dr-a", at=AT, render=lambda a: f"#{a.number} {a.text}"
    )
    assert [(a.number, a.text) for a in added.addenda] == [(1, "Strep test negative.")]
    assert added.addenda[0].rendered == "#1 Strep test negative."
    assert added.signed == signed.signed and added.status == "signed"
    with pytest.raises(AppointmentRuleError) as blank:
        added.with_addendum("   ", on_revision=3, by="dr-a", at=AT, render=str)
    assert kind(blank) == "note-addendum"


def test_the_content_fits_the_template_and_the_records_limit() -> None:
    note = started()
    with pytest.raises(AppointmentRuleError) as order:
        saved(note, NoteContent(tuple((t, "") for t in reversed(SOAP))))
    assert kind(order) == "note-sections"
    with pytest.raises(AppointmentRuleError) as twice:
        saved(note, content("x", PHARYNGITIS, PHARYNGITIS))
    assert kind(twice) == "note-duplicate-diagnosis"
    with pytest.raises(AppointmentRuleError) as follow:
        saved(note, NoteContent(content().sections, follow_up=FollowUp(0)))
    assert kind(follow) == "note-follow-up"
    with pytest.raises(AppointmentRuleError) as long:
        note.saved(content(), on_revision=0, by="dr-a", at=AT, rendered_length=MAX_RENDERED_CHARACTERS + 1)
    assert kind(long) == "note-too-long"
    assert saved(note, content()).revision == 1


def test_the_rendered_copy_reads_in_order_and_names_who_signed() -> None:
    text = render(
        NoteContent(
            tuple((t, f"{t} words") for t in SOAP),
            (PHARYNGITIS,),
            "Rest.",
            FollowUp(7, "if not better"),
        ),
        title="Visit note",
        author="Ada Okafor",
        signed_at=AT,
        vital_signs=["Heart rate 72 per minute"],
    )
    positions = [text.index(t.upper()) for t in SOAP]
    assert positions == sorted(positions)
    assert "- J02.9 Acute pharyngitis, unspecified" in text
    assert "FOLLOW-UP within 7 days: if not better" in text
    assert "Heart rate 72 per minute" in text
    assert text.rstrip().endswith("Signed electronically by Ada Okafor on 2026-12-01 15:00 UTC")


def test_a_clinic_names_its_own_template_and_a_bad_one_is_refused() -> None:
    settings = with_changes(ClinicSettings(), {"note_template": ["Reason", "Findings", "Plan"]})
    assert settings.note_template == ("Reason", "Findings", "Plan")
    assert ClinicSettings().note_template == SOAP
    for bad in ([], ["Plan", "plan"], [""], ["x" * 61], "Plan"):
        with pytest.raises(SettingsError):
            with_changes(ClinicSettings(), {"note_template": bad})


def test_the_icd10cm_list_is_billable_codes_only_and_searched_by_code_or_words() -> None:
    codes = icd10cm.codes()
    assert len(codes) > 200
    # No category beside its own subcodes: only the codes a claim may carry.
    assert not [c for c in codes if any(o != c and o.startswith(c) for o in codes)]
    assert icd10cm.lookup("j06.9") == codes["J06.9"]
    assert icd10cm.lookup("J06") is None and icd10cm.lookup("Z99.99") is None
    assert [c.code for c in icd10cm.search("M54.5")] == ["M54.50", "M54.51", "M54.59"]
    assert "J06.9" in [c.code for c in icd10cm.search("upper resp")]
    assert icd10cm.search("j") == [] and len(icd10cm.search("r", 5)) <= 5
    assert all(c.plain and c.code not in c.plain for c in codes.values())
