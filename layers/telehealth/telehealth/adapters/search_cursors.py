"""The FHIR facade's searches (and histories) in progress, between one page and the next, in the
clinic table.

| item | pk | sk |
|---|---|---|
| search cursor | FHIRCURSOR#<token> | CURSOR |

A cursor holds HealthLake's `next` link and the parameters searched (often PHI: they stay in the
table, encrypted with the tenant's key, and out of every URL). It expires by the table's TTL
attribute (`expires_at`); DynamoDB deletes expired items only within a day or two, so the facade
also checks the time it carries.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from telehealth.adapters.dynamo import DynamoTable
from telehealth.ports import SearchCursor


class DynamoSearchCursors(DynamoTable):
    def save_cursor(self, cursor: SearchCursor) -> None:
        self._client.put_item(
            TableName=self.table,
            Item=self._item(
                {
                    "pk": f"FHIRCURSOR#{cursor.token}",
                    "sk": "CURSOR",
                    "owner": cursor.owner,
                    "resource_type": cursor.resource_type,
                    "link": cursor.link,
                    "searched": json.dumps(cursor.searched),
                    "expires_at": int(cursor.expires_at.timestamp()),
                    **({"resource_id": cursor.resource_id} if cursor.resource_id is not None else {}),
                }
            ),
        )

    def cursor(self, token: str) -> SearchCursor | None:
        found = self._get(f"FHIRCURSOR#{token}", "CURSOR")  # consistent: the next page is asked at once
        if found is None:
            return None
        return SearchCursor(
            token=token,
            owner=str(found["owner"]),
            resource_type=str(found["resource_type"]),
            link=str(found["link"]),
            searched=tuple((str(k), str(v)) for k, v in json.loads(found["searched"])),
            expires_at=datetime.fromtimestamp(int(found["expires_at"]), UTC),
            resource_id=str(found["resource_id"]) if "resource_id" in found else None,
        )
