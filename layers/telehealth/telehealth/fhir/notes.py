"""A signed clinical note in the record: a `Composition` (its sections, the diagnoses and the
vital signs it cites), a `DocumentReference` per signed version (its rendered copy attached; an
amendment replaces the one before, an addendum appends to the one in force), and a `Condition`
per diagnosis. All reference the visit's Encounter.

Ids derive from the Encounter (one note per visit), so a retried write lands on the same
resource; each carries the note's revision as its source version.
"""

from __future__ import annotations

import base64
import html
from typing import Any

from telehealth.domain.notes import Addendum, ClinicalNote, Diagnosis, SignedVersion
from telehealth.fhir.projection import LOINC, _meta, encounter_id, instant
from telehealth.terminology import icd10cm

# LOINC's document type for a clinician's note of a visit, and the sections it cites.
NOTE_TYPE = {"system": LOINC, "code": "11506-3", "display": "Progress note"}
VITAL_SIGNS_SECTION = {"system": LOINC, "code": "8716-3", "display": "Vital signs"}
DIAGNOSES_SECTION = {"system": LOINC, "code": "29548-5", "display": "Diagnosis Narrative"}
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
TEXT_PLAIN = "text/plain; charset=utf-8"


def composition_id(appointment_id: str, visit_version: int) -> str:
    return f"{encounter_id(appointment_id, visit_version)}-note"


def document_id(appointment_id: str, visit_version: int, number: int) -> str:
    """The rendered copy of signed version `number` (1: the original; 2 on: amendments)."""
    return f"{composition_id(appointment_id, visit_version)}-v{number}"


def addendum_id(appointment_id: str, visit_version: int, number: int) -> str:
    return f"{composition_id(appointment_id, visit_version)}-addendum-{number}"


def condition_id(appointment_id: str, visit_version: int, code: str) -> str:
    return f"{encounter_id(appointment_id, visit_version)}-dx-{code.replace('.', '').lower()}"


def _div(text: str) -> dict[str, str]:
    paragraphs = "".join(f"<p>{html.escape(line)}</p>" for line in text.splitlines() if line.strip())
    return {
        "status": "generated",
        "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{paragraphs or "<p>-</p>"}</div>',
    }


def _refs(note: ClinicalNote) -> dict[str, Any]:
    return {
        "subject": {"reference": f"Patient/{note.patient_id}"},
        "encounter": {"reference": f"Encounter/{encounter_id(note.appointment_id, note.visit_version)}"},
    }


def composition(note: ClinicalNote, title: str) -> dict[str, Any]:
    """The note in force, section by section (addenda as sections after them)."""
    current = note.current
    assert current is not None, "only a signed note is in the record"
    content = current.content
    author = {"reference": f"Practitioner/{note.provider_id}"}
    sections: list[dict[str, Any]] = [
        {"title": section, "text": _div(text or "(nothing written)")} for section, text in content.sections
    ]
    if content.observation_ids:
        sections.append(
            {
                "title": "Vital signs",
                "code": {"coding": [VITAL_SIGNS_SECTION]},
                "text": _div("Confirmed by the clinician from the visit's video."),
                "entry": [{"reference": f"Observation/{o}"} for o in content.observation_ids],
            }
        )
    sections.append(
        {
            "title": "Diagnoses",
            "code": {"coding": [DIAGNOSES_SECTION]},
            "text": _div("\n".join(f"{d.code} {d.display}" for d in content.diagnoses)),
            "entry": [
                {"reference": f"Condition/{condition_id(note.appointment_id, note.visit_version, d.code)}"}
                for d in content.diagnoses
            ],
        }
    )
    if content.instructions.strip():
        sections.append({"title": "Instructions for the patient", "text": _div(content.instructions)})
    if content.follow_up is not None:
        reason = f": {content.follow_up.reason}" if content.follow_up.reason else ""
        sections.append(
            {"title": "Follow-up", "text": _div(f"Within {content.follow_up.within_days} days{reason}")}
        )
    addenda = {a.number: addendum_id(note.appointment_id, note.visit_version, a.number) for a in note.addenda}
    for addendum in note.addenda:
        sections.append(
            {
                "title": f"Addendum {addendum.number}",
                "author": [{"reference": f"Practitioner/{addendum.author_id}"}],
                "text": _div(addendum.text),
                "entry": [{"reference": f"DocumentReference/{addenda[addendum.number]}"}],
            }
        )
    return {
        "resourceType": "Composition",
        "id": composition_id(note.appointment_id, note.visit_version),
        "meta": _meta(note.revision),
        "status": "final" if len(note.signed) == 1 else "amended",
        "type": {"coding": [NOTE_TYPE]},
        **_refs(note),
        "date": instant(current.signed_at),
        "author": [author],
        "title": title,
        "attester": [{"mode": "legal", "time": instant(current.signed_at), "party": author}],
        "section": sections,
    }


def _attachment(text: str, title: str, created: str) -> dict[str, Any]:
    return {
        "contentType": TEXT_PLAIN,
        "language": "en",
        "data": base64.b64encode(text.encode("utf-8")).decode("ascii"),
        "title": title,
        "creation": created,
    }


