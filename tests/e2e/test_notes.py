"""The clinician's note over HTTP: drafts saved as the provider types, signed into the record
(Composition, DocumentReference, Condition), corrected by an amendment, added to by an addendum;
read by whom the clinic's rules allow, and audited."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import pytest

from local.platform import LocalPlatform
from telehealth.adapters.healthlake import HealthLakeFhirStore
from tests.conftest import eventually, user_tokens
from tests.e2e.conftest import in_record
from tests.e2e.test_scheduling import RIVERSIDE, book, call, open_slots
from tests.e2e.test_video_visit import admit_when_waiting, announced, checked_in_visit, probe, provider_email
from tests.e2e.test_visits import soon_slot

__all__ = ["probe"]  # the event probe, a fixture of the video visit's tests

SOAP = ["Subjective", "Objective", "Assessment", "Plan"]


def sections(**texts: str) -> list[dict[str, str]]:
    return [{"title": t, "text": texts.get(t.lower(), "")} for t in SOAP]


def key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


@pytest.fixture(scope="module")
def patient(platform: LocalPlatform) -> str:
    return user_tokens(platform, RIVERSIDE, "patient.one@riverside.example")["access"]


@pytest.fixture(scope="module")
def staff(platform: LocalPlatform) -> str:
    return user_tokens(platform, RIVERSIDE, "staff@riverside.example")["access"]


@pytest.fixture(scope="module")
def seen(platform: LocalPlatform, gateway: str, patient: str) -> tuple[dict[str, Any], str]:
    """A visit its provider has admitted: the note may be written."""
    appointment, provider = checked_in_visit(platform, gateway, patient)
    admit_when_waiting(gateway, provider, appointment["appointment_id"])
    return appointment, provider


def test_a_note_is_drafted_as_typed_signed_into_the_record_amended_and_added_to(
    platform: LocalPlatform,
    gateway: str,
    patient: str,
    staff: str,
    seen: tuple[dict[str, Any], str],
    fhir: HealthLakeFhirStore,
    probe: str,
) -> None:
    appointment, provider = seen
    visit_id = appointment["appointment_id"]
    note = f"/v1/appointments/{visit_id}/note"

    # Nothing written yet: the provider reads an empty draft in the clinic's template.
    empty = call(gateway, "GET", note, provider)
    assert empty.status == 200, empty.body
    assert (empty.json()["status"], empty.json()["revision"], empty.json()["template"]) == ("draft", 0, SOAP)

    # The diagnosis search finds codes by their start and by words.
    found = call(gateway, "GET", "/v1/diagnoses?q=J06", provider).json()["diagnoses"]
    assert "J06.9" in [d["code"] for d in found]
    words = call(gateway, "GET", "/v1/diagnoses?q=sore%20throat", provider).json()["diagnoses"]
    assert words and all(d["code"][0] in "JR" for d in words)
    assert call(gateway, "GET", "/v1/diagnoses?q=J06", patient).status == 403

    # Autosave: each save names the revision it was made on.
    first = call(
        gateway, "PUT", note, provider, {"sections": sections(subjective="Sore throat"), "revision": 0}
    )
    assert first.status == 200, first.body
    assert first.json()["revision"] == 1
    typed = {
        "sections": sections(
            subjective="Sore throat for three days, no fever.",
            objective="Mild pharyngeal erythema on video. No distress.",
            assessment="Viral pharyngitis most likely.",
            plan="Fluids, rest, lozenges.",
        ),
        "diagnoses": ["J02.9"],
        "instructions": "Drink plenty of fluids. Call us if you cannot swallow.",
        "follow_up": {"within_days": 7, "reason": "if not better"},
        "revision": 1,
    }
    second = call(gateway, "PUT", note, provider, typed)
    assert second.status == 200, second.body
    assert second.json()["revision"] == 2
    # A second tab still on revision 1 cannot overwrite the words saved since.
    stale = call(gateway, "PUT", note, provider, {**typed, "instructions": "other words"})
    assert stale.status == 409 and stale.json()["type"] == "/problems/note-changed"
    kept = call(gateway, "GET", note, provider).json()
    assert kept["revision"] == 2 and kept["instructions"] == typed["instructions"]
    assert [r["revision"] for r in call(gateway, "GET", f"{note}/revisions", provider).json()] == [2, 1]

    # What the note may not hold: a code outside the list, too much text, sections not the template's.
    unknown = call(gateway, "PUT", note, provider, {**typed, "diagnoses": ["Z99.89"], "revision": 2})
    assert unknown.status == 422 and unknown.json()["type"] == "/problems/unknown-diagnosis"
    long = call(
        gateway, "PUT", note, provider, {**typed, "sections": sections(plan="x" * 9_900), "revision": 2}
    )
    assert long.status == 422 and long.json()["type"] == "/problems/note-too-long"
    wrong = call(gateway, "PUT", note, provider, {**typed, "sections": sections()[:3], "revision": 2})
    assert wrong.status == 422 and wrong.json()["type"] == "/problems/note-sections"
    assert call(gateway, "GET", note, provider).json()["revision"] == 2  # none of them changed it

    # Before signing, no one else reads it.
    assert call(gateway, "GET", note, staff).status == 404
    assert call(gateway, "GET", note, patient).status == 403

    sign = f"{note}/sign"
    stale_sign = call(gateway, "POST", sign, provider, {"revision": 1}, **key())
    assert stale_sign.status == 409
    signing = key()
    signed = call(gateway, "POST", sign, provider, {"revision": 2}, **signing)
    assert signed.status == 200, signed.body
    assert signed.json()["status"] == "signed" and signed.json()["revision"] == 3
    replay = call(gateway, "POST", sign, provider, {"revision": 2}, **signing)
    assert (replay.status, replay.json()) == (200, signed.json())
    # Signed: immutable; corrected only by an amendment or an addendum.
    after = call(gateway, "PUT", note, provider, {**typed, "revision": 3})
    assert after.status == 409 and after.json()["type"] == "/problems/note-signed"

    # Into the record: Composition, its rendered copy, a Condition per diagnosis, on the Encounter.
    encounter = f"Encounter/{visit_id.lower()}-v1"
    composition = eventually(
        lambda: in_record(fhir, "Composition", f"{visit_id.lower()}-v1-note"), timeout_s=30
    )
    assert composition["status"] == "final" and composition["encounter"]["reference"] == encounter
    assert [s["title"] for s in composition["section"]][:4] == SOAP
    condition = eventually(lambda: in_record(fhir, "Condition", f"{visit_id.lower()}-v1-dx-j029"))
    assert condition["code"]["coding"][0] == {
        "system": "http://hl7.org/fhir/sid/icd-10-cm",
        "code": "J02.9",
        "display": "Acute pharyngitis, unspecified",
    }
    assert condition["verificationStatus"]["coding"][0]["code"] == "confirmed"
    assert condition["encounter"]["reference"] == encounter
    document = eventually(lambda: in_record(fhir, "DocumentReference", f"{visit_id.lower()}-v1-note-v1"))
    text = base64.b64decode(document["content"][0]["attachment"]["data"]).decode()
    assert "Viral pharyngitis most likely." in text and "J02.9" in text
    assert document["status"] == "current" and document["context"]["encounter"][0]["reference"] == encounter
    event = eventually(lambda: announced(platform, probe, "Note.Signed", visit_id), timeout_s=30)
    assert set(event) == {"outbox_id", "schema_version", "appointment_id", "version", "revision"}

    # The patient reads their after-visit summary: the diagnosis in plain words, what to do, when to
    # come back; never the clinician's narrative. They were told it is ready, and nothing more.
    summary = call(gateway, "GET", f"/v1/appointments/{visit_id}/summary", patient)
    assert summary.status == 200, summary.body
    read = summary.json()
    assert read["diagnoses"] == [{"words": "Sore throat (pharyngitis)", "code": "J02.9"}]
    assert read["instructions"] == typed["instructions"]
    assert read["follow_up"]["within_days"] == 7 and read["updated"] is False
    assert b"Viral pharyngitis" not in summary.body
    assert call(gateway, "GET", f"/v1/appointments/{visit_id}/summary", provider).status == 403

    # The desk sees the follow-up on its worklist, by the day it is wanted by, until it is booked.
    worklist = call(gateway, "GET", "/v1/follow-ups", staff)
    assert worklist.status == 200, worklist.body
    (asked,) = [f for f in worklist.json() if f["appointment_id"] == visit_id]
    assert (asked["due"], asked["reason"]) == (read["follow_up"]["by"], "if not better")
    assert asked["provider_id"] == appointment["provider_id"] and asked["patient"]["given_name"] == "Jordan"
    assert call(gateway, "GET", "/v1/follow-ups", patient).status == 403
    assert call(gateway, "GET", "/v1/follow-ups", provider).status == 403

    def told() -> Any:
        from moto.ses.models import ses_backends

        from local.emulator import ACCOUNT

        sent = [m for m in ses_backends[ACCOUNT]["us-east-1"].sent_messages if "visit summary" in m.body]
        return sent and sent[-1]

    email = eventually(told, timeout_s=30)
    assert email.destinations["ToAddresses"] == ["patient.one@riverside.example"]
    assert "is ready" in email.body and "https://care.riverside.example" in email.body
    for secret in ("pharyngitis", "J02", "throat", "fluids", "Dr", "dr-", "Okafor"):
        assert secret not in email.body

    # The front desk reads its status and codes (a claim needs them), not the narrative.
    desk = call(gateway, "GET", note, staff).json()
    assert desk["access"] == "billing" and [d["code"] for d in desk["diagnoses"]] == ["J02.9"]
    assert desk["sections"] is None and desk["instructions"] is None

    # Another provider reads the signed note once the patient is in their care (a visit booked
    # with them, two days on, with one of the clinicians who work around the clock).
    offered = open_slots(gateway, patient, days_ahead=2, specialty="urgent-care")
    slot = next(s for s in offered if s["provider"]["provider_id"] != appointment["provider_id"])
    other_id = slot["provider"]["provider_id"]
    other = user_tokens(platform, RIVERSIDE, f"{other_id.replace('-', '.', 1)}@{RIVERSIDE}.example")["access"]
    later = book(gateway, patient, slot["slot_id"])
    assert later.status == 201, later.body
    try:
        theirs = call(gateway, "GET", note, other)
        assert theirs.status == 200 and theirs.json()["access"] == "clinician"
        assert theirs.json()["sections"][2]["text"] == "Viral pharyngitis most likely."
        refused = call(
            gateway, "POST", f"{note}/addenda", other, {"text": "not theirs", "revision": 3}, **key()
        )
        assert refused.status == 404
    finally:
        call(gateway, "POST", f"/v1/appointments/{later.json()['appointment_id']}/cancel", patient)

    # An amendment: a new signed version; the first is kept, superseded, and a diagnosis taken out
    # is entered in error.
    amendment = {**typed, "diagnoses": ["J06.9"], "reason": "Wrong code chosen", "revision": 3}
    amendment["sections"] = sections(
        subjective="Sore throat for three days, no fever.",
        objective="Mild erythema.",
        assessment="Viral upper respiratory infection.",
        plan="Fluids, rest.",
    )
    amended = call(gateway, "POST", f"{note}/amendments", provider, amendment, **key())
    assert amended.status == 200, amended.body
    assert amended.json()["status"] == "amended" and [s["number"] for s in amended.json()["signed"]] == [1, 2]
    assert eventually(
        lambda: (
            in_record(fhir, "DocumentReference", f"{visit_id.lower()}-v1-note-v1")["status"] == "superseded"
        ),
        timeout_s=30,
    )
    replacing = eventually(lambda: in_record(fhir, "DocumentReference", f"{visit_id.lower()}-v1-note-v2"))
    assert replacing["relatesTo"] == [
        {"code": "replaces", "target": {"reference": f"DocumentReference/{visit_id.lower()}-v1-note-v1"}}
    ]
    assert "Wrong code chosen" in base64.b64decode(replacing["content"][0]["attachment"]["data"]).decode()
    withdrawn = eventually(
        lambda: (
            (c := in_record(fhir, "Condition", f"{visit_id.lower()}-v1-dx-j029"))
            and c["verificationStatus"]["coding"][0]["code"] == "entered-in-error"
            and c
        ),
        timeout_s=30,
    )
    assert "clinicalStatus" not in withdrawn
    assert eventually(
        lambda: in_record(fhir, "Composition", f"{visit_id.lower()}-v1-note")["status"] == "amended"
    )

    # An addendum appends to the version in force.
    added = call(
        gateway,
        "POST",
        f"{note}/addenda",
        provider,
        {"text": "Rapid strep negative.", "revision": 4},
        **key(),
    )
    assert added.status == 200, added.body
    assert added.json()["addenda"][0]["text"] == "Rapid strep negative."
    appended = eventually(
        lambda: in_record(fhir, "DocumentReference", f"{visit_id.lower()}-v1-note-addendum-1"), timeout_s=30
    )
    assert appended["relatesTo"][0] == {
        "code": "appends",
        "target": {"reference": f"DocumentReference/{visit_id.lower()}-v1-note-v2"},
    }


def test_a_note_waits_for_the_patient_to_be_admitted(
    platform: LocalPlatform, gateway: str, patient: str
) -> None:
    # Booked, not yet checked in (the same answer as checked in and not admitted: no visit seen).
    slot = soon_slot(gateway, patient)
    booked = book(gateway, patient, slot)
    assert booked.status == 201, booked.body
    appointment = booked.json()
    provider = user_tokens(platform, RIVERSIDE, provider_email(slot))["access"]
    note = f"/v1/appointments/{appointment['appointment_id']}/note"
    early = call(gateway, "PUT", note, provider, {"sections": sections(subjective="early"), "revision": 0})
    assert early.status == 409 and early.json()["type"] == "/problems/visit-not-seen"
    other = user_tokens(platform, RIVERSIDE, "dr.okafor@riverside.example")["access"]
    assert call(gateway, "GET", note, other).status == 404  # not their visit


RXNORM, MEDRT = "http://www.nlm.nih.gov/research/umls/rxnorm", "http://va.gov/terminology/medrt"


def test_the_patient_tells_allergies_and_medicines_and_the_visits_clinician_reconciles_them(
    platform: LocalPlatform,
    gateway: str,
    patient: str,
    seen: tuple[dict[str, Any], str],
    fhir: HealthLakeFhirStore,
) -> None:
    appointment, provider = seen
    mine = "/v1/me/allergies-and-medications"
    before = call(gateway, "GET", mine, patient)
    assert before.status == 200, before.body
    version = before.json()["version"]

    # The lists search the clinic's drug list: a class for the allergy, a drug for the medicine.
    penicillins = call(gateway, "GET", "/v1/allergens?q=penicillins", patient).json()["allergens"]
    assert penicillins[0]["system"] == MEDRT
    capsule = next(
        d
        for d in call(gateway, "GET", "/v1/drugs?q=amoxicillin%20500", patient).json()["drugs"]
        if "Capsule" in d["name"]
    )
    told = call(
        gateway,
        "PUT",
        mine,
        patient,
        {
            "allergies": [
                {
                    "text": "Penicillin",
                    "code": {"system": MEDRT, "code": penicillins[0]["code"]},
                    "reaction": "hives",
                    "severity": "moderate",
                },
                {"text": "Peanuts", "reaction": "swelling", "severity": "severe"},
            ],
            "medications": [
                {
                    "text": "Amoxicillin",
                    "code": {"system": RXNORM, "code": capsule["rxcui"]},
                    "dose": "one capsule three times a day",
                },
                {"text": "Vitamin D", "dose": "daily"},
            ],
            "version": version,
        },
    )
    assert told.status == 200, told.body
    lists = told.json()
    assert lists["version"] == version + 1
    told_now = {a["text"]: a["verified"] for a in lists["allergies"] if a["status"] == "active"}
    assert told_now.items() >= {"Penicillin": False, "Peanuts": False}.items()
    penicillin = next(a for a in lists["allergies"] if a["text"] == "Penicillin")
    assert penicillin["code"]["display"] == penicillins[0]["display"]  # the list's words, not the form's
    # What is refused, and changes nothing: a stale version, a code off the list, a patient
    # striking an entry as entered in error.
    stale = call(gateway, "PUT", mine, patient, {"allergies": [], "medications": [], "version": version})
    assert stale.status == 409 and stale.json()["type"] == "/problems/history-changed"
    unknown = call(
        gateway,
        "PUT",
        mine,
        patient,
        {"medications": [{"text": "x", "code": {"system": RXNORM, "code": "1"}}], "version": version + 1},
    )
    assert unknown.status == 422 and unknown.json()["type"] == "/problems/unknown-drug"
    struck = {"entry_id": penicillin["entry_id"], "text": "Penicillin", "status": "entered-in-error"}
    refused = call(gateway, "PUT", mine, patient, {"allergies": [struck], "version": version + 1})
    assert refused.status == 403
    assert call(gateway, "GET", mine, patient).json()["version"] == version + 1

    # In the record, as the patient told them: unconfirmed.
    allergy_id = f"{appointment['patient_id']}-allergy-{penicillin['entry_id']}"
    recorded = eventually(lambda: in_record(fhir, "AllergyIntolerance", allergy_id), timeout_s=30)
    assert recorded["verificationStatus"]["coding"][0]["code"] == "unconfirmed"
    assert recorded["code"]["coding"][0]["system"] == MEDRT
    assert recorded["reaction"][0] == {"manifestation": [{"text": "hives"}], "severity": "moderate"}

    # The visit's clinician reconciles: confirms the penicillin allergy, strikes the peanuts (the
    # patient meant another visit's), stops the amoxicillin, adds a medicine.
    visit_lists = f"/v1/appointments/{appointment['appointment_id']}/allergies-and-medications"
    other = user_tokens(platform, RIVERSIDE, "dr.okafor@riverside.example")["access"]
    assert call(gateway, "GET", visit_lists, other).status == 404
    seen_lists = call(gateway, "GET", visit_lists, provider).json()
    peanuts = next(a for a in seen_lists["allergies"] if a["text"] == "Peanuts")
    amoxicillin = next(m for m in seen_lists["medications"] if m["text"] == "Amoxicillin")
    reconciled = call(
        gateway,
        "PUT",
        visit_lists,
        provider,
        {
            "allergies": [
                {
                    **{k: penicillin[k] for k in ("entry_id", "text", "reaction", "severity")},
                    "code": {"system": MEDRT, "code": penicillin["code"]["code"]},
                },
                {
                    "entry_id": peanuts["entry_id"],
                    "text": "Peanuts",
                    "reaction": "swelling",
                    "severity": "severe",
                    "status": "entered-in-error",
                },
            ],
            "medications": [
                {
                    "entry_id": amoxicillin["entry_id"],
                    "text": "Amoxicillin",
                    "code": {"system": RXNORM, "code": capsule["rxcui"]},
                    "dose": amoxicillin["dose"],
                    "status": "stopped",
                },
                {"text": "Lisinopril 10 mg", "dose": "one a day"},
            ],
            "version": seen_lists["version"],
        },
    )
    assert reconciled.status == 200, reconciled.body
    after = reconciled.json()
    assert after["reconciled_at"]
    confirmed = next(a for a in after["allergies"] if a["entry_id"] == penicillin["entry_id"])
    assert (confirmed["verified"], confirmed["status"]) == (True, "active")
    assert (
        next(m for m in after["medications"] if m["entry_id"] == amoxicillin["entry_id"])["status"]
        == "stopped"
    )
    assert (
        next(m for m in after["medications"] if m["text"] == "Lisinopril 10 mg")["recorded_by"] == "clinician"
    )
    assert eventually(
        lambda: (
            in_record(fhir, "AllergyIntolerance", allergy_id)["verificationStatus"]["coding"][0]["code"]
            == "confirmed"
        ),
        timeout_s=30,
    )
    struck_peanuts = eventually(
        lambda: (
            (
                r := in_record(
                    fhir, "AllergyIntolerance", f"{appointment['patient_id']}-allergy-{peanuts['entry_id']}"
                )
            )
            and r["verificationStatus"]["coding"][0]["code"] == "entered-in-error"
            and r
        ),
        timeout_s=30,
    )
    assert "clinicalStatus" not in struck_peanuts
    statement = eventually(
        lambda: (
            (
                r := in_record(
                    fhir, "MedicationStatement", f"{appointment['patient_id']}-med-{amoxicillin['entry_id']}"
                )
            )
            and r["status"] == "stopped"
            and r
        ),
        timeout_s=30,
    )
    assert statement["context"]["reference"] == f"Encounter/{appointment['appointment_id'].lower()}-v1"
