"""The clinical record's view of the operational state: FHIR R4 resources as JSON.

Ids are stable and derived from the source (a retried write lands on the same resource), and each
resource carries its source version as a tag, so a late retry of an older version is recognised
and skipped instead of rolling the record back.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from telehealth.domain.appointments import Appointment, AppointmentStatus
from telehealth.domain.charges import TELEHEALTH_MODIFIER, VisitCharge
from telehealth.domain.coverage import EligibilityStatus, PatientCoverage
from telehealth.domain.licensure import License, LicenseStatus
from telehealth.domain.payments import Money
from telehealth.domain.referrals import Referral
from telehealth.domain.service_types import ServiceType
from telehealth.domain.visits import Role, Visit, VisitState
from telehealth.domain.vitals import Reading, VisitVitals

SOURCE_VERSION_SYSTEM = "urn:telehealth:source-version"
NPI_SYSTEM = "http://hl7.org/fhir/sid/us-npi"
STATE_LICENSE_SYSTEM = "urn:telehealth:state-license"  # with the state as a qualifier extension
USPS_SYSTEM = "https://www.usps.com/"
PURPOSE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActReason"


def instant(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _meta(source_version: int) -> dict[str, Any]:
    return {"tag": [{"system": SOURCE_VERSION_SYSTEM, "code": str(source_version)}]}


def source_version(resource: dict[str, Any]) -> int:
    """The source version a stored resource was projected from (0 when it carries none)."""
    for tag in resource.get("meta", {}).get("tag", []):
        if tag.get("system") == SOURCE_VERSION_SYSTEM:
            return int(tag["code"])
    return 0


def changed(before: Mapping[str, Mapping[str, Any]], after: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The references in `after` whose resource is new or differs from `before` but for its meta
    (the source version): what a change must write."""
    return [
        ref
        for ref, resource in after.items()
        if ref not in before or content_of(before[ref]) != content_of(resource)
    ]


def content_of(resource: Mapping[str, Any]) -> Any:
    """A resource as JSON carries it, without its meta (where the source version is)."""
    return json.loads(json.dumps({k: v for k, v in dict(resource).items() if k != "meta"}))


def with_source_version(resource: Mapping[str, Any], version: int) -> dict[str, Any]:
    """The same resource tagged with another source version (a rebuild settles which one)."""
    return {**resource, "meta": _meta(version)}


@dataclass(frozen=True)
class PractitionerProfile:
    provider_id: str
    given_name: str
    family_name: str
    specialty: str
    languages: tuple[str, ...]
    zone: str
    version: int = 1
    # Where the clinic pages them (an urgent monitoring alert handed on to them): a work address,
    # set by an admin with the rest of the profile.
    page_email: str | None = None


@dataclass(frozen=True)
class PatientProfile:
    """A patient as the clinic knows them. A patient who has just signed up is enrolled with their
    e-mail alone (their Patient record exists from then on, so the audit trail can name them); the
    rest they give in the portal before they book (`complete`)."""

    patient_id: str
    given_name: str | None = None
    family_name: str | None = None
    birth_date: date | None = None
    home_state: str | None = None
    zone: str | None = None
    version: int = 1
    # Where reminders go. Contact details are PHI: only the notifier reads them, nothing logs them.
    email: str | None = None
    phone: str | None = None
    # The health system's medical record number, in its identifier system, when its software
    # registered the patient (the FHIR facade); one MRN names one patient of the clinic.
    mrn_system: str | None = None
    mrn: str | None = None
    gender: str | None = None
    # A merge (the health system's ADT A40): the retired record names the one it was merged into,
    # and the survivor the records it replaces; each Patient links the other.
    merged_into: str | None = None
    replaces: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        """Whether the clinic has what a visit needs: who they are, and where and when they live."""
        return None not in (self.given_name, self.family_name, self.birth_date, self.home_state, self.zone)


