"""FHIR resources a health system writes, read into what the clinic keeps (the other way from
projection.py): a Patient, matched by its medical record number; a referral; a patient's insurance.

Only what the clinic uses is read; a resource without it, or with a value the clinic's rules
refuse, is `UnprocessableResource` (422) with each problem named by its FHIRPath and never its
value. Pure: no AWS, no I/O; today's date is passed in.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from telehealth.domain.coverage import Coverage, CoverageRuleError, Person, Relationship
from telehealth.domain.patients import (
    RegisteredPatient,
    birth_date_problem,
    home_state_problem,
    home_zone,
    phone_problem,
)
from telehealth.domain.referrals import REASON_MAX, Priority
from telehealth.fhir.projection import PAYER_ID_SYSTEM

GENDERS = frozenset({"male", "female", "other", "unknown"})
SUBSCRIBER_RELATIONSHIP = "http://terminology.hl7.org/CodeSystem/subscriber-relationship"
COVERAGE_CLASS = "http://terminology.hl7.org/CodeSystem/coverage-class"
IDENTIFIER_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"
# What the clinic's eligibility checks can say of the patient (X12's INS/DTP relationship codes they
# become); the code system's others (parent, common law spouse, injured party) have no check here.
RELATIONSHIPS = {r.value: r for r in Relationship}
_GROUP = re.compile(r"[A-Za-z0-9-]{1,40}")  # as the app's insurance form takes it
_NAME = re.compile(r"[^\x00-\x1f\x7f]{1,60}")  # a name as the app takes it (the check sends it on)


class UnprocessableResource(ValueError):  # noqa: N818 (FHIR's word: the resource cannot be processed)
    """The resource is FHIR but not one the clinic can take: `problems` are (FHIRPath, what is wrong)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{path}: {what}" for path, what in problems))
        self.problems = problems


def registered_patient(resource: Mapping[str, Any], mrn_system: str, today: date) -> RegisteredPatient:
    problems: list[tuple[str, str]] = []

    def problem(path: str, what: str) -> None:
        problems.append((path, what))

    if resource.get("resourceType") != "Patient":
        raise UnprocessableResource([("resourceType", "The body is not a Patient.")])
    mrns = [
        str(i.get("value", ""))
        for i in _list(resource.get("identifier"))
        if isinstance(i, Mapping) and i.get("system") == mrn_system and i.get("value")
    ]
    if len(mrns) != 1:
        problem(
            "Patient.identifier", f"One identifier in the clinic's MRN system ({mrn_system}) is required."
        )
    names = [n for n in _list(resource.get("name")) if isinstance(n, Mapping)]
    name = next((n for n in names if n.get("use") == "official"), names[0] if names else {})
    family = str(name.get("family") or "").strip()
    given = " ".join(str(g) for g in _list(name.get("given")) if isinstance(g, str)).strip()
    if not family or not given:
        problem("Patient.name", "A family name and a given name are required.")
    born = _date(resource.get("birthDate"))
    if born is None:
        problem("Patient.birthDate", "A date of birth (YYYY-MM-DD) is required.")
    elif (said := birth_date_problem(born, today)) is not None:
        problem("Patient.birthDate", said)
    addresses = [a for a in _list(resource.get("address")) if isinstance(a, Mapping)]
    address = next((a for a in addresses if a.get("use") == "home"), addresses[0] if addresses else {})
    state = str(address.get("state") or "").upper()
    if not state or home_state_problem(state) is not None:
        problem("Patient.address.state", "A home address with a US state, DC or territory code is required.")
    gender = resource.get("gender")
    if gender is not None and gender not in GENDERS:
        problem("Patient.gender", "The gender is male, female, other or unknown.")
    telecom = [t for t in _list(resource.get("telecom")) if isinstance(t, Mapping)]
    phone = next(
        (str(t.get("value")) for t in telecom if t.get("system") == "phone" and t.get("value")), None
    )
    if phone is not None and phone_problem(phone) is not None:
        problem("Patient.telecom", "A phone number is written +, the country code, then the number.")
    email = next(
        (str(t.get("value")) for t in telecom if t.get("system") == "email" and t.get("value")), None
    )
    if problems:
        raise UnprocessableResource(problems)
    assert born is not None
    return RegisteredPatient(
        mrn=mrns[0],
        given_name=given,
        family_name=family,
        birth_date=born,
        home_state=state,
        zone=home_zone(state),
        gender=str(gender) if gender else None,
        phone=phone,
        email=email,
    )


@dataclass(frozen=True)
class ReferralRequest:
    """A referral as the health system sends it: for a patient of the clinic, why, and by whom."""

    patient_id: str
    reason: str
    requester: str
    priority: Priority
    service: str | None


