"""A case of photos in the clinical record (FHIR R4): each photo shown to the clinician as a `Media`
(its body site, its type and size; the image itself stays in the tenant's encrypted bucket), and
the clinician's answer as a `DocumentReference` (a consult note, its text attached), related to the
case's QuestionnaireResponse. Pure."""

from __future__ import annotations

import base64
from typing import Any

from telehealth.domain.photo_cases import CaseAnswer, PhotoCase, PhotoStatus
from telehealth.fhir.projection import instant

SNOMED = "http://snomed.info/sct"
# The case's body sites (the photo-case Questionnaire's codes) as SNOMED CT body structures.
BODY_SITES: dict[str, tuple[str, str]] = {
    "face": ("89545001", "Face structure"),
    "scalp": ("41695006", "Scalp structure"),
    "neck": ("45048000", "Neck structure"),
    "chest": ("51185008", "Thoracic structure"),
    "back": ("77568009", "Structure of back of trunk"),
    "abdomen": ("113345001", "Abdominal structure"),
    "arm": ("53120007", "Upper limb structure"),
    "hand": ("85562004", "Hand structure"),
    "leg": ("61685007", "Lower limb structure"),
    "foot": ("56459004", "Foot structure"),
    "groin": ("26893007", "Inguinal region structure"),
}
PHOTO_TYPE = {
    "system": "http://terminology.hl7.org/CodeSystem/media-type",
    "code": "image",
    "display": "Image",
}
CONSULT_NOTE = {"system": "http://loinc.org", "code": "11488-4", "display": "Consult note"}


def response_id(case: PhotoCase) -> str:
    return f"case-{case.case_id.lower()}"


def case_reference(case_id: str) -> str:
    """The case's QuestionnaireResponse: what a prescription written from it, and each access to
    it, name."""
    return f"QuestionnaireResponse/case-{case_id.lower()}"


def _body_site(case: PhotoCase) -> dict[str, Any]:
    site = str(case.answers.get("body_site", "other"))
    coded = BODY_SITES.get(site)
    if coded is None:
        return {"text": "Another body site (the patient's words in the case)"}
    return {"coding": [{"system": SNOMED, "code": coded[0], "display": coded[1]}], "text": coded[1]}


def photos(case: PhotoCase) -> list[dict[str, Any]]:
    """A Media for each photo a clinician was shown (those ready)."""
    return [
        {
            "resourceType": "Media",
            "id": f"case-photo-{p.photo_id.lower()}",
            "status": "completed",
            "type": {"coding": [PHOTO_TYPE]},
            "subject": {"reference": f"Patient/{case.patient_id}"},
            "createdDateTime": instant(p.added_at),
            "bodySite": _body_site(case),
            "partOf": [{"reference": f"QuestionnaireResponse/{response_id(case)}"}],
            "content": {"contentType": "image/jpeg", "title": f"Photo {n} of the case"},
        }
        for n, p in enumerate(case.photos, start=1)
        if p.status is PhotoStatus.READY
    ]


def answer_document(case: PhotoCase, answer: CaseAnswer) -> dict[str, Any]:
    text = f"Assessment:\n{answer.assessment.strip()}\n\nAdvice:\n{answer.advice.strip()}\n"
    if answer.outcome.value == "live-visit":
        text += "\nA clinician needs to see the patient: a visit was offered.\n"
    return {
        "resourceType": "DocumentReference",
        "id": f"case-answer-{case.case_id.lower()}",
        "status": "current",
        "docStatus": "final",
        "type": {"coding": [CONSULT_NOTE]},
        "subject": {"reference": f"Patient/{case.patient_id}"},
        "date": instant(answer.answered_at),
        "author": [{"reference": f"Practitioner/{answer.provider_id}"}],
        "description": "Store-and-forward review of the patient's photos",
        "content": [
            {
                "attachment": {
                    "contentType": "text/plain; charset=utf-8",
                    "data": base64.b64encode(text.encode()).decode(),
                    "title": "The clinician's answer",
                }
            }
        ],
        "context": {"related": [{"reference": f"QuestionnaireResponse/{response_id(case)}"}]},
    }
