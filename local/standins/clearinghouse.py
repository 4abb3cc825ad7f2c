"""A stand-in for the clearinghouse's eligibility API (Stedi's real-time check, in the Change
Healthcare shape): its payer directory, and a 271 as JSON for each scenario, keyed by the member
id's first three letters, as the payers of the real network would answer:

| member id | the payer says |
|---|---|
| `ACT...` | active, a co-payment per service type (decoys first: the family's, out-of-network, general) |
| `INA...` | coverage inactive (EB 6) |
| `DED...` | active, no co-payment: $10 of the deductible left, then 20 % co-insurance (`.20`) |
| `BAD...` | AAA 72, the member id is not one the payer knows |
| `DWN...` | AAA 42, the payer is unable to respond now |
| `SLO...` | no answer for a minute and a half (the check's own timeout is shorter) |
| `TWO...` | active, and another payer covers the member too (EB R) |
| `DEP...` | a family plan: the child is found only as a dependent, with benefits of their own |
| anything else | AAA 75, no such member |

It refuses what the API refuses: a missing or wrong `Authorization`, a payer that is not in the
directory or does not take eligibility checks, a check without the subscriber's member id, name
and date of birth, a control number that is not nine digits, a provider without a ten-digit NPI.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.parse
from typing import Any

from local.loopback import JsonRequestHandler, LoopbackServer

ELIGIBILITY_PATH = "/2024-04-01/change/medicalnetwork/eligibility/v3"
PAYERS_PATH = "/2024-04-01/payers"
SLOW_S = 90.0

PAYERS: tuple[dict[str, Any], ...] = (
    {
        "stediId": "RHPLN",
        "displayName": "Riverside Health Plan",
        "primaryPayerId": "RHP01",
        "transactionSupport": {"eligibilityCheck": "SUPPORTED", "professionalClaimSubmission": "SUPPORTED"},
    },
    {
        "stediId": "LKMTL",
        "displayName": "Lakeside Mutual",
        "primaryPayerId": "LKM02",
        "transactionSupport": {"eligibilityCheck": "SUPPORTED", "professionalClaimSubmission": "SUPPORTED"},
    },
    {
        "stediId": "PAPER",
        "displayName": "Paper Claims Cooperative",
        "primaryPayerId": "PCC03",
        "transactionSupport": {
            "eligibilityCheck": "NOT_SUPPORTED",
            "professionalClaimSubmission": "SUPPORTED",
        },
    },
)
_ELIGIBLE = {
    p["primaryPayerId"] for p in PAYERS if p["transactionSupport"]["eligibilityCheck"] == "SUPPORTED"
}
_COPAYS = {"98": "25", "MH": "40", "A4": "40", "UC": "75", "30": "35"}
_AAA = {
    "42": "Unable to Respond at Current Time",
    "72": "Invalid/Missing Subscriber/Insured ID",
    "75": "Subscriber/Insured Not Found",
}
_X12_DATE = re.compile(r"\d{8}")


def _line(code: str, **fields: Any) -> dict[str, Any]:
    names = {
        "1": "Active Coverage",
        "6": "Inactive",
        "A": "Co-Insurance",
        "B": "Co-Payment",
        "C": "Deductible",
    }
    return {
        "code": code,
        "name": names.get(code, "Other or Additional Payor" if code == "R" else code),
        **fields,
    }


def _active(plan: str = "Gold PPO") -> dict[str, Any]:
    return _line("1", coverageLevelCode="IND", serviceTypeCodes=["30"], planCoverage=plan)


def _copays(wanted: list[str]) -> list[dict[str, Any]]:
    """The co-payments a payer lists, decoys first: the family's, an out-of-network one and the
    plan's general one come before the line for the visit's own service type."""
    own = next((c for c in wanted if c in _COPAYS and c != "30"), "98")
    visit = {"coverageLevelCode": "IND", "timeQualifierCode": "27", "serviceTypeCodes": [own]}
    return [
        _line(
            "B", **{**visit, "coverageLevelCode": "FAM"}, benefitAmount="60", inPlanNetworkIndicatorCode="Y"
        ),
        _line("B", **visit, benefitAmount="50", inPlanNetworkIndicatorCode="N"),
        _line(
            "B",
            coverageLevelCode="IND",
            serviceTypeCodes=["30"],
            benefitAmount="35",
            inPlanNetworkIndicatorCode="Y",
        ),
        _line("B", **visit, benefitAmount=_COPAYS[own], inPlanNetworkIndicatorCode="Y"),
    ]


def _limits(deductible_left: str) -> list[dict[str, Any]]:
    """The deductible and out-of-pocket lines: the year's size first, then what remains."""
    return [
        _line(
            "C",
            coverageLevelCode="IND",
            timeQualifierCode="23",
            benefitAmount="1500",
            inPlanNetworkIndicatorCode="Y",
        ),
        _line(
            "C",
            coverageLevelCode="FAM",
            timeQualifierCode="29",
            benefitAmount="2750",
            inPlanNetworkIndicatorCode="Y",
        ),
        _line(
            "C",
            coverageLevelCode="IND",
            timeQualifierCode="29",
            benefitAmount=deductible_left,
            inPlanNetworkIndicatorCode="Y",
        ),
        _line(
            "G",
            coverageLevelCode="IND",
            timeQualifierCode="29",
            benefitAmount="3200.5",
            inPlanNetworkIndicatorCode="Y",
        ),
    ]