def practitioner(profile: PractitionerProfile, licenses: Iterable[License]) -> dict[str, Any]:
    """Licenses and compact privileges as `qualification`, each with the state where it is valid,
    by state and number: the same credentials project the same resource, in whatever order they
    were listed (the table returns them in that order, so a rebuild projects them alike).

    Whether a licence is in force on a day is its `period` (R4 has no qualification status): a
    status written here would go stale the day it lapsed, since nothing writes the resource
    then. So the status extension says only what dates cannot: a licence recorded as inactive,
    suspended or revoked."""
    return {
        "resourceType": "Practitioner",
        "id": profile.provider_id,
        "meta": _meta(profile.version),
        "active": True,
        "name": [{"use": "official", "family": profile.family_name, "given": [profile.given_name]}],
        "communication": [
            {"coding": [{"system": "urn:ietf:bcp:47", "code": lang}]} for lang in profile.languages
        ],
        **(
            {"telecom": [{"system": "email", "value": profile.page_email, "use": "work"}]}
            if profile.page_email
            else {}
        ),
        "qualification": [
            {
                "identifier": [{"system": f"{STATE_LICENSE_SYSTEM}:{lic.state}", "value": lic.number}],
                "code": {
                    "coding": [
                        {
                            "system": "urn:telehealth:credential",
                            "code": f"compact-privilege:{lic.compact}" if lic.compact else "state-license",
                        }
                    ],
                    "text": f"{lic.compact} privilege, {lic.state}"
                    if lic.compact
                    else f"License, {lic.state}",
                },
                "period": {"start": lic.valid_from.isoformat(), "end": lic.valid_until.isoformat()},
                "issuer": {
                    "display": f"{lic.state} medical board"
                    if not lic.compact
                    else f"{lic.compact} ({lic.state})"
                },
                "extension": [
                    {
                        "url": "urn:telehealth:valid-in-state",
                        "valueCoding": {"system": USPS_SYSTEM, "code": lic.state},
                    },
                    *(
                        [{"url": "urn:telehealth:license-status", "valueCode": lic.status.value}]
                        if lic.status is not LicenseStatus.ACTIVE
                        else []
                    ),
                ],
            }
            for lic in sorted(licenses, key=lambda lic: (lic.state, lic.number))
        ],
    }


def patient(profile: PatientProfile) -> dict[str, Any]:
    """What the clinic knows of the patient so far (a patient just enrolled has a telecom alone)."""
    name = {"family": profile.family_name, "given": [profile.given_name] if profile.given_name else None}
    return {
        "resourceType": "Patient",
        "id": profile.patient_id,
        "meta": _meta(profile.version),
        # A retired record is no longer in use; FHIR clients follow its link to the survivor.
        "active": profile.merged_into is None,
        **(
            {"identifier": [{"use": "usual", "system": profile.mrn_system, "value": profile.mrn}]}
            if profile.mrn and profile.mrn_system
            else {}
        ),
        **(
            {"name": [{"use": "official", **{k: v for k, v in name.items() if v}}]}
            if profile.given_name or profile.family_name
            else {}
        ),
        **({"gender": profile.gender} if profile.gender else {}),
        **({"birthDate": profile.birth_date.isoformat()} if profile.birth_date else {}),
        **({"address": [{"use": "home", "state": profile.home_state}]} if profile.home_state else {}),
        **({"telecom": telecom} if (telecom := _telecom(profile)) else {}),
        **({"link": links} if (links := _links(profile)) else {}),
    }


def _links(profile: PatientProfile) -> list[dict[str, Any]]:
    merged = [(profile.merged_into, "replaced-by")] if profile.merged_into else []
    return [
        {"other": {"reference": f"Patient/{other}"}, "type": kind}
        for other, kind in [*merged, *((r, "replaces") for r in sorted(profile.replaces))]
    ]


def _telecom(profile: PatientProfile) -> list[dict[str, str]]:
    found = [("email", profile.email), ("phone", profile.phone)]
    return [{"system": system, "value": value, "use": "home"} for system, value in found if value]


def schedule(provider_id: str, specialty: str, version: int) -> dict[str, Any]:
    return {
        "resourceType": "Schedule",
        "id": f"{provider_id}-schedule",
        "meta": _meta(version),
        "active": True,
        "serviceType": [{"text": specialty}],
        "actor": [{"reference": f"Practitioner/{provider_id}"}],
    }


def slot_resource_id(slot_id: str) -> str:
    return slot_id


def slot(slot_id: str, appointment: Appointment, version: int) -> dict[str, Any]:
    """A booked slot is busy; once its appointment is cancelled or moved it is free again. A slot
    outlives its appointments, so its version is the change's time, not an appointment's."""
    return {
        "resourceType": "Slot",
        "id": slot_resource_id(slot_id),
        "meta": _meta(version),
        "schedule": {"reference": f"Schedule/{appointment.provider_id}-schedule"},
        "status": "free" if appointment.status is AppointmentStatus.CANCELLED else "busy",
        "start": instant(appointment.start),
        "end": instant(appointment.end),
    }


