"""Store-and-forward: a photo's malware verdict from GuardDuty Malware Protection for S3 (the
account's default bus). Clean, its review copy is made and it is ready for the clinician; otherwise
it is refused with the reason the patient reads. Ids only in the log."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.services import photo_scans
from telehealth.adapters.photo_uploads import photo_of_key
from telehealth.domain.photo_cases import Verdict
from telehealth.observability import logger_for, tracer_for

logger = logger_for("photo-scans")
tracer = tracer_for("photo-scans")


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    detail = event["detail"]
    photo = photo_of_key(str(detail["s3ObjectDetails"]["objectKey"]))
    if photo is None:  # the review copies and anything else in the bucket: nothing to do
        return {"photo": None}
    verdict = Verdict(str(detail["scanResultDetails"]["scanResultStatus"]))
    status = photo_scans().scanned(*photo, verdict)
    logger.info(
        "photo scanned",
        extra={"case_id": photo[0], "photo_id": photo[1], "verdict": verdict.value, "status": status},
    )
    return {"case_id": photo[0], "photo_id": photo[1], "status": status}
