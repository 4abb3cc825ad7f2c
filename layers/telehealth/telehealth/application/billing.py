"""The clinic's billing desk: what a visit costs, a card saved for it, its payment seen and
refunded, and the money settled when the visit ends (captured), is cancelled (released, or the
clinic's late fee) or is missed (the no-show fee).

The patient saves a card in the portal's form (Stripe.js confirms a SetupIntent, so the card's
number never reaches the platform); the desk checks that setup is theirs and keeps the card on the
visit. A visit the hold's life covers is held at once; a later one is held by its lifecycle two
days before (`hold_due`). Every movement is `VisitPayments`' (exactly once).

A completed visit is entered as a charge (the CPT code the clinic bills its service as, the place
of service the patient gave at check-in, modifier 95) with the patient's invoice (the price, their
share, what their card paid), both projected to the record (`ChargeItem`, `Invoice`); the invoice
follows the money as it moves (a capture settled late, a refund). Claims are the clinic's biller's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from telehealth.application.audit import AuditTrail
from telehealth.application.booking import BookingService, announce
from telehealth.application.callers import Caller, NotAuthorizedError, NotFoundError
from telehealth.application.coverage import InsuranceDesk
from telehealth.application.payments import VisitPayments
from telehealth.domain.appointments import Actor, Appointment, AppointmentRuleError, AppointmentStatus
from telehealth.domain.charges import VisitCharge, place_of_service
from telehealth.domain.coverage import EligibilityStatus
from telehealth.domain.estimates import BillingProvider, EstimatedItem, GoodFaithEstimate, needs_estimate
from telehealth.domain.fhir_access import Interaction
from telehealth.domain.payments import (
    LATER_HOLD_LEAD,
    Money,
    PaymentRuleError,
    PaymentStatus,
    VisitPayment,
    hold_at,
    outlives_hold,
)
from telehealth.domain.visits import notice_when
from telehealth.errors import StaleWriteError
from telehealth.events import ChargeEntered, EstimateIssued
from telehealth.fhir import projection
from telehealth.ports import (
    CardSetup,
    CardSetups,
    ChargeRecords,
    EstimateRecords,
    Notice,
    Notifier,
    OutboxEntry,
    PaymentProfiles,
    PaymentRecords,
    PaymentRefusedError,
    PaymentsUnavailableError,
    VisitFiles,
)

# How many times the invoice is read and written again when its write loses to another.
INVOICE_ATTEMPTS = 3


@dataclass(frozen=True)
class PaymentView:
    """A visit's payment as the patient and the front desk see it."""

    appointment_id: str
    amount_due: Money  # what the visit costs the patient (0: nothing to pay)
    payment: VisitPayment
    hold_at: datetime | None  # when the amount is (or was) to be held; None: nothing to hold
    charge: VisitCharge | None = None  # what the completed visit was billed as; None: not yet


