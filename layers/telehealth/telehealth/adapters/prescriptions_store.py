"""Prescriptions in the clinic table, and what the platform remembers of a patient for prescribing.

| item | pk | sk | gsi1pk / gsi1sk | gsi2pk / gsi2sk |
|---|---|---|---|---|
| a prescription (versioned) | RX#<id> | RX | PATIENT#<id>#RX / <written>#<id> | RXVISIT#<appt> / <id> |
| a send's key: its prescription | RXKEY#<caller, encounter, key digest> | RXKEY | | |
| the patient's pharmacy and network id | PATIENT#<id> | PRESCRIBING | | |
| a prescriber's linked network account (sealed) | PROVIDER#<id> | PRESCRIBER_ACCOUNT | | |
| a sign-in at the network under way (expires) | RXLINK#<state> | RXLINK | | |

A prescription written from a case of photos has RXCASE#<case> as its gsi2pk instead.

A webhook names the prescription by our id (the network's external id): one GetItem. The
send's key item is written with the prescription in one transaction, so a retried send finds
the prescription its first attempt made, whatever became of that attempt.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict
from datetime import UTC, date, datetime
from typing import Any

from telehealth.adapters.dynamo import from_stamp, stamp
from telehealth.adapters.table_store import TableStore
from telehealth.domain.prescribing import DeaRegistration
from telehealth.domain.prescriptions import (
    Directions,
    Fill,
    PendingLink,
    Pharmacy,
    PrescriberAccount,
    Prescription,
    PrescriptionStatus,
    RenewalRequest,
    RenewalStatus,
)
from telehealth.errors import StaleWriteError
from telehealth.ports import IdempotencyClaim, OutboxEntry


def _body(rx: Prescription) -> str:
    return json.dumps(
        {
            "directions": asdict(rx.directions),
            "pharmacy": asdict(rx.pharmacy),
            "acknowledged": list(rx.acknowledged),
            "fills": [{"fill_id": f.fill_id, "quantity": f.quantity, "at": stamp(f.at)} for f in rx.fills],
            "renewals": [
                {
                    "request_id": r.request_id,
                    "at": stamp(r.at),
                    "status": r.status.value,
                    "renewed_by": r.renewed_by,
                }
                for r in rx.renewals
            ],
            "notices": list(rx.notices),
        },
        separators=(",", ":"),
    )


def prescription_from(p: Mapping[str, Any]) -> Prescription:
    body = json.loads(p["body"])
    return Prescription(
        prescription_id=str(p["pk"]).removeprefix("RX#"),
        appointment_id=p.get("appointment_id"),
        visit_version=int(p["visit_version"]) if p.get("visit_version") is not None else None,
        case_id=p.get("case_id"),
        patient_id=p["patient_id"],
        provider_id=p["provider_id"],
        patient_state=p["patient_state"],
        directions=Directions(**body["directions"]),
        drug_name=p["drug_name"],
        schedule=p.get("schedule"),
        pharmacy=Pharmacy(**body["pharmacy"]),
        written_at=from_stamp(p["written_at"]),
        status=PrescriptionStatus(p["status"]),
        version=int(p["version"]),
        updated_at=from_stamp(p["updated_at"]) if p.get("updated_at") else None,
        acknowledged=tuple(body["acknowledged"]),
        vendor_prescription_id=p.get("vendor_prescription_id", ""),
        vendor_order_id=p.get("vendor_order_id", ""),
        failure_reason=p.get("failure_reason", ""),
        fills=tuple(Fill(f["fill_id"], int(f["quantity"]), from_stamp(f["at"])) for f in body["fills"]),
        renewals=tuple(
            RenewalRequest(
                r["request_id"], from_stamp(r["at"]), RenewalStatus(r["status"]), r.get("renewed_by")
            )
            for r in body["renewals"]
        ),
        renews=p.get("renews"),
        notices=tuple(body["notices"]),
    )


class DynamoPrescriptions(TableStore):
    def _put(self, rx: Prescription) -> dict[str, Any]:
        return self._versioned_put(
            {
                "pk": f"RX#{rx.prescription_id}",
                "sk": "RX",
                "gsi1pk": f"PATIENT#{rx.patient_id}#RX",
                "gsi1sk": f"{stamp(rx.written_at)}#{rx.prescription_id}",
                "gsi2pk": f"RXVISIT#{rx.appointment_id}" if rx.appointment_id else f"RXCASE#{rx.case_id}",
                "gsi2sk": rx.prescription_id,
                "appointment_id": rx.appointment_id,
                "visit_version": rx.visit_version,
                "case_id": rx.case_id,
                "patient_id": rx.patient_id,
                "provider_id": rx.provider_id,
                "patient_state": rx.patient_state,
                "drug_name": rx.drug_name,
                "schedule": rx.schedule,
                "written_at": stamp(rx.written_at),
                "status": rx.status.value,
                "updated_at": stamp(rx.updated_at) if rx.updated_at else None,
                "vendor_prescription_id": rx.vendor_prescription_id or None,
                "vendor_order_id": rx.vendor_order_id or None,
                "failure_reason": rx.failure_reason or None,
                "renews": rx.renews,
                "body": _body(rx),
            },
            counter="version",
            value=rx.version,
        )

    def prescription(self, prescription_id: str) -> Prescription | None:
        found = self._get(f"RX#{prescription_id}", "RX")
        return prescription_from(found) if found else None

    def _listed(self, index: str, key: str, value: str) -> list[Prescription]:
        found: list[Prescription] = []
        arguments: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": index,
            "KeyConditionExpression": "#k = :v",
            "ExpressionAttributeNames": {"#k": key},
            "ExpressionAttributeValues": {":v": {"S": value}},
            "ScanIndexForward": False,
        }
        while True:
            page = self._client.query(**arguments)
            found += [prescription_from(self._plain(i)) for i in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return found
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def for_patient(self, patient_id: str) -> list[Prescription]:
        """Newest first."""
        return self._listed("gsi1", "gsi1pk", f"PATIENT#{patient_id}#RX")

    def for_visit(self, appointment_id: str) -> list[Prescription]:
        return self._listed("gsi2", "gsi2pk", f"RXVISIT#{appointment_id}")

    def for_case(self, case_id: str) -> list[Prescription]:
        return self._listed("gsi2", "gsi2pk", f"RXCASE#{case_id}")

    def begin(self, rx: Prescription, send_key: str, outbox: list[OutboxEntry]) -> Prescription:
        """Keep the prescription as it is being sent, under its send's key; the prescription that
        key kept before, where a first attempt got this far."""
        pointer = {
            "Put": {
                "TableName": self.table,
                "Item": self._item(
                    {"pk": f"RXKEY#{send_key}", "sk": "RXKEY", "prescription_id": rx.prescription_id}
                ),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
        try:
            self._commit([self._put(rx), pointer], outbox, None, StaleWriteError("sent before"))
            return rx
        except StaleWriteError:
            kept = self._get(f"RXKEY#{send_key}", "RXKEY")
            earlier = self.prescription(kept["prescription_id"]) if kept else None
            if earlier is None:
                raise
            return earlier

    def save(
        self,
        rx: Prescription,
        outbox: list[OutboxEntry],
        claim: IdempotencyClaim | None = None,
        *,
        remember: tuple[str, Pharmacy] | None = None,
    ) -> None:
        """The prescription at its version; `remember`: the patient's network id and pharmacy,
        kept in the same transaction (what the next prescription starts from)."""
        writes = [self._put(rx)]
        if remember is not None:
            writes.append({"Put": {"TableName": self.table, "Item": self._link(rx.patient_id, *remember)}})
        self._commit(writes, outbox, claim, StaleWriteError("the prescription changed meanwhile"))

    def prescribing_link(self, patient_id: str) -> tuple[str | None, Pharmacy | None]:
        """The patient's id at the network and the pharmacy they last had a prescription sent to."""
        found = self._get(f"PATIENT#{patient_id}", "PRESCRIBING")
        if not found:
            return None, None
        pharmacy = json.loads(found["pharmacy"]) if found.get("pharmacy") else None
        return found.get("vendor_patient_id"), Pharmacy(**pharmacy) if pharmacy else None

    def _link(self, patient_id: str, vendor_patient_id: str, pharmacy: Pharmacy | None) -> dict[str, Any]:
        return self._item(
            {
                "pk": f"PATIENT#{patient_id}",
                "sk": "PRESCRIBING",
                "vendor_patient_id": vendor_patient_id,
                "pharmacy": json.dumps(asdict(pharmacy)) if pharmacy else None,
            }
        )

    def remember(self, patient_id: str, vendor_patient_id: str, pharmacy: Pharmacy | None) -> None:
        self._client.put_item(TableName=self.table, Item=self._link(patient_id, vendor_patient_id, pharmacy))

    def dea_registrations(self, provider_id: str) -> tuple[tuple[DeaRegistration, ...], int]:
        """The prescriber's DEA registrations and their version (none, version 0, before any)."""
        found = self._get(f"PROVIDER#{provider_id}", "DEA")
        if not found:
            return (), 0
        return (
            tuple(
                DeaRegistration(
                    r["number"], r["state"], frozenset(r["schedules"]), date.fromisoformat(r["expires"])
                )
                for r in json.loads(found["registrations"])
            ),
            int(found["version"]),
        )

    def save_dea_registrations(
        self,
        provider_id: str,
        registrations: tuple[DeaRegistration, ...],
        version: int,
        outbox: list[OutboxEntry],
    ) -> None:
        body = [
            {
                "number": r.number,
                "state": r.state,
                "schedules": sorted(r.schedules),
                "expires": r.expires.isoformat(),
            }
            for r in registrations
        ]
        put = self._versioned_put(
            {"pk": f"PROVIDER#{provider_id}", "sk": "DEA", "registrations": json.dumps(body)},
            counter="version",
            value=version,
        )
        self._commit([put], outbox, None, StaleWriteError("the registrations changed meanwhile"))

    # --- a prescriber's account at the network ----------------------------------------------------

    def prescriber_account(self, provider_id: str) -> PrescriberAccount | None:
        found = self._get(f"PROVIDER#{provider_id}", "PRESCRIBER_ACCOUNT")
        if not found:
            return None
        return PrescriberAccount(provider_id, found["credential"], from_stamp(found["linked_at"]))

    def save_prescriber_account(self, account: PrescriberAccount, outbox: list[OutboxEntry]) -> None:
        """Where none is linked (StaleWriteError if one is)."""
        put = {
            "Put": {
                "TableName": self.table,
                "Item": self._item(
                    {
                        "pk": f"PROVIDER#{account.provider_id}",
                        "sk": "PRESCRIBER_ACCOUNT",
                        "credential": account.credential,
                        "linked_at": stamp(account.linked_at),
                    }
                ),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
        self._commit([put], outbox, None, StaleWriteError("an account is linked already"))

    def forget_prescriber_account(self, account: PrescriberAccount, outbox: list[OutboxEntry]) -> None:
        """This account, if it is still the one linked (StaleWriteError otherwise)."""
        key = self._item({"pk": f"PROVIDER#{account.provider_id}", "sk": "PRESCRIBER_ACCOUNT"})
        delete = {
            "Delete": {
                "TableName": self.table,
                "Key": key,
                "ConditionExpression": "credential = :credential",
                "ExpressionAttributeValues": self._item({":credential": account.credential}),
            }
        }
        self._commit([delete], outbox, None, StaleWriteError("the account was linked again meanwhile"))

    def begin_link(self, state: str, pending: PendingLink) -> None:
        self._client.put_item(
            TableName=self.table,
            Item=self._item(
                {
                    "pk": f"RXLINK#{state}",
                    "sk": "RXLINK",
                    "provider_id": pending.provider_id,
                    "verifier": pending.verifier,
                    "expires_at": int(pending.expires_at.timestamp()),
                }
            ),
            ConditionExpression="attribute_not_exists(pk)",
        )

    def take_link(self, state: str) -> PendingLink | None:
        """The sign-in under way by its state, taken: a state finishes one link, once."""
        answer = self._client.delete_item(
            TableName=self.table,
            Key=self._item({"pk": f"RXLINK#{state}", "sk": "RXLINK"}),
            ReturnValues="ALL_OLD",
        )
        if not answer.get("Attributes"):
            return None
        old = self._plain(answer["Attributes"])
        return PendingLink(
            old["provider_id"], old["verifier"], datetime.fromtimestamp(int(old["expires_at"]), UTC)
        )
