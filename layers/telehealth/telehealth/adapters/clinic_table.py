"""The tenant's clinic table in DynamoDB (entity repositories arrive with the scheduling work)."""

from __future__ import annotations

import os
from typing import Any


def visit_key(appointment_id: str) -> str:
    return f"VISIT#{appointment_id}"


class ClinicTable:
    def __init__(self, table_name: str | None = None) -> None:
        import boto3

        self.name = table_name or os.environ["TABLE_NAME"]
        self._client = boto3.client("dynamodb")

    def ping(self) -> None:
        self._client.describe_table(TableName=self.name)

    # --- where a waiting workflow can be resumed from ------------------------------------------

    def put_task_token(self, appointment_id: str, step: str, token: str, expires_at: int) -> None:
        """The token a `.waitForTaskToken` step waits on, kept until the step's deadline."""
        self._client.put_item(
            TableName=self.name,
            Item={
                "pk": {"S": visit_key(appointment_id)},
                "sk": {"S": f"TASK#{step}"},
                "task_token": {"S": token},
                "expires_at": {"N": str(expires_at)},
            },
        )

    def task_token(self, appointment_id: str, step: str) -> str | None:
        item: dict[str, Any] = self._client.get_item(
            TableName=self.name,
            Key={"pk": {"S": visit_key(appointment_id)}, "sk": {"S": f"TASK#{step}"}},
            ConsistentRead=True,
        ).get("Item", {})
        return item["task_token"]["S"] if item else None
