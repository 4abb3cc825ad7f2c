"""Remote monitoring's items in the clinic table: enrolments, devices, readings, the rules'
episodes and the alerts they raised.

| item | pk | sk | gsi1 (pk / sk) |
|---|---|---|---|
| enrolment | RPM#<patient id> | ENROLMENT | RPM_PANEL / <patient id> |
| device, by its maker's serial | RPM_DEVICE#<serial> | DEVICE | |
| device, among the patient's | RPM#<patient id> | DEVICE#<device id> | |
| reading | RPM#<patient id> | READING#<measured at>#<code>#<device id>#<identifier> | |
| a rule's open episode | RPM#<patient id> | EPISODE#<rule> | |
| alert | RPM#<patient id> | ALERT#<alert id> | |
| a queue message held to the rules | RPM#<patient id> | BATCH#<message id> (expires) | |
| a day a device sent readings on (billing) | RPM#<patient id> | DEVICEDAY#<UTC date> | |
| the patient's consent (billing) | RPM#<patient id> | CONSENT | |
| who bills, from a day on | RPM#<patient id> | BILLER#<date> | |
| treatment-management time | RPM#<patient id> | TIME#<date>#<entry id> | |
| the patient's Dexcom account (token sealed) | RPM#<patient id> | DEXCOM | RPM_DEXCOM / <patient id> |
| a Dexcom sign-in under way (ten minutes; expires) | DEXCOM_LINK#<state> | PENDING | |

A patient's monitoring is one partition of its own: the rules read the last fortnight's readings
with one query of it (in time order, by the sort key), the panel reads each enrolled patient's
alerts with another. A reading's key is what makes it the same reading when a device sends it
again: its time, code, device and the device's identifier for it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from telehealth.adapters.dynamo import from_stamp, stamp
from telehealth.adapters.scheduling_store import patient_from, profile_from
from telehealth.adapters.table_store import TableStore
from telehealth.application.dexcom import DexcomAccount
from telehealth.domain.cgm import TARGETS, targets_name
from telehealth.domain.monitoring import Alert, Device, DeviceKind, Enrolment, Program
from telehealth.domain.monitoring_alerts import Episode, Escalation, Tier
from telehealth.domain.news2 import SpO2Scale
from telehealth.domain.readings import Provenance, Reading
from telehealth.domain.rpm_billing import BillingPractitioner, Consent, ConsentMethod, TimeEntry
from telehealth.errors import DeviceTakenError
from telehealth.fhir.projection import PatientProfile
from telehealth.ports import OutboxEntry, StaleWriteError

PANEL = "RPM_PANEL"
DEXCOM_LINKED = "RPM_DEXCOM"  # gsi1: the accounts the poller reads
BATCH_KEPT = timedelta(days=5)  # past the work queue's four days: a retry always finds its mark


def _pk(patient_id: str) -> str:
    return f"RPM#{patient_id}"


def _reading_sk(r: Reading) -> str:
    return f"READING#{stamp(r.effective)}#{r.code}#{r.device_id}#{r.identifier}"


def _enrolment(p: Mapping[str, Any]) -> Enrolment:
    return Enrolment(
        patient_id=str(p["pk"]).removeprefix("RPM#"),
        program=Program(p["program"]),
        enrolled_at=from_stamp(str(p["enrolled_at"])),
        spo2_scale=SpO2Scale(p["spo2_scale"]),
        on_oxygen=bool(p["on_oxygen"]) if p.get("on_oxygen") is not None else None,
        glucose_targets=TARGETS[str(p["glucose_targets"])],
        enrolled_by=str(p["enrolled_by"]) if "enrolled_by" in p else None,
    )


def _device(p: Mapping[str, Any]) -> Device:
    return Device(
        device_id=str(p["device_id"]),
        serial=str(p["serial"]),
        patient_id=str(p["patient_id"]),
        kind=DeviceKind(p["kind"]),
        registered_at=from_stamp(str(p["registered_at"])),
    )


def _reading(p: Mapping[str, Any]) -> Reading:
    return Reading(
        patient_id=str(p["pk"]).removeprefix("RPM#"),
        device_id=str(p["device_id"]),
        code=str(p["code"]),
        value=float(p["value"]),
        effective=datetime.fromisoformat(str(p["effective"])),
        identifier=str(p["identifier"]),
        provenance=Provenance(p["provenance"]),
    )


def _dexcom_account(p: Mapping[str, Any]) -> DexcomAccount:
    return DexcomAccount(
        patient_id=str(p["pk"]).removeprefix("RPM#"),
        sealed=str(p["sealed"]),
        linked_at=from_stamp(str(p["linked_at"])),
        polled_through=from_stamp(str(p["polled_through"])) if p.get("polled_through") else None,
        needs_relink=bool(p.get("needs_relink", False)),
    )


def alert_from(p: Mapping[str, Any]) -> Alert:
    return Alert(
        alert_id=str(p["sk"]).removeprefix("ALERT#"),
        patient_id=str(p["pk"]).removeprefix("RPM#"),
        rule=str(p["rule"]),
        tier=Tier(int(p["tier"])),
        raised_at=from_stamp(str(p["raised_at"])),
        escalated=bool(p["escalated"]),
        note=str(p.get("note", "")),
        acknowledged_at=from_stamp(str(p["acknowledged_at"])) if "acknowledged_at" in p else None,
        acknowledged_by=str(p["acknowledged_by"]) if "acknowledged_by" in p else None,
        acknowledgement=str(p["acknowledgement"]) if "acknowledgement" in p else None,
        escalations=tuple(
            Escalation(str(e["provider_id"]), from_stamp(str(e["at"]))) for e in p.get("escalations") or ()
        ),
    )


class DynamoMonitoringStore(TableStore):
    # --- enrolments and devices -----------------------------------------------------------------

    def patient(self, patient_id: str) -> PatientProfile | None:
        found = self._get(f"PATIENT#{patient_id}", "PROFILE")
        return patient_from(found) if found else None

    def provider_names(self, provider_ids: Sequence[str]) -> dict[str, str]:
        """The providers' names, as the care team reads them (an alert handed on names a few)."""
        names = {}
        for provider_id in dict.fromkeys(provider_ids):
            found = self._get(f"PROVIDER#{provider_id}", "PROFILE")
            if found:
                profile = profile_from(found)
                names[provider_id] = f"{profile.given_name} {profile.family_name}"
        return names

    def enrolment(self, patient_id: str) -> Enrolment | None:
        found = self._get(_pk(patient_id), "ENROLMENT")
        return _enrolment(found) if found else None

    def enrolments(self) -> list[Enrolment]:
        return [
            _enrolment(p)
            for p in self._query(
                IndexName="gsi1",
                KeyConditionExpression="gsi1pk = :pk",
                ExpressionAttributeValues={":pk": {"S": PANEL}},
            )
        ]

    def save_enrolment(self, enrolment: Enrolment, outbox: list[OutboxEntry]) -> None:
        item = {
            "pk": _pk(enrolment.patient_id),
            "sk": "ENROLMENT",
            "program": enrolment.program.value,
            "enrolled_at": stamp(enrolment.enrolled_at),
            "spo2_scale": enrolment.spo2_scale.value,
            "on_oxygen": enrolment.on_oxygen,
            "glucose_targets": targets_name(enrolment.glucose_targets),
            "enrolled_by": enrolment.enrolled_by,
            "gsi1pk": PANEL,
            "gsi1sk": enrolment.patient_id,
        }
        self._commit(
            [{"Put": {"TableName": self.table, "Item": self._item(item)}}], outbox, None, StaleWriteError()
        )

    def device(self, serial: str) -> Device | None:
        found = self._get(f"RPM_DEVICE#{serial}", "DEVICE")
        return _device(found) if found else None

    def devices_of(self, patient_id: str) -> list[Device]:
        return [
            _device(p)
            for p in self._query(
                KeyConditionExpression="pk = :pk AND begins_with(sk, :device)",
                ExpressionAttributeValues={":pk": {"S": _pk(patient_id)}, ":device": {"S": "DEVICE#"}},
            )
        ]

    def register_device(self, device: Device, outbox: list[OutboxEntry]) -> None:
        """Both of the device's items, or neither: a serial registered already is refused."""
        values = {
            "device_id": device.device_id,
            "serial": device.serial,
            "patient_id": device.patient_id,
            "kind": device.kind.value,
            "registered_at": stamp(device.registered_at),
        }
        by_serial = {
            "Put": {
                "TableName": self.table,
                "Item": self._item({"pk": f"RPM_DEVICE#{device.serial}", "sk": "DEVICE", **values}),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
        of_patient = {
            "Put": {
                "TableName": self.table,
                "Item": self._item(
                    {"pk": _pk(device.patient_id), "sk": f"DEVICE#{device.device_id}", **values}
                ),
            }
        }
        self._commit(
            [by_serial, of_patient], outbox, None, DeviceTakenError("The device is registered already.")
        )

    # --- readings ---------------------------------------------------------------------------------

    def keep_readings(self, readings: Sequence[Reading], batch: str) -> list[Reading]:
        """Keep the readings; answer those kept for the first time (by this batch: a retry of the
        batch finds the ones it wrote still its own)."""
        keyed = {(_pk(r.patient_id), _reading_sk(r)): r for r in readings}
        seen: dict[tuple[str, str], str] = {}
        keys = list(keyed)
        for i in range(0, len(keys), 100):
            for item in self._batch_get(keys[i : i + 100]):
                seen[(item["pk"]["S"], item["sk"]["S"])] = item.get("batch", {}).get("S", "")
        new = {k: r for k, r in keyed.items() if seen.get(k, batch) == batch}
        now = stamp(datetime.now(UTC))
        puts = [
            {
                "PutRequest": {
                    "Item": self._item(
                        {
                            "pk": pk,
                            "sk": sk,
                            "device_id": r.device_id,
                            "code": r.code,
                            "value": Decimal(str(r.value)),  # DynamoDB's numbers take no float
                            "effective": r.effective.isoformat(),
                            "identifier": r.identifier,
                            "provenance": r.provenance.value,
                            "batch": batch,
                            "kept_at": now,
                        }
                    )
                }
            }
            for (pk, sk), r in new.items()
            if (pk, sk) not in seen
        ]
        # The billing ledger's device days: a mark per patient and UTC day a device sent on
        # (written again by a later reading of the day: the same item).
        days = {
            (_pk(r.patient_id), f"DEVICEDAY#{r.effective.astimezone(UTC).date().isoformat()}")
            for r in new.values()
            if r.provenance is Provenance.DEVICE
        }
        puts += [{"PutRequest": {"Item": self._item({"pk": pk, "sk": sk})}} for pk, sk in sorted(days)]
        for i in range(0, len(puts), 25):
            self._batch_write(puts[i : i + 25])
        return list(new.values())

    def _batch_get(self, keys: list[tuple[str, str]]) -> list[dict[str, Any]]:
        request: dict[str, Any] = {
            self.table: {
                "Keys": [{"pk": {"S": pk}, "sk": {"S": sk}} for pk, sk in keys],
                "ProjectionExpression": "pk, sk, #batch",
                "ExpressionAttributeNames": {"#batch": "batch"},
                "ConsistentRead": True,
            }
        }
        found: list[dict[str, Any]] = []
        for attempt in range(8):
            answer = self._client.batch_get_item(RequestItems=request)
            found += answer.get("Responses", {}).get(self.table, [])
            request = answer.get("UnprocessedKeys") or {}
            if not request:
                return found
            time.sleep(0.05 * 2**attempt)
        raise StaleWriteError("the table kept refusing reads")

    def _batch_write(self, puts: list[dict[str, Any]]) -> None:
        request: dict[str, Any] = {self.table: puts}
        for attempt in range(8):
            request = self._client.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
            if not request:
                return
            time.sleep(0.05 * 2**attempt)
        raise StaleWriteError("the table kept refusing writes")

    def readings_since(self, patient_id: str, since: datetime) -> list[Reading]:
        """Read consistently: the keeper reads back what it has just written."""
        return [
            _reading(p)
            for p in self._query(
                ConsistentRead=True,
                KeyConditionExpression="pk = :pk AND sk BETWEEN :from AND :to",
                ExpressionAttributeValues={
                    ":pk": {"S": _pk(patient_id)},
                    ":from": {"S": f"READING#{stamp(since)}"},
                    ":to": {"S": "READING#~"},
                },
            )
        ]

    def last_reading_at(self, patient_id: str) -> datetime | None:
        """When the patient's latest reading was measured (the sort key's order: one item read)."""
        page = self._client.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :from AND :to",
            ExpressionAttributeValues={
                ":pk": {"S": _pk(patient_id)},
                ":from": {"S": "READING#"},
                ":to": {"S": "READING#~"},
            },
            ProjectionExpression="effective",
            ScanIndexForward=False,
            Limit=1,
        )
        items = page.get("Items", [])
        return datetime.fromisoformat(items[0]["effective"]["S"]) if items else None

    # --- a patient's Dexcom account ----------------------------------------------------------------

    def begin_dexcom_link(self, state: str, patient_id: str, expires_at: datetime) -> None:
        item = {
            "pk": f"DEXCOM_LINK#{state}",
            "sk": "PENDING",
            "patient_id": patient_id,
            "expires_at": stamp(expires_at),
            "ttl": int(expires_at.timestamp()) + 3600,
        }
        self._client.put_item(TableName=self.table, Item=self._item(item))

    def take_dexcom_link(self, state: str) -> tuple[str, datetime] | None:
        """The pending sign-in, taken once (deleted as it is read)."""
        gone = self._client.delete_item(
            TableName=self.table,
            Key={"pk": {"S": f"DEXCOM_LINK#{state}"}, "sk": {"S": "PENDING"}},
            ReturnValues="ALL_OLD",
        ).get("Attributes")
        if not gone:
            return None
        plain = self._plain(gone)
        return str(plain["patient_id"]), from_stamp(str(plain["expires_at"]))

    def dexcom_account(self, patient_id: str) -> DexcomAccount | None:
        found = self._get(_pk(patient_id), "DEXCOM")
        return _dexcom_account(found) if found else None

    def dexcom_accounts(self) -> list[DexcomAccount]:
        return [
            _dexcom_account(p)
            for p in self._query(
                IndexName="gsi1",
                KeyConditionExpression="gsi1pk = :pk",
                ExpressionAttributeValues={":pk": {"S": DEXCOM_LINKED}},
            )
        ]

    def save_dexcom_account(
        self, account: DexcomAccount, outbox: list[OutboxEntry], *, replacing: str | None = None
    ) -> None:
        item = {
            "pk": _pk(account.patient_id),
            "sk": "DEXCOM",
            "sealed": account.sealed,
            "linked_at": stamp(account.linked_at),
            "polled_through": stamp(account.polled_through) if account.polled_through else None,
            "needs_relink": account.needs_relink,
            "gsi1pk": DEXCOM_LINKED,
            "gsi1sk": account.patient_id,
        }
        put: dict[str, Any] = {"TableName": self.table, "Item": self._item(item)}
        if replacing is not None:
            put["ConditionExpression"] = "sealed = :replacing"
            put["ExpressionAttributeValues"] = {":replacing": {"S": replacing}}
        self._commit([{"Put": put}], outbox, None, StaleWriteError("the account was linked again meanwhile"))

    def forget_dexcom_account(self, patient_id: str, outbox: list[OutboxEntry]) -> None:
        delete = {
            "Delete": {"TableName": self.table, "Key": self._item({"pk": _pk(patient_id), "sk": "DEXCOM"})}
        }
        self._commit([delete], outbox, None, StaleWriteError())

    # --- the billing ledger ------------------------------------------------------------------------

    def device_days(self, patient_id: str) -> list[date]:
        return [
            date.fromisoformat(str(p["sk"]).removeprefix("DEVICEDAY#"))
            for p in self._under(patient_id, "DEVICEDAY#", projection="sk")
        ]

    def consent(self, patient_id: str) -> Consent | None:
        found = self._get(_pk(patient_id), "CONSENT")
        if found is None:
            return None
        return Consent(
            date.fromisoformat(str(found["obtained_on"])),
            ConsentMethod(found["method"]),
            str(found["recorded_by"]),
        )

    def save_consent(self, patient_id: str, consent: Consent, outbox: list[OutboxEntry]) -> None:
        item = {
            "pk": _pk(patient_id),
            "sk": "CONSENT",
            "obtained_on": consent.obtained_on.isoformat(),
            "method": consent.method.value,
            "recorded_by": consent.recorded_by,
        }
        self._commit(
            [{"Put": {"TableName": self.table, "Item": self._item(item)}}], outbox, None, StaleWriteError()
        )

    def billing_practitioners(self, patient_id: str) -> list[BillingPractitioner]:
        return [
            BillingPractitioner(
                date.fromisoformat(str(p["sk"]).removeprefix("BILLER#")), str(p["provider_id"])
            )
            for p in self._under(patient_id, "BILLER#")
        ]

    def name_billing_practitioner(
        self, patient_id: str, named: BillingPractitioner, outbox: list[OutboxEntry]
    ) -> None:
        """From that day on (named again the same day, the later name stands)."""
        item = {
            "pk": _pk(patient_id),
            "sk": f"BILLER#{named.starting.isoformat()}",
            "provider_id": named.provider_id,
        }
        self._commit(
            [{"Put": {"TableName": self.table, "Item": self._item(item)}}], outbox, None, StaleWriteError()
        )

    def time_entries(self, patient_id: str) -> list[TimeEntry]:
        return [
            TimeEntry(
                entry_id=str(p["entry_id"]),
                on=date.fromisoformat(str(p["on"])),
                minutes=int(p["minutes"]),
                interactive=bool(p["interactive"]),
                by=str(p["by"]),
            )
            for p in self._under(patient_id, "TIME#")
        ]

    def log_time(self, patient_id: str, entry: TimeEntry, outbox: list[OutboxEntry]) -> None:
        item = {
            "pk": _pk(patient_id),
            "sk": f"TIME#{entry.on.isoformat()}#{entry.entry_id}",
            "entry_id": entry.entry_id,
            "on": entry.on.isoformat(),
            "minutes": entry.minutes,
            "interactive": entry.interactive,
            "by": entry.by,
        }
        put = {
            "Put": {
                "TableName": self.table,
                "Item": self._item(item),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
        self._commit([put], outbox, None, StaleWriteError("the time was logged already"))

    def _under(self, patient_id: str, prefix: str, projection: str | None = None) -> list[dict[str, Any]]:
        query: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": {"S": _pk(patient_id)}, ":prefix": {"S": prefix}},
        }
        if projection:
            query["ProjectionExpression"] = projection
        return list(self._query(**query))

    # --- episodes and alerts ----------------------------------------------------------------------

    def episodes(self, patient_id: str) -> dict[str, Episode]:
        found = self._query(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :episode)",
            ExpressionAttributeValues={":pk": {"S": _pk(patient_id)}, ":episode": {"S": "EPISODE#"}},
            ConsistentRead=True,
        )
        return {
            str(p["rule"]): Episode(
                rule=str(p["rule"]),
                tier=Tier(int(p["tier"])),
                opened_at=from_stamp(str(p["opened_at"])),
                clear_in_a_row=int(p["clear_in_a_row"]),
            )
            for p in found
        }

    def save_evaluation(
        self,
        patient_id: str,
        batch: str,
        episodes: Mapping[str, Episode | None],
        alerts: Sequence[Alert],
        outbox: list[OutboxEntry],
    ) -> bool:
        """The evaluation of one batch, once: False when the batch was evaluated before."""
        pk = _pk(patient_id)
        writes: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": self._item(
                        {
                            "pk": pk,
                            "sk": f"BATCH#{batch}",
                            "expires_at": int((datetime.now(UTC) + BATCH_KEPT).timestamp()),
                        }
                    ),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
        ]
        for rule, episode in episodes.items():
            key = {"pk": pk, "sk": f"EPISODE#{rule}"}
            if episode is None:
                writes.append({"Delete": {"TableName": self.table, "Key": self._item(key)}})
                continue
            item = {
                **key,
                "rule": rule,
                "tier": int(episode.tier),
                "opened_at": stamp(episode.opened_at),
                "clear_in_a_row": episode.clear_in_a_row,
            }
            writes.append({"Put": {"TableName": self.table, "Item": self._item(item)}})
        writes += [
            {"Put": {"TableName": self.table, "Item": self._item(self._alert_item(a))}} for a in alerts
        ]
        try:
            self._client.transact_write_items(TransactItems=[*writes, *self.outbox_items(outbox)])
        except self._client.exceptions.TransactionCanceledException as error:
            if 0 in self._failed(error):
                return False  # the batch's mark is there: this message was evaluated before
            raise  # anything else (a conflict, the table refusing) is tried again with the message
        return True

    def _alert_item(self, alert: Alert) -> dict[str, Any]:
        return {
            "pk": _pk(alert.patient_id),
            "sk": f"ALERT#{alert.alert_id}",
            "rule": alert.rule,
            "tier": int(alert.tier),
            "raised_at": stamp(alert.raised_at),
            "escalated": alert.escalated,
            "note": alert.note,
            "acknowledged_at": stamp(alert.acknowledged_at) if alert.acknowledged_at else None,
            "acknowledged_by": alert.acknowledged_by,
            "acknowledgement": alert.acknowledgement,
            "escalations": [{"provider_id": e.provider_id, "at": stamp(e.at)} for e in alert.escalations],
            "handed_on": len(alert.escalations),
        }

    def alert(self, patient_id: str, alert_id: str) -> Alert | None:
        found = self._get(_pk(patient_id), f"ALERT#{alert_id}")
        return alert_from(found) if found else None

    def alerts_of(self, patient_id: str) -> list[Alert]:
        """Newest first (alert ids sort by when they were made)."""
        found = self._query(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :alert)",
            ExpressionAttributeValues={":pk": {"S": _pk(patient_id)}, ":alert": {"S": "ALERT#"}},
            ScanIndexForward=False,
        )
        return [alert_from(p) for p in found]

    def save_acknowledgement(self, alert: Alert, outbox: list[OutboxEntry]) -> None:
        self._save_alert(alert, len(alert.escalations), outbox)

    def save_escalation(self, alert: Alert, outbox: list[OutboxEntry]) -> None:
        self._save_alert(alert, len(alert.escalations) - 1, outbox)

    def _save_alert(self, alert: Alert, handed_on: int, outbox: list[OutboxEntry]) -> None:
        """The alert as it was read, changed: neither acknowledged nor handed on meanwhile (an
        acknowledgement and an escalation racing, one of them finds the other's change)."""
        put = {
            "Put": {
                "TableName": self.table,
                "Item": self._item(self._alert_item(alert)),
                "ConditionExpression": (
                    "attribute_exists(pk) AND attribute_not_exists(acknowledged_at) "
                    "AND (attribute_not_exists(handed_on) OR handed_on = :handed_on)"
                ),
                "ExpressionAttributeValues": {":handed_on": {"N": str(handed_on)}},
            }
        }
        self._commit(
            [put], outbox, None, StaleWriteError("the alert was acknowledged or handed on meanwhile")
        )