def document(note: ClinicalNote, version: SignedVersion, title: str) -> dict[str, Any]:
    """One signed version's rendered copy: current while in force, superseded once amended."""
    in_force = note.current is not None and note.current.number == version.number
    resource: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "id": document_id(note.appointment_id, note.visit_version, version.number),
        "meta": _meta(note.revision),
        "status": "current" if in_force else "superseded",
        "docStatus": "final" if version.number == 1 else "amended",
        "type": {"coding": [NOTE_TYPE]},
        "subject": {"reference": f"Patient/{note.patient_id}"},
        "date": instant(version.signed_at),
        "author": [{"reference": f"Practitioner/{note.provider_id}"}],
        "authenticator": {"reference": f"Practitioner/{note.provider_id}"},
        "description": title,
        "content": [{"attachment": _attachment(version.rendered, title, instant(version.signed_at))}],
        "context": {
            "encounter": [
                {"reference": f"Encounter/{encounter_id(note.appointment_id, note.visit_version)}"}
            ],
            "related": [
                {"reference": f"Composition/{composition_id(note.appointment_id, note.visit_version)}"}
            ],
        },
    }
    if version.number > 1:
        before = document_id(note.appointment_id, note.visit_version, version.number - 1)
        resource["relatesTo"] = [{"code": "replaces", "target": {"reference": f"DocumentReference/{before}"}}]
    return resource


def addendum_document(note: ClinicalNote, addendum: Addendum, title: str) -> dict[str, Any]:
    """An addendum's copy, appending to the version in force when it was added."""
    current = note.current
    assert current is not None
    target = document_id(note.appointment_id, note.visit_version, current.number)
    return {
        "resourceType": "DocumentReference",
        "id": addendum_id(note.appointment_id, note.visit_version, addendum.number),
        "meta": _meta(note.revision),
        "status": "current",
        "docStatus": "final",
        "type": {"coding": [NOTE_TYPE]},
        "subject": {"reference": f"Patient/{note.patient_id}"},
        "date": instant(addendum.added_at),
        "author": [{"reference": f"Practitioner/{addendum.author_id}"}],
        "authenticator": {"reference": f"Practitioner/{addendum.author_id}"},
        "description": f"{title}: addendum {addendum.number}",
        "relatesTo": [{"code": "appends", "target": {"reference": f"DocumentReference/{target}"}}],
        "content": [
            {
                "attachment": _attachment(
                    addendum.rendered, f"{title}: addendum {addendum.number}", instant(addendum.added_at)
                )
            }
        ],
        "context": {
            "encounter": [{"reference": f"Encounter/{encounter_id(note.appointment_id, note.visit_version)}"}]
        },
    }


def condition(note: ClinicalNote, diagnosis: Diagnosis, *, withdrawn: bool = False) -> dict[str, Any]:
    """A diagnosis the clinician signed (`withdrawn`: an amendment took it out, so it was entered
    in error). ICD-10-CM only: SNOMED CT is licensed and does not ship here."""
    current = note.current
    assert current is not None
    first = next(s for s in note.signed if diagnosis in s.content.diagnoses)
    known = icd10cm.lookup(diagnosis.code)
    return {
        "resourceType": "Condition",
        "id": condition_id(note.appointment_id, note.visit_version, diagnosis.code),
        "meta": _meta(note.revision),
        **(
            {}
            if withdrawn
            else {"clinicalStatus": {"coding": [{"system": CONDITION_CLINICAL, "code": "active"}]}}
        ),
        "verificationStatus": {
            "coding": [
                {"system": CONDITION_VERIFICATION, "code": "entered-in-error" if withdrawn else "confirmed"}
            ]
        },
        "category": [{"coding": [{"system": CONDITION_CATEGORY, "code": "encounter-diagnosis"}]}],
        "code": {
            "coding": [{"system": icd10cm.SYSTEM, "code": diagnosis.code, "display": diagnosis.display}],
            "text": known.plain if known else diagnosis.display,
        },
        **_refs(note),
        "recordedDate": instant(first.signed_at),
        "recorder": {"reference": f"Practitioner/{note.provider_id}"},
        "asserter": {"reference": f"Practitioner/{note.provider_id}"},
    }


def withdrawn(note: ClinicalNote) -> tuple[Diagnosis, ...]:
    """Diagnoses an earlier signed version gave and the one in force does not."""
    current = {d.code for d in note.content.diagnoses}
    seen: dict[str, Diagnosis] = {}
    for version in note.signed:
        for d in version.content.diagnoses:
            if d.code not in current:
                seen.setdefault(d.code, d)
    return tuple(seen.values())


def record(note: ClinicalNote, title: str) -> dict[str, dict[str, Any]]:
    """Every resource a signed note stands as in the record, by reference (none for a draft):
    from the note alone, so a rebuild writes what signing wrote."""
    if not note.signed:
        return {}
    resources = [
        *(condition(note, d) for d in note.content.diagnoses),
        *(condition(note, d, withdrawn=True) for d in withdrawn(note)),
        *(document(note, version, title) for version in note.signed),
        *(addendum_document(note, a, title) for a in note.addenda),
        composition(note, title),
    ]
    return {f"{r['resourceType']}/{r['id']}": r for r in resources}
