"""Errors as `application/problem+json` (RFC 9457): a stable `type` per kind of problem, a title,
a detail that says what was wrong without repeating what was submitted, and the request's id as
`instance`, which support finds in the logs.

Only light modules are imported here (the error types, not the services that raise them): the API
function installs this at import time, and a cold start must not load the event models and the
FHIR projection to map errors it may never see.
"""

from __future__ import annotations

import json
import re
import sys
import traceback
import uuid
from collections.abc import Iterable
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from telehealth import api_conventions
from telehealth.application.callers import NotAuthorizedError
from telehealth.application.coverage import CoverageUnavailableError
from telehealth.domain.appointments import AppointmentRuleError
from telehealth.domain.clinic_settings import SettingsError
from telehealth.domain.coverage import CoverageRuleError
from telehealth.domain.join_links import LinkNotYoursError
from telehealth.domain.patients import MergeRefusedError
from telehealth.domain.payments import PaymentRuleError
from telehealth.domain.photo_cases import CaseRuleError
from telehealth.domain.prescriptions import PrescriptionRefusedError, PrescriptionRuleError
from telehealth.domain.questionnaires import QuestionnaireError
from telehealth.domain.scheduling import SchedulingError
from telehealth.errors import (
    DeviceTakenError,
    DexcomLinkError,
    DexcomUnavailableError,
    IdempotencyMismatchError,
    IntakeClosedError,
    LedgerEntryError,
    LicensureError,
    NotEnrolledError,
    NotFoundError,
    ReadingsRefusedError,
    SlotTakenError,
    StaleWriteError,
    TriageUnavailableError,
    VisitChangedError,
)
from telehealth.ports import (
    NoticeRefusedError,
    PaymentRefusedError,
    PaymentsUnavailableError,
    PrescribingUnavailableError,
    SignatureRefusedError,
)

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "/problems/"
FHIR_JSON = api_conventions.FHIR_JSON

# Rule kinds and the HTTP status each answers with.
RULE_STATUS = {
    "late-fee-staff-only": 403,
    "late-fee-not-late": 422,
    "appointment-cancelled": 409,
    "appointment-started": 409,
    "outside-cancellation-window": 409,
    "slot-in-the-past": 409,
    "state-not-served": 422,
    "other-provider": 422,
    "check-in-not-open": 409,
    "check-in-closed": 409,
    "already-checked-in": 409,
    "consent-required": 422,
    "same-slot": 422,
    "appointment-closed": 409,
    "not-checked-in": 409,
    "not-waiting": 409,
    "not-in-meeting": 409,
    "visit-over": 409,
    "link-gone": 410,
    "already-reviewed": 409,
    "referral-not-open": 409,
    "referral-other-patient": 422,
    "not-a-guest": 422,
    "not-a-guest-role": 422,
    "no-estimate": 404,
    "beyond-booking-horizon": 422,
    "service-not-offered": 422,
    "too-many-open-bookings": 409,
    "details-incomplete": 409,
    # The clinician's note.
    "not-the-author": 403,
    "visit-not-seen": 409,
    "note-changed": 409,
    "note-signed": 409,
    "note-not-signed": 409,
    "note-not-saved": 409,
    "note-too-many-amendments": 409,
    "note-too-many-addenda": 409,
    "note-sections": 422,
    "note-too-many-diagnoses": 422,
    "note-duplicate-diagnosis": 422,
    "note-duplicate-observation": 422,
    "note-too-long": 422,
    "note-follow-up": 422,
    "note-amendment-reason": 422,
    "note-amendment-unchanged": 422,
    "note-addendum": 422,
    "note-empty": 422,
    "note-no-diagnosis": 422,
    "unknown-diagnosis": 422,
    "observation-not-confirmed": 422,
    # A patient's allergies and medicines.
    "history-changed": 409,
    "history-too-long": 422,
    "history-duplicate-entry": 422,
    "history-entry": 422,
    "history-entered-in-error": 403,
    "unknown-substance": 422,
    "unknown-drug": 422,
    # Prescriptions.
    "prescription-dispensed": 409,
    "prescription-cancelled": 409,
    "prescription-not-sent": 409,
    "prescription-not-sending": 409,
    "prescription-refused-by-network": 422,
    # From a case of photos: once answered, its answerer's; where the patient lives, not known.
    "case-answered-by-another": 409,
    "not-licensed": 422,
    "unknown-pharmacy": 422,
    # A prescriber's sign-in at the network: taken once, within its window; refused there.
    "link-expired": 409,
    "link-refused": 422,
    "already-linked": 409,
    "unlink-refused": 502,
    "patient-phone-required": 422,
    "sig-required": 422,
    "refills-not-allowed": 422,
    "too-many-refills": 422,
    "idempotency-key-required": 428,
    "dea-registrations": 422,
    "no-such-renewal": 404,
    "renewal-answered": 409,
}