class Billing:
    def __init__(
        self,
        booking: BookingService,
        payments: VisitPayments,
        cards: CardSetups,
        profiles: PaymentProfiles,
        trail: AuditTrail,
        clock: Callable[[], datetime],
        *,
        charges: ChargeRecords,
        visits: VisitFiles,
        estimates: EstimateRecords,
        billed_by: BillingProvider | None = None,
        insurance: InsuranceDesk | None = None,
    ) -> None:
        self.booking, self.payments, self.cards, self.profiles = booking, payments, cards, profiles
        self.trail, self.clock, self.insurance = trail, clock, insurance
        self.charges, self.visits, self.estimates, self.billed_by = charges, visits, estimates, billed_by

    # --- what a visit costs -------------------------------------------------------------------------

    def amount_due(self, appointment: Appointment) -> Money:
        """What the visit costs the patient: their share by the last check of their insurance
        (the co-payment, or the deductible and co-insurance), else the service's price (self-pay);
        nothing where the clinic lists no price for it."""
        price = self.booking.price_of(appointment.service_type)
        if self.insurance is None or not price.amount_minor:
            return price
        return self.insurance.share(appointment.patient_id, price)[0]

    def view(self, caller: Caller, appointment_id: str) -> PaymentView:
        with self.trail.request(caller, Interaction.READ, appointment_id):
            appointment = self._visible(caller, appointment_id)
            self._audit(caller, Interaction.READ, appointment_id)
            return self._view(appointment)

    def paid_for(self, appointment: Appointment) -> bool:
        """Whether the visit's money is secured: it costs nothing, or it is held (or taken). A read
        of the table, no call to Stripe (asked at check-in)."""
        due = self.amount_due(appointment)
        if not due.amount_minor:
            return True
        found = self.payments.records.visit_payment(appointment.appointment_id)
        return found is not None and found.status in (PaymentStatus.HELD, PaymentStatus.CAPTURED)

    # --- a card for the visit -----------------------------------------------------------------------

    def set_up_card(self, caller: Caller) -> CardSetup:
        """A SetupIntent for the portal's card form, under the patient's customer (made once)."""
        caller.require(Actor.PATIENT)
        customer = self.profiles.customer_of(caller.subject)
        if customer is None:
            customer = self.cards.new_customer(f"customer-{caller.subject}")
            customer = self.profiles.keep_customer(caller.subject, customer)
        return self.cards.set_up_card(customer, f"setup-{caller.subject}-{self.clock().timestamp():.0f}")

    def pay_with_card(self, caller: Caller, appointment_id: str, setup_id: str) -> PaymentView:
        """The card the patient's form saved (`setup_id`) becomes the visit's; held at once when
        the hold's life covers the visit."""
        caller.require(Actor.PATIENT)
        with self.trail.request(caller, Interaction.UPDATE, appointment_id):
            appointment = self._visible(caller, appointment_id)
            if appointment.status is not AppointmentStatus.BOOKED or appointment.end <= self.clock():
                raise AppointmentRuleError(
                    "appointment-closed", "Only a booked, upcoming visit takes a card."
                )
            try:
                setup = self.cards.card_of_setup(setup_id)
            except PaymentRefusedError as refused:
                raise NotFoundError("no such card setup") from refused
            if setup.customer_id != self.profiles.customer_of(caller.subject):
                raise NotFoundError("no such card setup")
            if setup.status != "succeeded" or setup.payment_method_id is None:
                raise AppointmentRuleError("card-not-saved", "The card was not saved; enter it again.")
            due = self.amount_due(appointment)
            payment = self.payments.card_saved(
                appointment_id, due.currency, setup.customer_id, setup.payment_method_id
            )
            self._audit(caller, Interaction.UPDATE, appointment_id)
            now = self.clock()
            if due.amount_minor and hold_at(appointment.start, appointment.end, now) <= now:
                payment = self._hold_while_booked(appointment_id, due, off_session=False)
            return PaymentView(appointment_id, due, payment, self._hold_at(appointment, due))

    # --- the front desk -----------------------------------------------------------------------------

    def refund(self, caller: Caller, appointment_id: str, amount_minor: int) -> PaymentView:
        caller.require(Actor.STAFF)
        with self.trail.request(caller, Interaction.UPDATE, appointment_id):
            appointment = self._visible(caller, appointment_id)
            currency = self.payments.payment(appointment_id, self.amount_due(appointment).currency).currency
            self.payments.refund(appointment_id, Money(amount_minor, currency))
            self._audit(caller, Interaction.UPDATE, appointment_id)
            return self._view(appointment)

    # --- settling, as the visit ends ----------------------------------------------------------------

    def hold_due(self, appointment_id: str) -> VisitPayment | None:
        """The lifecycle's step two days before a later visit: hold its amount on the saved card
        (the patient is not there: off session). Nothing without a card or an amount."""
        appointment = self.booking.store.appointment(appointment_id)
        if appointment is None or appointment.status is not AppointmentStatus.BOOKED:
            return None
        due = self.amount_due(appointment)
        payment = self.payments.resume(appointment_id, due.currency)
        if not due.amount_minor or not _awaits_hold(payment):
            return payment
        return self._hold_while_booked(appointment_id, due, off_session=True)

    def _hold_while_booked(self, appointment_id: str, due: Money, *, off_session: bool) -> VisitPayment:
        """Hold, then look again: a visit cancelled meanwhile (its settling found nothing held yet)
        has its hold let go at once, rather than left on the card."""
        held = self.payments.hold(appointment_id, due, off_session=off_session)
        now = self.booking.store.appointment(appointment_id)
        if held.status is PaymentStatus.HELD and (now is None or now.status is not AppointmentStatus.BOOKED):
            return self.payments.release(appointment_id, held.currency)
        return held

    def hold_upcoming(self) -> tuple[int, int]:
        """The sweep: every open visit starting within the later hold's lead whose card is saved
        and nothing held yet is held now (off session), and a step left pending is finished. One
        visit's failure (Stripe down, a write raced) leaves it for the next sweep and stops no
        other. Returns how many were asked for, and how many of those failed."""
        now = self.clock()
        asked = failed = 0
        for appointment in self.booking.store.open_appointments(starting_before=now + LATER_HOLD_LEAD):
            if appointment.start > now:
                found = self.payments.records.visit_payment(appointment.appointment_id)
                if found is not None and (_awaits_hold(found) or found.pending is not None):
                    asked += 1
                    try:
                        self.hold_due(appointment.appointment_id)
                    except (PaymentsUnavailableError, PaymentRuleError, StaleWriteError):
                        failed += 1
        return asked, failed

    def rescheduled(self, appointment_id: str) -> VisitPayment | None:
        """A visit moved past its hold's deadline: the hold is let go, and the visit held again
        when it is due (now, if that is already)."""
        appointment = self.booking.store.appointment(appointment_id)
        if appointment is None or appointment.status is not AppointmentStatus.BOOKED:
            return None
        due = self.amount_due(appointment)
        payment = self.payments.resume(appointment_id, due.currency)
        if not outlives_hold(payment, appointment.end):
            return payment
        released = self.payments.release(appointment_id, payment.currency)
        # Held again off session (the patient is not here), so by the later hold's rule: within
        # its lead of the start; otherwise by the sweep when that comes.
        if due.amount_minor and appointment.start - LATER_HOLD_LEAD <= self.clock():
            return self._hold_while_booked(appointment_id, due, off_session=True)
        return released

    def settle(self, appointment_id: str, outcome: str) -> VisitPayment | None:
        """The visit's money once it is over: `completed` takes what it costs, `no-show` the
        clinic's no-show fee, `late-cancellation` its late fee; anything else (cancelled in time,
        the clinic's own failure) lets the hold go."""
        appointment = self.booking.store.appointment(appointment_id)
        if appointment is None:
            return None
        due = self.amount_due(appointment)
        payment = self.payments.resume(appointment_id, due.currency)
        if payment.status is not PaymentStatus.HELD:
            return payment  # nothing held: nothing to take or let go
        settings = self.booking.clinic_settings()
        if outcome == "completed" and due.currency != payment.currency:
            # The service's price changed currency after the hold: a person decides, not a guess.
            raise PaymentRuleError("other-currency", f"This visit was held in {payment.currency}.")
        take = {
            "completed": due.amount_minor,
            "no-show": settings.no_show_fee_minor if settings.currency == payment.currency else 0,
            "late-cancellation": settings.late_cancellation_fee_minor
            if settings.currency == payment.currency
            else 0,
        }.get(outcome, 0)
        take = min(take, payment.held_minor)
        if take:
            return self.payments.capture(appointment_id, Money(take, payment.currency))
        return self.payments.release(appointment_id, payment.currency)

    # --- the Good Faith Estimate, at booking ----------------------------------------------------------

    def issue_estimate(self, appointment_id: str) -> GoodFaithEstimate | None:
        """A self-pay patient's Good Faith Estimate for the booking as it stands (booked, or moved:
        each version gets its own, kept as issued). None: nothing to estimate (the visit is
        covered by the patient's insurance, costs nothing, or is no longer booked), or it was
        issued already (an event delivered twice)."""
        appointment = self.booking.store.appointment(appointment_id)
        if appointment is None or appointment.status is not AppointmentStatus.BOOKED:
            return None
        if not self._self_pay(appointment.patient_id, appointment.service_type):
            return None
        provider = self.booking.store.provider(appointment.provider_id)
        clinician = (
            f"{provider.profile.given_name} {provider.profile.family_name}" if provider else "Your clinician"
        )
        estimate = self._estimate(
            appointment.patient_id,
            appointment.service_type,
            appointment.patient_state,
            appointment=(appointment_id, appointment.version, appointment.start, clinician),
        )
        if estimate is None:
            return None
        now = estimate.issued_at
        issued = EstimateIssued(appointment_id=appointment_id, version=appointment.version)
        try:
            self.estimates.save_estimate(estimate, [announce(issued, now)], now)
        except StaleWriteError:
            return None  # this version's estimate was issued already
        return estimate

    def estimate(self, caller: Caller, appointment_id: str) -> GoodFaithEstimate:
        """The Good Faith Estimate of the booking as it stands, for the patient and the front desk:
        the one issued for this version of it, issued now where it was not yet (visit-payments
        issues it moments after a booking or a move; a patient whose insurance lapsed since is
        owed one too). For a visit that is over, the last one issued. `NotFoundError` where none
        is owed (the visit is covered by the patient's insurance now, or costs nothing)."""
        with self.trail.request(caller, Interaction.READ, appointment_id):
            appointment = self._visible(caller, appointment_id)
            found = self.estimates.latest_estimate(appointment_id)
            self._audit(caller, Interaction.READ, appointment_id)
            if appointment.status is AppointmentStatus.BOOKED:
                if not self._self_pay(appointment.patient_id, appointment.service_type):
                    raise NotFoundError("no Good Faith Estimate for this visit")
                if found is None or found.appointment_version != appointment.version:
                    # Issued by the event meanwhile, the conditional write says so: read it.
                    found = self.issue_estimate(appointment_id) or self.estimates.latest_estimate(
                        appointment_id
                    )
            if found is None:
                raise NotFoundError("no Good Faith Estimate for this visit")
            return found

    def preview_estimate(self, caller: Caller, service_type: str, state: str) -> GoodFaithEstimate:
        """Before booking: the Good Faith Estimate of a visit of this kind, where the patient will
        be, as it will be issued (less the time and clinician, chosen next). `NotFoundError`
        where none is owed (insured, or free), or the patient has not given their details yet."""
        caller.require(Actor.PATIENT)
        reference = f"Patient/{caller.subject}"
        with self.trail.request(caller, Interaction.READ, reference):
            estimate = (
                self._estimate(caller.subject, service_type, state)
                if self._self_pay(caller.subject, service_type)
                else None
            )
            self.booking.store.record(
                [self.booking.audit(caller, Interaction.READ, [reference], self.clock())]
            )
            if estimate is None:
                raise NotFoundError("no Good Faith Estimate for this kind of visit")
            return estimate

    def _self_pay(self, patient_id: str, service_type: str) -> bool:
        """Whether a visit of this kind has a price the patient pays themselves (no active
        insurance answer)."""
        price = self.booking.price_of(service_type)
        answer = self.insurance.share(patient_id, price)[1] if self.insurance else None
        return needs_estimate(price, answer is not None and answer.status is EligibilityStatus.ACTIVE)

    def _estimate(
        self,
        patient_id: str,
        service_type: str,
        state: str,
        appointment: tuple[str, int, datetime, str] | None = None,
    ) -> GoodFaithEstimate | None:
        """The estimate for the patient, the service and the state, with the booking's id,
        version, start and clinician where there is one. None without the patient's details
        (booking asks for them first) or a billing provider."""
        patient = self.booking.store.patient(patient_id)
        if patient is None or not (patient.given_name and patient.family_name and patient.birth_date):
            return None
        if self.billed_by is None:
            return None
        service = self.booking.settings.services().get(service_type)
        name = service.display if service else service_type
        appointment_id, version, start, clinician = appointment or (None, 0, None, None)
        return GoodFaithEstimate(
            appointment_id=appointment_id,
            appointment_version=version,
            patient_name=f"{patient.given_name} {patient.family_name}",
            patient_birth_date=patient.birth_date,
            primary_service=f"{name}, by video (telehealth)",
            scheduled_start=start,
            clinician=clinician,
            billing_provider=self.billed_by,
            location_state=state,
            items=(
                EstimatedItem(
                    name, service.billing_code if service else None, self.booking.price_of(service_type)
                ),
            ),
            # To the second, as it is kept: the one answered at issue is the one read after.
            issued_at=self.clock().replace(microsecond=0),
        )

    # --- the charge, once the visit is done ---------------------------------------------------------

    def enter_charge(self, appointment_id: str) -> VisitCharge | None:
        """A completed visit's charge and the patient's invoice, entered once (a completion
        delivered again brings the invoice up to date instead). Priced as the clinic prices the
        service now, the patient's share by their last insurance answer (as the capture was); the
        time of service is the call's, where it happened. None: no such appointment."""
        if self.charges.visit_charge(appointment_id) is not None:
            return self.invoice_paid(appointment_id)
        appointment = self.booking.store.appointment(appointment_id)
        if appointment is None:
            return None
        price = self.booking.price_of(appointment.service_type)
        share, answer = price, None
        if self.insurance is not None and price.amount_minor:
            share, answer = self.insurance.share(appointment.patient_id, price)
        service = self.booking.settings.services().get(appointment.service_type)
        file = self.visits.visit_file(appointment_id)
        version = max(file.visits, default=None)
        visit = file.visits[version][0] if version is not None else None
        check_in = file.check_ins.get(version) if version is not None else None
        now = self.clock()
        charge = VisitCharge(
            appointment_id=appointment_id,
            patient_id=appointment.patient_id,
            provider_id=appointment.provider_id,
            service_type=appointment.service_type,
            service_name=service.display if service else appointment.service_type,
            billing_code=service.billing_code if service else None,
            place=place_of_service(check_in.at_home if check_in else None),
            start=(visit.admitted_at if visit else None) or appointment.start,
            end=(visit.ended_at if visit else None) or appointment.end,
            price=price,
            patient_share=share,
            insured=answer is not None and answer.status is EligibilityStatus.ACTIVE,
            visit_version=version,
            entered_at=now,
        ).paid_by(self.payments.records.visit_payment(appointment_id))
        charge = replace(charge, version=1)
        entries = [
            OutboxEntry(projection.charge_item(charge), charge.version),
            OutboxEntry(projection.invoice(charge), charge.version),
            announce(ChargeEntered(appointment_id=appointment_id), now),
        ]
        try:
            self.charges.save_charge(charge, entries, now)
        except StaleWriteError:
            # A twin delivery entered it first (its payment may be older than this one's: bring
            # it up to date), or the write kept losing to others: then nothing is entered, and
            # the event's retry enters it.
            if self.charges.visit_charge(appointment_id) is None:
                raise
            return self.invoice_paid(appointment_id)
        return charge

    def invoice_paid(self, appointment_id: str) -> VisitCharge | None:
        """The invoice brought up to what the visit's card payment took (less refunds), after the
        money moved; nothing written where it says so already. None: no charge entered (a visit
        not completed, or not yet). A write that lost to another (the money's other event, or
        the charge being entered) reads both again and tries once more: the loser may hold the
        newer payment."""
        for attempt in range(INVOICE_ATTEMPTS):
            found = self.charges.visit_charge(appointment_id)
            if found is None:
                return None
            paid = found.paid_by(self.payments.records.visit_payment(appointment_id))
            if paid is found:
                return found
            try:
                self.charges.save_charge(
                    paid, [OutboxEntry(projection.invoice(paid), paid.version)], self.clock()
                )
            except StaleWriteError:
                if attempt == INVOICE_ATTEMPTS - 1:
                    raise  # the event's retry brings it up to date
                continue
            return paid
        raise AssertionError("unreachable")

    # --- helpers -------------------------------------------------------------------------------------

    def _visible(self, caller: Caller, appointment_id: str) -> Appointment:
        if caller.actor is Actor.PROVIDER:
            raise NotAuthorizedError("A visit's payment is the patient's and the front desk's.")
        return self.booking.owned(caller, appointment_id)

    def _view(self, appointment: Appointment) -> PaymentView:
        due = self.amount_due(appointment)
        payment = self.payments.payment(appointment.appointment_id, due.currency)
        charge = self.charges.visit_charge(appointment.appointment_id)
        return PaymentView(appointment.appointment_id, due, payment, self._hold_at(appointment, due), charge)

    def _hold_at(self, appointment: Appointment, due: Money) -> datetime | None:
        if not due.amount_minor:
            return None
        booked = appointment.booked_at or self.clock()
        return hold_at(appointment.start, appointment.end, booked)

    def _audit(self, caller: Caller, interaction: Interaction, appointment_id: str) -> None:
        self.booking.store.record(
            [self.booking.audit(caller, interaction, [f"Appointment/{appointment_id}"], self.clock())]
        )


