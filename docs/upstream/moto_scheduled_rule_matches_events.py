"""moto: a scheduled rule on the default bus matches every event put on that bus.

Run: .venv/bin/python docs/upstream/moto_scheduled_rule_matches_events.py [--patched]

Puts one event on the default bus, which holds a rule with a ScheduleExpression and no
EventPattern whose target is an SQS queue, and a disabled rule matching the event whose target is
another queue; prints what reached each queue and "bug present" or "fixed". Exits 0 either way,
so it can be run against any moto version. --patched applies the local emulator's patches first
(local.emulator.apply_aws_parity), to show they put it right.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import boto3
from moto import mock_aws

REGION = "us-east-1"


def queue(sqs: Any, name: str) -> tuple[str, str]:
    url: str = sqs.create_queue(QueueName=name)["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    return url, str(attributes["QueueArn"])


def main() -> int:
    if "--patched" in sys.argv:
        sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
        from local.emulator import apply_aws_parity

        apply_aws_parity()

    with mock_aws():
        events = boto3.client("events", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        sweep_url, sweep_arn = queue(sqs, "sweep")
        disabled_url, disabled_arn = queue(sqs, "disabled")

        # Once a minute, on the default bus (the only bus schedules may use).
        events.put_rule(Name="outbox-sweep", ScheduleExpression="rate(1 minute)")
        events.put_targets(Rule="outbox-sweep", Targets=[{"Id": "sweep", "Arn": sweep_arn}])
        # A rule that matches the event, switched off.
        events.put_rule(
            Name="switched-off",
            EventPattern=json.dumps({"source": ["aws.chime"]}),
            State="DISABLED",
        )
        events.put_targets(Rule="switched-off", Targets=[{"Id": "off", "Arn": disabled_arn}])

        # What Chime puts on the default bus when an attendee joins.
        events.put_events(
            Entries=[
                {
                    "Source": "aws.chime",
                    "DetailType": "Chime Meeting State Change",
                    "Detail": json.dumps({"eventType": "chime:AttendeeJoined"}),
                }
            ]
        )
        swept = sqs.receive_message(QueueUrl=sweep_url, MaxNumberOfMessages=10).get("Messages", [])
        switched_off = sqs.receive_message(QueueUrl=disabled_url, MaxNumberOfMessages=10).get("Messages", [])

    import moto

    out = sys.stdout
    out.write(f"moto {moto.__version__}\n")
    out.write(f"events that reached the scheduled rule's queue: {len(swept)}\n")
    out.write(f"events that reached the disabled rule's queue: {len(switched_off)}\n")
    out.write("bug present\n" if swept or switched_off else "fixed\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
