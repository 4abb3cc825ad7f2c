"""A visit's payment: what it costs, the card the patient saves for it (through Stripe.js in the
portal: the card's number never reaches the platform), its state for the patient and the front
desk, and refunds. Only tenants with payments on have these routes (infra/topology.py)."""

from __future__ import annotations

import os
import re
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Literal

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import Field

from functions.api import context, idempotent
from functions.api.contract import PAYMENTS, answers
from functions.api.routes.scheduling import AppointmentId, _Model
from telehealth.adapters.payments import NOTICE_MAX_BYTES
from telehealth.api_conventions import STRIPE_WEBHOOK
from telehealth.domain.charges import TELEHEALTH_MODIFIER
from telehealth.domain.clinic_settings import MAX_PRICE_MINOR
from telehealth.ports import SignatureRefusedError

if TYPE_CHECKING:
    from telehealth.application.billing import PaymentView
    from telehealth.domain.estimates import GoodFaithEstimate

router = Router()  # type: ignore[no-untyped-call]  # Powertools leaves __init__ unannotated

# `t=<unix time>,v1=<hex>[,v1=...][,v0=...]`: anything else is not Stripe's, and is refused before
# the payments function is asked.
_SIGNATURE_SHAPE = re.compile(r"^t=\d{1,12}(,v\d=[0-9a-f]{1,128}){1,8}$")

# Ids Stripe gives (`seti_...`), as the portal's form hands them back.
StripeId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_]{1,255}$")]


class CardSetupOut(_Model):
    setup_id: str = Field(description="The SetupIntent the portal's card form confirms")
    client_secret: str = Field(description="For Stripe.js alone: it confirms the setup with the card")
    publishable_key: str = Field(description="The clinic's Stripe publishable key, for Stripe.js")


class CardIn(_Model):
    setup_id: StripeId = Field(description="The SetupIntent the card form confirmed")


class RefundIn(_Model):
    amount_minor: Annotated[int, Field(gt=0, le=MAX_PRICE_MINOR)] = Field(
        description="How much to give back, in minor units of the visit's currency"
    )


class NoticeOut(_Model):
    received: Literal["taken", "repeat", "ignored"] = Field(
        description="Acted on; a redelivery of one taken before; or nothing of a visit's payment"
    )


class ChargeOut(_Model):
    billing_code: str | None = Field(description="The CPT or HCPCS code billed (null: the service has none)")
    modifier: str = Field(description="95: real-time audio and video")
    place_of_service: Literal["02", "10"] = Field(description="10: the patient's home; 02: elsewhere")
    invoice_status: Literal["issued", "balanced"] = Field(description="balanced: paid, or nothing owed")
    owed_minor: int = Field(description="The patient's share, less refunds")
    paid_minor: int = Field(description="What the card paid, less refunds")


class PaymentOut(_Model):
    appointment_id: str
    amount_due_minor: int = Field(description="What the visit costs the patient (0: nothing to pay)")
    currency: str
    status: Literal["none", "card-saved", "held", "captured", "released", "failed"]
    held_minor: int
    captured_minor: int
    refunded_minor: int
    hold_at: datetime | None = Field(description="When the amount is (or was) held on the card")
    capture_before: datetime | None = Field(description="The hold lapses after this")
    failure: str | None = Field(description="Stripe's reason the card refused (card_declined, ...)")
    settling: bool = Field(description="A step is on its way to Stripe")
    charge: ChargeOut | None = Field(
        default=None, description="What the completed visit was billed as, and its invoice (null: not yet)"
    )


def payment_out(view: PaymentView) -> PaymentOut:
    p, c = view.payment, view.charge
    return PaymentOut(
        appointment_id=view.appointment_id,
        amount_due_minor=view.amount_due.amount_minor,
        currency=view.amount_due.currency,
        status=p.status.value,
        held_minor=p.held_minor,
        captured_minor=p.captured_minor,
        refunded_minor=p.refunded_minor,
        hold_at=view.hold_at,
        capture_before=p.capture_before,
        failure=p.failure,
        settling=p.pending is not None,
        charge=ChargeOut(
            billing_code=c.billing_code,
            modifier=TELEHEALTH_MODIFIER,
            place_of_service=c.place.value,
            invoice_status=c.invoice_status.value,
            owed_minor=c.owed_minor,
            paid_minor=c.paid_minor,
        )
        if c is not None
        else None,
    )


@router.post(
    "/v1/payments/card-setups",
    summary="Start saving a card (patients): what Stripe.js needs to confirm it",
    tags=[PAYMENTS],
    # A retry is the same setup; the kept answer is sealed, as it carries the setup's secret.
    middlewares=[idempotent.by_record(sealed=("client_secret",))],
    **answers(503, idempotent=True, feature="payments"),
)
def set_up_card() -> CardSetupOut:
    setup = context.billing().set_up_card(context.caller(router))
    assert setup.client_secret is not None
    return CardSetupOut(
        setup_id=setup.setup_id,
        client_secret=setup.client_secret,
        publishable_key=os.environ.get("PAYMENTS_PUBLISHABLE_KEY", ""),
    )


@router.get(
    "/v1/appointments/<appointment_id>/payment",
    summary="A visit's payment: what it costs and where its money stands",
    tags=[PAYMENTS],
    **answers(404, feature="payments"),
)
def visit_payment(appointment_id: AppointmentId) -> PaymentOut:
    return payment_out(context.billing().view(context.caller(router), appointment_id))