def referral_request(resource: Mapping[str, Any]) -> ReferralRequest:
    """A ServiceRequest the clinic takes as a referral: active, an order (or plan, proposal), for
    `Patient/<id>`, with a reason in words. The requester is kept as the name the health system
    gives (a reference to its own Practitioner would not resolve here)."""
    problems: list[tuple[str, str]] = []
    if resource.get("resourceType") != "ServiceRequest":
        raise UnprocessableResource([("resourceType", "The body is not a ServiceRequest.")])
    if resource.get("status") != "active":
        problems.append(("ServiceRequest.status", "A referral is sent active."))
    if resource.get("intent") not in ("order", "plan", "proposal", "original-order"):
        problems.append(
            ("ServiceRequest.intent", "A referral's intent is order, original-order, plan or proposal.")
        )
    subject = resource.get("subject")
    reference = str(subject.get("reference", "")) if isinstance(subject, Mapping) else ""
    kind, _, patient_id = reference.partition("/")
    if kind != "Patient" or not patient_id:
        problems.append(("ServiceRequest.subject", "A referral is for a Patient/<id> of the clinic."))
    reasons = [
        str(r.get("text") or next((c.get("display") for c in _list(r.get("coding")) if c.get("display")), ""))
        for r in _list(resource.get("reasonCode"))
        if isinstance(r, Mapping)
    ]
    reason = "; ".join(r for r in reasons if r).strip()
    if not reason:
        problems.append(("ServiceRequest.reasonCode", "A referral says why, in words (reasonCode.text)."))
    elif len(reason) > REASON_MAX:
        problems.append(
            ("ServiceRequest.reasonCode", f"A referral's reason is at most {REASON_MAX} characters.")
        )
    requester = resource.get("requester")
    by = str(requester.get("display") or "").strip() if isinstance(requester, Mapping) else ""
    priority = resource.get("priority", "routine")
    if priority not in {p.value for p in Priority}:
        problems.append(("ServiceRequest.priority", "The priority is routine, urgent, asap or stat."))
    code = resource.get("code")
    service = str(code.get("text") or "").strip() if isinstance(code, Mapping) else ""
    if problems:
        raise UnprocessableResource(problems)
    return ReferralRequest(
        patient_id=patient_id,
        reason=reason,
        requester=by[:200] or "the referring health system",
        priority=Priority(priority),
        service=service[:200] or None,
    )


def received_coverage(resource: Mapping[str, Any], today: date) -> tuple[str, Coverage]:
    """A Coverage the clinic takes as a patient's insurance: `(patient id, coverage)`.

    Active, for `beneficiary` `Patient/<id>`; the payer named in `payor` by its clearinghouse id
    (`PAYER_ID_SYSTEM`, what the clinic's checks name it by); the member id from `subscriberId`
    (or an `identifier` of type MB, the member number); the relationship from SubscriberRelationship
    (self when absent); the group from a `class` of type group. A dependent's policyholder, whose
    name and date of birth the payer matches on, is a contained RelatedPerson (or Patient) that
    `subscriber` references by `#id`: a reference to the health system's own record would not
    resolve here. Other elements (type, period, order, network, costToBeneficiary) are not read."""
    problems: list[tuple[str, str]] = []

    def problem(path: str, what: str) -> None:
        problems.append((path, what))

    if resource.get("resourceType") != "Coverage":
        raise UnprocessableResource([("resourceType", "The body is not a Coverage.")])
    if resource.get("status") != "active":
        problem("Coverage.status", "The clinic records coverage that is active.")
    beneficiary = resource.get("beneficiary")
    reference = str(beneficiary.get("reference", "")) if isinstance(beneficiary, Mapping) else ""
    kind, _, patient_id = reference.partition("/")
    if kind != "Patient" or not patient_id or "/" in patient_id:
        problem("Coverage.beneficiary", "The coverage is for a Patient/<id> of the clinic.")
    payers = [
        str(p["identifier"].get("value") or "")
        for p in _list(resource.get("payor"))
        if isinstance(p, Mapping)
        and isinstance(p.get("identifier"), Mapping)
        and p["identifier"].get("system") == PAYER_ID_SYSTEM
    ]
    if len(payers) != 1 or not payers[0]:
        problem(
            "Coverage.payor",
            f"One payor is named by its identifier in {PAYER_ID_SYSTEM} (the clearinghouse's payer id).",
        )
    member_id = _member_id(resource)
    if not member_id:
        problem(
            "Coverage.subscriberId",
            "The member id, as on the card, is required (or an identifier of type MB).",
        )
    relationship = _relationship(resource.get("relationship"))
    if relationship is None:
        problem(
            "Coverage.relationship",
            "The relationship to the subscriber is self, spouse, child or other "
            f"({SUBSCRIBER_RELATIONSHIP}).",
        )
    groups = [
        c.get("value")
        for c in _list(resource.get("class"))
        if isinstance(c, Mapping) and _coded(c.get("type"), COVERAGE_CLASS, "group")
    ]
    group = groups[0] if groups else None
    if len(groups) > 1 or (group is not None and not (isinstance(group, str) and _GROUP.fullmatch(group))):
        problem("Coverage.class", "One group number, of letters, digits and dashes (up to 40), may be given.")
    subscriber: Person | None = None
    if relationship is not None and relationship is not Relationship.SELF:
        subscriber = _subscriber(resource, today, problem)
    elif relationship is Relationship.SELF and _names_someone_else(resource.get("subscriber"), reference):
        problem("Coverage.subscriber", "Coverage held by the patient themselves names no other subscriber.")
    if problems:
        raise UnprocessableResource(problems)
    assert relationship is not None
    try:
        coverage = Coverage(payers[0], member_id, relationship, group, subscriber)
    except CoverageRuleError as error:  # the domain's own rules on the ids (never their values)
        raise UnprocessableResource([("Coverage", f"{str(error)[:1].upper()}{str(error)[1:]}.")]) from error
    return patient_id, coverage