def service_type(name: str, coded: ServiceType | None) -> dict[str, Any]:
    """The clinic's name for the service, with its code where the clinic gave one."""
    return {**({"coding": [coded.as_fields()]} if coded else {}), "text": name}


def appointment(record: Appointment, slot_id: str, service: ServiceType | None = None) -> dict[str, Any]:
    """`service`: the coding the clinic's services give the appointment's service (None: it is
    named by its text alone). A cancelled appointment's participants have declined it, as FHIR
    asks: none of them is still coming; a no-show's had accepted, and one of them did not come."""
    attending = "declined" if record.status is AppointmentStatus.CANCELLED else "accepted"
    return {
        "resourceType": "Appointment",
        "id": record.appointment_id,
        "meta": _meta(record.version),
        "status": record.status.value,  # the FHIR codes: booked, cancelled, noshow, fulfilled
        "serviceType": [service_type(record.service_type, service)],
        "start": instant(record.start),
        "end": instant(record.end),
        "slot": [{"reference": f"Slot/{slot_resource_id(slot_id)}"}],
        **(
            {"basedOn": [{"reference": f"ServiceRequest/{record.referral_id}"}]} if record.referral_id else {}
        ),
        "participant": [
            {"actor": {"reference": f"Patient/{record.patient_id}"}, "status": attending},
            {"actor": {"reference": f"Practitioner/{record.provider_id}"}, "status": attending},
        ],
    }


def service_request(referral: Referral) -> dict[str, Any]:
    """A referral as the health system sent it, as the clinic keeps it: active while it waits,
    and still active once booked (the Appointment booked for it names it in `basedOn`; the
    request is completed by the visit, not by its booking)."""
    return {
        "resourceType": "ServiceRequest",
        "id": referral.referral_id,
        "meta": _meta(referral.version),
        "status": "active",
        "intent": "order",
        "priority": referral.priority.value,
        "subject": {"reference": f"Patient/{referral.patient_id}"},
        "authoredOn": instant(referral.authored_at),
        "requester": {"display": referral.requester},
        "reasonCode": [{"text": referral.reason}],
        **({"code": {"text": referral.service}} if referral.service else {}),
    }


CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
LOINC = "http://loinc.org"


def consent(
    appointment_id: str, patient_id: str, purpose: str, permitted: bool, at: datetime
) -> dict[str, Any]:
    """One decision of the patient's, recorded at check-in: `telehealth` or `recording`."""
    return {
        "resourceType": "Consent",
        "id": f"{appointment_id.lower()}-{purpose}",
        "meta": _meta(1),
        "status": "active",
        "scope": {"coding": [{"system": CONSENT_SCOPE, "code": "treatment"}]},
        "category": [{"coding": [{"system": LOINC, "code": "59284-0", "display": "Patient Consent"}]}],
        "patient": {"reference": f"Patient/{patient_id}"},
        "dateTime": instant(at),
        # R4 requires a policy or a rule (ppc-1): the patient opted in, or out, on this visit.
        "policyRule": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN"}]
        },
        "provision": {
            "type": "permit" if permitted else "deny",
            "code": [{"coding": [{"system": "urn:telehealth:consent-purpose", "code": purpose}]}],
            "data": [{"meaning": "related", "reference": {"reference": f"Appointment/{appointment_id}"}}],
        },
    }


# --- the encounter ---------------------------------------------------------------------------------

# An Encounter is written first at check-in, when the patient has arrived, and FHIR's
# `cancelled` is an encounter that "ended before it has begun": so every visit that ends, with or
# without the call, is `finished` (R4 has no `discontinued`, which R5 added). Whether the call
# happened is in its history (an `in-progress` period, or none) and in the Appointment's status
# (fulfilled, noshow, cancelled).
ENCOUNTER_STATUS = {
    VisitState.CHECKED_IN: "arrived",
    VisitState.ADMITTED: "arrived",
    VisitState.IN_CALL: "in-progress",
    VisitState.COMPLETED: "finished",
    VisitState.NO_SHOW: "finished",
    VisitState.CANCELLED: "finished",
}
# R4 has no Encounter.virtualService (R5 has): the cross-version extension carries it.
VIRTUAL_SERVICE = "http://hl7.org/fhir/5.0/StructureDefinition/extension-Encounter.virtualService"
CHIME_MEETING_SYSTEM = "urn:telehealth:chime-meeting"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
PARTICIPANT_TYPE = "http://terminology.hl7.org/CodeSystem/participant-type"
CONTACT_ROLE = "http://terminology.hl7.org/CodeSystem/v2-0131"


