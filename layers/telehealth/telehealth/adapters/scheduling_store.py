r"""The scheduling context's items in the clinic table: providers, their licences and hours, booked
cells, patients, appointments; booking, moving and cancelling.

Key design (access patterns, and which module owns each, in docs/architecture.md):

| item | pk | sk | gsi1 (pk / sk) | gsi2 (pk / sk) |
|---|---|---|---|---|
| provider profile, availability | PROVIDER#<id> | PROFILE | USER#<sub> / PROVIDER | PROVIDERS / <name>#<id> |
| license or privilege | PROVIDER#<id> | LICENSE#<state>#<no.> | | LICENSED#<state> / PROVIDER#<id>#<no.> |
| booked hour (its five-minute cells) | PROVIDER#<id> | SLOT#<hour UTC> | | |
| appointment | APPT#<id> | APPT | PATIENT#<id>#APPTS / <start> | PROVIDER#<id>#APPTS / <start> |
| (while it is open, also) | | | gsi3: OPEN#<shard> / <start>#<id> | |
| patient profile | PATIENT#<id> | PROFILE | PATIENTS#<family>#<born> / PATIENT#<id> | |
| patient's MRN (one patient each) | MRN#<system>\|<mrn> | MRN | | |
| an HL7 v2 message acknowledged (its ACK; 30 days, TTL) | HL7#<client>#<sender>#<control id> | ACK | | |
| a merge of two patients' records, in force | MERGE#<retired> | MERGE | MERGES / <merged at>#<retired> | |
| referral | REFERRAL#<id> | REFERRAL | REFERRALS#OPEN / <authored>#<id> (open) | PATIENT#<id>#REFERRALS / … |

A booking holds the five-minute cells its visit covers. Cells live as attributes of one item per
provider and UTC hour (`c05` is the cell at minute 5, its value the appointment id), so a visit of
any length touches at most five items and a move of the longest visit stays one transaction far
below DynamoDB's 100 actions. Holding sets the cells on the condition that none exists, inside the
same transaction as the appointment, its outbox entries, its audit event and the idempotency
record, so of any number of concurrent attempts exactly one wins.

The directory is the profiles' gsi2 partition `PROVIDERS`, sorted by name (case-folded) and id,
so listing the clinic's providers is a paged query of one partition, not a scan; a profile carries
a copy of its credentials (`credentials`), written in the same transaction as the licence items,
so a page needs no read per provider. One partition holds every provider: a clinic has hundreds at
most, and a profile changes when an admin edits it or the provider their hours.

The open-visits index (gsi3) is sparse: an appointment carries its keys while it is booked, and
the write that closes it (cancelled, fulfilled, a no-show) drops them. Its partition is one of
`OPEN_SHARDS`, by a stable hash of the appointment id, so bookings spread their index writes;
the visit reconciler reads every shard.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from telehealth.adapters.dynamo import from_stamp, stamp
from telehealth.adapters.table_store import TableStore
from telehealth.domain.appointments import Actor, Appointment, AppointmentStatus
from telehealth.domain.licensure import License, LicenseStatus
from telehealth.domain.patients import PatientMerge, lookup_key
from telehealth.domain.referrals import Priority, Referral, ReferralStatus
from telehealth.domain.scheduling import LONGEST_VISIT, Availability, ExtraHours, Interval, cells
from telehealth.fhir.projection import PatientProfile, PractitionerProfile
from telehealth.ports import (
    IdempotencyClaim,
    MrnTakenError,
    OutboxEntry,
    ProviderListing,
    ProviderRecord,
    SlotTakenError,
    StaleWriteError,
)
from telehealth.ports.admin import DirectoryEntry, DirectoryPage

HOUR_ITEM_KEPT = timedelta(days=7)
# How long an HL7 message's acknowledgment is kept, to answer the same message sent again with it.
HL7_ACK_KEPT = timedelta(days=30)
# The gsi2 partition of every provider's profile: the clinic's directory.
DIRECTORY = "PROVIDERS"
# The gsi1 partition of the referrals waiting for a visit: the front desk's worklist.
WORKLIST = "REFERRALS#OPEN"
_PROVIDER_ID = re.compile(r"^[a-z0-9-]{2,64}$")
# The open-visits index's partitions: each takes a thousand index writes a second, far above a
# clinic's bookings, so a few are headroom. Fixed: changing it moves every open appointment's keys.
OPEN_SHARDS = 4


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


def directory_key(profile: PractitionerProfile) -> str:
    """A profile's place in the directory: family name, given name (case-folded, so "de Vries"
    files with "De Vries"), then the id, which makes it unique and ends it (ids have no `#`)."""
    return f"{profile.family_name.casefold()}#{profile.given_name.casefold()}#{profile.provider_id}"


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


# --- items read back (the visits store and the record source read them too) -----------------------


def credential_fields(lic: License) -> dict[str, Any]:
    """A licence or privilege as its item, and the profile's copy, keep it."""
    return {
        "state": lic.state,
        "number": lic.number,
        "valid_from": lic.valid_from.isoformat(),
        "valid_until": lic.valid_until.isoformat(),
        "status": lic.status.value,
        "compact": lic.compact,
    }