class EstimatedItemOut(_Model):
    description: str
    billing_code: str | None = Field(description="The CPT or HCPCS code it is billed as")
    expected_minor: int = Field(description="The expected charge, in minor units")
    currency: str


class BillingProviderOut(_Model):
    name: str
    npi: str
    tin: str = Field(description="The clinic's taxpayer identification number (EIN)")


class EstimateOut(_Model):
    """A Good Faith Estimate (45 CFR 149.610) as it was issued."""

    appointment_id: str | None = Field(description="Null before booking (a preview)")
    patient_name: str
    patient_birth_date: date
    primary_service: str
    scheduled_start: datetime | None = Field(description="Null before booking (a preview)")
    clinician: str | None = Field(description="Null before booking (a preview)")
    billing_provider: BillingProviderOut
    location_state: str = Field(description="Where the care is furnished: the patient's state for the visit")
    items: list[EstimatedItemOut]
    total_minor: int
    currency: str
    issued_at: datetime
    disclaimers: list[str]


@router.get(
    "/v1/appointments/<appointment_id>/estimate",
    summary="A self-pay visit's Good Faith Estimate, as issued at booking (the patient's and the desk's)",
    tags=[PAYMENTS],
    **answers(404, feature="payments"),
)
def good_faith_estimate(appointment_id: AppointmentId) -> EstimateOut:
    """404 also where none was issued: the visit is covered by insurance, or costs nothing."""
    return estimate_out(context.billing().estimate(context.caller(router), appointment_id))


@router.get(
    "/v1/estimates/preview",
    summary="Before booking: the Good Faith Estimate of a visit of this kind (self-pay patients)",
    tags=[PAYMENTS],
    **answers(404, feature="payments"),
)
def preview_estimate(
    state: Annotated[str, Query(pattern=r"^[A-Z]{2}$", description="USPS code of where the patient will be")],
    service_type: Annotated[str, Query(pattern=r"^[a-z][a-z0-9-]{1,30}$")] = "general",
) -> EstimateOut:
    """As it will be issued with the booking, less its time and clinician (chosen next). 404
    where none is owed (the patient's insurance covers it, or it costs nothing), or before the
    patient has given their details."""
    return estimate_out(context.billing().preview_estimate(context.caller(router), service_type, state))


def estimate_out(found: GoodFaithEstimate) -> EstimateOut:
    provider, total = found.billing_provider, found.total
    return EstimateOut(
        appointment_id=found.appointment_id,
        patient_name=found.patient_name,
        patient_birth_date=found.patient_birth_date,
        primary_service=found.primary_service,
        scheduled_start=found.scheduled_start,
        clinician=found.clinician,
        billing_provider=BillingProviderOut(name=provider.name, npi=provider.npi, tin=provider.tin),
        location_state=found.location_state,
        items=[
            EstimatedItemOut(
                description=i.description,
                billing_code=i.billing_code,
                expected_minor=i.expected.amount_minor,
                currency=i.expected.currency,
            )
            for i in found.items
        ],
        total_minor=total.amount_minor,
        currency=total.currency,
        issued_at=found.issued_at,
        disclaimers=list(found.disclaimers),
    )


@router.put(
    "/v1/appointments/<appointment_id>/payment/card",
    summary="Pay for a visit with the card the form saved (patients): held now if the visit is soon",
    tags=[PAYMENTS],
    # A retry gets the first answer, not the 409 its own hold made true.
    middlewares=[idempotent.by_record()],
    **answers(404, 409, 422, 503, idempotent=True, feature="payments"),
)
def pay_with_card(appointment_id: AppointmentId, request: CardIn) -> PaymentOut:
    view = context.billing().pay_with_card(context.caller(router), appointment_id, request.setup_id)
    return payment_out(view)


@router.post(
    "/v1/appointments/<appointment_id>/payment/refunds",
    summary="Refund part or all of what a visit took (staff)",
    tags=[PAYMENTS],
    # A retry after a timeout is the same refund, not a second one.
    middlewares=[idempotent.by_record()],
    **answers(404, 409, 422, 503, idempotent=True, feature="payments"),
)
def refund(appointment_id: AppointmentId, request: RefundIn) -> PaymentOut:
    return payment_out(context.billing().refund(context.caller(router), appointment_id, request.amount_minor))


@router.post(
    STRIPE_WEBHOOK,
    summary="Stripe's webhook (no token: its Stripe-Signature is checked, and the hold re-read)",
    description="The one route without a token. The signature over the raw body, with its timestamp "
    "no older than five minutes, is checked by the payments function with the tenant's signing "
    "secret; an event is taken once by its id; and what is acted on is the PaymentIntent re-read "
    "from Stripe, never the event's copy, so events may come twice, late or out of order. A 5xx "
    "answer (Stripe or the table busy) has Stripe deliver it again.",
    tags=[PAYMENTS],
    **answers(400, 409, 503, feature="payments"),
)
def stripe_notice() -> NoticeOut:
    event = router.current_event
    signature = event.get_header_value("Stripe-Signature", case_sensitive=False) or ""
    body = event.decoded_body or ""
    if not _SIGNATURE_SHAPE.match(signature) or len(body.encode()) > NOTICE_MAX_BYTES:
        raise SignatureRefusedError("no signature of Stripe's shape")  # refused without asking Stripe
    return NoticeOut(received=context.payment_notices().receive(body, signature))  # type: ignore[arg-type]
