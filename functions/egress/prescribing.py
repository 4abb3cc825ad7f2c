"""The prescribing function: the one function that reaches the e-prescribing network (Photon), on
the egress path. The api asks it (Lambda Invoke, `telehealth.adapters.photon`) to search the
pharmacy directory, screen a draft, send a prescription, cancel one, check a webhook's signature,
and link or unlink a prescriber's Photon account. It keeps nothing: a prescriber's refresh token
leaves it sealed under the prescriber-credentials key, which only this function may use. It logs
neither requests nor answers (they name the patient): only the operation and the outcome's kind.
"""

from __future__ import annotations

import json
import os
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from telehealth.adapters.photon import (
    AuthorizeRequest,
    CancelRequest,
    LinkRequest,
    NoticeRequest,
    PharmaciesRequest,
    PhotonNetwork,
    PrescriberSeal,
    PrescribingReply,
    ScreenRequest,
    SendRequest,
    UnlinkRequest,
    notice_record,
    parse_request,
    pharmacy_record,
)
from telehealth.observability import logger_for, tracer_for
from telehealth.ports import NoticeRefusedError, PrescribingRefusedError, PrescribingUnavailableError

logger = logger_for("prescribing")
tracer = tracer_for("prescribing")


@cache
def photon() -> PhotonNetwork:
    """Photon with the tenant's credentials, read once per execution environment from the secret
    only this function is told about (a rotated secret reaches new environments)."""
    import boto3

    secret = boto3.client("secretsmanager").get_secret_value(SecretId=os.environ["PHOTON_SECRET_ARN"])
    return PhotonNetwork(json.loads(secret["SecretString"]))


@cache
def seal() -> PrescriberSeal:
    return PrescriberSeal()


def _perform(request: Any) -> dict[str, Any]:
    network = photon()
    if isinstance(request, PharmaciesRequest):
        if request.pharmacy_id:
            one = network.pharmacy(request.pharmacy_id)
            return {"pharmacies": [pharmacy_record(one)] if one else []}
        return {"pharmacies": [pharmacy_record(p) for p in network.pharmacies(request.name, request.state)]}
    if isinstance(request, ScreenRequest):
        patient_id = network.patient(request.patient)
        pharmacy = network.pharmacy(request.pharmacy_id)
        return {
            "vendor_patient_id": patient_id,
            "alerts": network.screen(patient_id, request.directions),
            "pharmacy": pharmacy_record(pharmacy) if pharmacy else None,
        }
    if isinstance(request, SendRequest):
        refresh = seal().open(request.prescriber_id, request.credential)
        patient_id = network.patient(request.patient)
        prescription, order = network.send(request, patient_id, refresh)
        return {"vendor_patient_id": patient_id, "prescription": prescription, "order": order}
    if isinstance(request, CancelRequest):
        network.cancel(request.vendor_order_id)
        return {}
    if isinstance(request, AuthorizeRequest):
        return {"url": network.authorize_url(request)}
    if isinstance(request, LinkRequest):
        return {"credential": seal().seal(request.prescriber_id, network.link(request))}
    if isinstance(request, UnlinkRequest):
        network.unlink(seal().open(request.prescriber_id, request.credential))
        return {}
    assert isinstance(request, NoticeRequest)
    notice = network.notice(request.body, request.signature)
    return {"notice": notice_record(notice) if notice else None}


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse_request(event)
    operation = request.operation
    try:
        result = _perform(request)
    except NoticeRefusedError:
        logger.warning("prescribing notice refused: not signed by the network")
        return PrescribingReply(ok=False, error="signature").model_dump(mode="json")
    except PrescribingRefusedError as error:
        logger.info("prescribing refused", extra={"operation": operation, "code": error.code})
        return PrescribingReply(ok=False, error="refused", code=error.code).model_dump(mode="json")
    except PrescribingUnavailableError as error:
        logger.warning("prescribing unavailable", extra={"operation": operation, "reason": str(error)})
        return PrescribingReply(ok=False, error="unavailable").model_dump(mode="json")
    logger.info("prescribing operation", extra={"operation": operation})
    return PrescribingReply(ok=True, result=result).model_dump(mode="json")
