"""One tenant's silo: everything that holds or moves its data, built from the topology."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import jsii
from aws_cdk import Aws, CfnOutput, Duration, IStableStringProducer, Lazy, NestedStack, Stack, Tags
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra import topology
from infra.api import STAGE, ClinicApi
from infra.compliance import acknowledge
from infra.data import ClinicData, tenant_key
from infra.events import ClinicEvents
from infra.functions import ClinicFunctions
from infra.identity import ClinicIdentity
from infra.media import FHIR_EXPORT_ACTIONS, FHIR_PROJECT_ACTIONS, FHIR_READ_ACTIONS, MediaWorkers
from infra.monitoring import Alarms, alarm_topic
from infra.tenants import Tenant
from infra.visits import VisitWorkflows
from infra.web import WEB_DIST, ClinicWeb
from infra.web_config import POOLS, STRIPE_JS, aws_csp_origins, pool_auth, runtime_config
from telehealth.adapters.meetings import TENANT_TAG
from telehealth.api_conventions import RestApiKind

# Chime SDK actions, by what a function does with meetings, each bounded to the tenant as far as
# IAM can (docs/operations.md, Video isolation, has the table; tests/infra holds every grant and
# condition key to AWS's reference). Creating a meeting or a media pipeline has no resource in IAM
# (only `*` allows it), but the request's tags are conditions: the tenant's role creates only what
# is tagged with its id, and that tag alone. Those on an existing meeting or pipeline are scoped to
# its ARN in this account (any region: the meeting's control region is not known in advance) and
# conditioned on its tag. Transcription names no resource and takes no tag condition, so IAM could
# not keep one tenant's role off another's meetings: it is not granted (nothing calls it yet).
MEETING_CREATE_ACTIONS = (
    "chime:CreateMeeting",
    "chime:CreateMeetingWithAttendees",
    "chime:CreateMediaCapturePipeline",
    "chime:CreateMediaConcatenationPipeline",
)
MEETING_MANAGE_ACTIONS = (
    "chime:GetMeeting",
    "chime:DeleteMeeting",
    "chime:CreateAttendee",
    "chime:BatchCreateAttendee",
    "chime:GetAttendee",
    "chime:ListAttendees",
    "chime:DeleteAttendee",
)
MEDIA_PIPELINE_ACTIONS = ("chime:GetMediaCapturePipeline", "chime:DeleteMediaCapturePipeline")
MEETING_READ_ACTIONS = ("chime:GetMeeting", "chime:GetAttendee", "chime:ListAttendees")
# Resuming a waiting workflow step: the task token names it, IAM names no resource.
TASK_RESPONSE_ACTIONS = ("states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat")


@jsii.implements(IStableStringProducer)
class _Later:
    """A value known only once a later construct exists, for a token resolved at synthesis."""

    def __init__(self, produce: Callable[[], str]) -> None:
        self._produce = produce

    def produce(self) -> str:
        return self._produce()


class TenantStack(Stack):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        tenant: Tenant,
        vpc: ec2.IVpc,
        tenants_sharing_healthlake: int = 1,
        **kwargs: object,
    ) -> None:
        super().__init__(scope, id, **kwargs)  # type: ignore[arg-type]
        topology.check_reserved_concurrency(
            tenant.id, tenant.reserved_concurrency, topology.functions_for(tenant)
        )
        Tags.of(self).add(TENANT_TAG, tenant.id)
        acknowledge(self, "grant-policies")
        prefix = topology.tenant_prefix(tenant.id)

        key = tenant_key(
            self, alias=f"alias/{topology.PREFIX}/{tenant.id}", description=f"{tenant.display_name}: PHI"
        )
        data = ClinicData(self, "Data", tenant=tenant, key=key)
        clinic_events = ClinicEvents(self, "Events", tenant=tenant, key=key)
        # `-c web_dist=<dir>` synthesizes with another build (the infra tests use a stand-in).
        web = ClinicWeb(
            self,
            "Web",
            tenant=tenant,
            key=key,
            access_logs=data.access_logs,
            dist=Path(self.node.try_get_context("web_dist") or WEB_DIST),
        )
        web_origins = topology.web_origins(tenant, web.origin)
        # Swagger UI's redirect page, on the API's URL, is a callback of the portal clients; the
        # API is made after them (its authorizer names the pools, its function's environment the
        # clients), so its URL is produced at synthesis, once `api` below exists.
        api_base = Lazy.string(_Later(lambda: api.base_url))
        identity = ClinicIdentity(
            self, "Identity", tenant=tenant, web_origins=web_origins, api_bases=[api_base]
        )
        environment = topology.function_environment(
            tenant,
            account=self.account,
            fhir_endpoint=data.fhir_store.attr_datastore_endpoint,
            workforce_pool_id=identity.workforce.user_pool_id,
            patient_pool_id=identity.patients.user_pool_id,
            web_origin=web.origin,
            login_urls=identity.login_domains,
            portal_clients=identity.portal_clients,
            # The tenants whose data stores share the account's HealthLake quota (its region's).
            tenants_sharing_healthlake=tenants_sharing_healthlake,
        )
        compute = ClinicFunctions(
            self,
            "Functions",
            tenant=tenant,
            key=key,
            vpc=vpc,
            queues=clinic_events.queues,
            environment=environment,
        )
        fns = compute.functions
        # One mapping per relay on the table's one stream (two readers a shard: DynamoDB's limit),
        # each filtered to its lanes, with its own retries and failure queue.
        for relay in topology.STREAM_RELAYS:
            compute.consume_stream(
                relay.key,
                sources.DynamoEventSource(
                    data.table,
                    starting_position=lambda_.StartingPosition.TRIM_HORIZON,
                    batch_size=100,
                    bisect_batch_on_error=True,
                    retry_attempts=10,
                    max_record_age=Duration.hours(24),
                    report_batch_item_failures=True,
                    on_failure=sources.SqsDlq(clinic_events.queues[relay.dlq.key]),  # type: ignore[union-attr]
                    filters=[
                        lambda_.FilterCriteria.filter(
                            topology.outbox_stream_filter(relay.stream_destinations)
                        )
                    ],
                ),
            )
        media = MediaWorkers(
            self,
            "Media",
            tenant=tenant,
            key=key,
            vpc=vpc,
            recordings=data.recordings,
            table=data.table,
            environment=environment,
        )
        clinic_events.wire_rules(
            fns,
            {
                rule.target.key: media.target(rule.target, clinic_events.queues[rule.dlq.key])
                for rule in topology.RULES
                if isinstance(rule.target, topology.ContainerTask)
            },
        )
        workflows = VisitWorkflows(self, "Visits", tenant=tenant, key=key, functions=fns)
        lifecycle = workflows.machines[topology.VISIT_LIFECYCLE.key]
        api = ClinicApi(
            self,
            "Api",
            tenant=tenant,
            key=key,
            identity=identity,
            handler=fns[topology.API.key],
            cors_origins=web_origins,
        )
        if tenant.features.triage:  # the portals post patients' photos to the bucket, cross-origin
            # The origins the tenant file names: the distribution's own domain is not named (the
            # bucket is made before the distribution, whose domain would close a cycle through the
            # key), so a tenant without a custom domain allows CloudFront's. What an upload may be
            # is the slot's signed policy's to say; CORS only lets the portal read S3's answer.
            served = [f"https://{tenant.web.domain}"] if tenant.web else ["https://*.cloudfront.net"]
            data.uploads.add_cors_rule(
                allowed_methods=[s3.HttpMethods.POST],
                allowed_origins=list(dict.fromkeys([*served, *tenant.portal_origins])),
                allowed_headers=["*"],
                max_age=3000,
            )
        clients = {"patients": identity.patient_portal, "workforce": identity.workforce_portal}
        pools = {"patients": identity.patients, "workforce": identity.workforce}
        web.publish(
            runtime_config(
                tenant=tenant.id,
                api_base=api.base_url,
                auth={
                    pool: pool_auth(
                        issuer=pools[pool].user_pool_provider_url,
                        client_id=clients[pool].user_pool_client_id,
                        base=identity.login_domains[pool],
                        sign_up=pool == "patients",
                    )
                    for pool in POOLS
                },
                video="chime",
                csp=aws_csp_origins(
                    payments=tenant.features.payments,
                    # Patients' photos are posted from the browser straight to the uploads bucket:
                    # named, not referenced (config.json is published with the web assets, which
                    # the distribution serves, which the key names; the bucket uses the key).
                    uploads=f"https://{topology.bucket_name(tenant.id, 'uploads', Aws.ACCOUNT_ID)}"
                    f".s3.{Aws.REGION}.amazonaws.com"
                    if tenant.features.triage
                    else None,
                ),
                stripe_js=STRIPE_JS if tenant.features.payments else None,
                monitoring=tenant.features.rpm,
                triage=tenant.features.triage,
            )
        )

        def allow(
            actions: tuple[str, ...], resources: list[str], conditions: dict[str, object] | None = None
        ) -> Callable[[lambda_.Function], object]:
            return lambda fn: fn.add_to_role_policy(
                iam.PolicyStatement(actions=list(actions), resources=resources, conditions=conditions)
            )

        meetings = [self.format_arn(service="chime", region="*", resource="meeting", resource_name="*")]
        pipelines = [
            self.format_arn(service="chime", region="*", resource="media-pipeline", resource_name="*")
        ]
        # What the tenant creates carries its tag, and only it. What it acts on must not carry
        # another tenant's: IfExists, because a meeting that has ended has no tags left to read,
        # and Chime must still answer its NotFound (the lifecycle relies on it), not a refusal.
        created: dict[str, object] = {
            "StringEquals": {f"aws:RequestTag/{TENANT_TAG}": tenant.id},
            "ForAllValues:StringEquals": {"aws:TagKeys": [TENANT_TAG]},
        }
        owned: dict[str, object] = {"StringEqualsIfExists": {f"aws:ResourceTag/{TENANT_TAG}": tenant.id}}
        compute.grant(
            {
                "table:write": data.table.grant_read_write_data,
                "bus:put": clinic_events.bus.grant_put_events_to,
                "workflow:start": lambda fn: (
                    lifecycle.grant_start_execution(fn),
                    lifecycle.grant_execution(fn, "states:StopExecution", "states:DescribeExecution"),
                ),
                # The outbox's workflow lane: waiting steps resumed, and the timers it starts
                # (an urgent monitoring alert's escalation, where the tenant has remote monitoring).
                "workflow:signal": lambda fn: (
                    allow(TASK_RESPONSE_ACTIONS, ["*"])(fn),
                    *(
                        m.grant_start_execution(fn)
                        for k, m in workflows.machines.items()
                        if k != topology.VISIT_LIFECYCLE.key
                    ),
                ),
                # The visit reconciler: which executions run, what became of one, start another.
                "workflow:reconcile": lambda fn: (
                    lifecycle.grant_start_execution(fn),
                    lifecycle.grant(fn, "states:ListExecutions"),
                    lifecycle.grant_execution(fn, "states:DescribeExecution"),
                ),
                "table:read": data.table.grant_read_data,
                "key:use": key.grant_encrypt_decrypt,
                "fhir:write": allow(FHIR_PROJECT_ACTIONS, [data.fhir_store_arn]),
                "fhir:read": allow(FHIR_READ_ACTIONS, [data.fhir_store_arn]),
                # Bulk exports: HealthLake's export job, started as the export role it assumes.
                "fhir:export": lambda fn: (
                    allow(FHIR_EXPORT_ACTIONS, [data.fhir_store_arn])(fn),
                    allow(
                        ("iam:PassRole",),
                        [data.export_role.role_arn],
                        {"StringEquals": {"iam:PassedToService": "healthlake.amazonaws.com"}},
                    )(fn),
                ),
                "fhir:export-cancel": allow(
                    ("healthlake:CancelFHIRExportJobWithDelete",), [data.fhir_store_arn]
                ),
                "exports:read": lambda fn: data.exports.grant_read(fn),
                "audit:write": lambda fn: data.audit.grant_put(fn),
                "meetings:manage": lambda fn: (
                    allow(MEETING_CREATE_ACTIONS, ["*"], created)(fn),
                    allow(MEETING_MANAGE_ACTIONS, meetings, owned)(fn),
                    allow(MEDIA_PIPELINE_ACTIONS, pipelines, owned)(fn),
                    # Creating a pipeline into the recordings bucket: Chime has the caller read
                    # the bucket's policy, to see that it lets Chime's service write there.
                    allow(("s3:GetBucketPolicy",), [data.recordings.bucket_arn])(fn),
                ),
                "meetings:read": allow(MEETING_READ_ACTIONS, meetings, owned),
                # Which files a recording left (names only: no object is read).
                "uploads:cases": lambda fn: (
                    allow(("s3:PutObject",), [f"{data.uploads.bucket_arn}/cases/*"])(fn),
                    # A photo's review copy, shown to the clinician through the API (never an original).
                    allow(("s3:GetObject",), [f"{data.uploads.bucket_arn}/cases/*/review.jpg"])(fn),
                    allow(
                        ("s3:ListBucket",),
                        [data.uploads.bucket_arn],
                        {"StringLike": {"s3:prefix": ["cases/*"]}},
                    )(fn),
                ),
                # A photo's review copy: its original read once clean, the copy kept beside it.
                "uploads:review": lambda fn: (
                    allow(("s3:GetObject",), [f"{data.uploads.bucket_arn}/cases/*/original"])(fn),
                    allow(("s3:PutObject",), [f"{data.uploads.bucket_arn}/cases/*/review.jpg"])(fn),
                ),
                "recordings:list": lambda fn: allow(("s3:ListBucket",), [data.recordings.bucket_arn])(fn),
                # Reminders: e-mail from the tenant's verified sender; SMS goes to phone numbers,
                # which are not resources (SNS requires "*" for direct publishing to a number).
                # Virtual triage's free text: Comprehend Medical has no resource-level permissions.
                "nlp:infer": allow(("comprehendmedical:InferSNOMEDCT",), ["*"]),
                "notify:send": lambda fn: (
                    allow(
                        ("ses:SendEmail",),
                        [self.format_arn(service="ses", resource="identity", resource_name="*")],
                    )(fn),
                    allow(("sns:Publish",), ["*"])(fn),
                ),
            }
        )

        # The alarms and the dashboard in a nested stack of their own: CloudFormation takes 500
        # resources in a stack, and they are a tenth of the silo's (the topic stays here, where
        # operations subscribe to it).
        monitoring = NestedStack(
            self, "Monitoring", description=f"{tenant.display_name}: alarms and dashboard"
        )
        alarms = Alarms(
            monitoring, "Alarms", topic=alarm_topic(self, name=f"{prefix}-alarms", key=key), prefix=prefix
        )
        alarms.queue_not_empty(
            q for k, q in clinic_events.queues.items() if clinic_events.specs[k].pages_on_call
        )
        alarms.work_waiting(
            q for k, q in clinic_events.queues.items() if not clinic_events.specs[k].pages_on_call
        )
        alarms.function_errors(fns.values())
        # The services the relays and the sweeper count parked entries under (their loggers' names).
        alarms.outbox_parked(tenant.id, ("outbox-relay", "outbox-sweeper"))
        alarms.workflow_failures(workflows.machines.values())
        for kind, rest_api in api.apis.items():
            label = "api" if kind is RestApiKind.CLINIC else f"{kind.value}-api"
            alarms.api_health(rest_api.rest_api_name, STAGE, label=label)
        # Where health systems point their FHIR clients (the clinic's API URL is RestApi's own output).
        CfnOutput(self, "FhirBaseUrl", value=api.fhir_base_url, description="The FHIR R4 facade's base URL")
        cw.Dashboard(
            monitoring,
            "Dashboard",
            dashboard_name=prefix,
            widgets=[
                [
                    cw.GraphWidget(
                        title="Function errors", left=[f.metric_errors() for f in fns.values()], width=12
                    ),
                    cw.GraphWidget(
                        title="Function p99 duration",
                        left=[f.metric_duration(statistic="p99") for f in fns.values()],
                        width=12,
                    ),
                ],
                [
                    cw.GraphWidget(
                        title="Dead-letter messages",
                        left=[
                            q.metric_approximate_number_of_messages_visible()
                            for k, q in clinic_events.queues.items()
                            if clinic_events.specs[k].pages_on_call
                        ],
                        width=12,
                    ),
                    cw.GraphWidget(
                        title="Visits",
                        left=[m.metric_started() for m in workflows.machines.values()]
                        + [m.metric_failed() for m in workflows.machines.values()],
                        width=12,
                    ),
                ],
            ],
        )
