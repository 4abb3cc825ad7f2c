"""After a fix: parked outbox entries back into their lanes, and dead-letter queues back to their
targets. Every redrive is safe to repeat: FHIR writes compare source versions, and every event
carries its outbox id for a consumer to drop a repeat."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from infra import topology
from tools.ops.target import Target

# The baseline's forwarding rule's DLQ holds Chime events bound for the tenant bus.
CHIME_FORWARD_DLQ = topology.Queue("chime-forward-dlq", topology.QueueRole.TARGET_DLQ)


def rejected(target: Target, destination: str | None = None) -> Counter[str]:
    """Every parked entry (of one destination, if named) back into its lane, once."""
    from telehealth.adapters.outbox_store import DynamoOutbox

    outbox = DynamoOutbox()
    redriven: Counter[str] = Counter()
    for entry, _codes in list(outbox.rejected(limit=1_000_000)):
        if destination in (None, entry.destination) and outbox.redrive(entry):
            redriven[entry.destination] += 1
    return redriven


def queues() -> dict[str, topology.Queue]:
    """The tenant's dead-letter queues by key, with the baseline's forwarding DLQ."""
    return {q.key: q for q in (*topology.queues(), CHIME_FORWARD_DLQ)}


def _redrive_to(queue: topology.Queue) -> tuple[str, Any]:
    """Where a queue's messages go back to: a function (asynchronously), its work queue, or the
    tenant bus."""
    if queue.key == CHIME_FORWARD_DLQ.key:
        return "bus", None
    for function in topology.FUNCTIONS:
        if function.dlq == queue and function.work_queue is not None:
            return "queue", function.work_queue  # back where the consumer takes its work from
        if function.dlq == queue:
            handled = queue.role is topology.QueueRole.FUNCTION_DLQ
            return ("function", function) if handled else ("none", function)
    if queue == topology.RULE_TARGETS_DLQ:
        return "target", None  # each message's own (EventBridge's TARGET_ARN)
    raise SystemExit(f"No dead-letter queue {queue.key!r}")


def _target_of(message: dict[str, Any], tenant_id: str) -> tuple[str, Any]:
    """Where a rule's undelivered event goes back to, by the rule EventBridge names on it
    (`RULE_ARN`): its function, or the tenant bus for a container task; ("none", None) for a
    message no rule of the topology explains, which stays in the queue."""
    arn = message.get("MessageAttributes", {}).get("RULE_ARN", {}).get("StringValue", "")
    rule = next((r for r in topology.RULES if arn.endswith(f"/{r.name(tenant_id)}")), None)
    if rule is None:
        return "none", None
    if isinstance(rule.target, topology.Function):
        return "function", rule.target
    return ("bus", None) if rule.bus is topology.BusKind.TENANT else ("none", None)


def dead_letters(target: Target, queue_key: str, *, acknowledge: bool = False) -> Counter[str]:
    """Each message back to where it failed to go, then deleted. A stream's failure queue holds
    batch metadata, not records (the sweeper delivers those entries): it is only acknowledged."""
    import boto3

    known = queues()
    if queue_key not in known:
        raise SystemExit(f"No dead-letter queue {queue_key!r}; the tenant's: {', '.join(sorted(known))}")
    queue = known[queue_key]
    kind, to = _redrive_to(queue)
    sqs, tenant_id = boto3.client("sqs"), target.tenant.id
    url = sqs.get_queue_url(QueueName=queue.name(tenant_id))["QueueUrl"]
    done: Counter[str] = Counter()
    while messages := sqs.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=10,
        WaitTimeSeconds=1,
        VisibilityTimeout=60,
        MessageAttributeNames=["All"],
        AttributeNames=["All"],
    ).get("Messages", []):
        for message in messages:
            how, to = _target_of(message, tenant_id) if kind == "target" else (kind, to)
            if how == "none" and kind == "target":
                done["kept (no rule of this tenant's topology sent it)"] += 1
                continue
            if how == "none":
                if not acknowledge:
                    done["kept (stream metadata: pass --acknowledge to delete)"] += 1
                    continue
                done["acknowledged"] += 1
            elif how == "queue":
                attributes = message.get("Attributes", {})
                sqs.send_message(
                    QueueUrl=sqs.get_queue_url(QueueName=to.name(tenant_id))["QueueUrl"],
                    MessageBody=message["Body"],
                    # Its patient's group again; a redrive repeated within five minutes is one message.
                    MessageGroupId=attributes["MessageGroupId"],
                    MessageDeduplicationId=f"redriven-{message['MessageId']}",
                )
                done["back in the work queue"] += 1
            elif how == "function":
                boto3.client("lambda").invoke(
                    FunctionName=to.name(tenant_id), InvocationType="Event", Payload=message["Body"].encode()
                )
                done["invoked"] += 1
            else:
                event = json.loads(message["Body"])
                put = boto3.client("events").put_events(
                    Entries=[
                        {
                            "Source": event["source"],
                            "DetailType": event["detail-type"],
                            "Detail": json.dumps(event["detail"]),
                            "Resources": event.get("resources", []),
                            "EventBusName": topology.TENANT_BUS.name(tenant_id),
                        }
                    ]
                )
                if put.get("FailedEntryCount"):
                    done["kept (the bus refused it)"] += 1
                    continue
                done["put on the bus"] += 1
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        if kind == "none" and not acknowledge:
            break
    return done
