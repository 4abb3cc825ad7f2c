"""The tenant's clinic table in DynamoDB (the repositories arrive with the scheduling work)."""

from __future__ import annotations

import os


class ClinicTable:
    def __init__(self, table_name: str | None = None) -> None:
        import boto3

        self.name = table_name or os.environ["TABLE_NAME"]
        self._client = boto3.client("dynamodb")

    def ping(self) -> None:
        self._client.describe_table(TableName=self.name)
