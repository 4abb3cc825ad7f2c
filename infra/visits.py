"""The visit workflows: ASL from `statemachines/`, Standard type, history encrypted with the
tenant's key, logged without execution data (state carries ids, and history is kept)."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra import topology
from infra.assets import ROOT
from infra.monitoring import encrypted_log_group
from infra.tenants import Tenant

STATEMACHINES = ROOT / "statemachines"


class VisitWorkflows(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        tenant: Tenant,
        key: kms.IKey,
        functions: Mapping[str, lambda_.IFunction],
    ) -> None:
        super().__init__(scope, id)
        self.machines: dict[str, sfn.StateMachine] = {}
        for spec in topology.state_machines_for(tenant):
            log_group = encrypted_log_group(
                self, f"{spec.key}-logs", name=f"/telehealth/{tenant.id}/states/{spec.key}", key=key
            )
            machine = sfn.StateMachine(
                self,
                spec.key,
                state_machine_name=spec.name(tenant.id),
                state_machine_type=sfn.StateMachineType.STANDARD,
                # Inline, not an S3 asset: the template alone says what runs.
                definition_body=sfn.DefinitionBody.from_string(
                    (STATEMACHINES / spec.definition_file).read_text()
                ),
                definition_substitutions={
                    placeholder: functions[fn.key].function_arn for placeholder, fn in spec.functions.items()
                },
                logs=sfn.LogOptions(
                    destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=False
                ),
                tracing_enabled=True,
                encryption_configuration=sfn.CustomerManagedEncryptionConfiguration(key, Duration.minutes(5)),
            )
            for fn in spec.functions.values():
                functions[fn.key].grant_invoke(machine)
            self.machines[spec.key] = machine
