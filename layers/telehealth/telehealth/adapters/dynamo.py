"""What every store over the tenant's table shares: the client, (de)serialising, paged queries.

Each context keeps its own store module over this base (scheduling, visits, vitals, the outbox;
`table_store.py` adds what the contexts' writes share), so no one class knows every item in the
table.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any


def stamp(moment: datetime) -> str:
    """An instant as the table's sort keys spell it: UTC, to the second, sorting as text."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def from_stamp(value: str) -> datetime:
    """An instant read back from how `stamp` spells it."""
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


class DynamoTable:
    def __init__(self, table_name: str | None = None, client: Any = None) -> None:
        import boto3
        from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

        self.table = table_name or os.environ["TABLE_NAME"]
        self._client = client or boto3.client("dynamodb")
        self._ser = TypeSerializer()
        self._de = TypeDeserializer()

    def ping(self) -> None:
        self._client.describe_table(TableName=self.table)

    def _item(self, values: Mapping[str, Any]) -> dict[str, Any]:
        return {k: self._ser.serialize(v) for k, v in values.items() if v is not None}

    def _plain(self, item: Mapping[str, Any]) -> dict[str, Any]:
        return {k: self._de.deserialize(v) for k, v in item.items()}

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        """One item by its key, read consistently (what was just written is there), as plain values."""
        item = self._client.get_item(
            TableName=self.table, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True
        ).get("Item")
        return self._plain(item) if item else None

    @staticmethod
    def _versioned(put: dict[str, Any], version: int) -> dict[str, Any]:
        """A Put of a record at `version`, on the condition that the one on file is the version
        before (none at all, for the first): a write that raced another fails and writes nothing."""
        if version == 1:
            put["Put"]["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            put["Put"]["ConditionExpression"] = "version = :before"
            put["Put"]["ExpressionAttributeValues"] = {":before": {"N": str(version - 1)}}
        return put

    def _query(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        return self._pages(self._client.query, **kwargs)

    def _scan(self, segment: int, segments: int) -> Iterator[dict[str, Any]]:
        """One segment of a parallel scan of the whole table, page by page (every item of a
        partition falls in the same segment)."""
        return self._pages(self._client.scan, Segment=segment, TotalSegments=segments, ConsistentRead=True)

    def _pages(self, operation: Callable[..., Any], **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Every item a paginated read returns, page after page, as plain values."""
        while True:
            page = operation(TableName=self.table, **kwargs)
            for item in page.get("Items", []):
                yield self._plain(item)
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
