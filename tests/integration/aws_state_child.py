"""A process holding an emulator with kept state, for tests/integration/test_aws_state.py: it must
be its own process, since moto's state is global to a process and a test kills it with SIGKILL.

`write DIR`: restore DIR, make resources (then snapshot them, as a platform start does), make the
journaled writes the test checks, print what they made as one JSON line, and wait to be killed.
`read DIR`: restore DIR and print what it holds as one JSON line.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import boto3

from local.emulator import Emulator
from local.persistence import AwsState
from local.platform import free_port

PASSWORD = "Synthetic-Passw0rd!"  # noqa: S105 (a test user of an emulator)


def clients(url: str) -> dict[str, Any]:
    def make(service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106
        )

    return {s: make(s) for s in ("dynamodb", "cognito-idp", "sqs", "s3")}


def write(state: AwsState, aws: dict[str, Any]) -> dict[str, Any]:
    aws["dynamodb"].create_table(
        TableName="kept",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    idp = aws["cognito-idp"]
    pool = idp.create_user_pool(PoolName="kept", UsernameAttributes=["email"])["UserPool"]["Id"]
    client = idp.create_user_pool_client(
        UserPoolId=pool, ClientName="portal", ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH"]
    )["UserPoolClient"]["ClientId"]
    queue = aws["sqs"].create_queue(QueueName="kept")["QueueUrl"]
    aws["s3"].create_bucket(Bucket="kept")
    state.compact()  # what a platform start does once it is provisioned
    # From here on, only the journal holds what is written.
    for n in range(3):
        aws["dynamodb"].put_item(TableName="kept", Item={"pk": {"S": f"item-{n}"}, "n": {"N": str(n)}})
    aws["dynamodb"].update_item(
        TableName="kept",
        Key={"pk": {"S": "item-0"}},
        UpdateExpression="SET n = n + :one",
        ExpressionAttributeValues={":one": {"N": "10"}},
    )
    aws["dynamodb"].delete_item(TableName="kept", Key={"pk": {"S": "item-2"}})
    idp.admin_create_user(UserPoolId=pool, Username="pat@kept.example", MessageAction="SUPPRESS")
    idp.admin_set_user_password(
        UserPoolId=pool, Username="pat@kept.example", Password=PASSWORD, Permanent=True
    )
    # A sign-in keeps the refresh token it issues: a write the replay must answer as the first time.
    idp.initiate_auth(
        ClientId=client,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "pat@kept.example", "PASSWORD": PASSWORD},
    )
    message = aws["sqs"].send_message(QueueUrl=queue, MessageBody="kept message")["MessageId"]
    aws["s3"].put_object(Bucket="kept", Key="a/b.txt", Body=b"kept object")
    return {"pool": pool, "client": client, "message": message, **read(aws, pool)}


def read(aws: dict[str, Any], pool: str) -> dict[str, Any]:
    items = aws["dynamodb"].scan(TableName="kept")["Items"]
    user = aws["cognito-idp"].admin_get_user(UserPoolId=pool, Username="pat@kept.example")
    queue = aws["sqs"].get_queue_url(QueueName="kept")["QueueUrl"]
    waiting = aws["sqs"].get_queue_attributes(QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages"])
    return {
        "items": sorted((i["pk"]["S"], i["n"]["N"]) for i in items),
        "sub": next(a["Value"] for a in user["UserAttributes"] if a["Name"] == "sub"),
        "messages": int(waiting["Attributes"]["ApproximateNumberOfMessages"]),
        "object": aws["s3"].get_object(Bucket="kept", Key="a/b.txt")["Body"].read().decode(),
    }


def main() -> None:
    mode, directory = sys.argv[1], Path(sys.argv[2])
    emulator = Emulator(free_port())
    state = AwsState(directory)
    restored = state.restore() if state.exists() else None
    emulator.start()
    state.record(emulator.port)
    aws = clients(emulator.url)
    if mode == "write":
        print(json.dumps(write(state, aws)), flush=True)
        while True:
            time.sleep(60)
    pool = aws["cognito-idp"].list_user_pools(MaxResults=10)["UserPools"][0]["Id"]
    answer = read(aws, pool)
    answer["pool"] = pool
    answer["replayed"] = restored.replayed if restored else 0
    answer["refused"] = restored.refused if restored else 0
    if mode == "read-and-stop":
        state.compact()
    print(json.dumps(answer), flush=True)
    state.close()
    emulator.stop()


if __name__ == "__main__":
    main()
