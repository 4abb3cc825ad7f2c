"""A self-pay patient's Good Faith Estimate issued as a visit is booked (and again as it moves),
and a visit's payment settled as the visit ends, from the tenant bus: completed (what it costs is
taken from the hold, and its charge and the patient's invoice entered), missed by the patient (the
clinic's no-show fee), missed by the provider or cancelled (the hold let go), moved past its
hold's deadline (held again). And every 15 minutes, from the default bus's schedule, the visits
starting within two days are held on their saved cards. A hold the card refused tells the
patient, in time to add another; money taken or given back brings the visit's invoice up to date.
Events carry ids only; the money is the billing desk's."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.services import billing, card_refusals, insurance
from telehealth.observability import logger_for, tracer_for

logger = logger_for("visit-payments")
# The longest an eligibility check may take (the eligibility function's own timeout), with margin.
CHECK_TAKES_UP_TO_MS = 80_000
tracer = tracer_for("visit-payments")


def outcome_of(detail_type: str, detail: dict[str, Any]) -> str:
    """What the visit's end (or move) means for its money."""
    if detail_type == "Appointment.Rescheduled":
        return "rescheduled"
    if detail_type == "Visit.Completed":
        return "completed"
    if detail_type == "Visit.NoShow" and detail.get("absent") == "patient":
        return "no-show"
    if detail_type == "Visit.Cancelled" and detail.get("late_fee") is True:
        return "late-cancellation"
    return "released"  # the provider did not come, or the visit was cancelled: nothing is owed


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if event.get("detail-type") == "Scheduled Event":  # the sweeps: holds, and tomorrow's coverage
        asked, failed = billing().hold_upcoming()
        # Another check only while one more could finish before the function's timeout.
        checked, unchecked = insurance().recheck_upcoming(
            lambda: context.get_remaining_time_in_millis() > CHECK_TAKES_UP_TO_MS
        )
        logger.info(
            "payment holds and coverage swept",
            extra={"asked": asked, "failed": failed, "checked": checked, "unchecked": unchecked},
        )
        return {"asked": asked, "failed": failed, "checked": checked, "unchecked": unchecked}
    detail = event.get("detail", {})
    if event.get("detail-type") == "Coverage.Recorded":  # checked with the payer, off the request
        found = insurance().check(str(detail["patient_id"]))
        outcome = found.check.eligibility.status.value if found and found.check else "none"
        logger.info("coverage checked", extra={"status": outcome})
        return {"status": outcome}
    appointment_id = str(detail["appointment_id"])
    if event.get("detail-type") == "Payment.Failed":  # the patient is told, to fix the card
        told = detail.get("step") == "hold" and card_refusals().tell(appointment_id, int(detail["sequence"]))
        logger.info("card refusal", extra={"appointment_id": appointment_id, "told": told})
        return {"appointment_id": appointment_id, "told": told}
    if event.get("detail-type") in ("Payment.Captured", "Payment.Refunded"):  # the invoice follows
        charge = billing().invoice_paid(appointment_id)
        logger.info("invoice brought up to date", extra={"appointment_id": appointment_id})
        return {
            "appointment_id": appointment_id,
            "invoice": charge.invoice_status.value if charge else "none",
        }
    if event.get("detail-type") == "Appointment.Booked":  # a self-pay patient's estimate
        issued = billing().issue_estimate(appointment_id)
        logger.info("good faith estimate", extra={"appointment_id": appointment_id, "issued": bool(issued)})
        return {"appointment_id": appointment_id, "estimate": issued is not None}
    outcome = outcome_of(str(event.get("detail-type")), detail)
    if outcome == "rescheduled":
        payment = billing().rescheduled(appointment_id)
        billing().issue_estimate(appointment_id)  # the moved visit's own
    elif outcome == "completed":
        try:
            payment = billing().settle(appointment_id, outcome)
        finally:  # entered even when the money failed to move (retried with the event)
            billing().enter_charge(appointment_id)
    else:
        payment = billing().settle(appointment_id, outcome)
    status = payment.status.value if payment is not None else "none"
    logger.info(
        "visit payment settled",
        extra={"appointment_id": appointment_id, "outcome": outcome, "status": status},
    )
    return {"appointment_id": appointment_id, "outcome": outcome, "status": status}
