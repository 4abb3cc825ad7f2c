"""The clinic table (DynamoDB, one per tenant): scheduling, licensure, appointments, the outbox.

Key design (access patterns are listed in docs/architecture.md):

| item | pk | sk | gsi1 (pk / sk) | gsi2 (pk / sk) |
|---|---|---|---|---|
| provider profile and availability | PROVIDER#<id> | PROFILE | USER#<sub> / PROVIDER | |
| license or privilege | PROVIDER#<id> | LICENSE#<state>#<no.> | | LICENSED#<state> / PROVIDER#<id>#<no.> |
| booked slot | PROVIDER#<id> | SLOT#<start UTC> | | |
| appointment | APPT#<id> | APPT | PATIENT#<id>#APPTS / <start> | PROVIDER#<id>#APPTS / <start> |
| patient profile | PATIENT#<id> | PROFILE | | |
| idempotency record | IDEMPOTENCY#<caller>#<route>#<key> | IDEMPOTENCY | | |
| outbox entry | OUTBOX#<type>/<id> | V#<source version> | OUTBOX#PENDING / <created>... (pending) | |

A slot is held by the existence of its item: booking puts it on the condition that it does not
exist, inside the same transaction as the appointment, its outbox entries, its audit event and the
idempotency record, so of any number of concurrent attempts exactly one wins.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from telehealth.domain.appointments import Actor, Appointment, AppointmentStatus
from telehealth.domain.licensure import License, LicenseStatus
from telehealth.domain.scheduling import LONGEST_VISIT, Availability, ExtraHours, Interval, cells
from telehealth.domain.visits import CheckIn
from telehealth.fhir.projection import PatientProfile, PractitionerProfile
from telehealth.ports import (
    AlreadyCheckedInError,
    IdempotencyClaim,
    IdempotencyMismatchError,
    IdempotentReplay,
    OutboxEntry,
    ProviderListing,
    ProviderRecord,
    SlotTakenError,
    StaleWriteError,
)

IDEMPOTENCY_TTL = timedelta(hours=24)
DELIVERED_TTL = timedelta(days=30)
PENDING = "OUTBOX#PENDING"


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _moment(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def slot_key(provider_id: str, start: datetime) -> dict[str, Any]:
    return {"pk": f"PROVIDER#{provider_id}", "sk": f"SLOT#{_stamp(start)}"}


def outbox_key(entry: OutboxEntry) -> dict[str, Any]:
    return {"pk": f"OUTBOX#{entry.reference}", "sk": f"V#{entry.source_version:015d}"}


# --- (de)serialising availability ------------------------------------------------------------------


def availability_json(availability: Availability) -> str:
    return json.dumps(
        {
            "weekly": {
                str(d): [[i.start.isoformat(), i.end.isoformat()] for i in v]
                for d, v in availability.weekly.items()
            },
            "days_off": sorted(d.isoformat() for d in availability.days_off),
            "extra": [
                [e.day.isoformat(), e.interval.start.isoformat(), e.interval.end.isoformat()]
                for e in availability.extra
            ],
        }
    )


def availability_from(
    provider_id: str, zone: str, visit_minutes: Mapping[str, int], raw: str
) -> Availability:
    data = json.loads(raw)
    return Availability(
        provider_id=provider_id,
        zone=zone,
        weekly={
            int(d): tuple(Interval(time.fromisoformat(a), time.fromisoformat(b)) for a, b in v)
            for d, v in data["weekly"].items()
        },
        visit_minutes=dict(visit_minutes),
        days_off=frozenset(date.fromisoformat(d) for d in data["days_off"]),
        extra=tuple(
            ExtraHours(date.fromisoformat(d), Interval(time.fromisoformat(a), time.fromisoformat(b)))
            for d, a, b in data["extra"]
        ),
    )


class DynamoClinicStore:
    def __init__(self, table_name: str | None = None, client: Any = None) -> None:
        import boto3
        from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

        self.table = table_name or os.environ["TABLE_NAME"]
        self._client = client or boto3.client("dynamodb")
        self._ser = TypeSerializer()
        self._de = TypeDeserializer()

    # --- plumbing ----------------------------------------------------------------------------------

    def _item(self, values: Mapping[str, Any]) -> dict[str, Any]:
        return {k: self._ser.serialize(v) for k, v in values.items() if v is not None}

    def _plain(self, item: Mapping[str, Any]) -> dict[str, Any]:
        return {k: self._de.deserialize(v) for k, v in item.items()}

    def _query(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        while True:
            page = self._client.query(TableName=self.table, **kwargs)
            for item in page.get("Items", []):
                yield self._plain(item)
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def ping(self) -> None:
        self._client.describe_table(TableName=self.table)

    # --- where a waiting workflow is resumed from --------------------------------------------------

    def put_task_token(self, appointment_id: str, step: str, token: str, expires_at: int) -> None:
        """The token a `.waitForTaskToken` step waits on, kept until the step's deadline."""
        self._client.put_item(
            TableName=self.table,
            Item=self._item(
                {
                    "pk": f"VISIT#{appointment_id}",
                    "sk": f"TASK#{step}",
                    "task_token": token,
                    "expires_at": expires_at,
                }
            ),
        )

    def task_token(self, appointment_id: str, step: str) -> str | None:
        item = self._client.get_item(
            TableName=self.table,
            Key={"pk": {"S": f"VISIT#{appointment_id}"}, "sk": {"S": f"TASK#{step}"}},
            ConsistentRead=True,
        ).get("Item")
        return str(item["task_token"]["S"]) if item else None

    # --- providers -----------------------------------------------------------------------------------

    def put_provider(self, record: ProviderRecord) -> list[dict[str, Any]]:
        """The provider's profile, availability and credentials, as transaction items."""
        p, a = record.profile, record.availability
        items = [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": self._item(
                        {
                            "pk": f"PROVIDER#{p.provider_id}",
                            "sk": "PROFILE",
                            "given_name": p.given_name,
                            "family_name": p.family_name,
                            "specialty": p.specialty,
                            "languages": list(p.languages),
                            "zone": p.zone,
                            "version": p.version,
                            "visit_minutes": dict(a.visit_minutes),
                            "availability": availability_json(a),
                            "user_sub": record.user_sub,
                            "gsi1pk": f"USER#{record.user_sub}",
                            "gsi1sk": "PROVIDER",
                        }
                    ),
                }
            }
        ]
        for lic in record.licenses:
            items.append(
                {
                    "Put": {
                        "TableName": self.table,
                        "Item": self._item(
                            {
                                "pk": f"PROVIDER#{p.provider_id}",
                                "sk": f"LICENSE#{lic.state}#{lic.number}",
                                "state": lic.state,
                                "number": lic.number,
                                "valid_from": lic.valid_from.isoformat(),
                                "valid_until": lic.valid_until.isoformat(),
                                "status": lic.status.value,
                                "compact": lic.compact,
                                # Denormalised for search: one index query finds who may be shown.
                                "specialty": p.specialty,
                                "languages": list(p.languages),
                                "gsi2pk": f"LICENSED#{lic.state}",
                                "gsi2sk": f"PROVIDER#{p.provider_id}#{lic.number}",
                            }
                        ),
                    }
                }
            )
        return items

    def providers_licensed_in(self, state: str) -> list[ProviderListing]:
        seen: dict[str, ProviderListing] = {}
        for item in self._query(
            IndexName="gsi2",
            KeyConditionExpression="gsi2pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"LICENSED#{state}"}},
        ):
            provider_id = item["pk"].removeprefix("PROVIDER#")
            seen[provider_id] = ProviderListing(
                provider_id, item["specialty"], tuple(item.get("languages", []))
            )
        return list(seen.values())

    def provider(self, provider_id: str) -> ProviderRecord | None:
        items = list(
            self._query(
                KeyConditionExpression="pk = :pk AND sk < :slots",
                ExpressionAttributeValues={":pk": {"S": f"PROVIDER#{provider_id}"}, ":slots": {"S": "SLOT#"}},
            )
        )
        profile = next((i for i in items if i["sk"] == "PROFILE"), None)
        if profile is None:
            return None
        licenses = tuple(
            License(
                state=i["state"],
                number=i["number"],
                valid_from=date.fromisoformat(i["valid_from"]),
                valid_until=date.fromisoformat(i["valid_until"]),
                status=LicenseStatus(i["status"]),
                compact=i.get("compact"),
            )
            for i in items
            if i["sk"].startswith("LICENSE#")
        )
        visit_minutes = {k: int(v) for k, v in profile["visit_minutes"].items()}
        return ProviderRecord(
            profile=PractitionerProfile(
                provider_id=provider_id,
                given_name=profile["given_name"],
                family_name=profile["family_name"],
                specialty=profile["specialty"],
                languages=tuple(profile.get("languages", [])),
                zone=profile["zone"],
                version=int(profile["version"]),
            ),
            availability=availability_from(
                provider_id, profile["zone"], visit_minutes, profile["availability"]
            ),
            licenses=licenses,
            user_sub=profile["user_sub"],
        )

    def provider_for_user(self, user_sub: str) -> str | None:
        for item in self._query(
            IndexName="gsi1",
            KeyConditionExpression="gsi1pk = :pk AND gsi1sk = :sk",
            ExpressionAttributeValues={":pk": {"S": f"USER#{user_sub}"}, ":sk": {"S": "PROVIDER"}},
        ):
            return str(item["pk"]).removeprefix("PROVIDER#")
        return None

    def booked_cells(self, provider_id: str, start: datetime, end: datetime) -> set[datetime]:
        """The five-minute cells held by bookings, for slots starting from `start` to `end`."""
        return {
            _moment(item["sk"].removeprefix("SLOT#"))
            for item in self._query(
                KeyConditionExpression="pk = :pk AND sk BETWEEN :a AND :b",
                ExpressionAttributeValues={
                    ":pk": {"S": f"PROVIDER#{provider_id}"},
                    ":a": {"S": f"SLOT#{_stamp(start)}"},
                    ":b": {"S": f"SLOT#{_stamp(end + LONGEST_VISIT)}"},
                },
                ProjectionExpression="sk",
            )
        }

    def _hold(self, a: Appointment, moments: list[datetime]) -> list[dict[str, Any]]:
        return [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": self._item({**slot_key(a.provider_id, m), "appointment_id": a.appointment_id}),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
            for m in moments
        ]

    def _release(self, a: Appointment, moments: list[datetime]) -> list[dict[str, Any]]:
        return [
            {
                "Delete": {
                    "TableName": self.table,
                    "Key": self._item(slot_key(a.provider_id, m)),
                    "ConditionExpression": "appointment_id = :a",
                    "ExpressionAttributeValues": self._item({":a": a.appointment_id}),
                }
            }
            for m in moments
        ]

    def replace_availability(
        self, provider_id: str, availability: Availability, expected_version: int
    ) -> int:
        """New weekly hours and exceptions, if nobody changed them since `expected_version`."""
        try:
            self._client.update_item(
                TableName=self.table,
                Key={"pk": {"S": f"PROVIDER#{provider_id}"}, "sk": {"S": "PROFILE"}},
                UpdateExpression="SET availability = :a, visit_minutes = :m, version = version + :one",
                ConditionExpression="version = :v",
                ExpressionAttributeValues=self._item(
                    {
                        ":a": availability_json(availability),
                        ":m": dict(availability.visit_minutes),
                        ":v": expected_version,
                        ":one": 1,
                    }
                ),
            )
        except self._client.exceptions.ConditionalCheckFailedException as error:
            raise StaleWriteError("availability changed meanwhile") from error
        return expected_version + 1

    # --- patients ------------------------------------------------------------------------------------

    def put_patient(self, profile: PatientProfile) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": self.table,
                "Item": self._item(
                    {
                        "pk": f"PATIENT#{profile.patient_id}",
                        "sk": "PROFILE",
                        "given_name": profile.given_name,
                        "family_name": profile.family_name,
                        "birth_date": profile.birth_date.isoformat(),
                        "home_state": profile.home_state,
                        "zone": profile.zone,
                        "version": profile.version,
                    }
                ),
            }
        }

    def patient(self, patient_id: str) -> PatientProfile | None:
        item = self._client.get_item(
            TableName=self.table, Key={"pk": {"S": f"PATIENT#{patient_id}"}, "sk": {"S": "PROFILE"}}
        ).get("Item")
        if not item:
            return None
        p = self._plain(item)
        return PatientProfile(
            patient_id=patient_id,
            given_name=p["given_name"],
            family_name=p["family_name"],
            birth_date=date.fromisoformat(p["birth_date"]),
            home_state=p["home_state"],
            zone=p["zone"],
            version=int(p["version"]),
        )

    # --- appointments --------------------------------------------------------------------------------

    def _appointment_item(self, a: Appointment) -> dict[str, Any]:
        return self._item(
            {
                "pk": f"APPT#{a.appointment_id}",
                "sk": "APPT",
                "provider_id": a.provider_id,
                "patient_id": a.patient_id,
                "service_type": a.service_type,
                "start": _stamp(a.start),
                "end": _stamp(a.end),
                "patient_state": a.patient_state,
                "status": a.status.value,
                "version": a.version,
                "booked_by": a.booked_by.value,
                "gsi1pk": f"PATIENT#{a.patient_id}#APPTS",
                "gsi1sk": _stamp(a.start),
                "gsi2pk": f"PROVIDER#{a.provider_id}#APPTS",
                "gsi2sk": _stamp(a.start),
            }
        )

    def _appointment_from(self, p: Mapping[str, Any]) -> Appointment:
        return Appointment(
            appointment_id=str(p["pk"]).removeprefix("APPT#"),
            provider_id=p["provider_id"],
            patient_id=p["patient_id"],
            service_type=p["service_type"],
            start=_moment(p["start"]),
            end=_moment(p["end"]),
            patient_state=p["patient_state"],
            status=AppointmentStatus(p["status"]),
            version=int(p["version"]),
            booked_by=Actor(p["booked_by"]),
        )

    def appointment(self, appointment_id: str) -> Appointment | None:
        item = self._client.get_item(
            TableName=self.table,
            Key={"pk": {"S": f"APPT#{appointment_id}"}, "sk": {"S": "APPT"}},
            ConsistentRead=True,
        ).get("Item")
        return self._appointment_from(self._plain(item)) if item else None

    def appointments_of_patient(self, patient_id: str) -> list[Appointment]:
        return [
            self._appointment_from(i)
            for i in self._query(
                IndexName="gsi1",
                KeyConditionExpression="gsi1pk = :pk",
                ExpressionAttributeValues={":pk": {"S": f"PATIENT#{patient_id}#APPTS"}},
            )
        ]

    def appointments_of_provider(self, provider_id: str, start: datetime, end: datetime) -> list[Appointment]:
        return [
            self._appointment_from(i)
            for i in self._query(
                IndexName="gsi2",
                KeyConditionExpression="gsi2pk = :pk AND gsi2sk BETWEEN :a AND :b",
                ExpressionAttributeValues={
                    ":pk": {"S": f"PROVIDER#{provider_id}#APPTS"},
                    ":a": {"S": _stamp(start)},
                    ":b": {"S": _stamp(end)},
                },
            )
        ]

    # --- writes ---------------------------------------------------------------------------------------

    def _outbox_items(self, outbox: list[OutboxEntry], now: datetime) -> list[dict[str, Any]]:
        return [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": self._item(
                        {
                            **outbox_key(entry),
                            "resource": json.dumps(entry.resource),
                            "source_version": entry.source_version,
                            "destination": entry.destination,
                            "status": "pending",
                            "gsi1pk": PENDING,
                            "gsi1sk": f"{_stamp(now)}#{entry.reference}#{entry.source_version}",
                        }
                    ),
                }
            }
            for entry in outbox
        ]

    def _claim_item(self, claim: IdempotencyClaim, now: datetime) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": self.table,
                "Item": self._item(
                    {
                        "pk": f"IDEMPOTENCY#{claim.caller}#{claim.route}#{claim.key}",
                        "sk": "IDEMPOTENCY",
                        "payload_hash": claim.payload_hash,
                        "response": claim.response,
                        "expires_at": int((now + IDEMPOTENCY_TTL).timestamp()),
                    }
                ),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }

    def _transact(self, items: list[dict[str, Any]], claim: IdempotencyClaim | None, taken: set[int]) -> None:
        """Run the transaction; map a failed condition to what it means for the caller."""
        try:
            self._client.transact_write_items(TransactItems=items)
        except self._client.exceptions.TransactionCanceledException as error:
            reasons = [r.get("Code") for r in error.response.get("CancellationReasons", [])]
            failed = {i for i, code in enumerate(reasons) if code == "ConditionalCheckFailed"}
            if claim is not None and len(items) - 1 in failed:
                self._replay(claim)
            if failed & taken:
                raise SlotTakenError("slot is taken") from error
            raise StaleWriteError("the record changed meanwhile") from error

    def _replay(self, claim: IdempotencyClaim) -> None:
        item = self._client.get_item(
            TableName=self.table,
            Key={
                "pk": {"S": f"IDEMPOTENCY#{claim.caller}#{claim.route}#{claim.key}"},
                "sk": {"S": "IDEMPOTENCY"},
            },
            ConsistentRead=True,
        ).get("Item")
        if item is None:  # expired between the attempt and this read: let the caller retry
            raise StaleWriteError("idempotency record vanished")
        stored = self._plain(item)
        if stored["payload_hash"] != claim.payload_hash:
            raise IdempotencyMismatchError("key reused with another request")
        raise IdempotentReplay(stored["response"])

    def book(
        self, appointment: Appointment, outbox: list[OutboxEntry], claim: IdempotencyClaim | None
    ) -> None:
        now = datetime.now(UTC)
        held = self._hold(appointment, cells(appointment.start, appointment.end))
        items: list[dict[str, Any]] = [
            *held,
            {
                "Put": {
                    "TableName": self.table,
                    "Item": self._appointment_item(appointment),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            *self._outbox_items(outbox, now),
        ]
        if claim is not None:
            items.append(self._claim_item(claim, now))
        self._transact(items, claim, taken=set(range(len(held))))

    def change(
        self,
        before: Appointment,
        after: Appointment,
        outbox: list[OutboxEntry],
        claim: IdempotencyClaim | None,
    ) -> None:
        """Cancel or move: the appointment at its next version, the slot released and (when moved)
        the new one taken, all conditional on nobody having changed the appointment meanwhile."""
        now = datetime.now(UTC)
        before_cells = cells(before.start, before.end)
        after_cells = cells(after.start, after.end) if after.status is AppointmentStatus.BOOKED else []
        items: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": self._appointment_item(after),
                    "ConditionExpression": "version = :v AND #s = :booked",
                    "ExpressionAttributeNames": {"#s": "status"},
                    "ExpressionAttributeValues": self._item({":v": before.version, ":booked": "booked"}),
                }
            },
            # Cells it keeps (a move by less than its length) are neither released nor taken again.
            *self._release(before, [c for c in before_cells if c not in after_cells]),
        ]
        held = self._hold(after, [c for c in after_cells if c not in before_cells])
        taken = set(range(len(items), len(items) + len(held)))
        items += held
        items += self._outbox_items(outbox, now)
        if claim is not None:
            items.append(self._claim_item(claim, now))
        self._transact(items, claim, taken=taken)

    def record_check_in(self, check_in: CheckIn, version: int, outbox: list[OutboxEntry]) -> None:
        """The check-in (once per appointment version: a moved visit is checked in anew) with its
        consents, audit event and announcement."""
        now = datetime.now(UTC)
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self.table,
                            "Item": self._item(
                                {
                                    "pk": f"APPT#{check_in.appointment_id}",
                                    "sk": f"CHECKIN#v{version}",
                                    "at": _stamp(check_in.at),
                                    "state": check_in.state,
                                    "emergency_contact": check_in.emergency_contact,
                                    "consents_to_telehealth": check_in.consents_to_telehealth,
                                    "consents_to_recording": check_in.consents_to_recording,
                                }
                            ),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    *self._outbox_items(outbox, now),
                ]
            )
        except self._client.exceptions.TransactionCanceledException as error:
            reasons = [r.get("Code") for r in error.response.get("CancellationReasons", [])]
            if reasons and reasons[0] == "ConditionalCheckFailed":
                raise AlreadyCheckedInError("checked in already") from error
            raise StaleWriteError("the check-in could not be written; retry") from error

    def write(self, items: list[dict[str, Any]]) -> None:
        """Seed and admin writes (a provider, a patient) with their outbox entries."""
        for chunk in range(0, len(items), 100):
            self._client.transact_write_items(TransactItems=items[chunk : chunk + 100])

    def outbox_items(self, outbox: list[OutboxEntry]) -> list[dict[str, Any]]:
        return self._outbox_items(outbox, datetime.now(UTC))

    def record(self, outbox: list[OutboxEntry]) -> None:
        """Read audits and other facts that change no record: outbox entries on their own, in
        transactions of at most 100 items (DynamoDB's limit)."""
        items = self._outbox_items(outbox, datetime.now(UTC))
        for chunk in range(0, len(items), 100):
            self._client.transact_write_items(TransactItems=items[chunk : chunk + 100])

    # --- the outbox ------------------------------------------------------------------------------------

    def pending_outbox(self, older_than: datetime, limit: int) -> Iterator[OutboxEntry]:
        query = self._query(
            IndexName="gsi1",
            KeyConditionExpression="gsi1pk = :pk AND gsi1sk < :before",
            ExpressionAttributeValues={":pk": {"S": PENDING}, ":before": {"S": _stamp(older_than)}},
            Limit=limit,
        )
        for count, item in enumerate(query):
            if count >= limit:
                return
            yield entry_from_item(item)

    def mark_rejected(self, entry: OutboxEntry, codes: tuple[str, ...]) -> None:
        """Out of the pending index, kept (no TTL) with the store's issue codes, for a person."""
        with contextlib.suppress(self._client.exceptions.ConditionalCheckFailedException):
            self._client.update_item(
                TableName=self.table,
                Key=self._item(outbox_key(entry)),
                UpdateExpression="SET #s = :rejected, issue_codes = :codes REMOVE gsi1pk, gsi1sk",
                ConditionExpression="#s = :pending",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=self._item(
                    {":rejected": "rejected", ":pending": "pending", ":codes": list(codes) or ["unknown"]}
                ),
            )

    def mark_delivered(self, entry: OutboxEntry) -> None:
        # A failed condition means the other path (stream or sweeper) delivered it first.
        with contextlib.suppress(self._client.exceptions.ConditionalCheckFailedException):
            self._client.update_item(
                TableName=self.table,
                Key=self._item(outbox_key(entry)),
                UpdateExpression="SET #s = :delivered, expires_at = :ttl REMOVE gsi1pk, gsi1sk",
                ConditionExpression="#s = :pending",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=self._item(
                    {
                        ":delivered": "delivered",
                        ":pending": "pending",
                        ":ttl": int((datetime.now(UTC) + DELIVERED_TTL).timestamp()),
                    }
                ),
            )


def entry_from_item(item: Mapping[str, Any]) -> OutboxEntry:
    """An outbox entry from a plain (deserialised) item, as the sweeper and the stream see it."""
    return OutboxEntry(
        resource=json.loads(item["resource"]),
        source_version=int(item["source_version"]),
        destination=str(item.get("destination", "fhir")),
    )
