"""FHIR resources a health system writes, read into what the clinic keeps (the other way from
projection.py): a Patient, matched by its medical record number.

Only what the clinic uses is read; a resource without it, or with a value the clinic's rules
refuse, is `UnprocessableResource` (422) with each problem named by its FHIRPath and never its
value. Pure: no AWS, no I/O; today's date is passed in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from telehealth.domain.jurisdictions import JURISDICTION_ZONES
from telehealth.domain.patients import birth_date_problem, home_state_problem, phone_problem
from telehealth.domain.referrals import REASON_MAX, Priority

GENDERS = frozenset({"male", "female", "other", "unknown"})


class UnprocessableResource(ValueError):  # noqa: N818 (FHIR's word: the resource cannot be processed)
    """The resource is FHIR but not one the clinic can take: `problems` are (FHIRPath, what is wrong)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{path}: {what}" for path, what in problems))
        self.problems = problems


@dataclass(frozen=True)
class RegisteredPatient:
    """A patient as the health system registers them: by MRN, with the details a visit needs (the
    time zone defaults to their home state's, which they can change in the portal)."""

    mrn: str
    given_name: str
    family_name: str
    birth_date: date
    home_state: str
    zone: str
    gender: str | None = None
    phone: str | None = None
    email: str | None = None


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
        zone=JURISDICTION_ZONES.get(state, ("America/New_York",))[0],
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


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _date(value: Any) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) and len(value) == 10 else None
    except ValueError:
        return None
