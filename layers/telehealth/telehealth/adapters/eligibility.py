"""Insurance eligibility through a clearinghouse's JSON API: Stedi's real-time eligibility check,
which keeps the Change Healthcare shape (a 270 as JSON in, the 271's `benefitsInformation` lines
out). The answer is normalized here (`telehealth.domain.coverage`); the raw response is never
kept, logged or returned: it names the member, the subscriber and their plan.

`CLEARINGHOUSE_API_BASE` points it at the local stand-in, as `STRIPE_API_BASE` does for Stripe.
A real-time check can take tens of seconds (the payer answers through the clearinghouse), so it
runs off the booking's path, and a payer that does not answer is `ClearinghouseUnavailableError`
(checked again later), never a rejection of the member.
"""

from __future__ import annotations

import json
import os
import secrets
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from telehealth.domain.coverage import (
    Benefit,
    Coverage,
    Eligibility,
    EligibilityQuestion,
    EligibilityStatus,
    Payer,
    Person,
    Relationship,
    eligibility_from,
)

ELIGIBILITY_PATH = "/2024-04-01/change/medicalnetwork/eligibility/v3"
PAYERS_PATH = "/2024-04-01/payers"
# Stedi's own limit on a real-time check is a minute; the payer's answer arrives within it or not.
CHECK_TIMEOUT_S = 60.0


class ClearinghouseUnavailableError(Exception):
    """The clearinghouse (or the payer behind it) did not answer: try again later. Its message
    names the HTTP status or the failure's kind, never the request."""


class ClearinghouseRefusedError(Exception):
    """The clearinghouse refused the request itself (a wrong key, a payer it does not check, a
    malformed check): the operator's to fix, not the patient's; the coverage stays unchecked.
    Its message is the HTTP status alone."""


def _x12_date(day: date) -> str:
    return day.strftime("%Y%m%d")


def _day(value: Any) -> date | None:
    if not isinstance(value, str) or len(value) < 8:
        return None
    try:
        return datetime.strptime(value[:8], "%Y%m%d").date()
    except ValueError:
        return None


def check_body(question: EligibilityQuestion, *, provider_npi: str, provider_name: str) -> dict[str, Any]:
    """The check as the API takes it: the subscriber (the policyholder) and, for a dependent, the
    patient as the dependent; the visit's service types and date."""
    coverage = question.coverage
    holder = coverage.subscriber or question.patient

    def person(who: Person) -> dict[str, str]:
        return {
            "firstName": who.given_name,
            "lastName": who.family_name,
            "dateOfBirth": _x12_date(who.birth_date),
        }

    body: dict[str, Any] = {
        # Nine digits, unique per check (the 270's ST02); it ties the answer to the question.
        "controlNumber": f"{secrets.randbelow(10**9):09d}",
        "tradingPartnerServiceId": coverage.payer_id,
        "provider": {"organizationName": provider_name, "npi": provider_npi},
        "subscriber": {
            "memberId": coverage.member_id,
            **({"groupNumber": coverage.group_number} if coverage.group_number else {}),
            **person(holder),
        },
        "encounter": {
            "serviceTypeCodes": list(question.service_types),
            "dateOfService": _x12_date(question.date_of_service),
        },
    }
    if coverage.subscriber is not None:
        body["dependents"] = [person(question.patient)]
    return body


def _codes(errors: Any) -> list[str]:
    """The AAA reasons (their codes) of one level of the answer's errors."""
    return [str(e.get("code")) for e in errors or [] if e.get("code")]


def eligibility_of(answer: Mapping[str, Any], wanted: Sequence[str], *, dependent: bool) -> Eligibility:
    """The normalized answer from the API's response: its `errors` (the 271's AAA reasons, at
    any level), else the benefit lines (the dependent's, for a dependent) read for the visit."""
    rejections = _codes(answer.get("errors"))
    who: Mapping[str, Any] = answer
    if dependent:
        dependents = answer.get("dependents") or []
        who = dependents[0] if dependents else {}
        rejections += _codes(who.get("aaaErrors"))
        if not dependents and not rejections:
            rejections.append("75")  # the payer returned no such dependent
    rejections += _codes((answer.get("subscriber") or {}).get("aaaErrors"))
    rejections = list(dict.fromkeys(rejections))  # a reason may be at two levels of the answer
    lines = who.get("benefitsInformation") or answer.get("benefitsInformation") or []
    dates = who.get("planDateInformation") or answer.get("planDateInformation") or {}
    benefits = [
        Benefit(
            code=str(line.get("code", "")),
            coverage_level=line.get("coverageLevelCode"),
            service_types=tuple(line.get("serviceTypeCodes") or ()),
            plan=line.get("planCoverage"),
            period=line.get("timeQualifierCode"),
            amount=line.get("benefitAmount"),
            percent=line.get("benefitPercent"),
            network=line.get("inPlanNetworkIndicatorCode"),
        )
        for line in lines
        if isinstance(line, Mapping)
    ]
    plan = str(dates.get("plan") or "")
    begin, _, end = plan.partition("-")
    return eligibility_from(
        benefits,
        wanted,
        rejections=rejections,
        plan_begin=_day(dates.get("planBegin") or begin),
        plan_end=_day(dates.get("planEnd") or end),
        coverage_level="IND",
    )


