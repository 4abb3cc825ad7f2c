"""The eligibility function: the one that reaches the clearinghouse, on the egress path.

The visit-payments function asks it to check a patient's coverage (the member's details in, the
normalized answer out: `telehealth.adapters.eligibility`), and the api asks it for the payer
directory. It keeps nothing, and logs neither the request nor the clearinghouse's answer (both
name the member); only the outcome's kind.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from telehealth.adapters.eligibility import (
    CheckRequest,
    ClearinghouseRefusedError,
    ClearinghouseUnavailableError,
    EligibilityReply,
    StediEligibility,
    eligibility_record,
    parse_eligibility_request,
    question_of,
)
from telehealth.observability import logger_for, tracer_for

logger = logger_for("eligibility")
tracer = tracer_for("eligibility")


@cache
def clearinghouse() -> StediEligibility:
    """The clearinghouse with the tenant's key, read once per execution environment from the
    secret only this function is told about."""
    import boto3

    secret = boto3.client("secretsmanager").get_secret_value(SecretId=os.environ["CLEARINGHOUSE_SECRET_ARN"])
    return StediEligibility(
        str(secret["SecretString"]).strip(),
        provider_npi=os.environ["BILLING_NPI"],
        provider_name=os.environ["CLINIC_NAME"],
    )


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse_eligibility_request(event)
    try:
        if isinstance(request, CheckRequest):
            found = clearinghouse().check(question_of(request))
            logger.info("eligibility checked", extra={"status": found.status.value})
            result: dict[str, Any] = eligibility_record(found)
        else:
            payers = clearinghouse().payers()
            result = {"payers": [{"payer_id": p.payer_id, "name": p.name} for p in payers]}
    except ClearinghouseUnavailableError as error:
        logger.warning("clearinghouse unavailable", extra={"reason": str(error)})
        return EligibilityReply(ok=False, error="unavailable").model_dump(mode="json")
    except ClearinghouseRefusedError as error:
        logger.error("clearinghouse refused the request", extra={"reason": str(error)})
        return EligibilityReply(ok=False, error="refused").model_dump(mode="json")
    return EligibilityReply(ok=True, result=result).model_dump(mode="json")