def answer(check: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """The API's status and document for a check (also the stand-in's unit of test)."""
    refused = _refused(check)
    if refused:
        return 400, {"message": refused, "errors": [{"description": refused}]}
    subscriber, wanted = check["subscriber"], list(check["encounter"]["serviceTypeCodes"])
    scenario = str(subscriber["memberId"])[:3].upper()
    base: dict[str, Any] = {
        "controlNumber": check["controlNumber"],
        "tradingPartnerServiceId": check["tradingPartnerServiceId"],
        "provider": check["provider"],
        "subscriber": {k: subscriber[k] for k in ("memberId", "firstName", "lastName", "dateOfBirth")},
        "payer": {
            "name": next(
                p["displayName"] for p in PAYERS if p["primaryPayerId"] == check["tradingPartnerServiceId"]
            )
        },
        "planDateInformation": {"planBegin": "20260101", "planEnd": "20261231"},
    }

    def rejected(code: str) -> tuple[int, dict[str, Any]]:
        error = {"field": "AAA", "code": code, "description": _AAA[code], "location": "Loop 2100C"}
        return 200, {**base, "subscriber": {**base["subscriber"], "aaaErrors": [error]}, "errors": [error]}

    if scenario == "ACT":
        return 200, {**base, "benefitsInformation": [*_copays(wanted), _active(), *_limits("250")]}
    if scenario == "INA":
        return 200, {
            **base,
            "benefitsInformation": [_line("6", coverageLevelCode="IND", serviceTypeCodes=["30"])],
        }
    if scenario == "DED":
        coinsurance = _line(
            "A",
            coverageLevelCode="IND",
            serviceTypeCodes=[wanted[0]],
            benefitPercent=".20",
            inPlanNetworkIndicatorCode="Y",
        )
        return 200, {**base, "benefitsInformation": [_active("Bronze HDHP"), coinsurance, *_limits("10")]}
    if scenario == "BAD":
        return rejected("72")
    if scenario == "DWN":
        return rejected("42")
    if scenario == "TWO":
        other = _line(
            "R", coverageLevelCode="IND", benefitsRelatedEntities=[{"entityName": "Lakeside Mutual"}]
        )
        return 200, {**base, "benefitsInformation": [_active(), *_copays(wanted), other]}
    if scenario == "DEP" and check.get("dependents"):
        child = check["dependents"][0]
        family = [_line("1", coverageLevelCode="FAM", serviceTypeCodes=["30"], planCoverage="Family PPO")]
        own = [_active("Family PPO"), *_copays(wanted)]
        return 200, {
            **base,
            "benefitsInformation": family,
            "dependents": [{**child, "benefitsInformation": own}],
        }
    return rejected("75")


def _refused(check: Any) -> str | None:
    if not isinstance(check, dict):
        return "The request body is not a JSON object."
    if not re.fullmatch(r"\d{9}", str(check.get("controlNumber", ""))):
        return "controlNumber must be nine digits."
    if check.get("tradingPartnerServiceId") not in _ELIGIBLE:
        return "The payer is not in the directory, or does not take eligibility checks."
    provider = check.get("provider") or {}
    if not re.fullmatch(r"\d{10}", str(provider.get("npi", ""))) or not provider.get("organizationName"):
        return "provider needs an organizationName and a ten-digit npi."
    subscriber = check.get("subscriber") or {}
    for field in ("memberId", "firstName", "lastName"):
        if not subscriber.get(field):
            return f"subscriber.{field} is required."
    if not _X12_DATE.fullmatch(str(subscriber.get("dateOfBirth", ""))):
        return "subscriber.dateOfBirth is required, as YYYYMMDD."
    encounter = check.get("encounter") or {}
    codes = encounter.get("serviceTypeCodes")
    if (
        not isinstance(codes, list)
        or not codes
        or not all(isinstance(c, str) and 1 <= len(c) <= 2 for c in codes)
    ):
        return "encounter.serviceTypeCodes must list service type codes."
    if "dateOfService" in encounter and not _X12_DATE.fullmatch(str(encounter["dateOfService"])):
        return "encounter.dateOfService is YYYYMMDD."
    return None


class Clearinghouse:
    def __init__(self, api_key: str, port: int = 0, *, slow_s: float = SLOW_S) -> None:
        self.api_key, self.slow_s = api_key, slow_s
        self.checks = 0
        owner = self

        class Handler(_Handler):
            clearinghouse = owner

        self._server = LoopbackServer(("127.0.0.1", port), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> None:
        threading.Thread(target=self._server.serve_forever, name="clearinghouse", daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class _Handler(JsonRequestHandler):
    clearinghouse: Clearinghouse

    def _authorized(self) -> bool:
        if self.headers.get("Authorization") == self.clearinghouse.api_key:
            return True
        self._send(401, {"message": "Unauthorized"})
        return False

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        path = urllib.parse.urlsplit(self.path).path
        if not self._authorized():
            return
        if path == PAYERS_PATH:
            self._send(200, {"items": list(PAYERS)})
        else:
            self._send(404, {"message": "Not Found"})

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        path = urllib.parse.urlsplit(self.path).path
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if not self._authorized():
            return
        if path != ELIGIBILITY_PATH:
            self._send(404, {"message": "Not Found"})
            return
        try:
            check = json.loads(raw)
        except ValueError:
            self._send(400, {"message": "The request body is not JSON."})
            return
        self.clearinghouse.checks += 1
        if (
            isinstance(check, dict)
            and str((check.get("subscriber") or {}).get("memberId", ""))[:3].upper() == "SLO"
        ):
            time.sleep(self.clearinghouse.slow_s)  # the payer takes its time; the caller gives up first
        status, document = answer(check)
        self._send(status, document)