def credential_from(i: Mapping[str, Any]) -> License:
    return License(
        state=i["state"],
        number=i["number"],
        valid_from=date.fromisoformat(i["valid_from"]),
        valid_until=date.fromisoformat(i["valid_until"]),
        status=LicenseStatus(i["status"]),
        compact=i.get("compact"),
    )


def profile_from(profile: Mapping[str, Any]) -> PractitionerProfile:
    return PractitionerProfile(
        provider_id=str(profile["pk"]).removeprefix("PROVIDER#"),
        given_name=profile["given_name"],
        family_name=profile["family_name"],
        specialty=profile["specialty"],
        languages=tuple(profile.get("languages", [])),
        zone=profile["zone"],
        version=int(profile["version"]),
        page_email=str(profile["page_email"]) if profile.get("page_email") else None,
    )


def provider_from(profile: Mapping[str, Any], licensed: Sequence[Mapping[str, Any]]) -> ProviderRecord:
    practitioner = profile_from(profile)
    visit_minutes = {k: int(v) for k, v in profile["visit_minutes"].items()}
    return ProviderRecord(
        profile=practitioner,
        availability=availability_from(
            practitioner.provider_id, profile["zone"], visit_minutes, profile["availability"]
        ),
        licenses=tuple(credential_from(i) for i in licensed),
        user_sub=profile["user_sub"],
    )


def patient_from(p: Mapping[str, Any]) -> PatientProfile:
    return PatientProfile(
        patient_id=str(p["pk"]).removeprefix("PATIENT#"),
        given_name=p.get("given_name"),
        family_name=p.get("family_name"),
        birth_date=date.fromisoformat(p["birth_date"]) if "birth_date" in p else None,
        home_state=p.get("home_state"),
        zone=p.get("zone"),
        version=int(p["version"]),
        email=p.get("email"),
        phone=p.get("phone"),
        mrn_system=p.get("mrn_system"),
        mrn=p.get("mrn"),
        gender=p.get("gender"),
        merged_into=p.get("merged_into"),
        replaces=tuple(sorted(p.get("replaces", ()))),
    )


def merge_from(p: Mapping[str, Any]) -> PatientMerge:
    return PatientMerge(
        retired_id=str(p["pk"]).removeprefix("MERGE#"),
        survivor_id=str(p["survivor_id"]),
        merged_at=from_stamp(str(p["merged_at"])),
        requested_by=str(p["requested_by"]),
        moved=tuple(p.get("moved", ())),
        copied_email=p.get("copied_email"),
        copied_phone=p.get("copied_phone"),
    )


def mrn_key(system: str, mrn: str) -> dict[str, dict[str, str]]:
    """The item that holds an MRN for one patient: its key is the MRN, so a second patient with
    the same MRN is a failed condition, not a duplicate."""
    return {"pk": {"S": f"MRN#{system}|{mrn}"}, "sk": {"S": "MRN"}}


def referral_from(p: Mapping[str, Any]) -> Referral:
    return Referral(
        referral_id=str(p["pk"]).removeprefix("REFERRAL#"),
        patient_id=str(p["patient_id"]),
        reason=str(p["reason"]),
        requester=str(p["requester"]),
        authored_at=from_stamp(p["authored_at"]),
        priority=Priority(p["priority"]),
        service=p.get("service"),
        status=ReferralStatus(p["status"]),
        appointment_id=p.get("appointment_id"),
        version=int(p["version"]),
    )


