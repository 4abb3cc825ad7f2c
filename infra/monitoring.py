"""Logs, alarms and the operations dashboard.

Every log group the platform declares comes from `encrypted_log_group`: the tenant's (or the
baseline's) key, a retention, and the PHI data-protection policy, so no group is made without them.
"""

from __future__ import annotations

from collections.abc import Iterable

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.compliance import phi_data_protection_policy
from infra.topology import POWERTOOLS_ENVIRONMENT

POWERTOOLS_METRICS_NAMESPACE = POWERTOOLS_ENVIRONMENT["POWERTOOLS_METRICS_NAMESPACE"]

# A year online; the audit archive (S3 Object Lock) is where six-year records live.
LOG_RETENTION = logs.RetentionDays.ONE_YEAR


def encrypted_log_group(
    scope: Construct,
    id: str,
    *,
    name: str,
    key: kms.IKey,
    retention: logs.RetentionDays = LOG_RETENTION,
) -> logs.LogGroup:
    return logs.LogGroup(
        scope,
        id,
        log_group_name=name,
        encryption_key=key,
        retention=retention,
        data_protection_policy=phi_data_protection_policy(Stack.of(scope)),
        removal_policy=RemovalPolicy.RETAIN,
    )


def alarm_topic(scope: Construct, *, name: str, key: kms.IKey) -> sns.Topic:
    """Where alarms go; operations subscribe their pager to it after deploy."""
    return sns.Topic(scope, "AlarmTopic", topic_name=name, master_key=key, enforce_ssl=True)


class Alarms(Construct):
    """The alarms a tenant (or the baseline) raises, all pointing at one topic."""

    def __init__(self, scope: Construct, id: str, *, topic: sns.ITopic, prefix: str) -> None:
        super().__init__(scope, id)
        self._action = cw_actions.SnsAction(topic)
        self._prefix = prefix

    def _alarm(
        self, name: str, metric: cw.Metric, runbook: str, *, threshold: float = 1, periods: int = 1
    ) -> None:
        """`<prefix>-<name>` when the metric reaches the threshold; notifies on alarm and on OK."""
        alarm = metric.create_alarm(
            self,
            name,
            alarm_name=f"{self._prefix}-{name}",
            alarm_description=f"{runbook}: see docs/operations.md",
            threshold=threshold,
            evaluation_periods=periods,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(self._action)
        alarm.add_ok_action(self._action)

    def queue_not_empty(self, queues: Iterable[sqs.IQueue]) -> None:
        """A message in a dead-letter queue is a fact nobody handled: page someone."""
        for queue in queues:
            metric = queue.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(1), statistic="Maximum"
            )
            self._alarm(f"{queue.node.id}-not-empty", metric, "Dead-letter messages waiting (#dlq)")

    def work_waiting(self, queues: Iterable[sqs.IQueue]) -> None:
        """A work queue's oldest message five minutes old: its consumer is failing or throttled,
        and what it carries (a patient's readings) is not being held to their rules."""
        for queue in queues:
            metric = queue.metric_approximate_age_of_oldest_message(
                period=Duration.minutes(1), statistic="Maximum"
            )
            self._alarm(
                f"{queue.node.id}-waiting", metric, "Work waiting in a queue (#work-queues)", threshold=300
            )

    def function_errors(self, functions: Iterable[lambda_.Function]) -> None:
        for fn in functions:
            for what, metric in (("errors", fn.metric_errors()), ("throttles", fn.metric_throttles())):
                sums = metric.with_(period=Duration.minutes(5), statistic="Sum")
                self._alarm(f"{fn.node.id}-{what}", sums, f"Function {what} (#functions)")

    def workflow_failures(self, machines: Iterable[sfn.StateMachine]) -> None:
        for machine in machines:
            for what, metric in (
                ("failed", machine.metric_failed()),
                ("timed-out", machine.metric_timed_out()),
            ):
                sums = metric.with_(period=Duration.minutes(5), statistic="Sum")
                self._alarm(
                    f"{machine.node.id}-{what}", sums, "Workflow executions ending badly (#workflows)"
                )

    def outbox_parked(self, tenant_id: str, services: Iterable[str]) -> None:
        """An outbox entry set aside (refused by its destination, or failing every try): the
        record or a fact is incomplete until someone fixes the cause and redrives it."""
        for service in services:
            metric = cw.Metric(
                namespace=POWERTOOLS_METRICS_NAMESPACE,
                metric_name="OutboxParked",
                dimensions_map={"service": service, "tenant": tenant_id},
                period=Duration.minutes(5),
                statistic="Sum",
            )
            self._alarm(f"{service}-parked", metric, "Outbox entries parked (#outbox-parked)")

    def api_health(self, api_name: str, stage: str, *, label: str = "api") -> None:
        """`<label>-5xx` and `<label>-latency-p99` on one REST API's stage."""
        for what, metric_name, statistic, threshold in (
            ("5xx", "5XXError", "Sum", 5),
            ("latency-p99", "Latency", "p99", 3000),
        ):
            metric = cw.Metric(
                namespace="AWS/ApiGateway",
                metric_name=metric_name,
                dimensions_map={"ApiName": api_name, "Stage": stage},
                period=Duration.minutes(5),
                statistic=statistic,
            )
            self._alarm(f"{label}-{what}", metric, f"API {what} (#api)", threshold=threshold, periods=2)
