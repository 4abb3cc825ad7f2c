"""The dexcom function: the one function that reaches Dexcom's cloud, on the egress path, with no
grant of the clinic's data. The api asks it (Lambda Invoke) where a patient signs in at Dexcom and
to exchange the sign-in's code; the dexcom-poll function asks it to rotate a patient's refresh token
and to read a window of glucose values. Tokens leave it sealed under the dexcom-credentials key,
which only this function may use (the patient's id the encryption context). It logs the action and
the outcome's kind, never a reading or a token.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from telehealth.adapters.dexcom import DexcomCloud, DexcomSeal
from telehealth.errors import DexcomRefusedError, DexcomThrottledError, DexcomUnavailableError
from telehealth.observability import logger_for, tracer_for

logger = logger_for("dexcom")
tracer = tracer_for("dexcom")
# The fields of a glucose record the readings are made of (the answer stays far inside Lambda's
# 6 MB for 30 days of five-minute values).
KEPT_FIELDS = ("recordId", "systemTime", "value", "unit", "transmitterId")


@cache
def cloud() -> DexcomCloud:
    """Dexcom with the tenant's app credentials, read once per execution environment from the
    secret only this function is told about."""
    import boto3

    secret = boto3.client("secretsmanager").get_secret_value(SecretId=os.environ["DEXCOM_SECRET_ARN"])
    return DexcomCloud(json.loads(secret["SecretString"]))


@cache
def seal() -> DexcomSeal:
    return DexcomSeal()


def _access_owner(patient_id: str) -> str:
    return f"{patient_id}#access"  # an access token opens only as that patient's access token


def _asked(event: dict[str, Any]) -> dict[str, Any]:
    action = event.get("action")
    if action == "authorize":
        return {"url": cloud().authorize_url(str(event["state"]), str(event["redirect_uri"]))}
    patient_id = str(event["patient_id"])
    if action == "link":
        tokens = cloud().exchange(str(event["code"]), str(event["redirect_uri"]))
        return {"sealed": seal().seal(patient_id, tokens.refresh)}
    if action == "rotate":
        refresh = seal().open(patient_id, str(event["sealed"]))
        tokens = cloud().refresh(refresh, str(event["redirect_uri"]))
        return {
            "sealed": seal().seal(patient_id, tokens.refresh),
            "access": seal().seal(_access_owner(patient_id), tokens.access),
        }
    if action == "glucose":
        access = seal().open(_access_owner(patient_id), str(event["access"]))
        start, end = datetime.fromisoformat(str(event["start"])), datetime.fromisoformat(str(event["end"]))
        page = cloud().egvs(access, start, end)
        records = [
            {k: r.get(k) for k in KEPT_FIELDS} for r in page.get("records") or [] if isinstance(r, dict)
        ]
        return {"page": {"recordType": page.get("recordType"), "records": records}}
    raise ValueError("no such action")


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    action = event.get("action")
    try:
        answer = _asked(event)
    except DexcomRefusedError as error:
        logger.info("dexcom refused", extra={"action": action, "code": error.code})
        return {"refused": error.code}
    except DexcomThrottledError:
        logger.warning("dexcom throttled", extra={"action": action})
        return {"throttled": True}
    except DexcomUnavailableError:
        logger.warning("dexcom unavailable", extra={"action": action})
        return {"unavailable": True}
    logger.info("dexcom answered", extra={"action": action})
    return answer