class StediEligibility:
    """The clearinghouse, from the one function that may reach it (on the egress path)."""

    def __init__(
        self,
        api_key: str,
        *,
        provider_npi: str,
        provider_name: str,
        api_base: str | None = None,
        timeout_s: float = CHECK_TIMEOUT_S,
    ) -> None:
        self.api_key, self.provider_npi, self.provider_name = api_key, provider_npi, provider_name
        base = api_base or os.environ.get("CLEARINGHOUSE_API_BASE", "https://healthcare.us.stedi.com")
        self.base, self.timeout_s = base.rstrip("/"), timeout_s

    def _call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.base}{path}", data=data, method=method)  # noqa: S310 (https, or the stand-in)
        request.add_header("Authorization", self.api_key)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:  # noqa: S310
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            if error.code >= 500 or error.code in (408, 429):
                raise ClearinghouseUnavailableError(f"clearinghouse answered {error.code}") from None
            # The payer's refusals of a member come back as 200s with AAA errors; a 4xx is the
            # clearinghouse refusing the request. Its body may quote the request: not kept.
            raise ClearinghouseRefusedError(f"clearinghouse refused the request: {error.code}") from None
        except (TimeoutError, OSError) as error:
            raise ClearinghouseUnavailableError(
                f"clearinghouse did not answer: {type(error).__name__}"
            ) from None

    def check(self, question: EligibilityQuestion) -> Eligibility:
        body = check_body(question, provider_npi=self.provider_npi, provider_name=self.provider_name)
        answer = self._call("POST", ELIGIBILITY_PATH, body)
        if not isinstance(answer, Mapping):
            raise ClearinghouseUnavailableError("clearinghouse answered no document")
        return eligibility_of(
            answer, question.service_types, dependent=question.coverage.subscriber is not None
        )

    def payers(self) -> list[Payer]:
        """The payer directory: the payers whose eligibility the clearinghouse checks."""
        listed = self._call("GET", PAYERS_PATH)
        items = listed.get("items", []) if isinstance(listed, Mapping) else []
        return [
            Payer(str(p["primaryPayerId"]), str(p["displayName"]))
            for p in items
            if isinstance(p, Mapping)
            and p.get("primaryPayerId")
            and (p.get("transactionSupport") or {}).get("eligibilityCheck") == "SUPPORTED"
        ]


# --- between the functions: the eligibility function's requests and replies -------------------------


class _Wire(BaseModel):
    # A check names the member: a validation error must not quote it (it would reach a log).
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


# X12 5010's limits on a name in a 270 (NM103 last name, NM104 first name): longer names are cut,
# as a clearinghouse would, rather than refused.
FAMILY_NAME_MAX, GIVEN_NAME_MAX = 60, 35


class WirePerson(_Wire):
    given_name: str = Field(min_length=1, max_length=GIVEN_NAME_MAX)
    family_name: str = Field(min_length=1, max_length=FAMILY_NAME_MAX)
    birth_date: date


class CheckRequest(_Wire):
    """A check, as the holder of the coverage asks the eligibility function for it."""

    operation: str = Field(default="check", pattern="^check$")
    payer_id: str = Field(pattern=r"^[A-Za-z0-9]{2,20}$")
    member_id: str = Field(pattern=r"^[A-Za-z0-9-]{2,40}$")
    group_number: str | None = Field(default=None, max_length=40)
    relationship: Relationship = Relationship.SELF
    subscriber: WirePerson | None = None
    patient: WirePerson
    service_types: tuple[str, ...] = Field(min_length=1, max_length=5)
    date_of_service: date


class PayersRequest(_Wire):
    operation: str = Field(default="payers", pattern="^payers$")


class EligibilityReply(_Wire):
    ok: bool
    result: dict[str, Any] = {}
    error: str | None = Field(default=None, pattern="^(unavailable|refused)$")


def question_of(request: CheckRequest) -> EligibilityQuestion:
    def person(p: WirePerson) -> Person:
        return Person(p.given_name, p.family_name, p.birth_date)

    coverage = Coverage(
        request.payer_id,
        request.member_id,
        request.relationship,
        request.group_number,
        person(request.subscriber) if request.subscriber else None,
    )
    return EligibilityQuestion(
        coverage, person(request.patient), request.service_types, request.date_of_service
    )