# A JSON body deeper than this is refused before anything walks it. The deepest request the API
# takes (published hours: weekly -> day -> interval) is four levels; 32 leaves room and no more.
MAX_BODY_DEPTH = 32

# Kinds a well-behaved client meets in the course of business (a slot taken, a visit not yet
# open): they are answers, not incidents, so they are not logged. Everything else is.
ROUTINE = frozenset(
    {
        "not-found",
        "slot-taken",
        "conflict",
        "provider-not-licensed",
        "idempotency-key-in-progress",
        "prescription-refused",
        "acknowledge-alerts",
        "readings-refused",
        *RULE_STATUS,
    }
)


def _rule(message: object) -> str:
    """pydantic's message for a field: a validator's own ValueError comes as "Value error, <our
    words>", and the words are what a person reads."""
    return str(message).removeprefix("Value error, ")


def problem(status: int, kind: str, title: str, detail: str | None = None, **extra: Any) -> Response[str]:
    body = {
        "type": PROBLEM_BASE + kind,
        "title": title,
        "status": status,
        **({"detail": detail} if detail else {}),
        **extra,
    }
    return Response(status_code=status, content_type=PROBLEM_JSON, body=json.dumps(body))


def operation_outcome(
    status: int, diagnostics: str, code: str | None = None, *, request: str | None = None
) -> Response[str]:
    """A FHIR error: one issue, `error` (`fatal` for the platform's own failure), with its code and a
    sentence that repeats nothing the client sent; the request's id where support will look."""
    body = api_conventions.operation_outcome(
        status, diagnostics + (f" (request {request})" if request else ""), code
    )
    return Response(status_code=status, content_type=FHIR_JSON, body=json.dumps(body))


_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,40}$")
_WHERE = {"body", "query", "path", "header"}


def _field(location: Iterable[Any]) -> str:
    parts = [str(p) for p in location if p not in _WHERE]
    if all(isinstance(p, int) or _FIELD.match(p) for p in parts):
        return ".".join(parts) or "(request)"
    return "(request body)"


class MalformedBodyError(Exception):
    """The body is not UTF-8 JSON of a sane shape; the message says which, never what was sent."""


def json_body(text: str) -> Any:
    """The resolver's JSON parser: it refuses what the parser or a later encoder would choke on.
    Nesting deep enough to exhaust the stack, and an escaped lone surrogate (valid JSON, but no
    UTF-8 string can hold it, so it would fail at the first write). Not JSON at all is left to the
    route's validation, which answers it where the route takes a body."""
    try:
        value = json.loads(text)
    except RecursionError as error:
        raise MalformedBodyError(f"The body may nest at most {MAX_BODY_DEPTH} levels.") from error
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:  # a loop, not recursion: the point is not to trust the depth
        node, depth = stack.pop()
        if depth > MAX_BODY_DEPTH:
            raise MalformedBodyError(f"The body may nest at most {MAX_BODY_DEPTH} levels.")
        if isinstance(node, dict):
            stack.extend((k, depth) for k in node)
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
        elif isinstance(node, str):
            try:
                node.encode()
            except UnicodeEncodeError as error:
                raise MalformedBodyError("The body holds a string that is not valid Unicode.") from error
    return value


def _body_is_utf8(app: APIGatewayRestResolver) -> bool:
    try:
        _ = app.current_event.decoded_body
    except UnicodeDecodeError:
        return False
    return True


def request_id(app: APIGatewayRestResolver) -> str | None:
    """API Gateway's id of the request (the access log's `requestId`)."""
    return app.current_event.request_context.request_id


