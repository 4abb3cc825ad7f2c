"""The visits context's items in the clinic table: check-ins, visits, join links, the task tokens of
waiting lifecycle steps and the reminders sent, all in the appointment's partition, so one query
reads a visit's whole file.

Key design (access patterns, and which module owns each, in docs/architecture.md):

| item | pk | sk | gsi2 (pk / sk) |
|---|---|---|---|
| check-in | APPT#<id> | CHECKIN#v<version> | |
| visit | APPT#<id> | VISIT#v<version> | PROVIDER#<id>#VISITS / <start>#<appointment id> |
| join link | APPT#<id> | LINK#<link id> | |
| workflow task token | APPT#<id> | TASK#<step>#v<version> | |
| reminder sent | APPT#<id> | REMINDER#v<version>#<reminder> | |

The appointment item itself is the scheduling store's; a visit that closes it (fulfilled, a
no-show) writes its last version through that store's `replace_booked` action.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from telehealth.adapters.dynamo import from_stamp, stamp
from telehealth.adapters.scheduling_store import DynamoSchedulingStore, appointment_from
from telehealth.adapters.table_store import TableStore
from telehealth.domain.appointments import Appointment
from telehealth.domain.join_links import IssuedLink, LinkState
from telehealth.domain.visits import CheckIn, Role, Visit, VisitState
from telehealth.ports import (
    AlreadyCheckedInError,
    IdempotencyClaim,
    OutboxEntry,
    StaleWriteError,
    VisitChangedError,
    VisitFile,
)


def check_in_from(p: Mapping[str, Any]) -> CheckIn:
    return CheckIn(
        str(p["pk"]).removeprefix("APPT#"),
        from_stamp(p["at"]),
        p["state"],
        p["emergency_contact"],
        bool(p["consents_to_telehealth"]),
        bool(p["consents_to_recording"]),
        p.get("reason", ""),
        p.get("at_home"),
    )


def visit_from(p: Mapping[str, Any]) -> Visit:
    return Visit(
        appointment_id=str(p["pk"]).removeprefix("APPT#"),
        version=int(p["version"]),
        provider_id=p["provider_id"],
        patient_id=p["patient_id"],
        start=from_stamp(p["start"]),
        end=from_stamp(p["end"]),
        state=VisitState(p["state"]),
        checked_in_at=from_stamp(p["checked_in_at"]),
        recording_consented=bool(p["recording_consented"]),
        reason=p.get("reason", ""),
        admitted_at=from_stamp(p["admitted_at"]) if p.get("admitted_at") else None,
        meeting_id=p.get("meeting_id"),
        attendees={a: Role(r) for a, r in p.get("attendees", {}).items()},
        joined={Role(r): from_stamp(t) for r, t in p.get("joined", {}).items()},
        guests={sub: Role(r) for sub, r in p.get("guests", {}).items()},
        ended_at=from_stamp(p["ended_at"]) if p.get("ended_at") else None,
        outcome=p.get("outcome"),
        capture_pipeline_arn=p.get("capture_pipeline_arn"),
        concatenation_pipeline_id=p.get("concatenation_pipeline_id"),
        recording_ready=bool(p.get("recording_ready", False)),
    )


def link_from(p: Mapping[str, Any]) -> IssuedLink:
    return IssuedLink(
        appointment_id=str(p["pk"]).removeprefix("APPT#"),
        link_id=p["link_id"],
        role=Role(p["role"]),
        holder=p["holder"],
        attendee_id=p["attendee_id"],
        expires_at=from_stamp(p["link_expires_at"]),
        state=LinkState(p["state"]),
        secret_hash=p.get("secret_hash", ""),
    )


class DynamoVisitStore(TableStore):
    def __init__(self, table_name: str | None = None, client: Any = None) -> None:
        super().__init__(table_name, client)
        self._appointments = DynamoSchedulingStore(self.table, self._client)

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
                found.appointment = appointment_from(item)
            elif sk.startswith("VISIT#"):
                found.visits[int(item["version"])] = (visit_from(item), int(item["revision"]))
            elif sk.startswith("CHECKIN#"):
                found.check_ins[int(sk.removeprefix("CHECKIN#v"))] = check_in_from(item)
            elif sk.startswith("TASK#"):
                found.tokens[sk.removeprefix("TASK#")] = str(item["task_token"])
            elif sk.startswith("REMINDER#v"):
                found.reminders_sent.setdefault(int(item["version"]), set()).add(str(item["reminder"]))
            elif sk.startswith("LINK#"):
                found.links.append(link_from(item))
                found.join_info[str(item["link_id"])] = str(item["attendee"])
        return found

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

    def visits_of_provider(self, provider_id: str, start: datetime, end: datetime) -> list[Visit]:
        return [
            visit_from(i)
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

    def record_check_in(
        self,
        check_in: CheckIn,
        appointment: Appointment,
        visit: Visit,
        outbox: list[OutboxEntry],
        claim: IdempotencyClaim | None = None,
    ) -> None:
        """The check-in (once per appointment version: a moved visit is checked in anew), the visit
        it opens, its consents, audit event and announcement; only while the appointment is booked
        at that version."""
        now = datetime.now(UTC)
        items = [
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
                            "at_home": check_in.at_home,
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
                    "ExpressionAttributeValues": self._item({":v": appointment.version, ":booked": "booked"}),
                }
            },
            {"Put": {"TableName": self.table, "Item": self._visit_item(visit, 1)}},
            *self._outbox_items(outbox, now),
        ]
        if claim is not None:
            items.append(self._claim_item(claim, now))
        try:
            self._client.transact_write_items(TransactItems=items)
        except self._client.exceptions.TransactionCanceledException as error:
            self._claimed(claim, items, self._failed(error))
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
            items.append(self._appointments.replace_booked(before, after))
        try:
            self._client.transact_write_items(TransactItems=items)
        except self._client.exceptions.TransactionCanceledException as error:
            raise VisitChangedError("the visit changed meanwhile") from error
        return revision + 1

    def redeem_link(
        self, link: IssuedLink, outbox: list[OutboxEntry], claim: IdempotencyClaim | None = None
    ) -> None:
        """Spend the link, once: of two redemptions racing, exactly one passes the condition."""
        now = datetime.now(UTC)
        items = [
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
            *self._outbox_items(outbox, now),
        ]
        if claim is not None:
            items.append(self._claim_item(claim, now))
        try:
            self._client.transact_write_items(TransactItems=items)
        except self._client.exceptions.TransactionCanceledException as error:
            self._claimed(claim, items, self._failed(error))
            raise VisitChangedError("the link was spent meanwhile") from error

    def close_appointment(self, before: Appointment, after: Appointment, outbox: list[OutboxEntry]) -> None:
        """A no-show before any check-in: the appointment's last version, with its record."""
        try:
            self._client.transact_write_items(
                TransactItems=[
                    self._appointments.replace_booked(before, after),
                    *self._outbox_items(outbox, datetime.now(UTC)),
                ]
            )
        except self._client.exceptions.TransactionCanceledException as error:
            raise StaleWriteError("the appointment changed meanwhile") from error