def _member_id(resource: Mapping[str, Any]) -> str:
    said = resource.get("subscriberId")
    if isinstance(said, str) and said.strip():
        return said.strip()
    for identifier in _list(resource.get("identifier")):
        if (
            isinstance(identifier, Mapping)
            and _coded(identifier.get("type"), IDENTIFIER_TYPE, "MB")
            and isinstance(identifier.get("value"), str)
        ):
            return str(identifier["value"]).strip()
    return ""


def _relationship(concept: Any) -> Relationship | None:
    """The relationship coded in SubscriberRelationship; absent: the patient's own (self). None:
    a relationship the clinic's checks cannot state, or one not coded in that system."""
    if concept is None:
        return Relationship.SELF
    codes = [
        c.get("code")
        for c in _list(concept.get("coding") if isinstance(concept, Mapping) else None)
        if isinstance(c, Mapping) and c.get("system") == SUBSCRIBER_RELATIONSHIP
    ]
    return RELATIONSHIPS.get(codes[0]) if len(codes) == 1 and isinstance(codes[0], str) else None


def _coded(concept: Any, system: str, code: str) -> bool:
    return isinstance(concept, Mapping) and any(
        isinstance(c, Mapping) and c.get("system") == system and c.get("code") == code
        for c in _list(concept.get("coding"))
    )


def _names_someone_else(subscriber: Any, beneficiary: str) -> bool:
    reference = subscriber.get("reference") if isinstance(subscriber, Mapping) else None
    return isinstance(reference, str) and reference != beneficiary


def _subscriber(
    resource: Mapping[str, Any], today: date, problem: Callable[[str, str], None]
) -> Person | None:
    """A dependent's policyholder: the contained RelatedPerson or Patient `subscriber` names by
    `#id`, with a family and a given name and a date of birth."""
    subscriber = resource.get("subscriber")
    reference = str(subscriber.get("reference") or "") if isinstance(subscriber, Mapping) else ""
    contained = {
        str(c.get("id")): c
        for c in _list(resource.get("contained"))
        if isinstance(c, Mapping) and c.get("resourceType") in ("RelatedPerson", "Patient") and c.get("id")
    }
    holder = contained.get(reference[1:]) if reference.startswith("#") else None
    if holder is None:
        problem(
            "Coverage.subscriber",
            "A dependent's coverage names its subscriber: a contained RelatedPerson referenced by #id.",
        )
        return None
    names = [n for n in _list(holder.get("name")) if isinstance(n, Mapping)]
    name = next((n for n in names if n.get("use") == "official"), names[0] if names else {})
    family = str(name.get("family") or "").strip()
    given = " ".join(str(g) for g in _list(name.get("given")) if isinstance(g, str)).strip()
    born = _date(holder.get("birthDate"))
    path = "Coverage.contained"  # not by its id: a refusal echoes nothing the client sent
    named = all(_NAME.fullmatch(n) for n in (family, given))
    if not named:
        problem(
            f"{path}.name", "The subscriber's family and given names are required, each up to 60 characters."
        )
    if born is None:
        problem(f"{path}.birthDate", "The subscriber's date of birth (YYYY-MM-DD) is required.")
    elif (said := birth_date_problem(born, today)) is not None:
        problem(f"{path}.birthDate", said)
    if not named or born is None or birth_date_problem(born, today) is not None:
        return None
    return Person(given, family, born)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _date(value: Any) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) and len(value) == 10 else None
    except ValueError:
        return None