def _instance(app: APIGatewayRestResolver) -> dict[str, str]:
    try:
        return {"instance": uuid.UUID(request_id(app) or "").urn}
    except ValueError:  # API Gateway's ids are UUIDs; anything else is not one to hand out
        return {}


def install(app: APIGatewayRestResolver, logger: Logger) -> None:
    """Map every error to its problem, in one shape, with the request id; log what is not routine.
    Anything unforeseen is a 500 problem (and a log line with its type and where it was raised),
    never a crash the gateway turns into a 502."""

    def answer(
        status: int,
        kind: str,
        title: str,
        detail: str | None = None,
        error: BaseException | None = None,
        **extra: Any,
    ) -> Response[str]:
        if status >= 500 or kind not in ROUTINE:
            # Who asked what, and what went wrong, in names only: no message (it may repeat
            # submitted values), no body, no query string; where it was raised, by file and line.
            where = (
                [
                    f"{f.filename.rsplit('/', 2)[-1]}:{f.lineno}"
                    for f in traceback.extract_tb(error.__traceback__)
                ]
                if error
                else []
            )
            log = logger.error if status >= 500 else logger.warning
            event = app.current_event
            log(
                "request refused" if status < 500 else "request failed",
                extra={
                    "status": status,
                    "problem": kind,
                    "error_type": type(error).__name__ if error else None,
                    "route": f"{event.http_method} {event.request_context.resource_path}",
                    "api_request_id": request_id(app),
                    "raised_at": where[-3:],
                },
            )
        if api_conventions.api_of(app.current_event.path) is api_conventions.RestApiKind.FHIR:
            return operation_outcome(
                status, detail if detail and status < 500 else title, request=request_id(app)
            )
        return problem(status, kind, title, detail, **_instance(app), **extra)

    def unforeseen(error: Exception) -> Response[str]:
        # Powertools' idempotency utility (routes under `idempotent.by_record()`) loads with its
        # first use: its errors are mapped here rather than importing it (and boto3) at start-up.
        powertools = sys.modules.get("aws_lambda_powertools.utilities.idempotency.exceptions")
        if powertools is not None and isinstance(error, powertools.IdempotencyValidationError):
            return reused(error)  # Powertools' word for a reused key
        if powertools is not None and isinstance(error, powertools.IdempotencyAlreadyInProgressError):
            return in_progress(error)
        return answer(
            500,
            "internal-error",
            "Something went wrong on our side.",
            "Quote the instance to support.",
            error,
        )

    app.exception_handler(Exception)(unforeseen)

    @app.exception_handler(MalformedBodyError)
    def malformed(error: MalformedBodyError) -> Response[str]:
        return answer(400, "invalid-request", "The request is not valid.", str(error), error)

    @app.exception_handler(UnicodeDecodeError)
    def not_utf8(error: UnicodeDecodeError) -> Response[str]:
        if _body_is_utf8(app):  # then it is ours, not the request's
            return unforeseen(error)
        return answer(400, "invalid-request", "The request is not valid.", "The body must be UTF-8.", error)

    @app.exception_handler(RequestValidationError)
    def invalid(error: RequestValidationError) -> Response[str]:
        # Field locations and pydantic's message only: never the submitted value ("input"), and a
        # location only when it looks like a field name (a malformed body can surface as a "key").
        fields = [
            {"field": _field(e.get("loc", ())), "problem": _rule(e.get("msg", ""))} for e in error.errors()
        ]
        return answer(
            400,
            "invalid-request",
            "The request is not valid.",
            "See `errors` for each field.",
            error,
            errors=fields,
        )

    @app.exception_handler(SchedulingError)
    def scheduling(error: SchedulingError) -> Response[str]:
        return answer(400, "invalid-request", "The request is not valid.", str(error), error)

    @app.exception_handler(SettingsError)
    def setting(error: SettingsError) -> Response[str]:
        return problem(400, "invalid-request", "The request is not valid.", str(error))

    @app.exception_handler(AppointmentRuleError)
    def rule(error: AppointmentRuleError) -> Response[str]:
        return answer(
            RULE_STATUS.get(error.kind, 409),
            error.kind,
            "The clinic's rules do not allow this.",
            str(error),
            error,
        )

    @app.exception_handler(MergeRefusedError)
    def merge_refused(error: MergeRefusedError) -> Response[str]:
        return answer(409, error.code, "These records cannot be merged or parted now.", str(error), error)

    @app.exception_handler(PaymentRuleError)
    def payment_rule(error: PaymentRuleError) -> Response[str]:
        # Money that is not there to move (more refunded than was taken, nothing held): a 409, as
        # the visit's payment stands; `kind` names the rule.
        return answer(409, error.kind, "The visit's payment does not allow this.", str(error), error)

    @app.exception_handler(PaymentRefusedError)
    def payment_refused(error: PaymentRefusedError) -> Response[str]:
        return answer(
            409, "payment-refused", "The card processor refused this.", f"Its reason: {error.code}.", error
        )

    @app.exception_handler(CoverageRuleError)
    def coverage_rule(error: CoverageRuleError) -> Response[str]:
        return answer(422, "coverage-invalid", "The insurance details cannot be checked.", str(error), error)

    @app.exception_handler(CoverageUnavailableError)
    def coverage_unavailable(error: CoverageUnavailableError) -> Response[str]:
        return answer(
            503, "payers-unavailable", "The list of insurers did not load.", "Try again in a moment.", error
        )

    @app.exception_handler(SignatureRefusedError)
    def signature_refused(error: SignatureRefusedError) -> Response[str]:
        # Said the same for every reason (none, forged, stale, no secret set): nothing to probe.
        return answer(400, "signature-refused", "This is not a notice signed by Stripe.", error=error)

    @app.exception_handler(PaymentsUnavailableError)
    def payments_unavailable(error: PaymentsUnavailableError) -> Response[str]:
        # What was asked is kept as pending and finished by the next call: safe to retry.
        return answer(
            503, "payments-unavailable", "Payments are not answering.", "Try again in a moment.", error
        )

    @app.exception_handler(PrescriptionRuleError)
    def prescription_rule(error: PrescriptionRuleError) -> Response[str]:
        return answer(
            RULE_STATUS.get(error.kind, 409),
            error.kind,
            "The prescription cannot go this way.",
            str(error),
            error,
        )

    @app.exception_handler(PrescriptionRefusedError)
    def prescription_refused(error: PrescriptionRefusedError) -> Response[str]:
        # Every finding at once, for the form to show beside its field; the codes still to
        # acknowledge when that is all that stands in the way.
        refused = any(f.severity.value == "refusal" for f in error.findings)
        return answer(
            422,
            "prescription-refused" if refused else "acknowledge-alerts",
            "The prescription was not sent.",
            "A check refused it." if refused else "Acknowledge each warning and alert to send it.",
            error,
            findings=[
                {"code": f.code, "severity": f.severity.value, "message": f.message} for f in error.findings
            ],
            unacknowledged=list(error.unacknowledged),
        )

    @app.exception_handler(PrescribingUnavailableError)
    def prescribing_unavailable(error: PrescribingUnavailableError) -> Response[str]:
        # A send kept as `sending` resumes when the same request is made again (same key).
        return answer(
            503,
            "prescribing-unavailable",
            "The e-prescribing network is not answering.",
            "Try again in a moment.",
            error,
        )

    @app.exception_handler(NoticeRefusedError)
    def notice_refused(error: NoticeRefusedError) -> Response[str]:
        return answer(400, "signature-refused", "This is not a notice signed by the network.", error=error)

    @app.exception_handler(ReadingsRefusedError)
    def readings_refused(error: ReadingsRefusedError) -> Response[str]:
        return answer(
            422,
            "readings-refused",
            "No reading was taken.",
            "See `refused` for each entry's reason.",
            error,
            refused=[{"entry": entry, "reason": reason} for entry, reason in error.refused],
        )

    @app.exception_handler(DexcomLinkError)
    def dexcom_link(error: DexcomLinkError) -> Response[str]:
        return answer(422, "dexcom-link-refused", "The Dexcom account was not connected.", str(error), error)

    @app.exception_handler(DexcomUnavailableError)
    def dexcom_unavailable(error: DexcomUnavailableError) -> Response[str]:
        return answer(
            503, "dexcom-unavailable", "Dexcom is not answering.", "Try again in a few minutes.", error
        )

    @app.exception_handler(QuestionnaireError)
    def questionnaire_answers(error: QuestionnaireError) -> Response[str]:
        return answer(422, "answers-refused", "The answers cannot be taken.", str(error), error)

    @app.exception_handler(CaseRuleError)
    def case_rule(error: CaseRuleError) -> Response[str]:
        refused = ("photo-refused", "too-many-photos", "answer-refused", "needs-sooner", "not-licensed")
        status = 422 if error.code in refused else 409
        return answer(status, error.code, "The case cannot take this.", str(error), error)

    @app.exception_handler(TriageUnavailableError)
    def triage_unavailable(error: TriageUnavailableError) -> Response[str]:
        return answer(
            409,
            "triage-not-signed-off",
            "The symptom check is not available yet.",
            "The clinic's medical director has not signed its rules off. Call the clinic instead.",
            error,
        )

    @app.exception_handler(IntakeClosedError)
    def intake_closed(error: IntakeClosedError) -> Response[str]:
        return answer(409, "intake-ended", "This symptom check has ended.", "Start a new one.", error)

    @app.exception_handler(LedgerEntryError)
    def ledger_entry(error: LedgerEntryError) -> Response[str]:
        return answer(422, "ledger-entry-refused", "The billing ledger cannot take this.", str(error), error)

    @app.exception_handler(NotEnrolledError)
    def not_enrolled(error: NotEnrolledError) -> Response[str]:
        return answer(409, "not-enrolled", "The patient is in no monitoring program.", str(error), error)

    @app.exception_handler(DeviceTakenError)
    def device_taken(error: DeviceTakenError) -> Response[str]:
        return answer(409, "device-registered", "The device is registered already.", str(error), error)

    @app.exception_handler(LicensureError)
    def licensure(error: LicensureError) -> Response[str]:
        # At admission the visit has been stopped by now; the patient is offered to book again.
        return answer(
            422,
            "provider-not-licensed",
            "The provider may not see a patient in that state.",
            str(error),
            error,
            rebook="/v1/slots",
        )

    @app.exception_handler(NotAuthorizedError)
    def forbidden(error: NotAuthorizedError) -> Response[str]:
        return answer(403, "forbidden", "Not allowed.", str(error), error)

    @app.exception_handler(LinkNotYoursError)
    def not_yours(error: LinkNotYoursError) -> Response[str]:
        return answer(403, "link-not-yours", "This join link is not yours.", str(error), error)

    @app.exception_handler(NotFoundError)
    def not_found(error: NotFoundError) -> Response[str]:
        return answer(404, "not-found", "Not found.", error=error)

    @app.not_found
    def no_route(error: Exception) -> Response[str]:
        # A path under a resource API Gateway has ({proxy+}) that no route of the function takes.
        fhir = api_conventions.api_of(app.current_event.path) is api_conventions.RestApiKind.FHIR
        described = f"{api_conventions.FHIR_BASE}/metadata" if fhir else "/openapi.json"
        return answer(404, "no-such-route", "No such route.", f"See {described} for the routes.", error)

    @app.exception_handler(SlotTakenError)
    def taken(error: SlotTakenError) -> Response[str]:
        return answer(
            409, "slot-taken", "Someone else booked this slot first.", "Search again for open slots.", error
        )

    @app.exception_handler(StaleWriteError)
    @app.exception_handler(VisitChangedError)
    def stale(error: Exception) -> Response[str]:
        return answer(409, "conflict", "The record changed meanwhile.", "Read it again and retry.", error)

    def reused(error: Exception) -> Response[str]:
        return answer(
            422,
            "idempotency-key-reused",
            "This Idempotency-Key was used for another request.",
            "Use a new key for a new request.",
            error,
        )

    app.exception_handler(IdempotencyMismatchError)(reused)

    def in_progress(error: Exception) -> Response[str]:
        return answer(
            409,
            "idempotency-key-in-progress",
            "A request with this Idempotency-Key is still being answered.",
            "Retry shortly with the same key.",
            error,
        )
