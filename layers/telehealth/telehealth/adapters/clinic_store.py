"""The clinic table (DynamoDB, one per tenant): scheduling, licensure, appointments, the outbox.

Key design (access patterns are listed in docs/architecture.md):

| item | pk | sk | gsi1 (pk / sk) | gsi2 (pk / sk) |
|---|---|---|---|---|
| provider profile and availability | PROVIDER#<id> | PROFILE | USER#<sub> / PROVIDER | |
| license or privilege | PROVIDER#<id> | LICENSE#<state>#<no.> | | LICENSED#<state> / PROVIDER#<id>#<no.> |
| booked hour (its five-minute cells) | PROVIDER#<id> | SLOT#<hour UTC> | | |
| appointment | APPT#<id> | APPT | PATIENT#<id>#APPTS / <start> | PROVIDER#<id>#APPTS / <start> |
| (while it is open, also) | | | gsi3: OPEN#<shard> / <start>#<id> | |
| patient profile | PATIENT#<id> | PROFILE | | |
| idempotency record | IDEMPOTENCY#<caller>#<route>#<key> | IDEMPOTENCY | | |

A booking holds the five-minute cells its visit covers. Cells live as attributes of one item per
provider and UTC hour (`c05` is the cell at minute 5, its value the appointment id), so a visit of
any length touches at most five items and a move of the longest visit stays one transaction far
below DynamoDB's 100 actions. Holding sets the cells on the condition that none exists, inside the
same transaction as the appointment, its outbox entries, its audit event and the idempotency
record, so of any number of concurrent attempts exactly one wins.

The open-visits index (gsi3) is sparse: an appointment carries its keys while it is booked, and
the write that closes it (cancelled, fulfilled, a no-show) drops them. Its partition is one of
`OPEN_SHARDS`, by a stable hash of the appointment id, so bookings spread their index writes;
the visit reconciler reads every shard.
"""

from __future__ import annotations

import json
import random
import time as clock
import zlib
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from telehealth.adapters.dynamo import DynamoTable, stamp
from telehealth.adapters.outbox_store import DynamoOutbox, entry_from_item
from telehealth.domain.appointments import Actor, Appointment, AppointmentStatus
from telehealth.domain.join_links import IssuedLink, LinkState
from telehealth.domain.licensure import License, LicenseStatus
from telehealth.domain.scheduling import LONGEST_VISIT, Availability, ExtraHours, Interval, cells
from telehealth.domain.visits import CheckIn, Role, Visit, VisitState
from telehealth.domain.vitals import Reading, ReadingStatus, VisitVitals, VitalSign
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
    StoredCheckIn,
    StoredOutboxEntry,
    StoredVisit,
    StoredVitals,
    TableRecord,
    VisitChangedError,
    VisitFile,
)

IDEMPOTENCY_TTL = timedelta(hours=24)
HOUR_ITEM_KEPT = timedelta(days=7)
# A transaction that lost a race for an item to another one in flight (TransactionConflict) is
# tried again this many times, with jittered back-off, before the caller hears "conflict".
CONFLICT_RETRIES = 4
# The open-visits index's partitions: each takes a thousand index writes a second, far above a
# clinic's bookings, so a few are headroom. Fixed: changing it moves every open appointment's keys.
OPEN_SHARDS = 4


