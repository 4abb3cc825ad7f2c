"""The tenant's event bus (EventBridge)."""

from __future__ import annotations

import json
import os
from typing import Any


class BusRejectedError(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(f"the bus refused the event: {code}")
        self.code = code


class EventBridgeBus:
    def __init__(self, bus_name: str | None = None, client: Any = None) -> None:
        import boto3

        self.bus_name = bus_name or os.environ["EVENT_BUS_NAME"]
        self._events = client or boto3.client("events")

    def publish(self, source: str, detail_type: str, detail: dict[str, Any]) -> None:
        result = self._events.put_events(
            Entries=[
                {
                    "Source": source,
                    "DetailType": detail_type,
                    "Detail": json.dumps(detail),
                    "EventBusName": self.bus_name,
                }
            ]
        )
        if result.get("FailedEntryCount"):
            raise BusRejectedError(str(result["Entries"][0].get("ErrorCode", "unknown")))