# Stripe's reasons a card refused a hold that another card (or the patient) can fix; any other
# reason is the clinic's to look into (its function's log says which), not the patient's.
CARD_REFUSALS = frozenset(
    {
        "card_declined",
        "insufficient_funds",
        "expired_card",
        "incorrect_cvc",
        "incorrect_number",
        "card_not_supported",
        "authentication_required",
        "do_not_honor",
        "lost_card",
        "stolen_card",
    }
)


class CardRefusalNotices:
    """Tells the patient, in time to fix it, that their card refused the visit's hold (a hold's
    `Payment.Failed`): by e-mail and text, when the visit is and where to add another card, once
    per refused hold, and not at all once the visit is over, cancelled or paid for another way."""

    def __init__(
        self,
        booking: BookingService,
        records: PaymentRecords,
        notifier: Notifier,
        portal_url: str,
        clock: Callable[[], datetime],
    ) -> None:
        self.booking, self.records, self.notifier = booking, records, notifier
        self.portal_url, self.clock = portal_url, clock

    def tell(self, appointment_id: str, sequence: int) -> bool:
        """Whether the patient was told now (False: nothing to tell, or told before)."""
        now = self.clock()
        appointment = self.booking.store.appointment(appointment_id)
        if (
            appointment is None
            or appointment.status is not AppointmentStatus.BOOKED
            or appointment.start <= now
        ):
            return False
        payment = self.records.visit_payment(appointment_id)
        if payment is None or payment.status is not PaymentStatus.FAILED or payment.holds != sequence:
            return False  # another card since, or a later hold: this refusal is no longer news
        if payment.failure not in CARD_REFUSALS:
            return False  # not the card's doing (the clinic's request): no use asking for another
        patient = self.booking.store.patient(appointment.patient_id)
        if patient is None or not (patient.email or patient.phone):
            return False
        told = f"card-refused-{appointment_id}-{sequence}"
        if not self.records.claim_notice(told, now):
            return False
        # When, and where to fix it: nothing of why the visit is, nor of the card.
        text = (
            f"The card for your video visit on {notice_when(appointment.start, patient.zone or 'UTC')} "
            f"was not accepted. To keep your visit, please add another card under Your visits at "
            f"{self.portal_url}"
        )
        try:
            self.notifier.send(Notice(patient.email, patient.phone, "Your video visit: payment", text))
        except BaseException:
            self.records.forget_notice(told)  # the event's retry tells them
            raise
        return True


def _awaits_hold(payment: VisitPayment) -> bool:
    """A card is on the visit and nothing is held: saved for later, or let go when the visit
    moved past its hold (a card the processor refused waits for the patient instead)."""
    return payment.payment_method_id is not None and payment.status in (
        PaymentStatus.CARD_SAVED,
        PaymentStatus.RELEASED,
    )
