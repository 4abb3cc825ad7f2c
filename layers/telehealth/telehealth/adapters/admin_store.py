"""Clinic administration in the clinic table: settings and services, versioned, every change kept.

| item | pk | sk |
|---|---|---|
| clinic settings, as they stand | CLINIC#SETTINGS | CURRENT |
| one version of the settings, with its change | CLINIC#SETTINGS | V#<version, 8 digits> |
| a service, as it stands | CLINIC#SERVICES | SERVICE#<code> |
| one version of a service, with its change | CLINIC#SERVICES | HISTORY#<code>#V#<version, 8 digits> |

Providers keep the scheduling store's layout (profile and credentials in `PROVIDER#<id>`);
`DynamoProviderAdmin` writes them whole, conditional on the profile's version.

A write is one transaction: the current item, on the condition that its version is the one the
admin read (absent, for version 0), and the version's change record, on the condition that it
is new. So of two admins editing at once one wins and the other hears 409, and the history holds
every version that was ever current. All of a clinic's services share one partition: listing them
is one query (a clinic has tens, not thousands).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from telehealth.adapters.dynamo import DynamoTable, stamp
from telehealth.adapters.scheduling_store import DynamoSchedulingStore
from telehealth.domain.clinic_settings import Change, ClinicSettings, Service
from telehealth.ports import OutboxEntry, ProviderRecord, StaleWriteError

SETTINGS_PK = "CLINIC#SETTINGS"
SERVICES_PK = "CLINIC#SERVICES"


def _version_key(version: int) -> str:
    return f"V#{version:08d}"


class DynamoClinicAdmin(DynamoTable):
    # --- settings ------------------------------------------------------------------------------------

    def settings(self) -> tuple[ClinicSettings, int] | None:
        item = self._client.get_item(
            TableName=self.table,
            Key={"pk": {"S": SETTINGS_PK}, "sk": {"S": "CURRENT"}},
            ConsistentRead=True,
        ).get("Item")
        if not item:
            return None
        plain = self._plain(item)
        return ClinicSettings.from_seconds(json.loads(plain["settings"])), int(plain["version"])

    def save_settings(self, settings: ClinicSettings, expected_version: int, change: Change) -> int:
        body = json.dumps(settings.as_seconds(), sort_keys=True)
        self._versioned_write(
            SETTINGS_PK, "CURRENT", _version_key(change.version), {"settings": body}, expected_version, change
        )
        return change.version

    def settings_history(self, limit: int) -> list[Change]:
        return self._history(SETTINGS_PK, "V#", limit)

    # --- services ------------------------------------------------------------------------------------

    def services(self) -> dict[str, tuple[Service, int]]:
        found: dict[str, tuple[Service, int]] = {}
        for item in self._query(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :s)",
            ExpressionAttributeValues={":pk": {"S": SERVICES_PK}, ":s": {"S": "SERVICE#"}},
            ConsistentRead=True,
        ):
            service = Service(**json.loads(item["service"]))
            found[service.code] = (service, int(item["version"]))
        return found

    def save_service(self, service: Service, expected_version: int, change: Change) -> int:
        body = json.dumps(service_fields(service), sort_keys=True)
        self._versioned_write(
            SERVICES_PK,
            f"SERVICE#{service.code}",
            f"HISTORY#{service.code}#{_version_key(change.version)}",
            {"service": body},
            expected_version,
            change,
        )
        return change.version

    def service_history(self, code: str, limit: int) -> list[Change]:
        return self._history(SERVICES_PK, f"HISTORY#{code}#V#", limit)

    # --- shared ----------------------------------------------------------------------------------------

    def _versioned_write(
        self,
        pk: str,
        current_sk: str,
        history_sk: str,
        values: Mapping[str, Any],
        expected_version: int,
        change: Change,
    ) -> None:
        current: dict[str, Any] = {
            "TableName": self.table,
            "Item": self._item({"pk": pk, "sk": current_sk, **values, "version": change.version}),
        }
        if expected_version == 0:
            current["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            current["ConditionExpression"] = "version = :v"
            current["ExpressionAttributeValues"] = self._item({":v": expected_version})
        history = {
            "TableName": self.table,
            "Item": self._item(
                {
                    "pk": pk,
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
            self._client.transact_write_items(TransactItems=[{"Put": current}, {"Put": history}])
        except self._client.exceptions.TransactionCanceledException as error:
            raise StaleWriteError("changed since it was read") from error

    def _history(self, pk: str, prefix: str, limit: int) -> list[Change]:
        """The newest `limit` versions first."""
        page = self._client.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :v)",
            ExpressionAttributeValues={":pk": {"S": pk}, ":v": {"S": prefix}},
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
    }


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
