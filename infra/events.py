"""The tenant's event bus, its archive, the queues (dead-letter and work) and the rules from the topology."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra import topology
from infra.tenants import Tenant

# EventBridge pattern keys and the L2 EventPattern fields they become.
_PATTERN_FIELDS = {
    "source": "source",
    "detail-type": "detail_type",
    "detail": "detail",
    "account": "account",
    "region": "region",
    "resources": "resources",
}


def event_pattern(pattern: Mapping[str, Any]) -> events.EventPattern:
    """The topology's pattern (EventBridge's own JSON shape) as CDK's EventPattern."""
    return events.EventPattern(**{_PATTERN_FIELDS[k]: v for k, v in pattern.items()})


def encrypted_queue(
    scope: Construct,
    id: str,
    spec: topology.Queue,
    *,
    tenant_id: str,
    key: kms.IKey,
    dead_letter: sqs.IQueue | None = None,
) -> sqs.Queue:
    return sqs.Queue(
        scope,
        id,
        queue_name=spec.name(tenant_id),
        encryption=sqs.QueueEncryption.KMS,
        encryption_master_key=key,
        enforce_ssl=True,
        retention_period=Duration.days(spec.retention_days),
        visibility_timeout=Duration.seconds(spec.visibility_timeout_s),
        fifo=spec.fifo or None,
        dead_letter_queue=sqs.DeadLetterQueue(max_receive_count=spec.max_receives, queue=dead_letter)
        if dead_letter
        else None,
    )


class ClinicEvents(Construct):
    """Bus (tenant key), archive for replay, and one encrypted DLQ per target and async function."""

    def __init__(self, scope: Construct, id: str, *, tenant: Tenant, key: kms.Key) -> None:
        super().__init__(scope, id)
        self._tenant = tenant
        self.bus = events.EventBus(self, "Bus", event_bus_name=topology.TENANT_BUS.name(tenant.id))
        # Set on the L1s: the L2s' kms_key adds a key-policy statement naming the bus, and the bus
        # names the key, a cycle. The tenant key's policy already lets EventBridge use it.
        cfn_bus = self.bus.node.default_child
        cfn_bus.kms_key_identifier = key.key_arn  # type: ignore[union-attr]
        self.archive = events.Archive(
            self,
            "Archive",
            source_event_bus=self.bus,
            archive_name=f"{topology.tenant_prefix(tenant.id)}-archive",
            description="Every event on the tenant bus, for replay",
            event_pattern=events.EventPattern(account=[self.bus.stack.account]),
            retention=Duration.days(topology.TENANT_BUS.archive_retention_days),
        )
        self.archive.node.default_child.kms_key_identifier = key.key_arn  # type: ignore[union-attr]
        self.queues: dict[str, sqs.Queue] = {}
        for q in topology.queues(topology.functions_for(tenant)):  # dead-letter queues first
            self.queues[q.key] = encrypted_queue(
                self,
                q.key,
                q,
                tenant_id=tenant.id,
                key=key,
                dead_letter=self.queues[q.dead_letter] if q.dead_letter else None,
            )
        self.specs = {q.key: q for q in topology.queues(topology.functions_for(tenant))}

    def wire_rules(
        self,
        functions: Mapping[str, lambda_.IFunction],
        containers: Mapping[str, targets.EcsTask] | None = None,
    ) -> dict[str, events.Rule]:
        """Every rule of the topology, with its real pattern, retries and target DLQ. A container
        target comes ready from the media workers (`MediaWorkers.target`)."""
        rules: dict[str, events.Rule] = {}
        for spec in topology.rules_for(self._tenant):
            target: events.IRuleTarget
            if isinstance(spec.target, topology.ContainerTask):
                target = (containers or {})[spec.target.key]
            else:
                target = targets.LambdaFunction(
                    functions[spec.target.key],
                    dead_letter_queue=self.queues[spec.dlq.key],
                    retry_attempts=8,
                    max_event_age=Duration.hours(6),
                )
            rules[spec.key] = events.Rule(
                self,
                spec.key,
                rule_name=spec.name(self._tenant.id),
                description=spec.description,
                event_bus=self.bus if spec.bus is topology.BusKind.TENANT else None,
                event_pattern=event_pattern(pattern) if (pattern := spec.pattern(self._tenant.id)) else None,
                schedule=events.Schedule.expression(spec.schedule) if spec.schedule else None,
                targets=[target],
            )
        return rules
