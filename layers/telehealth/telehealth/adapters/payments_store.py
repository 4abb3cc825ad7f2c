"""A visit's payment, kept with its booking in the clinic table.

| item | pk | sk |
|---|---|---|
| the visit's payment | APPT#<appointment id> | PAYMENT |
| the completed visit's charge and invoice | APPT#<appointment id> | CHARGE |
| a self-pay patient's Good Faith Estimate, per booking version | APPT#<appointment id> | ESTIMATE#v<n> |
| the patient's customer at the card processor | PATIENT#<patient id> | PAYMENT_PROFILE |
| a processor's notice taken (a Stripe event id), kept 30 days | NOTICE#<event id> | NOTICE |

One item per visit: its state, the hold's PaymentIntent id and deadline, the amounts in minor
units, the step pending (with the key it is sent under) and the version each write is conditional
on, so two deliverers of the same visit's step cannot both settle it. A completed visit's charge
is one item beside it (the codes it is billed as, the price, the patient's share, what was paid),
versioned the same way. Each Good Faith Estimate issued is kept as it was issued (never
rewritten: a moved visit gets another), with the patient's name and date of birth it names.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

from telehealth.adapters.dynamo import from_stamp, stamp
from telehealth.adapters.table_store import TableStore
from telehealth.domain.charges import PlaceOfService, VisitCharge
from telehealth.domain.estimates import BillingProvider, EstimatedItem, GoodFaithEstimate
from telehealth.domain.payments import Money, PaymentStatus, PendingStep, Step, VisitPayment
from telehealth.ports import OutboxEntry

# Stripe retries a webhook for three days; a notice is remembered well past that.
NOTICE_MEMORY = timedelta(days=30)


def _key(appointment_id: str) -> tuple[str, str]:
    return f"APPT#{appointment_id}", "PAYMENT"


class DynamoPaymentRecords(TableStore):
    def visit_payment(self, appointment_id: str) -> VisitPayment | None:
        found = self._get(*_key(appointment_id))
        return payment_from(found) if found is not None else None

    def customer_of(self, patient_id: str) -> str | None:
        found = self._get(f"PATIENT#{patient_id}", "PAYMENT_PROFILE")
        return str(found["customer_id"]) if found else None

    def keep_customer(self, patient_id: str, customer_id: str) -> str:
        try:
            self._client.put_item(
                TableName=self.table,
                Item=self._item(
                    {"pk": f"PATIENT#{patient_id}", "sk": "PAYMENT_PROFILE", "customer_id": customer_id}
                ),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            kept = self.customer_of(patient_id)
            assert kept is not None
            return kept
        return customer_id

    def notice_taken(self, event_id: str) -> bool:
        return self._get(f"NOTICE#{event_id}", "NOTICE") is not None

    def claim_notice(self, event_id: str, now: datetime) -> bool:
        try:
            self._client.put_item(
                TableName=self.table,
                Item=self._item(
                    {
                        "pk": f"NOTICE#{event_id}",
                        "sk": "NOTICE",
                        "taken_at": stamp(now),
                        "expires_at": int((now + NOTICE_MEMORY).timestamp()),
                    }
                ),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def forget_notice(self, event_id: str) -> None:
        self._client.delete_item(
            TableName=self.table, Key=self._item({"pk": f"NOTICE#{event_id}", "sk": "NOTICE"})
        )

    def save_payment(self, payment: VisitPayment, outbox: list[OutboxEntry], now: datetime) -> None:
        pk, sk = _key(payment.appointment_id)
        pending = payment.pending
        put: dict[str, Any] = {
            "Put": {
                "TableName": self.table,
                "Item": self._item(
                    {
                        "pk": pk,
                        "sk": sk,
                        "currency": payment.currency,
                        "status": payment.status.value,
                        "customer_id": payment.customer_id,
                        "payment_method_id": payment.payment_method_id,
                        "intent_id": payment.intent_id,
                        "capture_before": stamp(payment.capture_before) if payment.capture_before else None,
                        "held_minor": payment.held_minor,
                        "captured_minor": payment.captured_minor,
                        "refunded_minor": payment.refunded_minor,
                        "holds": payment.holds,
                        "attempts": payment.attempts,
                        "refunds": payment.refunds,
                        "pending": {
                            "step": pending.step.value,
                            "sequence": pending.sequence,
                            "amount_minor": pending.amount_minor,
                            "idempotency_key": pending.idempotency_key,
                            "off_session": pending.off_session,
                        }
                        if pending is not None
                        else None,
                        "failure": payment.failure,
                        "version": payment.version,
                        "updated_at": stamp(now),
                    }
                ),
            }
        }
        self._transact([self._versioned(put, payment.version), *self._outbox_items(outbox, now)], None, set())

    def visit_charge(self, appointment_id: str) -> VisitCharge | None:
        found = self._get(f"APPT#{appointment_id}", "CHARGE")
        return charge_from(found) if found is not None else None

    def save_charge(self, charge: VisitCharge, outbox: list[OutboxEntry], now: datetime) -> None:
        put: dict[str, Any] = {
            "Put": {
                "TableName": self.table,
                "Item": self._item(
                    {
                        "pk": f"APPT#{charge.appointment_id}",
                        "sk": "CHARGE",
                        "patient_id": charge.patient_id,
                        "provider_id": charge.provider_id,
                        "service_type": charge.service_type,
                        "service_name": charge.service_name,
                        "billing_code": charge.billing_code,
                        "place": charge.place.value,
                        "start": stamp(charge.start),
                        "end": stamp(charge.end),
                        "currency": charge.price.currency,
                        "price_minor": charge.price.amount_minor,
                        "share_minor": charge.patient_share.amount_minor,
                        "insured": charge.insured,
                        "visit_version": charge.visit_version,
                        "captured_minor": charge.captured_minor,
                        "refunded_minor": charge.refunded_minor,
                        "entered_at": stamp(charge.entered_at) if charge.entered_at else None,
                        "version": charge.version,
                        "updated_at": stamp(now),
                    }
                ),
            }
        }
        self._transact([self._versioned(put, charge.version), *self._outbox_items(outbox, now)], None, set())


class DynamoEstimates(TableStore):
    def latest_estimate(self, appointment_id: str) -> GoodFaithEstimate | None:
        page = self._client.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :estimate)",
            ExpressionAttributeValues={
                ":pk": {"S": f"APPT#{appointment_id}"},
                ":estimate": {"S": "ESTIMATE#v"},
            },
            ConsistentRead=True,
        )
        issued = [self._plain(i) for i in page.get("Items", [])]
        if not issued:
            return None
        return estimate_from(max(issued, key=lambda i: int(i["appointment_version"])))

    def save_estimate(self, estimate: GoodFaithEstimate, outbox: list[OutboxEntry], now: datetime) -> None:
        """Once per booking version (`StaleWriteError` when it was issued already)."""
        assert estimate.appointment_id and estimate.scheduled_start, "a preview is never kept"
        provider = estimate.billing_provider
        put = {
            "Put": {
                "TableName": self.table,
                "Item": self._item(
                    {
                        "pk": f"APPT#{estimate.appointment_id}",
                        "sk": f"ESTIMATE#v{estimate.appointment_version}",
                        "appointment_version": estimate.appointment_version,
                        "patient_name": estimate.patient_name,
                        "patient_birth_date": estimate.patient_birth_date.isoformat(),
                        "primary_service": estimate.primary_service,
                        "scheduled_start": stamp(estimate.scheduled_start),
                        "clinician": estimate.clinician,
                        "billing_provider": {"name": provider.name, "npi": provider.npi, "tin": provider.tin},
                        "location_state": estimate.location_state,
                        "items": [
                            {
                                "description": i.description,
                                "billing_code": i.billing_code,
                                "amount_minor": i.expected.amount_minor,
                                "currency": i.expected.currency,
                            }
                            for i in estimate.items
                        ],
                        "issued_at": stamp(estimate.issued_at),
                    }
                ),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
        self._transact([put, *self._outbox_items(outbox, now)], None, set())


def estimate_from(p: Mapping[str, Any]) -> GoodFaithEstimate:
    provider = p["billing_provider"]
    return GoodFaithEstimate(
        appointment_id=str(p["pk"]).removeprefix("APPT#"),
        appointment_version=int(p["appointment_version"]),
        patient_name=str(p["patient_name"]),
        patient_birth_date=date.fromisoformat(p["patient_birth_date"]),
        primary_service=str(p["primary_service"]),
        scheduled_start=from_stamp(p["scheduled_start"]),
        clinician=str(p["clinician"]),
        billing_provider=BillingProvider(str(provider["name"]), str(provider["npi"]), str(provider["tin"])),
        location_state=str(p["location_state"]),
        items=tuple(
            EstimatedItem(
                str(i["description"]),
                i.get("billing_code"),
                Money(int(i["amount_minor"]), str(i["currency"])),
            )
            for i in p["items"]
        ),
        issued_at=from_stamp(p["issued_at"]),
    )


def charge_from(p: Mapping[str, Any]) -> VisitCharge:
    currency = str(p["currency"])
    return VisitCharge(
        appointment_id=str(p["pk"]).removeprefix("APPT#"),
        patient_id=str(p["patient_id"]),
        provider_id=str(p["provider_id"]),
        service_type=str(p["service_type"]),
        service_name=str(p["service_name"]),
        billing_code=p.get("billing_code"),
        place=PlaceOfService(p["place"]),
        start=from_stamp(p["start"]),
        end=from_stamp(p["end"]),
        price=Money(int(p["price_minor"]), currency),
        patient_share=Money(int(p["share_minor"]), currency),
        insured=bool(p["insured"]),
        visit_version=int(p["visit_version"]) if p.get("visit_version") is not None else None,
        captured_minor=int(p["captured_minor"]),
        refunded_minor=int(p["refunded_minor"]),
        entered_at=from_stamp(p["entered_at"]) if p.get("entered_at") else None,
        version=int(p["version"]),
    )


def payment_from(p: Mapping[str, Any]) -> VisitPayment:
    pending = p.get("pending")
    return VisitPayment(
        appointment_id=str(p["pk"]).removeprefix("APPT#"),
        currency=str(p["currency"]),
        status=PaymentStatus(p["status"]),
        customer_id=p.get("customer_id"),
        payment_method_id=p.get("payment_method_id"),
        intent_id=p.get("intent_id"),
        capture_before=from_stamp(p["capture_before"]) if p.get("capture_before") else None,
        held_minor=int(p["held_minor"]),
        captured_minor=int(p["captured_minor"]),
        refunded_minor=int(p["refunded_minor"]),
        holds=int(p["holds"]),
        attempts=int(p.get("attempts", 0)),
        refunds=int(p["refunds"]),
        pending=PendingStep(
            step=Step(pending["step"]),
            sequence=int(pending["sequence"]),
            amount_minor=int(pending["amount_minor"]),
            idempotency_key=str(pending["idempotency_key"]),
            off_session=bool(pending["off_session"]),
        )
        if pending
        else None,
        failure=p.get("failure"),
        version=int(p["version"]),
    )