def encounter_id(appointment_id: str, version: int) -> str:
    return f"{appointment_id.lower()}-v{version}"


def emergency_contact_id(appointment_id: str, version: int) -> str:
    return f"{encounter_id(appointment_id, version)}-emergency-contact"


def emergency_contact(appointment_id: str, version: int, patient_id: str, given: str) -> dict[str, Any]:
    """The contact the patient gave at check-in for an emergency during this visit (v2-0131 `C`),
    as given and nothing more: a free-text field that holds a callback number, an e-mail address
    or a place, so it is recorded as the one of those it reads as (a number: digits with the
    usual punctuation; an address: one `@`), else as an address's text. No name, no use, no
    period: none was given. One per visit, so a later visit's contact never rewrites this one's."""
    value = given.strip()
    digits = sum(c.isdigit() for c in value)
    if re.fullmatch(r"\+?[\d\s().-]+", value) and 7 <= digits <= 15:
        found: dict[str, Any] = {"telecom": [{"system": "phone", "value": value}]}
    elif re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
        found = {"telecom": [{"system": "email", "value": value}]}
    else:
        found = {"address": [{"text": value}]}
    return {
        "resourceType": "RelatedPerson",
        "id": emergency_contact_id(appointment_id, version),
        "meta": _meta(1),
        "patient": {"reference": f"Patient/{patient_id}"},
        "relationship": [{"coding": [{"system": CONTACT_ROLE, "code": "C", "display": "Emergency Contact"}]}],
        **found,
    }


def encounter(visit: Visit, revision: int) -> dict[str, Any]:
    """The video visit as the record keeps it: who took part and when, each status it went
    through, why the patient came (their words, as `reasonCode` text: there is no code for
    them), who to call in an emergency, and the Chime meeting as its virtual service."""
    history: list[tuple[str, datetime]] = [("arrived", visit.checked_in_at)]
    if visit.both_joined:
        history.append(("in-progress", max(visit.joined.values())))
    if visit.ended_at:
        history.append((ENCOUNTER_STATUS[visit.state], visit.ended_at))
    status = ENCOUNTER_STATUS[visit.state]
    periods = [
        {
            "status": s,
            "period": {
                "start": instant(since),
                **({"end": instant(history[i + 1][1])} if i + 1 < len(history) else {}),
            },
        }
        for i, (s, since) in enumerate(history)
    ]
    participants: list[dict[str, Any]] = [
        {
            "type": [{"coding": [{"system": PARTICIPATION, "code": "PPRF", "display": "primary performer"}]}],
            "individual": {"reference": f"Practitioner/{visit.provider_id}"},
            **(
                {"period": {"start": instant(visit.joined[Role.PROVIDER])}}
                if Role.PROVIDER in visit.joined
                else {}
            ),
        }
    ]
    # Every check-in gives one (the check-in's RelatedPerson): the participant FHIR defines as
    # "a person to be contacted in case of an emergency during the encounter".
    participants.append(
        {
            "type": [{"coding": [{"system": PARTICIPANT_TYPE, "code": "emergency", "display": "Emergency"}]}],
            "individual": {
                "reference": f"RelatedPerson/{emergency_contact_id(visit.appointment_id, visit.version)}"
            },
        }
    )
    # Guests the provider invited, once they joined: by their user, with what they were there as.
    # Both codes from the R4 encounter-participant-type value set: v3 ParticipationType has no
    # translator (FHIR's participant-type system does), and has the escort.
    guest_type = {
        Role.INTERPRETER: (PARTICIPANT_TYPE, "translator", "Translator"),
        Role.CAREGIVER: (PARTICIPATION, "ESC", "escort"),
    }
    for user, role in visit.guests.items():
        if role in visit.joined:
            system, code, display = guest_type[role]
            participants.append(
                {
                    "type": [{"coding": [{"system": system, "code": code, "display": display}]}],
                    "individual": {"identifier": {"system": "urn:telehealth:user", "value": user}},
                    "period": {"start": instant(visit.joined[role])},
                }
            )
    resource: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": encounter_id(visit.appointment_id, visit.version),
        "meta": _meta(revision),
        "status": status,
        "statusHistory": periods[:-1] if periods and periods[-1]["status"] == status else periods,
        "class": {"system": ACT_CODE, "code": "VR", "display": "virtual"},
        "subject": {"reference": f"Patient/{visit.patient_id}"},
        "participant": participants,
        **({"reasonCode": [{"text": visit.reason}]} if visit.reason else {}),
        "appointment": [{"reference": f"Appointment/{visit.appointment_id}"}],
        "period": {
            "start": instant(visit.admitted_at or visit.checked_in_at),
            **({"end": instant(visit.ended_at)} if visit.ended_at else {}),
        },
    }
    if visit.meeting_id:
        resource["identifier"] = [{"system": CHIME_MEETING_SYSTEM, "value": visit.meeting_id}]
        resource["extension"] = [
            {
                "url": VIRTUAL_SERVICE,
                "extension": [
                    {
                        "url": "channelType",
                        "valueCoding": {
                            "system": "urn:telehealth:virtual-service",
                            "code": "amazon-chime-sdk",
                        },
                    },
                    {"url": "sessionKey", "valueString": visit.meeting_id},
                ],
            }
        ]
    return resource


