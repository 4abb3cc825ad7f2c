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
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from telehealth.domain.coverage import Benefit, Coverage, Eligibility, Person, eligibility_from

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


@dataclass(frozen=True)
class Payer:
    payer_id: str  # what a check names the payer by (`tradingPartnerServiceId`)
    name: str


@dataclass(frozen=True)
class EligibilityQuestion:
    """What a check asks: whose coverage, with which payer, for what kind of visit and when."""

    coverage: Coverage
    patient: Person
    service_types: tuple[str, ...]  # most specific first (telehealth.domain.coverage)
    date_of_service: date


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


def eligibility_of(answer: Mapping[str, Any], wanted: Sequence[str], *, dependent: bool) -> Eligibility:
    """The normalized answer from the API's response: its `errors` (the 271's AAA reasons, at
    any level), else the benefit lines (the dependent's, for a dependent) read for the visit."""
    rejections = [str(e.get("code")) for e in answer.get("errors") or [] if e.get("code")]
    who: Mapping[str, Any] = answer
    if dependent:
        dependents = answer.get("dependents") or []
        who = dependents[0] if dependents else {}
        rejections += [str(e.get("code")) for e in who.get("aaaErrors") or [] if e.get("code")]
        if not dependents and not rejections:
            rejections.append("75")  # the payer returned no such dependent
    rejections += [
        str(e.get("code")) for e in (answer.get("subscriber") or {}).get("aaaErrors") or [] if e.get("code")
    ]
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
