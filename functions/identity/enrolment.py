"""The patient pool's post-confirmation trigger: a patient who confirms their sign-up is enrolled
(their Patient record, with their e-mail alone) before their first request reaches the API.

Cognito calls it synchronously, waits five seconds at most, and also calls it after a confirmed
password reset (`PostConfirmation_ConfirmForgotPassword`): that changes nothing here, and
enrolment is idempotent besides. It must answer with the event it was given.
"""

from __future__ import annotations

from typing import Any

from telehealth.observability import logger_for

logger = logger_for("enrolment")

SIGN_UP = "PostConfirmation_ConfirmSignUp"


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if event.get("triggerSource") != SIGN_UP:
        return event
    from functions.services import patients

    attributes = event["request"]["userAttributes"]
    patients().enrol(attributes["sub"], attributes.get("email"))
    # Not who: their sub identifies a patient, and their e-mail is PHI.
    logger.info("patient enrolled")
    return event