# --- vital signs estimated from the visit's video ---------------------------------------------------

OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
ESTIMATE_NOTE = (
    "Estimated from the visit video by remote photoplethysmography (rPPG): an estimate, not a "
    "diagnostic measurement. Confirm with a measured value before clinical use."
)


def observation(vitals: VisitVitals, reading: Reading, revision: int) -> dict[str, Any]:
    """A vital-signs Observation (R4): preliminary until the provider confirms (final) or
    rejects (entered-in-error) it; the method and the note say how it was obtained."""
    code, display = reading.sign.loinc
    return {
        "resourceType": "Observation",
        "id": vitals.observation_id(reading.sign),
        "meta": _meta(revision),
        "status": reading.status.value,
        "category": [
            {"coding": [{"system": OBSERVATION_CATEGORY, "code": "vital-signs", "display": "Vital Signs"}]}
        ],
        "code": {"coding": [{"system": LOINC, "code": code, "display": display}], "text": display},
        "subject": {"reference": f"Patient/{vitals.patient_id}"},
        "encounter": {"reference": f"Encounter/{vitals.encounter_id}"},
        "effectiveDateTime": instant(vitals.effective),
        "valueQuantity": {
            "value": round(reading.per_minute, 1),
            "unit": "/min",
            "system": "http://unitsofmeasure.org",
            "code": "/min",
        },
        "method": {
            "coding": [{"system": "urn:telehealth:measurement-method", "code": vitals.method}],
            "text": "Remote photoplethysmography from video (camera-based, contactless)",
        },
        "note": [{"text": f"{ESTIMATE_NOTE} Signal quality {reading.quality:.2f}."}],
    }


# --- coverage ----------------------------------------------------------------------------------------

PAYER_ID_SYSTEM = "urn:telehealth:clearinghouse-payer-id"
_RELATIONSHIP = "http://terminology.hl7.org/CodeSystem/subscriber-relationship"
_SERVICE_TYPES = "https://x12.org/codes/service-type-codes"
_AAA = "https://x12.org/codes/aaa-reject-reasons"


def coverage_id(patient_id: str) -> str:
    return f"coverage-{patient_id}"


def coverage(record: PatientCoverage) -> dict[str, Any]:
    """The patient's insurance as FHIR `Coverage` (the subscriber's own details stay in the table)."""
    c = record.coverage
    return {
        "resourceType": "Coverage",
        "id": coverage_id(record.patient_id),
        "meta": _meta(record.version),
        "status": "active",
        "beneficiary": {"reference": f"Patient/{record.patient_id}"},
        "subscriberId": c.member_id,
        "relationship": {"coding": [{"system": _RELATIONSHIP, "code": c.relationship.value}]},
        "payor": [
            {"identifier": {"system": PAYER_ID_SYSTEM, "value": c.payer_id}, "display": record.payer_name}
        ],
        **(
            {
                "class": [
                    {
                        "type": {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/coverage-class",
                                    "code": "group",
                                }
                            ]
                        },
                        "value": c.group_number,
                    }
                ]
            }
            if c.group_number
            else {}
        ),
    }


