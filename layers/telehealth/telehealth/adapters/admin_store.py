"""Clinic administration in the clinic table: settings and services, versioned, every change kept.

| item | pk | sk |
|---|---|---|
| what stands now (below) | CLINIC | CURRENT |
| one version of the settings, with its change | CLINIC | HISTORY#SETTINGS#V#<version, 8 digits> |
| one version of a service, with its change | CLINIC | HISTORY#SERVICE#<code>#V#<version, 8 digits> |

What stands now is one item: the settings (`settings`, `settings_version`) and each service
(`svc_<code>`, `svcv_<code>`), so booking and the lifecycle read it with one `GetItem` (once a
minute per container); a clinic has tens of services, far inside an item's 400 KB. Each of its
parts carries its own version: a write updates only its part, on the condition that the part's
version is the one the admin read (absent, for version 0), in one transaction with the version's
change record (on the condition that it is new). So two admins editing the same part: one wins
and the other hears 409; editing different parts, both go through; and the history holds every
version that was ever current.

Providers keep the scheduling store's layout (profile and credentials in `PROVIDER#<id>`);
`DynamoProviderAdmin` writes them whole, conditional on the profile's version.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from telehealth.adapters.dynamo import DynamoTable, stamp
from telehealth.adapters.scheduling_store import DynamoSchedulingStore
from telehealth.domain.clinic_settings import Change, ClinicSettings, Service
from telehealth.domain.service_types import ServiceType
from telehealth.ports import OutboxEntry, ProviderRecord, StaleWriteError

CLINIC_PK = "CLINIC"
CURRENT_SK = "CURRENT"
SERVICE_ATTR, SERVICE_VERSION_ATTR = "svc_", "svcv_"


def _version_key(version: int) -> str:
    return f"V#{version:08d}"


class DynamoClinicAdmin(DynamoTable):
    def current(self) -> tuple[tuple[ClinicSettings, int] | None, dict[str, tuple[Service, int]]]:
        """The settings (None: never written) and every service, as they stand: one GetItem."""
        item = self._client.get_item(
            TableName=self.table,
            Key={"pk": {"S": CLINIC_PK}, "sk": {"S": CURRENT_SK}},
            ConsistentRead=True,
        ).get("Item")
        plain = self._plain(item) if item else {}
        settings = (
            (ClinicSettings.from_seconds(json.loads(plain["settings"])), int(plain["settings_version"]))
            if "settings_version" in plain
            else None
        )
        services: dict[str, tuple[Service, int]] = {}
        for name, value in plain.items():
            if name.startswith(SERVICE_ATTR):
                code = name.removeprefix(SERVICE_ATTR)
                version = int(plain[SERVICE_VERSION_ATTR + code])
                services[code] = (service_from_fields(json.loads(value)), version)
        return settings, services

    # --- settings ------------------------------------------------------------------------------------

    def settings(self) -> tuple[ClinicSettings, int] | None:
        return self.current()[0]

    def save_settings(self, settings: ClinicSettings, expected_version: int, change: Change) -> int:
        body = json.dumps(settings.as_seconds(), sort_keys=True)
        history = f"HISTORY#SETTINGS#{_version_key(change.version)}"
        self._versioned_write("settings", "settings_version", history, body, expected_version, change)
        return change.version

    def settings_history(self, limit: int) -> list[Change]:
        return self._history("HISTORY#SETTINGS#V#", limit)

    # --- services ------------------------------------------------------------------------------------

    def services(self) -> dict[str, tuple[Service, int]]:
        return self.current()[1]

    def save_service(self, service: Service, expected_version: int, change: Change) -> int:
        body = json.dumps(service_fields(service), sort_keys=True)
        self._versioned_write(
            SERVICE_ATTR + service.code,
            SERVICE_VERSION_ATTR + service.code,
            f"HISTORY#SERVICE#{service.code}#{_version_key(change.version)}",
            body,
            expected_version,
            change,
        )
        return change.version

    def service_history(self, code: str, limit: int) -> list[Change]:
        return self._history(f"HISTORY#SERVICE#{code}#V#", limit)

    # --- shared ----------------------------------------------------------------------------------------

    def _versioned_write(
        self,
        attribute: str,
        version_attribute: str,
        history_sk: str,
        body: str,
        expected_version: int,
        change: Change,
    ) -> None:
        """One part of the current item (its value and its version), if the part is at
        `expected_version`, with the version's history item."""
        current: dict[str, Any] = {
            "TableName": self.table,
            "Key": {"pk": {"S": CLINIC_PK}, "sk": {"S": CURRENT_SK}},
            "UpdateExpression": "SET #a = :body, #v = :new",
            "ExpressionAttributeNames": {"#a": attribute, "#v": version_attribute},
            "ExpressionAttributeValues": self._item({":body": body, ":new": change.version}),
        }
        if expected_version == 0:
            current["ConditionExpression"] = "attribute_not_exists(#v)"
        else:
            current["ConditionExpression"] = "#v = :read"
            current["ExpressionAttributeValues"].update(self._item({":read": expected_version}))
        values = {"settings" if attribute == "settings" else "service": body}  # what the version was
        history = {
            "TableName": self.table,
            "Item": self._item(
                {
                    "pk": CLINIC_PK,
                    "sk": history_sk,
                    **values,
                    "version": change.version,
                    "changed_at": stamp(change.at),
                    "changed_by": change.by,
                    "changes": json.dumps(change.changes, sort_keys=True, default=str),
                }
            ),
            "ConditionExpression": "attribute_not_exists(pk)",
        }
        try:
            self._client.transact_write_items(TransactItems=[{"Update": current}, {"Put": history}])
        except self._client.exceptions.TransactionCanceledException as error:
            raise StaleWriteError("changed since it was read") from error

    def _history(self, prefix: str, limit: int) -> list[Change]:
        """The newest `limit` versions first."""
        page = self._client.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :v)",
            ExpressionAttributeValues={":pk": {"S": CLINIC_PK}, ":v": {"S": prefix}},
            ScanIndexForward=False,
            Limit=limit,
            ConsistentRead=True,
        )
        return [
            Change(
                version=int(p["version"]),
                at=datetime.strptime(p["changed_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC),
                by=p["changed_by"],
                changes={k: (v[0], v[1]) for k, v in json.loads(p["changes"]).items()},
            )
            for p in (self._plain(i) for i in page.get("Items", []))
        ]


def service_fields(service: Service) -> dict[str, Any]:
    return {
        "code": service.code,
        "display": service.display,
        "minutes": service.minutes,
        "price_minor": service.price_minor,
        "currency": service.currency,
        "active": service.active,
        "coding": service.coding.as_fields() if service.coding else None,
        "billing_code": service.billing_code,
    }


def service_from_fields(raw: dict[str, Any]) -> Service:
    """A service as `service_fields` kept it (one kept before services had a coding, or a billing
    code, has none)."""
    return Service(**{**raw, "coding": ServiceType.from_fields(raw.get("coding"))})


class DynamoProviderAdmin(DynamoSchedulingStore):
    """Providers written whole by admins: the profile (conditional on the version read), every
    credential, removed credentials deleted, the Practitioner, Schedule and audit event, in one
    transaction (a provider holds at most `MAX_CREDENTIALS`, far under DynamoDB's 100 actions)."""

    def save_provider(
        self,
        record: ProviderRecord,
        expected_version: int,
        before: ProviderRecord | None,
        outbox: list[OutboxEntry],
    ) -> None:
        items = self.put_provider(record)
        profile = items[0]["Put"]
        if expected_version == 0:
            profile["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            profile["ConditionExpression"] = "version = :v"
            profile["ExpressionAttributeValues"] = self._item({":v": expected_version})
        kept = {(c.state, c.number) for c in record.licenses}
        items += [
            {
                "Delete": {
                    "TableName": self.table,
                    "Key": {
                        "pk": {"S": f"PROVIDER#{record.profile.provider_id}"},
                        "sk": {"S": f"LICENSE#{c.state}#{c.number}"},
                    },
                }
            }
            for c in (before.licenses if before else ())
            if (c.state, c.number) not in kept
        ]
        items += self.outbox_items(outbox)
        try:
            self._client.transact_write_items(TransactItems=items)
        except self._client.exceptions.TransactionCanceledException as error:
            raise StaleWriteError("the provider changed since it was read") from error