def _moment(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def open_key(shard: int) -> str:
    return f"OPEN#{shard}"


def open_shard(appointment_id: str) -> str:
    """The open-visits index partition of an appointment (crc32: the same in every process)."""
    return open_key(zlib.crc32(appointment_id.encode()) % OPEN_SHARDS)


def hour_key(provider_id: str, moment: datetime) -> dict[str, Any]:
    """The item holding the booked cells of one provider's UTC hour."""
    return {"pk": f"PROVIDER#{provider_id}", "sk": f"SLOT#{moment.astimezone(UTC):%Y-%m-%dT%H}"}


def _cell(moment: datetime) -> str:
    """The attribute of a five-minute cell in its (UTC) hour's item."""
    return f"c{moment.astimezone(UTC).minute:02d}"


def cells_held(item: Mapping[str, Any]) -> dict[datetime, str]:
    """A booked-hour item's cells: when each starts, and the appointment holding it."""
    try:
        hour = datetime.strptime(str(item["sk"]), "SLOT#%Y-%m-%dT%H").replace(tzinfo=UTC)
    except ValueError:  # not an hour's item
        return {}
    return {
        hour.replace(minute=int(name[1:])): str(value)
        for name, value in item.items()
        if len(name) == 3 and name[0] == "c" and name[1:].isdigit()
    }


def _by_hour(moments: Sequence[datetime]) -> dict[datetime, list[datetime]]:
    hours: dict[datetime, list[datetime]] = {}
    for moment in moments:
        hour = moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        hours.setdefault(hour, []).append(moment)
    return hours


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


class DynamoClinicStore(DynamoTable):
    def __init__(self, table_name: str | None = None, client: Any = None) -> None:
        super().__init__(table_name, client)
        self._outbox = DynamoOutbox(self.table, self._client)

    def ping(self) -> None:
        self._client.describe_table(TableName=self.table)

    # --- where a waiting workflow is resumed from --------------------------------------------------

    def put_task_token(self, appointment_id: str, step: str, token: str, expires_at: int) -> None:
        """The token a `.waitForTaskToken` step waits on, kept until the step's deadline. It lives
        in the appointment's partition, so the one query that reads a visit also finds it."""
        self._client.put_item(
            TableName=self.table,
            Item=self._item(
                {
                    "pk": f"APPT#{appointment_id}",
                    "sk": f"TASK#{step}",
                    "task_token": token,
                    "expires_at": expires_at,
                }
            ),
        )

    def task_token(self, appointment_id: str, step: str) -> str | None:
        return self.visit_file(appointment_id).tokens.get(step)

    # --- reminders that went out ---------------------------------------------------------------------

    def record_reminder(
        self, appointment_id: str, version: int, reminder: str, at: datetime, outbox: list[OutboxEntry]
    ) -> bool:
        """A reminder sent, kept in the visit's partition (a lifecycle started again finds it and
        does not send it twice), with its announcement, once: False when it was recorded already."""
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self.table,
                            "Item": self._item(
                                {
                                    "pk": f"APPT#{appointment_id}",
                                    "sk": f"REMINDER#v{version}#{reminder}",
                                    "version": version,
                                    "reminder": reminder,
                                    "sent_at": stamp(at),
                                }
                            ),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    *self._outbox_items(outbox, at),
                ]
            )
        except self._client.exceptions.TransactionCanceledException as error:
            reasons = [r.get("Code") for r in error.response.get("CancellationReasons", [])]
            if reasons and reasons[0] == "ConditionalCheckFailed":
                return False
            raise
        return True

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
        return self._provider_from(profile, [i for i in items if i["sk"].startswith("LICENSE#")])

    def _provider_from(
        self, profile: Mapping[str, Any], licensed: Sequence[Mapping[str, Any]]
    ) -> ProviderRecord:
        provider_id = str(profile["pk"]).removeprefix("PROVIDER#")
        licenses = tuple(
            License(
                state=i["state"],
                number=i["number"],
                valid_from=date.fromisoformat(i["valid_from"]),
                valid_until=date.fromisoformat(i["valid_until"]),
                status=LicenseStatus(i["status"]),
                compact=i.get("compact"),
            )
            for i in licensed
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
        found: set[datetime] = set()
        for item in self._query(
            KeyConditionExpression="pk = :pk AND sk BETWEEN :a AND :b",
            ExpressionAttributeValues={
                ":pk": {"S": f"PROVIDER#{provider_id}"},
                ":a": {"S": hour_key(provider_id, start)["sk"]},
                ":b": {"S": hour_key(provider_id, end + LONGEST_VISIT)["sk"]},
            },
        ):
            found |= set(cells_held(item))
        return found

    def _cells(
        self, provider_id: str, appointment_id: str, *, hold: Sequence[datetime], release: Sequence[datetime]
    ) -> tuple[list[dict[str, Any]], set[int]]:
        """One conditional update per UTC hour touched: a cell is held only if free and released
        only if this appointment's. Returns the items and the positions of those that hold (a
        failed condition there means someone else has the slot)."""
        held, released = _by_hour(hold), _by_hour(release)
        items: list[dict[str, Any]] = []
        holding: set[int] = set()
        for hour in sorted(held.keys() | released.keys()):
            taking = [_cell(m) for m in held.get(hour, [])]
            freeing = [_cell(m) for m in released.get(hour, [])]
            # The hour's item leaves the table a week after the hour: nobody books the past.
            clauses = [f"SET {', '.join([*(f'#{c} = :a' for c in taking), 'expires_at = :gone'])}"]
            clauses.append(f"REMOVE {', '.join(f'#{c}' for c in freeing)}" if freeing else "")
            if taking:
                holding.add(len(items))
            items.append(
                {
                    "Update": {
                        "TableName": self.table,
                        "Key": self._item(hour_key(provider_id, hour)),
                        "UpdateExpression": " ".join(c for c in clauses if c),
                        "ConditionExpression": " AND ".join(
                            [f"attribute_not_exists(#{c})" for c in taking] + [f"#{c} = :a" for c in freeing]
                        ),
                        "ExpressionAttributeNames": {f"#{c}": c for c in taking + freeing},
                        "ExpressionAttributeValues": self._item(
                            {":a": appointment_id, ":gone": int((hour + HOUR_ITEM_KEPT).timestamp())}
                        ),
                    }
                }
            )
        return items, holding

    def _replace_booked(self, before: Appointment, after: Appointment) -> dict[str, Any]:
        """The appointment's next version, on the condition that it is still booked at `before`."""
        return {
            "Put": {
                "TableName": self.table,
                "Item": self._appointment_item(after),
                "ConditionExpression": "version = :v AND #s = :booked",
                "ExpressionAttributeNames": {"#s": "status"},
                "ExpressionAttributeValues": self._item({":v": before.version, ":booked": "booked"}),
            }
        }

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
                        "email": profile.email,
                        "phone": profile.phone,
                    }
                ),
            }
        }

    def patient(self, patient_id: str) -> PatientProfile | None:
        item = self._client.get_item(
            TableName=self.table, Key={"pk": {"S": f"PATIENT#{patient_id}"}, "sk": {"S": "PROFILE"}}
        ).get("Item")
        return self._patient_from(self._plain(item)) if item else None

    def _patient_from(self, p: Mapping[str, Any]) -> PatientProfile:
        return PatientProfile(
            patient_id=str(p["pk"]).removeprefix("PATIENT#"),
            given_name=p["given_name"],
            family_name=p["family_name"],
            birth_date=date.fromisoformat(p["birth_date"]),
            home_state=p["home_state"],
            zone=p["zone"],
            version=int(p["version"]),
            email=p.get("email"),
            phone=p.get("phone"),
        )

    # --- appointments --------------------------------------------------------------------------------

    def _appointment_item(self, a: Appointment) -> dict[str, Any]:
        is_open = a.status is AppointmentStatus.BOOKED
        return self._item(
            {
                "pk": f"APPT#{a.appointment_id}",
                "sk": "APPT",
                "provider_id": a.provider_id,
                "patient_id": a.patient_id,
                "service_type": a.service_type,
                "start": stamp(a.start),
                "end": stamp(a.end),
                "patient_state": a.patient_state,
                "status": a.status.value,
                "version": a.version,
                "booked_by": a.booked_by.value,
                "booked_at": stamp(a.booked_at) if a.booked_at else None,
                "gsi1pk": f"PATIENT#{a.patient_id}#APPTS",
                "gsi1sk": stamp(a.start),
                "gsi2pk": f"PROVIDER#{a.provider_id}#APPTS",
                "gsi2sk": stamp(a.start),
                # In the open-visits index while booked; a version that closes it has no keys
                # (`_item` leaves None out), so it leaves the index.
                "gsi3pk": open_shard(a.appointment_id) if is_open else None,
                "gsi3sk": f"{stamp(a.start)}#{a.appointment_id}" if is_open else None,
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
            booked_at=_moment(p["booked_at"]) if "booked_at" in p else None,
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
                    ":a": {"S": stamp(start)},
                    ":b": {"S": stamp(end)},
                },
            )
        ]

    def open_appointments(self) -> Iterator[Appointment]:
        """Every open appointment, from the sparse open-visits index, shard by shard (the index
        is eventually consistent: one just closed may still be listed, one just booked missing)."""
        for shard in range(OPEN_SHARDS):
            for item in self._query(
                IndexName="gsi3",
                KeyConditionExpression="gsi3pk = :pk",
                ExpressionAttributeValues={":pk": {"S": open_key(shard)}},
            ):
                yield self._appointment_from(item)

    # --- writes ---------------------------------------------------------------------------------------

    def _outbox_items(self, outbox: list[OutboxEntry], now: datetime) -> list[dict[str, Any]]:
        return self._outbox.put_actions(outbox, now)

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
        for attempt in range(CONFLICT_RETRIES + 1):
            try:
                self._client.transact_write_items(TransactItems=items)
                return
            except self._client.exceptions.TransactionCanceledException as error:
                reasons = [r.get("Code") for r in error.response.get("CancellationReasons", [])]
                failed = {i for i, code in enumerate(reasons) if code == "ConditionalCheckFailed"}
                if claim is not None and len(items) - 1 in failed:
                    self._replay(claim)
                if failed & taken and not failed - taken:
                    raise SlotTakenError("slot is taken") from error
                if not failed and "TransactionConflict" in reasons and attempt < CONFLICT_RETRIES:
                    # Another transaction in flight held one of these items; nothing was decided.
                    clock.sleep(random.uniform(0.01, 0.05) * 2**attempt)  # noqa: S311 (jitter, not secrets)
                    continue
                raise StaleWriteError("the record changed meanwhile") from error

    def replay_if_claimed(self, claim: IdempotencyClaim) -> None:
        """Raise the replay (or the mismatch) when this key was used before; return otherwise.
        Asked before a change's rules, so a retry of a change that went through replays its
        answer instead of meeting the rule the change itself made true (cancelled twice)."""
        try:
            self._replay(claim)
        except StaleWriteError:  # no such claim: a first attempt
            return

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
        held, taken = self._cells(
            appointment.provider_id,
            appointment.appointment_id,
            hold=cells(appointment.start, appointment.end),
            release=(),
        )
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
        self._transact(items, claim, taken=taken)

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
        # Cells it keeps (a move by less than its length) are neither released nor taken again;
        # one update per hour does both halves, as DynamoDB allows one action per item.
        moved, taken = self._cells(
            before.provider_id,
            before.appointment_id,
            hold=[c for c in after_cells if c not in before_cells],
            release=[c for c in before_cells if c not in after_cells],
        )
        items: list[dict[str, Any]] = [*moved, self._replace_booked(before, after)]
        items += self._outbox_items(outbox, now)
        if claim is not None:
            items.append(self._claim_item(claim, now))
        self._transact(items, claim, taken=taken)

    # --- visits -----------------------------------------------------------------------------------

    def visit_file(self, appointment_id: str) -> VisitFile:
        """Everything about one appointment in one query: the appointment, its check-ins, visits,
        waiting steps' task tokens and join links."""
        items = list(
            self._query(
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": f"APPT#{appointment_id}"}},
                ConsistentRead=True,
            )
        )
        found = VisitFile(appointment_id)
        for item in items:
            sk = str(item["sk"])
            if sk == "APPT":
                found.appointment = self._appointment_from(item)
            elif sk.startswith("VISIT#"):
                found.visits[int(item["version"])] = (self._visit_from(item), int(item["revision"]))
            elif sk.startswith("CHECKIN#"):
                found.check_ins[int(sk.removeprefix("CHECKIN#v"))] = self._check_in_from(item)
            elif sk.startswith("TASK#"):
                found.tokens[sk.removeprefix("TASK#")] = str(item["task_token"])
            elif sk.startswith("REMINDER#v"):
                found.reminders_sent.setdefault(int(item["version"]), set()).add(str(item["reminder"]))
            elif sk.startswith("LINK#"):
                found.links.append(self._link_from(item))
                found.join_info[str(item["link_id"])] = str(item["attendee"])
        return found

    def _check_in_from(self, p: Mapping[str, Any]) -> CheckIn:
        return CheckIn(
            str(p["pk"]).removeprefix("APPT#"),
            _moment(p["at"]),
            p["state"],
            p["emergency_contact"],
            bool(p["consents_to_telehealth"]),
            bool(p["consents_to_recording"]),
            p.get("reason", ""),
        )

    def _visit_item(self, visit: Visit, revision: int) -> dict[str, Any]:
        return self._item(
            {
                "pk": f"APPT#{visit.appointment_id}",
                "sk": f"VISIT#v{visit.version}",
                "version": visit.version,
                "revision": revision,
                "provider_id": visit.provider_id,
                "patient_id": visit.patient_id,
                "start": stamp(visit.start),
                "end": stamp(visit.end),
                "state": visit.state.value,
                "checked_in_at": stamp(visit.checked_in_at),
                "recording_consented": visit.recording_consented,
                "reason": visit.reason or None,
                "admitted_at": stamp(visit.admitted_at) if visit.admitted_at else None,
                "meeting_id": visit.meeting_id,
                "attendees": {a: r.value for a, r in visit.attendees.items()} or None,
                "joined": {r.value: stamp(t) for r, t in visit.joined.items()} or None,
                "guests": {sub: r.value for sub, r in visit.guests.items()} or None,
                "ended_at": stamp(visit.ended_at) if visit.ended_at else None,
                "outcome": visit.outcome,
                "capture_pipeline_arn": visit.capture_pipeline_arn,
                "concatenation_pipeline_id": visit.concatenation_pipeline_id,
                "recording_ready": visit.recording_ready or None,
                # The provider's day, in one index query: the waiting room and its estimates.
                "gsi2pk": f"PROVIDER#{visit.provider_id}#VISITS",
                "gsi2sk": f"{stamp(visit.start)}#{visit.appointment_id}",
            }
        )

    def _visit_from(self, p: Mapping[str, Any]) -> Visit:
        return Visit(
            appointment_id=str(p["pk"]).removeprefix("APPT#"),
            version=int(p["version"]),
            provider_id=p["provider_id"],
            patient_id=p["patient_id"],
            start=_moment(p["start"]),
            end=_moment(p["end"]),
            state=VisitState(p["state"]),
            checked_in_at=_moment(p["checked_in_at"]),
            recording_consented=bool(p["recording_consented"]),
            reason=p.get("reason", ""),
            admitted_at=_moment(p["admitted_at"]) if p.get("admitted_at") else None,
            meeting_id=p.get("meeting_id"),
            attendees={a: Role(r) for a, r in p.get("attendees", {}).items()},
            joined={Role(r): _moment(t) for r, t in p.get("joined", {}).items()},
            guests={sub: Role(r) for sub, r in p.get("guests", {}).items()},
            ended_at=_moment(p["ended_at"]) if p.get("ended_at") else None,
            outcome=p.get("outcome"),
            capture_pipeline_arn=p.get("capture_pipeline_arn"),
            concatenation_pipeline_id=p.get("concatenation_pipeline_id"),
            recording_ready=bool(p.get("recording_ready", False)),
        )

    def visits_of_provider(self, provider_id: str, start: datetime, end: datetime) -> list[Visit]:
        return [
            self._visit_from(i)
            for i in self._query(
                IndexName="gsi2",
                KeyConditionExpression="gsi2pk = :pk AND gsi2sk BETWEEN :a AND :b",
                ExpressionAttributeValues={
                    ":pk": {"S": f"PROVIDER#{provider_id}#VISITS"},
                    ":a": {"S": stamp(start)},
                    ":b": {"S": f"{stamp(end)}#~"},
                },
            )
        ]

    def _link_item(self, link: IssuedLink, attendee: Mapping[str, Any]) -> dict[str, Any]:
        return self._item(
            {
                "pk": f"APPT#{link.appointment_id}",
                "sk": f"LINK#{link.link_id}",
                "link_id": link.link_id,
                "role": link.role.value,
                "holder": link.holder,
                "attendee_id": link.attendee_id,
                # The attendee's join information without its join token (a secret, fetched from
                # Chime when the link is redeemed): the meeting and which attendee the link opens.
                "attendee": json.dumps(attendee),
                "link_expires_at": stamp(link.expires_at),
                "state": link.state.value,
                "secret_hash": link.secret_hash or None,
                # Gone from the table a day after it stops working.
                "expires_at": int((link.expires_at + timedelta(days=1)).timestamp()),
            }
        )

    def _link_from(self, p: Mapping[str, Any]) -> IssuedLink:
        return IssuedLink(
            appointment_id=str(p["pk"]).removeprefix("APPT#"),
            link_id=p["link_id"],
            role=Role(p["role"]),
            holder=p["holder"],
            attendee_id=p["attendee_id"],
            expires_at=_moment(p["link_expires_at"]),
            state=LinkState(p["state"]),
            secret_hash=p.get("secret_hash", ""),
        )

    def record_check_in(
        self, check_in: CheckIn, appointment: Appointment, visit: Visit, outbox: list[OutboxEntry]
    ) -> None:
        """The check-in (once per appointment version: a moved visit is checked in anew), the visit
        it opens, its consents, audit event and announcement; only while the appointment is booked
        at that version."""
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
                                    "sk": f"CHECKIN#v{appointment.version}",
                                    "at": stamp(check_in.at),
                                    "state": check_in.state,
                                    "emergency_contact": check_in.emergency_contact,
                                    "consents_to_telehealth": check_in.consents_to_telehealth,
                                    "consents_to_recording": check_in.consents_to_recording,
                                    "reason": check_in.reason or None,
                                }
                            ),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {
                        "ConditionCheck": {
                            "TableName": self.table,
                            "Key": {"pk": {"S": f"APPT#{appointment.appointment_id}"}, "sk": {"S": "APPT"}},
                            "ConditionExpression": "version = :v AND #s = :booked",
                            "ExpressionAttributeNames": {"#s": "status"},
                            "ExpressionAttributeValues": self._item(
                                {":v": appointment.version, ":booked": "booked"}
                            ),
                        }
                    },
                    {"Put": {"TableName": self.table, "Item": self._visit_item(visit, 1)}},
                    *self._outbox_items(outbox, now),
                ]
            )
        except self._client.exceptions.TransactionCanceledException as error:
            reasons = [r.get("Code") for r in error.response.get("CancellationReasons", [])]
            if reasons and reasons[0] == "ConditionalCheckFailed":
                raise AlreadyCheckedInError("checked in already") from error
            raise StaleWriteError("the check-in could not be written; retry") from error

    def save_visit(
        self,
        visit: Visit,
        revision: int,
        outbox: list[OutboxEntry],
        *,
        links: Sequence[tuple[IssuedLink, Mapping[str, Any]]] = (),
        revoked: Sequence[IssuedLink] = (),
        appointment: tuple[Appointment, Appointment] | None = None,
        not_waiting: Sequence[str] = (),
    ) -> int:
        """The visit's next state, if nobody moved it since `revision`; with new links, revoked
        ones, and (when the visit closes the appointment) the appointment's last version.

        `not_waiting` names lifecycle steps whose task tokens were absent when the visit was read:
        if one has appeared since, the change fails (and is retried, finding it), so a step that
        began waiting meanwhile is either resumed by this change or sees it when it checks."""
        now = datetime.now(UTC)
        items: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": self._visit_item(visit, revision + 1),
                    "ConditionExpression": "revision = :r",
                    "ExpressionAttributeValues": self._item({":r": revision}),
                }
            },
            *(
                {"Put": {"TableName": self.table, "Item": self._link_item(link, attendee)}}
                for link, attendee in links
            ),
            *(
                {
                    "Update": {
                        "TableName": self.table,
                        "Key": {
                            "pk": {"S": f"APPT#{link.appointment_id}"},
                            "sk": {"S": f"LINK#{link.link_id}"},
                        },
                        "UpdateExpression": "SET #s = :revoked",
                        "ExpressionAttributeNames": {"#s": "state"},
                        "ExpressionAttributeValues": self._item({":revoked": LinkState.REVOKED.value}),
                    }
                }
                for link in revoked
            ),
            *self._outbox_items(outbox, now),
        ]
        items += [
            {
                "ConditionCheck": {
                    "TableName": self.table,
                    "Key": {"pk": {"S": f"APPT#{visit.appointment_id}"}, "sk": {"S": f"TASK#{step}"}},
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
            for step in not_waiting
        ]
        if appointment is not None:
            before, after = appointment
            items.append(self._replace_booked(before, after))
        try:
            self._client.transact_write_items(TransactItems=items)
        except self._client.exceptions.TransactionCanceledException as error:
            raise VisitChangedError("the visit changed meanwhile") from error
        return revision + 1

    def redeem_link(self, link: IssuedLink, outbox: list[OutboxEntry]) -> None:
        """Spend the link, once: of two redemptions racing, exactly one passes the condition."""
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": self.table,
                            "Key": {
                                "pk": {"S": f"APPT#{link.appointment_id}"},
                                "sk": {"S": f"LINK#{link.link_id}"},
                            },
                            "UpdateExpression": "SET #s = :redeemed",
                            "ConditionExpression": "#s = :issued",
                            "ExpressionAttributeNames": {"#s": "state"},
                            "ExpressionAttributeValues": self._item(
                                {":redeemed": LinkState.REDEEMED.value, ":issued": LinkState.ISSUED.value}
                            ),
                        }
                    },
                    *self._outbox_items(outbox, datetime.now(UTC)),
                ]
            )
        except self._client.exceptions.TransactionCanceledException as error:
            raise VisitChangedError("the link was spent meanwhile") from error

    def vitals(self, appointment_id: str, version: int) -> tuple[VisitVitals, int] | None:
        item = self._client.get_item(
            TableName=self.table,
            Key={"pk": {"S": f"APPT#{appointment_id}"}, "sk": {"S": f"VITALS#v{version}"}},
            ConsistentRead=True,
        ).get("Item")
        if not item:
            return None
        p = self._plain(item)
        return self._vitals_from(p), int(p["revision"])

    def _vitals_from(self, p: Mapping[str, Any]) -> VisitVitals:
        return VisitVitals(
            appointment_id=str(p["pk"]).removeprefix("APPT#"),
            version=int(str(p["sk"]).removeprefix("VITALS#v")),
            patient_id=p["patient_id"],
            encounter_id=p["encounter_id"],
            effective=_moment(p["effective"]),
            readings=tuple(
                Reading(
                    VitalSign(r["sign"]),
                    float(r["per_minute"]),
                    float(r["quality"]),
                    ReadingStatus(r["status"]),
                )
                for r in json.loads(p["readings"])
            ),
            refusals=tuple((VitalSign(sign), reason) for sign, reason in json.loads(p["refusals"])),
            method=p["method"],
        )

    def save_vitals(self, vitals: VisitVitals, revision: int, outbox: list[OutboxEntry]) -> int:
        """The estimates at their next revision (0: the first, once), with their record."""
        item = self._item(
            {
                "pk": f"APPT#{vitals.appointment_id}",
                "sk": f"VITALS#v{vitals.version}",
                "patient_id": vitals.patient_id,
                "encounter_id": vitals.encounter_id,
                "effective": stamp(vitals.effective),
                "readings": json.dumps(
                    [
                        {
                            "sign": r.sign.value,
                            "per_minute": r.per_minute,
                            "quality": r.quality,
                            "status": r.status.value,
                        }
                        for r in vitals.readings
                    ]
                ),
                "refusals": json.dumps([[sign.value, reason] for sign, reason in vitals.refusals]),
                "method": vitals.method,
                "revision": revision + 1,
            }
        )
        put: dict[str, Any] = {"TableName": self.table, "Item": item}
        if revision == 0:
            put["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            put["ConditionExpression"] = "revision = :r"
            put["ExpressionAttributeValues"] = self._item({":r": revision})
        try:
            self._client.transact_write_items(
                TransactItems=[{"Put": put}, *self._outbox_items(outbox, datetime.now(UTC))]
            )
        except self._client.exceptions.TransactionCanceledException as error:
            raise VisitChangedError("the estimates changed meanwhile") from error
        return revision + 1

    def close_appointment(self, before: Appointment, after: Appointment, outbox: list[OutboxEntry]) -> None:
        """A no-show before any check-in: the appointment's last version, with its record."""
        try:
            self._client.transact_write_items(
                TransactItems=[
                    self._replace_booked(before, after),
                    *self._outbox_items(outbox, datetime.now(UTC)),
                ]
            )
        except self._client.exceptions.TransactionCanceledException as error:
            raise StaleWriteError("the appointment changed meanwhile") from error

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

    # --- the whole table, for rebuilding the clinical record from it (read-only) ---------------------

    def records(self, segment: int = 0, segments: int = 1) -> Iterator[TableRecord]:
        """One segment of a parallel scan, as what the clinical record is projected from: each
        provider (profile and credentials), patient, appointment, check-in, visit and set of vital
        signs, and the outbox's entries. What projects nothing (booked hours, join links, task
        tokens, idempotency records, leases) is passed over. A provider's items share a partition,
        hence a segment: each provider is yielded whole once its segment has been read."""
        profiles: dict[str, dict[str, Any]] = {}
        credentials: dict[str, list[dict[str, Any]]] = {}
        for item in self._scan(segment, segments):
            pk, sk = str(item["pk"]), str(item["sk"])
            if pk.startswith("PROVIDER#"):
                if sk == "PROFILE":
                    profiles[pk] = item
                elif sk.startswith("LICENSE#"):
                    credentials.setdefault(pk, []).append(item)
            elif pk.startswith("PATIENT#") and sk == "PROFILE":
                yield self._patient_from(item)
            elif pk.startswith("APPT#"):
                if sk == "APPT":
                    yield self._appointment_from(item)
                elif sk.startswith("CHECKIN#v"):
                    yield StoredCheckIn(int(sk.removeprefix("CHECKIN#v")), self._check_in_from(item))
                elif sk.startswith("VISIT#v"):
                    yield StoredVisit(self._visit_from(item), int(item["revision"]))
                elif sk.startswith("VITALS#v"):
                    yield StoredVitals(self._vitals_from(item), int(item["revision"]))
            elif pk.startswith("OUTBOX#"):
                yield StoredOutboxEntry(entry_from_item(item), str(item.get("status", "pending")))
        for pk, profile in profiles.items():
            yield self._provider_from(profile, sorted(credentials.get(pk, []), key=lambda i: str(i["sk"])))