def check_request(question: EligibilityQuestion) -> CheckRequest:
    def person(p: Person) -> WirePerson:
        return WirePerson(
            given_name=p.given_name.strip()[:GIVEN_NAME_MAX],
            family_name=p.family_name.strip()[:FAMILY_NAME_MAX],
            birth_date=p.birth_date,
        )

    coverage = question.coverage
    return CheckRequest(
        payer_id=coverage.payer_id,
        member_id=coverage.member_id,
        group_number=coverage.group_number,
        relationship=coverage.relationship,
        subscriber=person(coverage.subscriber) if coverage.subscriber else None,
        patient=person(question.patient),
        service_types=question.service_types,
        date_of_service=question.date_of_service,
    )


def eligibility_record(found: Eligibility) -> dict[str, Any]:
    """The normalized answer as the reply and the table carry it (no raw response)."""
    return {
        "status": found.status.value,
        "service_type": found.service_type,
        "plan_name": found.plan_name,
        "plan_begin": found.plan_begin.isoformat() if found.plan_begin else None,
        "plan_end": found.plan_end.isoformat() if found.plan_end else None,
        "copay_minor": found.copay_minor,
        "coinsurance_percent": str(found.coinsurance_percent)
        if found.coinsurance_percent is not None
        else None,
        "deductible_remaining_minor": found.deductible_remaining_minor,
        "out_of_pocket_remaining_minor": found.out_of_pocket_remaining_minor,
        "other_payer": found.other_payer,
        "rejections": [r.code for r in found.rejections],
    }


def eligibility_from_record(record: Mapping[str, Any]) -> Eligibility:
    from decimal import Decimal

    from telehealth.domain.coverage import rejection

    def day(value: Any) -> date | None:
        return date.fromisoformat(value) if value else None

    def minor(value: Any) -> int | None:
        return int(value) if value is not None else None

    return Eligibility(
        EligibilityStatus(record["status"]),
        service_type=record.get("service_type"),
        plan_name=record.get("plan_name"),
        plan_begin=day(record.get("plan_begin")),
        plan_end=day(record.get("plan_end")),
        copay_minor=minor(record.get("copay_minor")),
        coinsurance_percent=Decimal(record["coinsurance_percent"])
        if record.get("coinsurance_percent")
        else None,
        deductible_remaining_minor=minor(record.get("deductible_remaining_minor")),
        out_of_pocket_remaining_minor=minor(record.get("out_of_pocket_remaining_minor")),
        other_payer=bool(record.get("other_payer")),
        rejections=tuple(rejection(str(c)) for c in record.get("rejections") or ()),
    )


class EligibilityFunction:
    """The side that holds the coverage: asks the tenant's eligibility function (Lambda Invoke),
    which alone reaches the clearinghouse."""

    def __init__(self, function_name: str | None = None, *, client: Any = None) -> None:
        import boto3
        from botocore.config import Config

        self.function_name = function_name or os.environ["ELIGIBILITY_FUNCTION"]
        # The directory is read while a patient waits (the api's 15 s): a short wait, no retry.
        self._directory = client or boto3.client(
            "lambda",
            config=Config(
                connect_timeout=2, read_timeout=10, retries={"mode": "standard", "max_attempts": 1}
            ),
        )
        # A check may take a minute at the payer, off any request: the wait outlasts the function's.
        self._lambda = client or boto3.client(
            "lambda",
            config=Config(
                connect_timeout=2, read_timeout=90, retries={"mode": "standard", "max_attempts": 1}
            ),
        )

    def _ask(self, request: _Wire, *, client: Any = None) -> dict[str, Any]:
        response = (client or self._lambda).invoke(
            FunctionName=self.function_name, Payload=json.dumps(request.model_dump(mode="json")).encode()
        )
        body = response["Payload"].read()
        if response.get("FunctionError"):
            raise ClearinghouseUnavailableError(f"{self.function_name} failed")
        reply = EligibilityReply.model_validate_json(body)
        if not reply.ok:
            error = ClearinghouseRefusedError if reply.error == "refused" else ClearinghouseUnavailableError
            raise error(f"eligibility {reply.error}")
        return reply.result

    def check(self, question: EligibilityQuestion) -> Eligibility:
        return eligibility_from_record(self._ask(check_request(question)))

    def payers(self) -> list[Payer]:
        return [
            Payer(str(p["payer_id"]), str(p["name"])) for p in self._ask(PayersRequest()).get("payers", [])
        ]


def parse_eligibility_request(event: Any) -> CheckRequest | PayersRequest:
    operation = event.get("operation") if isinstance(event, dict) else None
    if operation == "check":
        return CheckRequest.model_validate(event)
    if operation == "payers":
        return PayersRequest.model_validate(event)
    raise ValueError(f"no such eligibility operation: {operation!r}")