def eligibility_response(record: PatientCoverage) -> dict[str, Any]:
    """The last check as FHIR `CoverageEligibilityResponse`: in force or not, the benefit period,
    and the visit's co-payment, co-insurance and what is left of the deductible and out-of-pocket
    limit, in network; or the payer's AAA reasons. Never the payer's raw response."""
    check = record.check
    assert check is not None
    found = check.eligibility
    payer = {"identifier": {"system": PAYER_ID_SYSTEM, "value": record.coverage.payer_id}}
    response: dict[str, Any] = {
        "resourceType": "CoverageEligibilityResponse",
        "id": f"eligibility-{record.patient_id}-{record.version}",
        "meta": _meta(record.version),
        "status": "active",
        "purpose": ["benefits"],
        "patient": {"reference": f"Patient/{record.patient_id}"},
        "created": instant(check.checked_at),
        "request": {
            "identifier": {
                "system": "urn:telehealth:eligibility-check",
                "value": f"{record.patient_id}-{record.version}",
            }
        },
        "outcome": "complete"
        if found.status in (EligibilityStatus.ACTIVE, EligibilityStatus.INACTIVE)
        else "error",
        "insurer": {**payer, "display": record.payer_name},
    }
    if found.status in (EligibilityStatus.ACTIVE, EligibilityStatus.INACTIVE):
        benefits = [
            benefit
            for benefit in (
                _money_benefit("copay", "allowedMoney", found.copay_minor),
                _percent_benefit(found.coinsurance_percent),
                _money_benefit("deductible", "allowedMoney", found.deductible_remaining_minor),
                _money_benefit(
                    "benefit", "allowedMoney", found.out_of_pocket_remaining_minor, "Out of pocket remaining"
                ),
            )
            if benefit
        ]
        period = {
            **({"start": found.plan_begin.isoformat()} if found.plan_begin else {}),
            **({"end": found.plan_end.isoformat()} if found.plan_end else {}),
        }
        insurance: dict[str, Any] = {
            "coverage": {"reference": f"Coverage/{coverage_id(record.patient_id)}"},
            "inforce": found.status is EligibilityStatus.ACTIVE,
            **({"benefitPeriod": period} if period else {}),
        }
        if benefits and found.service_type:
            insurance["item"] = [
                {
                    "category": {"coding": [{"system": _SERVICE_TYPES, "code": found.service_type}]},
                    "network": {
                        "coding": [
                            {"system": "http://terminology.hl7.org/CodeSystem/benefit-network", "code": "in"}
                        ]
                    },
                    "unit": {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/benefit-unit",
                                "code": "individual",
                            }
                        ]
                    },
                    "benefit": benefits,
                }
            ]
        response["insurance"] = [insurance]
    else:
        response["error"] = [
            {"code": {"coding": [{"system": _AAA, "code": r.code}], "text": r.words}}
            for r in found.rejections
        ] or [{"code": {"text": "The insurer could not check this coverage."}}]
    return response


def _money_benefit(
    code: str, field: str, minor: int | None, text: str | None = None
) -> dict[str, Any] | None:
    if minor is None:
        return None
    kind: dict[str, Any] = {
        "coding": [{"system": "http://terminology.hl7.org/CodeSystem/benefit-type", "code": code}]
    }
    if text:
        kind["text"] = text
    return {"type": kind, field: {"value": minor / 100, "currency": "USD"}}


def _percent_benefit(percent: Any) -> dict[str, Any] | None:
    if percent is None:
        return None
    kind = {
        "coding": [{"system": "http://terminology.hl7.org/CodeSystem/benefit-type", "code": "copay-percent"}]
    }
    return {"type": kind, "allowedUnsignedInt": int(percent)}


# --- charges -----------------------------------------------------------------------------------------

