"""moto: a cancelled DynamoDB transaction still reaches the table's stream consumers.

Run: .venv/bin/python docs/upstream/moto_cancelled_transaction_stream.py [--patched]

Prints what moto handed to the stream's Lambda event source mapping and "bug present" or "fixed";
exits 0 either way, so it can be run against any moto version. --patched applies the local
emulator's patches first (local.emulator.apply_aws_parity), to show they put it right.
"""

from __future__ import annotations

import contextlib
import io
import sys
import zipfile
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.awslambda.models import LambdaBackend

REGION = "us-east-1"
# What moto hands to the mapping's function: (event name, key) per record, per delivery.
delivered: list[list[tuple[str, str]]] = []


def record_delivery(self: LambdaBackend, function_arn: str, items: list[Any], source: str) -> str:
    """Stands in for the function: moto calls this for every batch it sends a stream consumer."""
    delivered.append([(i.to_json()["eventName"], i.to_json()["dynamodb"]["Keys"]["pk"]["S"]) for i in items])
    return "consumed"  # any answer: moto empties its buffer


def zipped() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return None\n")
    return buffer.getvalue()


def main() -> int:
    if "--patched" in sys.argv:
        sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
        from local.emulator import apply_aws_parity

        apply_aws_parity()
    LambdaBackend.send_dynamodb_items = record_delivery  # type: ignore[method-assign]

    with mock_aws(config={"lambda": {"use_docker": False}}):
        ddb = boto3.client("dynamodb", region_name=REGION)
        ddb.create_table(
            TableName="bookings",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        stream = ddb.describe_table(TableName="bookings")["Table"]["LatestStreamArn"]
        role = boto3.client("iam", region_name=REGION).create_role(
            RoleName="consumer", AssumeRolePolicyDocument="{}"
        )["Role"]["Arn"]
        awslambda = boto3.client("lambda", region_name=REGION)
        awslambda.create_function(
            FunctionName="consumer",
            Runtime="python3.12",
            Role=role,
            Handler="handler.handler",
            Code={"ZipFile": zipped()},
        )
        awslambda.create_event_source_mapping(
            FunctionName="consumer", EventSourceArn=stream, StartingPosition="TRIM_HORIZON"
        )

        ddb.put_item(TableName="bookings", Item={"pk": {"S": "slot#9am"}})
        delivered.clear()

        # A booking: the outbox item and the slot, in one transaction. The slot is taken, so the
        # transaction is cancelled and nothing is written.
        try:
            ddb.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": "bookings", "Item": {"pk": {"S": "outbox#1"}}}},
                    {
                        "Put": {
                            "TableName": "bookings",
                            "Item": {"pk": {"S": "slot#9am"}},
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                ]
            )
            outcome = "committed"
        except ClientError as error:
            outcome = error.response["Error"]["Code"]
        stored = sorted(i["pk"]["S"] for i in ddb.scan(TableName="bookings")["Items"])
        after_transaction = [record for batch in delivered for record in batch]
        delivered.clear()

        # A conditional PutItem that fails.
        with contextlib.suppress(ClientError):
            ddb.put_item(
                TableName="bookings",
                Item={"pk": {"S": "slot#9am"}},
                ConditionExpression="attribute_not_exists(pk)",
            )
        after_conditional_put = [record for batch in delivered for record in batch]
        delivered.clear()

        # An UpdateItem that creates its item.
        ddb.update_item(
            TableName="bookings",
            Key={"pk": {"S": "visit#1"}},
            UpdateExpression="SET #s = :s",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":s": {"S": "booked"}},
        )
        after_update = [record for batch in delivered for record in batch]

    import moto

    out = sys.stdout
    out.write(f"moto {moto.__version__}\n")
    out.write(f"transaction: {outcome}; items in the table afterwards: {stored}\n")
    out.write(f"records delivered for the cancelled transaction: {after_transaction}\n")
    out.write(f"records delivered for the failed conditional PutItem: {after_conditional_put}\n")
    out.write(f"records delivered for an UpdateItem creating its item: {after_update}\n")
    cancelled_leaks = outcome == "TransactionCanceledException" and bool(after_transaction)
    double_insert = len(after_update) != 1
    if cancelled_leaks or double_insert or after_conditional_put:
        out.write("bug present\n")
    else:
        out.write("fixed\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
