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

    def _add(self, id: str, alarm: cw.Alarm) -> cw.Alarm:
        alarm.add_alarm_action(self._action)
        alarm.add_ok_action(self._action)
        return alarm

    def queue_not_empty(self, queues: Iterable[sqs.IQueue]) -> None:
        """A message in a dead-letter queue is a fact nobody handled: page someone."""
        for queue in queues:
            id = queue.node.id
            metric = queue.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(1), statistic="Maximum"
            )
            self._add(
                id,
                metric.create_alarm(
                    self,
                    f"{id}NotEmpty",
                    alarm_name=f"{self._prefix}-{id}-not-empty",
                    alarm_description="Dead-letter messages waiting: see docs/operations.md#dlq",
                    threshold=1,
                    evaluation_periods=1,
                    comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                    treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
                ),
            )

    def function_errors(self, functions: Iterable[lambda_.Function]) -> None:
        for fn in functions:
            id = fn.node.id
            for what, metric in (("errors", fn.metric_errors()), ("throttles", fn.metric_throttles())):
                self._add(
                    id,
                    metric.with_(period=Duration.minutes(5), statistic="Sum").create_alarm(
                        self,
                        f"{id}-{what}",
                        alarm_name=f"{self._prefix}-{id}-{what}",
                        alarm_description=f"Function {what}: see docs/operations.md#functions",
                        threshold=1,
                        evaluation_periods=1,
                        comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                        treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
                    ),
                )

    def workflow_failures(self, machines: Iterable[sfn.StateMachine]) -> None:
        for machine in machines:
            id = machine.node.id
            for what, metric in (
                ("failed", machine.metric_failed()),
                ("timed-out", machine.metric_timed_out()),
            ):
                self._add(
                    id,
                    metric.with_(period=Duration.minutes(5), statistic="Sum").create_alarm(
                        self,
                        f"{id}-{what}",
                        alarm_name=f"{self._prefix}-{id}-{what}",
                        alarm_description="Visit executions ending badly: see docs/operations.md#workflows",
                        threshold=1,
                        evaluation_periods=1,
                        comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                        treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
                    ),
                )

    def api_health(self, api_name: str, stage: str) -> None:
        dims = {"ApiName": api_name, "Stage": stage}
        for what, metric_name, statistic, threshold in (
            ("5xx", "5XXError", "Sum", 5),
            ("latency-p99", "Latency", "p99", 3000),
        ):
            metric = cw.Metric(
                namespace="AWS/ApiGateway",
                metric_name=metric_name,
                dimensions_map=dims,
                period=Duration.minutes(5),
                statistic=statistic,
            )
            self._add(
                what,
                metric.create_alarm(
                    self,
                    f"Api-{what}",
                    alarm_name=f"{self._prefix}-api-{what}",
                    alarm_description=f"API {what}: see docs/operations.md#api",
                    threshold=threshold,
                    evaluation_periods=2,
                    comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                    treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
                ),
            )