def appointment_from(p: Mapping[str, Any]) -> Appointment:
    return Appointment(
        appointment_id=str(p["pk"]).removeprefix("APPT#"),
        provider_id=p["provider_id"],
        patient_id=p["patient_id"],
        service_type=p["service_type"],
        start=from_stamp(p["start"]),
        end=from_stamp(p["end"]),
        patient_state=p["patient_state"],
        status=AppointmentStatus(p["status"]),
        version=int(p["version"]),
        booked_by=Actor(p["booked_by"]),
        booked_at=from_stamp(p["booked_at"]) if "booked_at" in p else None,
        referral_id=p.get("referral_id"),
    )


class DynamoSchedulingStore(TableStore):
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
                            "page_email": p.page_email,
                            "visit_minutes": dict(a.visit_minutes),
                            "availability": availability_json(a),
                            "user_sub": record.user_sub,
                            # The directory's copy: a page of providers is one query.
                            "credentials": [credential_fields(c) for c in record.licenses],
                            "gsi1pk": f"USER#{record.user_sub}",
                            "gsi1sk": "PROVIDER",
                            "gsi2pk": DIRECTORY,
                            "gsi2sk": directory_key(p),
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
                                **credential_fields(lic),
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
        return provider_from(profile, [i for i in items if i["sk"].startswith("LICENSE#")])

    def directory(self, after: str | None, limit: int) -> DirectoryPage:
        """One page of the directory: a query of its partition from where `after` left off,
        one item more than asked for, so the last page says it is the last."""
        query: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": "gsi2",
            "KeyConditionExpression": "gsi2pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": DIRECTORY}},
            "Limit": limit + 1,
        }
        if after is not None:
            provider_id = after.rpartition("#")[2]
            if after.count("#") < 2 or not _PROVIDER_ID.match(provider_id):
                raise ValueError("not a place in the directory")
            query["ExclusiveStartKey"] = self._item(
                {"pk": f"PROVIDER#{provider_id}", "sk": "PROFILE", "gsi2pk": DIRECTORY, "gsi2sk": after}
            )
        page = self._client.query(**query)
        items = [self._plain(i) for i in page.get("Items", [])]
        # A page DynamoDB cut at 1 MB holds fewer: the next starts after its last.
        more = len(items) > limit or "LastEvaluatedKey" in page
        items = items[:limit]
        entries = [
            DirectoryEntry(profile_from(i), tuple(credential_from(c) for c in i.get("credentials", [])))
            for i in items
        ]
        return DirectoryPage(entries, str(items[-1]["gsi2sk"]) if more and items else None)

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

    def replace_booked(self, before: Appointment, after: Appointment) -> dict[str, Any]:
        """The appointment's next version, on the condition that it is still booked at `before`: a
        transaction action (the visits store closes an appointment with it too)."""
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
                        "birth_date": profile.birth_date.isoformat() if profile.birth_date else None,
                        "home_state": profile.home_state,
                        "zone": profile.zone,
                        "version": profile.version,
                        "email": profile.email,
                        "phone": profile.phone,
                        "mrn_system": profile.mrn_system,
                        "mrn": profile.mrn,
                        "gender": profile.gender,
                        "merged_into": profile.merged_into,
                        "replaces": list(profile.replaces) or None,
                        # Staff find a patient by last name and date of birth (once given); a
                        # record merged into another is found as that one.
                        **(
                            {
                                "gsi1pk": f"PATIENTS#{lookup_key(profile.family_name, profile.birth_date)}",
                                "gsi1sk": f"PATIENT#{profile.patient_id}",
                            }
                            if profile.family_name and profile.birth_date and not profile.merged_into
                            else {}
                        ),
                    }
                ),
            }
        }

    def save_patient(self, profile: PatientProfile, outbox: list[OutboxEntry]) -> None:
        """The profile at its version with its outbox entries, if the one on file is the version
        before (none, for version 1): a second enrolment, or an edit that raced another, fails
        with `StaleWriteError` and writes nothing."""
        put = self._versioned(self.put_patient(profile), profile.version)
        self._transact([put, *self._outbox_items(outbox, datetime.now(UTC))], None, taken=set())

    def save_registered_patient(
        self, profile: PatientProfile, outbox: list[OutboxEntry], claim: IdempotencyClaim | None = None
    ) -> None:
        """A patient the health system registered, with their MRN's item: a first registration
        holds the MRN on the condition that no patient holds it yet (MrnTakenError otherwise), a
        later one keeps it. Versioned as `save_patient`."""
        assert profile.mrn and profile.mrn_system
        put = self._versioned(self.put_patient(profile), profile.version)
        hold = {
            "Put": {
                "TableName": self.table,
                "Item": {**mrn_key(profile.mrn_system, profile.mrn), "patient_id": {"S": profile.patient_id}},
                "ConditionExpression": "attribute_not_exists(pk) OR patient_id = :mine",
                "ExpressionAttributeValues": {":mine": {"S": profile.patient_id}},
            }
        }
        now = datetime.now(UTC)
        items = [
            put,
            hold,
            *self._outbox_items(outbox, now),
            *([self._claim_item(claim, now)] if claim else []),
        ]
        try:
            self._transact(items, claim, taken={1})
        except SlotTakenError as error:  # the hold alone failed: another patient has the MRN
            raise MrnTakenError("another patient holds this MRN") from error

    def patient_by_mrn(self, system: str, mrn: str) -> PatientProfile | None:
        item = self._client.get_item(TableName=self.table, Key=mrn_key(system, mrn), ConsistentRead=True).get(
            "Item"
        )
        return self.patient(item["patient_id"]["S"]) if item else None

    def patients_named(self, family_name: str, birth_date: date) -> list[PatientProfile]:
        return [
            patient_from(i)
            for i in self._query(
                IndexName="gsi1",
                KeyConditionExpression="gsi1pk = :pk",
                ExpressionAttributeValues={":pk": {"S": f"PATIENTS#{lookup_key(family_name, birth_date)}"}},
            )
        ]

    def patient(self, patient_id: str) -> PatientProfile | None:
        item = self._get(f"PATIENT#{patient_id}", "PROFILE")  # consistent: a write is read at once
        return patient_from(item) if item else None

    def merged_into(self, patient_id: str) -> str | None:
        """The record a patient's was merged into, if it was: one small read, consistent (a
        merge undone a moment ago must not let a portal account act as another person)."""
        item = self._client.get_item(
            TableName=self.table,
            Key={"pk": {"S": f"PATIENT#{patient_id}"}, "sk": {"S": "PROFILE"}},
            ProjectionExpression="merged_into",
            ConsistentRead=True,
        ).get("Item")
        return item["merged_into"]["S"] if item and "merged_into" in item else None

    # --- HL7 v2 messages acknowledged ---------------------------------------------------------------

    def acknowledgment(self, message_key: str) -> tuple[str, str] | None:
        item = self._get(f"HL7#{message_key}", "ACK")
        if item is None or int(item["expires_at"]) <= datetime.now(UTC).timestamp():
            return None
        return str(item["code"]), str(item["ack"])

    def keep_acknowledgment(self, message_key: str, code: str, ack: str) -> None:
        self._client.put_item(
            TableName=self.table,
            Item=self._item(
                {
                    "pk": f"HL7#{message_key}",
                    "sk": "ACK",
                    "code": code,
                    "ack": ack,
                    "expires_at": int((datetime.now(UTC) + HL7_ACK_KEPT).timestamp()),
                }
            ),
        )

    # --- merges ----------------------------------------------------------------------------------------

    def _merge_item(self, merge: PatientMerge) -> dict[str, Any]:
        return self._item(
            {
                "pk": f"MERGE#{merge.retired_id}",
                "sk": "MERGE",
                "survivor_id": merge.survivor_id,
                "merged_at": stamp(merge.merged_at),
                "requested_by": merge.requested_by,
                "moved": list(merge.moved) or None,
                "copied_email": merge.copied_email,
                "copied_phone": merge.copied_phone,
                "gsi1pk": "MERGES",
                "gsi1sk": f"{stamp(merge.merged_at)}#{merge.retired_id}",
            }
        )

    def merge_patients(
        self,
        retired: PatientProfile,
        survivor: PatientProfile,
        merge: PatientMerge,
        outbox: list[OutboxEntry],
    ) -> None:
        """Both records at their next versions and the merge's record, in one transaction:
        StaleWriteError if either changed meanwhile or the retired one is merged already."""
        kept = {
            "TableName": self.table,
            "Item": self._merge_item(merge),
            "ConditionExpression": "attribute_not_exists(pk)",
        }
        self._both_records(retired, survivor, {"Put": kept}, outbox)

    def undo_merge(
        self,
        retired: PatientProfile,
        survivor: PatientProfile,
        merge: PatientMerge,
        outbox: list[OutboxEntry],
    ) -> None:
        """Both records at their next versions, the merge's record gone: StaleWriteError if a
        record changed meanwhile or the merge was undone already."""
        gone = {
            "TableName": self.table,
            "Key": {"pk": {"S": f"MERGE#{merge.retired_id}"}, "sk": {"S": "MERGE"}},
            "ConditionExpression": "survivor_id = :s",
            "ExpressionAttributeValues": {":s": {"S": merge.survivor_id}},
        }
        self._both_records(retired, survivor, {"Delete": gone}, outbox)

    def _both_records(
        self,
        retired: PatientProfile,
        survivor: PatientProfile,
        merge: dict[str, Any],
        outbox: list[OutboxEntry],
    ) -> None:
        items = [
            self._versioned(self.put_patient(retired), retired.version),
            self._versioned(self.put_patient(survivor), survivor.version),
            merge,
            *self._outbox_items(outbox, datetime.now(UTC)),
        ]
        self._transact(items, None, taken=set())

    def merge(self, retired_id: str) -> PatientMerge | None:
        item = self._get(f"MERGE#{retired_id}", "MERGE")
        return merge_from(item) if item else None

    def merges(self, limit: int) -> list[PatientMerge]:
        """The merges in force, newest first (one page of one partition: merges are rare)."""
        page = self._client.query(
            TableName=self.table,
            IndexName="gsi1",
            KeyConditionExpression="gsi1pk = :pk",
            ExpressionAttributeValues={":pk": {"S": "MERGES"}},
            ScanIndexForward=False,
            Limit=limit,
        )
        return [merge_from(self._plain(i)) for i in page.get("Items", [])]

    # --- appointments --------------------------------------------------------------------------------

    def _appointment_item(self, a: Appointment) -> dict[str, Any]:
        is_open = a.status is AppointmentStatus.BOOKED
        return self._item(
            {
                "pk": f"APPT#{a.appointment_id}",
                "sk": "APPT",
                "provider_id": a.provider_id,
                "patient_id": a.patient_id,
                "referral_id": a.referral_id,
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

    def transfer(self, moves: Sequence[tuple[Appointment, Appointment]], outbox: list[OutboxEntry]) -> None:
        """Appointments at their next versions (another patient's), each on the condition that
        it is still at the version read; their cells stay as they are (same provider and time)."""
        items: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": self._appointment_item(after),
                    "ConditionExpression": "version = :v",
                    "ExpressionAttributeValues": self._item({":v": before.version}),
                }
            }
            for before, after in moves
        ]
        self._transact([*items, *self._outbox_items(outbox, datetime.now(UTC))], None, taken=set())

    def appointment(self, appointment_id: str) -> Appointment | None:
        item = self._get(f"APPT#{appointment_id}", "APPT")
        return appointment_from(item) if item else None

    def appointments_of_patient(self, patient_id: str) -> list[Appointment]:
        return [
            appointment_from(i)
            for i in self._query(
                IndexName="gsi1",
                KeyConditionExpression="gsi1pk = :pk",
                ExpressionAttributeValues={":pk": {"S": f"PATIENT#{patient_id}#APPTS"}},
            )
        ]

    def appointments_of_provider(self, provider_id: str, start: datetime, end: datetime) -> list[Appointment]:
        return [
            appointment_from(i)
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

    def patients_of_provider(self, provider_id: str) -> frozenset[str]:
        """Every patient who has or had an appointment with the provider: who is in their care,
        for the FHIR facade's compartment check. One query of the provider's appointments, their
        patient ids only."""
        return frozenset(
            str(i["patient_id"])
            for i in self._query(
                IndexName="gsi2",
                KeyConditionExpression="gsi2pk = :pk",
                ExpressionAttributeValues={":pk": {"S": f"PROVIDER#{provider_id}#APPTS"}},
                ProjectionExpression="patient_id",
            )
        )

    def open_appointments(self, starting_before: datetime | None = None) -> Iterator[Appointment]:
        """Every open appointment (those starting before `starting_before`, if given: the index
        sorts by start), from the sparse open-visits index, shard by shard (the index is
        eventually consistent: one just closed may still be listed, one just booked missing)."""
        condition, values = "gsi3pk = :pk", {}
        if starting_before is not None:
            condition += " AND gsi3sk < :until"
            values[":until"] = {"S": stamp(starting_before)}
        for shard in range(OPEN_SHARDS):
            for item in self._query(
                IndexName="gsi3",
                KeyConditionExpression=condition,
                ExpressionAttributeValues={":pk": {"S": open_key(shard)}, **values},
            ):
                yield appointment_from(item)

    # --- booking, moving, cancelling ------------------------------------------------------------------

    def book(
        self,
        appointment: Appointment,
        outbox: list[OutboxEntry],
        claim: IdempotencyClaim | None,
        referral: Referral | None = None,
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
        if referral is not None:  # booked for a referral: it leaves the worklist, if still open
            items.append(self._referral_put(referral))
        if claim is not None:
            items.append(self._claim_item(claim, now))
        self._transact(items, claim, taken=taken)

    # --- referrals -------------------------------------------------------------------------------------

    def _referral_put(self, r: Referral) -> dict[str, Any]:
        """The referral at its version, on the condition that the one on file is the version before
        (none, for the first)."""
        waiting = r.status is ReferralStatus.OPEN
        put: dict[str, Any] = {
            "Put": {
                "TableName": self.table,
                "Item": self._item(
                    {
                        "pk": f"REFERRAL#{r.referral_id}",
                        "sk": "REFERRAL",
                        "patient_id": r.patient_id,
                        "reason": r.reason,
                        "requester": r.requester,
                        "authored_at": stamp(r.authored_at),
                        "priority": r.priority.value,
                        "service": r.service,
                        "status": r.status.value,
                        "appointment_id": r.appointment_id,
                        "version": r.version,
                        # The front desk's worklist (sparse: a booked referral leaves it) ...
                        **(
                            {"gsi1pk": WORKLIST, "gsi1sk": f"{stamp(r.authored_at)}#{r.referral_id}"}
                            if waiting
                            else {}
                        ),
                        # ... and the patient's referrals, for a health system's search.
                        "gsi2pk": f"PATIENT#{r.patient_id}#REFERRALS",
                        "gsi2sk": f"{stamp(r.authored_at)}#{r.referral_id}",
                    }
                ),
            }
        }
        return self._versioned(put, r.version)

    def save_referral(
        self, referral: Referral, outbox: list[OutboxEntry], claim: IdempotencyClaim | None = None
    ) -> None:
        now = datetime.now(UTC)
        items = [self._referral_put(referral), *self._outbox_items(outbox, now)]
        self._transact([*items, *([self._claim_item(claim, now)] if claim else [])], claim, set())

    def referral(self, referral_id: str) -> Referral | None:
        item = self._get(f"REFERRAL#{referral_id}", "REFERRAL")
        return referral_from(item) if item else None

    def open_referrals(self, limit: int) -> list[Referral]:
        """The worklist, oldest first: one partition of a sparse index."""
        found: list[Referral] = []
        for item in self._query(
            IndexName="gsi1",
            KeyConditionExpression="gsi1pk = :pk",
            ExpressionAttributeValues={":pk": {"S": WORKLIST}},
        ):
            found.append(referral_from(item))
            if len(found) >= limit:
                break
        return found

    def referrals_of_patient(self, patient_id: str) -> list[Referral]:
        return [
            referral_from(i)
            for i in self._query(
                IndexName="gsi2",
                KeyConditionExpression="gsi2pk = :pk",
                ExpressionAttributeValues={":pk": {"S": f"PATIENT#{patient_id}#REFERRALS"}},
            )
        ]

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
        items: list[dict[str, Any]] = [*moved, self.replace_booked(before, after)]
        items += self._outbox_items(outbox, now)
        if claim is not None:
            items.append(self._claim_item(claim, now))
        self._transact(items, claim, taken=taken)