CPT_SYSTEM = "http://www.ama-assn.org/go/cpt"
HCPCS_SYSTEM = "urn:oid:2.16.840.1.113883.6.285"
PLACE_OF_SERVICE_SYSTEM = (
    "https://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set"
)
# R4's ChargeItem has no element for either (a claim's item does): the platform's extensions.
PLACE_OF_SERVICE_EXTENSION = "urn:telehealth:place-of-service"
MODIFIER_EXTENSION = "urn:telehealth:procedure-modifier"
AMOUNT_PAID_EXTENSION = "urn:telehealth:amount-paid"


def charge_item_id(appointment_id: str) -> str:
    return f"charge-{appointment_id.lower()}"


def charge_item(charge: VisitCharge) -> dict[str, Any]:
    """What the completed visit is billed as: its CPT code (or the service's name alone, where the
    clinic gave none), the place of service and modifier 95, for whom, by whom, when."""
    code: dict[str, Any] = {"text": charge.service_name}
    if charge.billing_code:
        system = CPT_SYSTEM if charge.billing_code[0].isdigit() else HCPCS_SYSTEM
        code["coding"] = [{"system": system, "code": charge.billing_code}]
    resource: dict[str, Any] = {
        "resourceType": "ChargeItem",
        "id": charge_item_id(charge.appointment_id),
        "meta": _meta(charge.version),
        "extension": [
            {
                "url": PLACE_OF_SERVICE_EXTENSION,
                "valueCoding": {"system": PLACE_OF_SERVICE_SYSTEM, "code": charge.place.value},
            },
            {"url": MODIFIER_EXTENSION, "valueCoding": {"system": CPT_SYSTEM, "code": TELEHEALTH_MODIFIER}},
        ],
        "status": "billable",
        "code": code,
        "subject": {"reference": f"Patient/{charge.patient_id}"},
        "occurrencePeriod": {"start": instant(charge.start), "end": instant(charge.end)},
        "performer": [{"actor": {"reference": f"Practitioner/{charge.provider_id}"}}],
        "quantity": {"value": 1},
    }
    if charge.visit_version is not None:
        encounter = encounter_id(charge.appointment_id, charge.visit_version)
        resource["context"] = {"reference": f"Encounter/{encounter}"}
    if charge.entered_at is not None:
        resource["enteredDate"] = instant(charge.entered_at)
    return resource


def invoice(charge: VisitCharge) -> dict[str, Any]:
    """The patient's invoice for the visit: the price billed; where insured, what the insurer is
    expected to pay of it (a deduction); what the clinic refunded (a discount: a refund is not owed
    again); so the net the patient owes, and what their card paid of it (less the refunds);
    balanced once that covers the net."""
    price, share = charge.price, charge.patient_share
    components: list[dict[str, Any]] = [
        {"type": "base", "amount": _money(price.amount_minor, price.currency)}
    ]
    if price.amount_minor > share.amount_minor:
        components.append(
            {
                "type": "deduction",
                "code": {"text": "Expected from the insurer" if charge.insured else "Reduction"},
                "amount": _money(price.amount_minor - share.amount_minor, price.currency),
            }
        )
    if charge.refunded_minor:
        components.append(
            {
                "type": "discount",
                "code": {"text": "Refunded to the patient"},
                "amount": _money(charge.refunded_minor, price.currency),
            }
        )
    resource: dict[str, Any] = {
        "resourceType": "Invoice",
        "id": f"invoice-{charge.appointment_id.lower()}",
        "meta": _meta(charge.version),
        "extension": [
            {"url": AMOUNT_PAID_EXTENSION, "valueMoney": _money(charge.paid_minor, price.currency)}
        ],
        "status": charge.invoice_status.value,
        "subject": {"reference": f"Patient/{charge.patient_id}"},
        "recipient": {"reference": f"Patient/{charge.patient_id}"},
        "participant": [{"actor": {"reference": f"Practitioner/{charge.provider_id}"}}],
        "lineItem": [
            {
                "sequence": 1,
                "chargeItemReference": {"reference": f"ChargeItem/{charge_item_id(charge.appointment_id)}"},
                "priceComponent": components,
            }
        ],
        "totalGross": _money(price.amount_minor, price.currency),
        "totalNet": _money(charge.owed_minor, share.currency),
    }
    if charge.entered_at is not None:
        resource["date"] = instant(charge.entered_at)
    return resource


def _money(minor: int, currency: str) -> dict[str, Any]:
    """FHIR Money (a JSON number in the currency's main unit) from minor units."""
    return {"value": float(Money(minor, currency).major), "currency": currency}
