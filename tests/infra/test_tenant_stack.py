"""The tenant silo: functions, workflow, API, identity, media workers, and what tenants share."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from fhir.resources.R4B import get_fhir_model_class

from infra import topology
from local.parity.report import egress_functions, function_subnet_kinds
from telehealth import api_conventions
from telehealth.api_conventions import RestApiKind
from telehealth.domain.fhir_access import SERVED_TYPES
from telehealth.ports import DESTINATIONS
from tests.conftest import FUNCTION_ENVIRONMENT, Assembly, Template, as_list, as_passed, render

# Lambda keeps 100 of the account's default 1,000 concurrent executions unreserved.
ACCOUNT_CONCURRENCY = 1000
UNRESERVED_MINIMUM = 100


def _by_name(template: Template, resource_type: str, name_property: str) -> dict[str, dict[str, Any]]:
    """The named resources of a type (CDK's own plumbing, the web deployment's function, has none)."""
    return {
        render(r["Properties"][name_property]): r
        for r in template.of_type(resource_type).values()
        if name_property in r["Properties"]
    }


def _web_origin(template: Template, tenant: Any) -> str:
    """Where the tenant's portals run, as the template renders it: its custom domain, else its
    distribution's own name."""
    if tenant.web:
        return f"https://{tenant.web.domain}"
    (distribution,) = template.of_type("AWS::CloudFront::Distribution")
    return f"https://<getatt:{distribution}.DomainName>"


def test_every_topology_resource_exists_in_each_tenant_stack_by_name(assembly: Assembly) -> None:
    for tenant in assembly.tenants:
        t = assembly.tenant(tenant.id)
        assert set(_by_name(t, "AWS::DynamoDB::Table", "TableName")) == {
            topology.CLINIC_TABLE.name(tenant.id)
        }
        assert set(_by_name(t, "AWS::Events::EventBus", "Name")) == {topology.TENANT_BUS.name(tenant.id)}
        functions = topology.functions_for(tenant)
        assert set(_by_name(t, "AWS::Lambda::Function", "FunctionName")) == {
            f.name(tenant.id) for f in functions
        }
        assert set(_by_name(t, "AWS::SQS::Queue", "QueueName")) == {
            q.name(tenant.id) for q in topology.queues(functions)
        }
        assert set(_by_name(t, "AWS::StepFunctions::StateMachine", "StateMachineName")) == {
            m.name(tenant.id) for m in topology.state_machines_for(tenant)
        }
        assert set(_by_name(t, "AWS::Events::Rule", "Name")) == {
            r.name(tenant.id) for r in topology.rules_for(tenant)
        }


# CloudFormation takes at most 500 resources in a stack; CDK refuses to synthesize past it. A
# tenant stack keeps room for the capabilities still to come, so reaching it is a design decision
# (nested stacks, fewer routes) made ahead of time, not a failed deploy.
STACK_RESOURCE_LIMIT = 500
HEADROOM = 50


def test_each_tenant_stack_keeps_room_under_cloudformations_resource_limit(assembly: Assembly) -> None:
    # The tenant's stack and each of its nested ones (the routes', the alarms', API Gateway's answers).
    counts = {
        name: len(t.resources)
        for tenant in assembly.tenants
        for name, t in assembly.templates.items()
        if name == f"telehealth-{tenant.id}"
        or (name.startswith(f"telehealth{tenant.id.replace('-', '')}") and name.endswith(".nested"))
    }
    assert len(counts) == 4 * len(assembly.tenants), sorted(counts)
    assert max(counts.values()) <= STACK_RESOURCE_LIMIT - HEADROOM, counts
    # The API's invoke permission is one per REST API, not two per method.
    for tenant in assembly.tenants:
        from_api = [
            p
            for p in assembly.tenant(tenant.id).props("AWS::Lambda::Permission")
            if p.get("Principal") == "apigateway.amazonaws.com"
        ]
        assert len(from_api) == 2, len(from_api)


def test_rules_carry_the_topology_pattern_and_a_target_dlq(assembly: Assembly) -> None:
    for tenant in assembly.tenants:
        t = assembly.tenant(tenant.id)
        rules = _by_name(t, "AWS::Events::Rule", "Name")
        queues = {
            render(r["Properties"]["QueueName"]): lid for lid, r in t.of_type("AWS::SQS::Queue").items()
        }
        functions = {
            render(r["Properties"].get("FunctionName")): lid
            for lid, r in t.of_type("AWS::Lambda::Function").items()
        }
        for spec in topology.rules_for(tenant):
            p = rules[spec.name(tenant.id)]["Properties"]
            if spec.event_pattern:
                assert p["EventPattern"] == spec.pattern(tenant.id)
                # The tenant's bus, but for an AWS service's events on the account's default bus.
                assert ("EventBusName" in p) is (spec.bus is topology.BusKind.TENANT)
            else:
                assert p["ScheduleExpression"] == spec.schedule
                assert "EventBusName" not in p  # schedules live on the default bus
            (target,) = p["Targets"]
            if isinstance(spec.target, topology.ContainerTask):
                clusters = _by_name(t, "AWS::ECS::Cluster", "ClusterName")
                tasks = {
                    render(r["Properties"]["Family"]): lid
                    for lid, r in t.of_type("AWS::ECS::TaskDefinition").items()
                }
                cluster_id = next(
                    lid
                    for lid, r in t.of_type("AWS::ECS::Cluster").items()
                    if r is clusters[spec.target.cluster_name(tenant.id)]
                )
                assert target["Arn"] == {"Fn::GetAtt": [cluster_id, "Arn"]}
                ecs = target["EcsParameters"]
                assert ecs["TaskDefinitionArn"] == {"Ref": tasks[spec.target.name(tenant.id)]}
                assert (
                    ecs["LaunchType"] == "FARGATE"
                    and ecs["NetworkConfiguration"]["AwsVpcConfiguration"]["AssignPublicIp"] == "DISABLED"
                )
                # The event's fields reach the task as variables, through the input transformer.
                assert set(target["InputTransformer"]["InputPathsMap"].values()) == set(
                    spec.target.environment_from_event.values()
                )
            else:
                assert target["Arn"] == {"Fn::GetAtt": [functions[spec.target.name(tenant.id)], "Arn"]}
            assert target["DeadLetterConfig"]["Arn"] == {
                "Fn::GetAtt": [queues[spec.dlq.name(tenant.id)], "Arn"]
            }
            assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0


def test_functions_are_arm64_python312_in_their_subnets_traced_and_logged(assembly: Assembly) -> None:
    baseline = assembly.baseline("us-east-1")
    for tenant in assembly.tenants:
        t = assembly.tenant(tenant.id)
        log_groups = set(t.of_type("AWS::Logs::LogGroup"))
        placed = function_subnet_kinds(t.body, baseline.body, tenant.id)
        secrets = {
            render(r["Properties"]["Name"]): lid
            for lid, r in t.of_type("AWS::SecretsManager::Secret").items()
        }
        for spec in topology.functions_for(tenant):
            fn = _by_name(t, "AWS::Lambda::Function", "FunctionName")[spec.name(tenant.id)]["Properties"]
            assert fn["Architectures"] == ["arm64"]
            assert fn["Runtime"] in ("python3.12", "python3.13")
            assert fn["Handler"] == spec.handler
            assert fn["TracingConfig"] == {"Mode": "Active"}
            assert fn["ReservedConcurrentExecutions"] == tenant.concurrency_of(spec.key)
            assert fn["LoggingConfig"]["LogGroup"]["Ref"] in log_groups
            assert fn["LoggingConfig"]["LogFormat"] == "JSON"
            assert "KmsKeyArn" in fn
            env = fn["Environment"]["Variables"]
            # The tenant's one environment, and a third party's caller is told where its secret is
            # (and its own keys are).
            own = {p.secret_variable: {"Ref": secrets[p.secret_name(tenant.id)]} for p in spec.third_parties}
            keys = {k.variable for k in spec.sealing_keys}
            assert (
                set(env)
                == set(topology.function_environment(tenant, **FUNCTION_ENVIRONMENT)) | set(own) | keys
            )
            assert {k: env[k] for k in own} == own
            assert all(render(env[k]).startswith("<getatt:") for k in keys), [env[k] for k in keys]
            assert render(env["VISIT_LIFECYCLE_ARN"]).endswith(
                f":stateMachine:{topology.VISIT_LIFECYCLE.name(tenant.id)}"
            )
            assert env["POWERTOOLS_TRACER_CAPTURE_RESPONSE"] == "false"
            assert env["POWERTOOLS_TRACER_CAPTURE_ERROR"] == "false"
            assert env["POWERTOOLS_LOGGER_LOG_EVENT"] == "false"
            assert len(fn["Layers"]) == 1
            # The baseline's subnets, imported across stacks: the egress subnets (a route to the
            # NAT) for the functions that call a third party and for them alone; the isolated
            # subnets (endpoints only) for every other, one per AZ either way.
            assert placed[spec.key] == ({"egress"} if spec.on_egress_path else {"isolated"}), spec.key
            assert len(fn["VpcConfig"]["SubnetIds"]) == 2
            has_dlq = "DeadLetterConfig" in fn
            assert has_dlq == (spec.invocation is topology.Invocation.EVENT), spec.key


def test_the_readings_queue_is_fifo_under_the_tenants_key_retried_then_set_aside_and_watched(
    assembly: Assembly,
) -> None:
    """Remote monitoring's work queue (desert-clinic's; riverside has the feature off): a group per
    patient, five receives then its dead-letter queue, the readings function's mapping with partial
    batch responses; an alarm on the dead letters and on the work's age, none on the work itself."""
    desert = assembly.tenant("desert-clinic")
    assert not [
        q for q in assembly.tenant("riverside").props("AWS::SQS::Queue") if "readings" in q["QueueName"]
    ]
    queues = {q["QueueName"]: q for q in desert.props("AWS::SQS::Queue")}
    work = queues["telehealth-desert-clinic-readings-work.fifo"]
    failures = queues["telehealth-desert-clinic-readings-failures.fifo"]
    key_id, _ = desert.tenant_key()
    for queue in (work, failures):
        assert queue["FifoQueue"] is True
        assert queue["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert work["RedrivePolicy"]["maxReceiveCount"] == 5
    assert work["VisibilityTimeout"] == 6 * topology.READINGS.timeout_s
    (mapping,) = [
        p
        for p in desert.props("AWS::Lambda::EventSourceMapping")
        if "StreamArn" not in str(p["EventSourceArn"])
    ]
    function = desert.resources[mapping["FunctionName"]["Ref"]]["Properties"]["FunctionName"]
    assert function == topology.READINGS.name("desert-clinic")
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert "MaximumBatchingWindowInSeconds" not in mapping  # a FIFO queue's mapping takes none
    alarms = {a["AlarmName"]: a for a in assembly.monitoring("desert-clinic").props("AWS::CloudWatch::Alarm")}
    assert "telehealth-desert-clinic-readings-failures-not-empty" in alarms
    waiting = alarms["telehealth-desert-clinic-readings-work-waiting"]
    assert (waiting["MetricName"], waiting["Threshold"]) == ("ApproximateAgeOfOldestMessage", 300)
    assert "telehealth-desert-clinic-readings-work-not-empty" not in alarms


def test_each_relay_reads_the_stream_for_its_lanes_and_sends_failed_batches_to_its_queue(
    assembly: Assembly,
) -> None:
    for tenant in assembly.tenants:
        t = assembly.tenant(tenant.id)
        mappings = [
            p for p in t.props("AWS::Lambda::EventSourceMapping") if "StreamArn" in str(p["EventSourceArn"])
        ]
        # DynamoDB lets two readers take a stream's shard at once: the relays may not outgrow it.
        assert len(mappings) == len(topology.STREAM_RELAYS) <= 2
        lanes: list[str] = []
        for p in mappings:
            assert "StreamArn" in p["EventSourceArn"]["Fn::GetAtt"]
            assert p["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
            assert p["BisectBatchOnFunctionError"] is True
            function = t.resources[p["FunctionName"]["Ref"]]["Properties"]["FunctionName"]
            relay = next(r for r in topology.STREAM_RELAYS if r.name(tenant.id) == function)
            failure_queue = p["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0]
            name = render(t.resources[failure_queue]["Properties"]["QueueName"])
            assert name == relay.dlq.name(tenant.id)  # type: ignore[union-attr]
            # Only fresh outbox entries of the relay's lanes reach it; Lambda drops every other record.
            (only,) = p["FilterCriteria"]["Filters"]
            pattern = json.loads(only["Pattern"])
            assert pattern == topology.outbox_stream_filter(relay.stream_destinations)
            lanes += pattern["dynamodb"]["NewImage"]["destination"]["S"]
        # Every destination has exactly one relay: the FHIR store's lane is apart from the rest.
        assert sorted(lanes) == sorted(DESTINATIONS)
        assert ["fhir"] in [list(r.stream_destinations) for r in topology.STREAM_RELAYS]


def test_a_parked_outbox_entry_raises_an_alarm_on_the_count_the_relays_and_sweeper_emit(
    assembly: Assembly,
) -> None:
    """The relays and the sweeper count parked entries (`metrics_for(<service>)`: namespace,
    service and tenant); an alarm per service fires on the first one."""
    from functions.ingest import outbox_relay, outbox_sweeper

    services = {outbox_relay.metrics.service, outbox_sweeper.metrics.service}
    for tenant in assembly.tenants:
        parked = [
            a
            for a in assembly.monitoring(tenant.id).props("AWS::CloudWatch::Alarm")
            if a.get("MetricName") == "OutboxParked"
        ]
        assert {a["Namespace"] for a in parked} == {
            topology.POWERTOOLS_ENVIRONMENT["POWERTOOLS_METRICS_NAMESPACE"]
        }
        dimensions = [{d["Name"]: d["Value"] for d in a["Dimensions"]} for a in parked]
        assert sorted(d["service"] for d in dimensions) == sorted(services)
        assert {d["tenant"] for d in dimensions} == {tenant.id}
        for alarm in parked:
            assert alarm["Threshold"] == 1 and alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
            assert alarm["AlarmActions"]


def test_reserved_concurrency_fits_the_account_quota_in_every_region(assembly: Assembly) -> None:
    reserved: dict[str, int] = defaultdict(int)
    for tenant in assembly.tenants:
        for fn in assembly.tenant(tenant.id).props("AWS::Lambda::Function"):
            reserved[tenant.region] += fn.get("ReservedConcurrentExecutions", 0)
    for region, total in reserved.items():
        assert 0 < total <= ACCOUNT_CONCURRENCY - UNRESERVED_MINIMUM, f"{region}: {total}"


def test_the_visit_lifecycle_is_standard_encrypted_and_logs_no_execution_data(assembly: Assembly) -> None:
    for tenant in assembly.tenants:
        t = assembly.tenant(tenant.id)
        machines = _by_name(t, "AWS::StepFunctions::StateMachine", "StateMachineName")
        p = machines[topology.VISIT_LIFECYCLE.name(tenant.id)]["Properties"]
        assert p["StateMachineType"] == "STANDARD"
        assert p["LoggingConfiguration"]["IncludeExecutionData"] is False
        assert p["LoggingConfiguration"]["Level"] == "ALL"
        assert p["TracingConfiguration"] == {"Enabled": True}
        assert p["EncryptionConfiguration"]["Type"] == "CUSTOMER_MANAGED_KMS_KEY"
        tasks = _by_name(t, "AWS::Lambda::Function", "FunctionName")
        visit_tasks_id = next(
            lid
            for lid, r in t.of_type("AWS::Lambda::Function").items()
            if r["Properties"]["FunctionName"] == topology.VISIT_TASKS.name(tenant.id)
        )
        assert tasks
        assert p["DefinitionSubstitutions"]["VisitTasksFunctionArn"] == {
            "Fn::GetAtt": [visit_tasks_id, "Arn"]
        }
        definition = json.loads(p["DefinitionString"])
        assert "${VisitTasksFunctionArn}" in json.dumps(definition)
        for state in definition["States"].values():
            if state["Type"] == "Task":
                assert state.get("Retry") and state.get("Catch"), "every task retries and catches"


def _apis(t: Template, tenant_id: str) -> dict[RestApiKind, str]:
    """Each REST API's logical id, by its name (`telehealth-<tenant>`, `...-fhir`)."""
    prefix = topology.tenant_prefix(tenant_id)
    names = {prefix: RestApiKind.CLINIC, f"{prefix}-fhir": RestApiKind.FHIR}
    return {names[r["Properties"]["Name"]]: lid for lid, r in t.of_type("AWS::ApiGateway::RestApi").items()}


def _stages(t: Template, tenant_id: str) -> dict[RestApiKind, tuple[str, dict[str, Any]]]:
    """Each REST API's stage: its logical id and its properties."""
    kinds = {lid: kind for kind, lid in _apis(t, tenant_id).items()}
    return {
        kinds[stage["Properties"]["RestApiId"]["Ref"]]: (lid, stage["Properties"])
        for lid, stage in t.of_type("AWS::ApiGateway::Stage").items()
    }


def test_the_api_authorizes_with_both_pools_logs_without_bodies_and_sits_behind_waf(
    assembly: Assembly,
) -> None:
    """Both REST APIs (the clinic's, the FHIR facade's): each its Cognito authorizer over both
    pools, traced, logging without bodies, behind the one web ACL."""
    for tenant in assembly.tenants:
        t = assembly.tenant(tenant.id)
        apis = _apis(t, tenant.id)
        assert set(apis) == set(RestApiKind)
        pools = set(t.of_type("AWS::Cognito::UserPool"))
        authorizers = t.props("AWS::ApiGateway::Authorizer")
        assert sorted(a["RestApiId"]["Ref"] for a in authorizers) == sorted(apis.values())
        for authorizer in authorizers:
            assert authorizer["Type"] == "COGNITO_USER_POOLS"
            arns = json.dumps(authorizer["ProviderARNs"])
            assert len(pools) == 2 and all(p in arns for p in pools)

        stages = _stages(t, tenant.id)
        for _, sp in stages.values():
            assert sp["TracingEnabled"] is True
            # Every method's settings (the stage's default and each group's overrides) log without bodies.
            for settings in sp["MethodSettings"]:
                assert settings["LoggingLevel"] == "INFO", settings
                assert settings["DataTraceEnabled"] is False, settings
                assert settings["MetricsEnabled"] is True, settings
            (default,) = [s for s in sp["MethodSettings"] if s["ResourcePath"] == "/*"]
            assert default["ThrottlingRateLimit"] == tenant.api_throttle.rate
            assert default["ThrottlingBurstLimit"] == tenant.api_throttle.burst
            access_format = json.loads(sp["AccessLogSetting"]["Format"])
            assert not any("body" in v.lower() or "querystring" in v.lower() for v in access_format.values())

        stage_ids = {kind: lid for kind, (lid, _) in stages.items()}
        acl_id, acl = t.one("AWS::WAFv2::WebACL")
        # The one web ACL before each stage.
        associations = t.props("AWS::WAFv2::WebACLAssociation")
        assert all(acl_id in json.dumps(a["WebACLArn"]) for a in associations)
        guarded = sorted(
            lid for a in associations for lid in stage_ids.values() if lid in json.dumps(a["ResourceArn"])
        )
        assert guarded == sorted(stage_ids.values())
        managed = {
            r["Statement"]["ManagedRuleGroupStatement"]["Name"]
            for r in acl["Properties"]["Rules"]
            if "ManagedRuleGroupStatement" in r["Statement"]
        }
        assert "AWSManagedRulesCommonRuleSet" in managed
        _, logging = t.one("AWS::WAFv2::LoggingConfiguration")
        fields = logging["Properties"]["RedactedFields"]
        redacted = {f["SingleHeader"]["Name"].lower() for f in fields if "SingleHeader" in f}
        assert "authorization" in redacted
        # A FHIR search by GET carries PHI in its query string: WAF logs none.
        assert {"QueryString": {}} in fields
        # Nor does X-Ray, whose API Gateway segment records the URL: the facade is never sampled.
        (_, rule), *_ = t.of_type("AWS::XRay::SamplingRule").items()
        sampling = rule["Properties"]["SamplingRule"]
        assert sampling["URLPath"] == "/fhir/r4/*" and sampling["FixedRate"] == 0
        assert sampling["ReservoirSize"] == 0 and sampling["Priority"] < 10000
        assert stage_ids[RestApiKind.FHIR] in json.dumps(sampling["ResourceARN"])  # the facade's stage only


def _routes(assembly: Assembly, tenant_id: str) -> Template:
    """The nested stack of the APIs' resources and methods, with what the parent passes in place
    of each of its parameters (the REST APIs', their root resources', the authorizers' ids)."""
    t = assembly.tenant(tenant_id)
    (nested_id,) = [lid for lid, r in t.of_type("AWS::CloudFormation::Stack").items() if "ApiRoutes" in lid]
    routes = assembly.nested(tenant_id, "ApiRoutes")
    passed = t.resources[nested_id]["Properties"]["Parameters"]
    return Template(routes.stack, {**routes.body, "Resources": as_passed(routes.resources, passed)})


def _resource_paths(t: Template) -> dict[str, str]:
    """Logical id of each API Gateway resource -> its full path, following ParentId upwards."""
    resources = t.of_type("AWS::ApiGateway::Resource")

    def path(logical_id: str) -> str:
        p = resources[logical_id]["Properties"]
        parent = p["ParentId"]
        prefix = path(parent["Ref"]) if "Ref" in parent else ""
        return f"{prefix}/{p['PathPart']}"

    return {lid: path(lid) for lid in resources}


def test_routes_require_the_scopes_of_the_topology(assembly: Assembly) -> None:
    for tenant in assembly.tenants:
        t, routes_stack = assembly.tenant(tenant.id), _routes(assembly, tenant.id)
        # The routes are a nested stack of their own (a stack holds at most 500 resources), and
        # each stage's deployment waits for it, as for methods beside it.
        assert not t.of_type("AWS::ApiGateway::Resource")
        (nested_id,) = [lid for lid in t.of_type("AWS::CloudFormation::Stack") if "ApiRoutes" in lid]
        for deployment_id in t.of_type("AWS::ApiGateway::Deployment"):
            assert nested_id in as_list(t.resources[deployment_id].get("DependsOn", [])), deployment_id
        paths, apis = _resource_paths(routes_stack), _apis(t, tenant.id)
        methods = [
            m
            for m in routes_stack.props("AWS::ApiGateway::Method")
            if "Ref" in m["ResourceId"] and m["HttpMethod"] != "OPTIONS"
        ]
        routes = topology.routes_for(tenant)
        assert len(methods) == sum(len(r.methods) for r in routes)
        for route in routes:
            matching = [m for m in methods if paths[m["ResourceId"]["Ref"]] == route.path]
            assert sorted(m["HttpMethod"] for m in matching) == sorted(route.methods), route.path
            for method in matching:
                assert method["RestApiId"]["Ref"] == apis[route.api], route.path
                if route.scopes:
                    assert method["AuthorizationType"] == "COGNITO_USER_POOLS"
                    assert set(method["AuthorizationScopes"]) == set(route.scopes)
                else:
                    assert method["AuthorizationType"] == "NONE"
                    # Reads, and the one write Stripe's webhook makes (it sends no token).
                    webhooks = (topology.STRIPE_WEBHOOK, topology.PRESCRIBING_WEBHOOK)
                    assert method["HttpMethod"] == "GET" or route.path in webhooks, route.path


def test_each_route_groups_methods_carry_the_groups_throttle_from_the_tenant_file(assembly: Assembly) -> None:
    for tenant in assembly.tenants:
        stages = _stages(assembly.tenant(tenant.id), tenant.id)
        # Each method's settings on its own API's stage.
        settings = {
            (kind, s["ResourcePath"], s["HttpMethod"]): (s["ThrottlingRateLimit"], s["ThrottlingBurstLimit"])
            for kind, (_, stage) in stages.items()
            for s in stage["MethodSettings"]
        }
        groups = {route.group for route in topology.routes_for(tenant)} - {topology.RouteGroup.PUBLIC}
        assert groups == set(topology.THROTTLED_GROUPS)
        for route in topology.routes_for(tenant):
            for method in route.methods:
                key = (route.api, "/~1" + route.path.lstrip("/").replace("/", "~1"), method)
                if route.group is topology.RouteGroup.PUBLIC:
                    assert key not in settings  # the stage's default
                else:
                    limits = tenant.route_throttles[route.group.value]
                    assert settings[key] == (limits.rate, limits.burst), key
        # Distinct limits per group in the example file, so a mix-up of two groups shows here.
        clinician, patient = tenant.route_throttles["clinician"], tenant.route_throttles["patient"]
        assert (clinician.rate, clinician.burst) != (patient.rate, patient.burst)


def test_api_gateways_own_errors_are_problems_with_the_request_id_and_the_portals_cors_origin(
    assembly: Assembly,
) -> None:
    """On the clinic's API problem+json; on the FHIR facade's an OperationOutcome (a 401 there is
    FHIR's, as every error the facade answers itself)."""
    for tenant in assembly.tenants:
        t = assembly.tenant(tenant.id)
        # In a nested stack of their own, each naming its REST API through the parameter the parent
        # passes it; each stage's deployment waits for that stack.
        answers = assembly.nested(tenant.id, "ApiGatewayAnswers")
        (nested_id,) = [
            lid for lid, r in t.of_type("AWS::CloudFormation::Stack").items() if "GatewayAnswers" in lid
        ]
        passed = t.resources[nested_id]["Properties"]["Parameters"]
        for deployment_id in t.of_type("AWS::ApiGateway::Deployment"):
            assert nested_id in as_list(t.resources[deployment_id].get("DependsOn", [])), deployment_id
        assert not t.of_type("AWS::ApiGateway::GatewayResponse")
        for kind, api_id in _apis(t, tenant.id).items():
            responses = {
                r["ResponseType"]: r
                for r in as_passed(answers.props("AWS::ApiGateway::GatewayResponse"), passed)
                if r["RestApiId"] == {"Ref": api_id}
            }
            assert set(responses) == {p.response_type for p in api_conventions.GATEWAY_PROBLEMS}
            for problem in api_conventions.GATEWAY_PROBLEMS:
                response = responses[problem.response_type]
                assert response.get("StatusCode") == (str(problem.status) if problem.status else None)
                headers = response["ResponseParameters"]
                body = json.loads(response["ResponseTemplates"]["application/json"])
                if kind is RestApiKind.CLINIC:
                    assert headers["gatewayresponse.header.Content-Type"] == "'application/problem+json'"
                    assert body["type"].startswith("/problems/") and body["instance"] == "$context.requestId"
                    assert body.get("status") == problem.status
                else:
                    assert headers["gatewayresponse.header.Content-Type"] == "'application/fhir+json'"
                    get_fhir_model_class("OperationOutcome").model_validate(body)
                    (issue,) = body["issue"]
                    assert issue["diagnostics"].endswith("(request $context.requestId)")
                    expected = {401: "login", 403: "forbidden", 404: "not-found", 429: "throttled"}
                    if problem.status in expected:
                        assert issue["code"] == expected[problem.status], problem.response_type
                # The portal's origin: the web distribution's (its only one where the tenant file
                # names no other, or names the custom domain itself).
                origin = render(headers.get("gatewayresponse.header.Access-Control-Allow-Origin"))
                assert origin == f"'{_web_origin(t, tenant)}'"
            # An unknown route is a 404, not API Gateway's 403 `Missing Authentication Token`.
            assert responses["MISSING_AUTHENTICATION_TOKEN"]["StatusCode"] == "404"


def test_waf_limits_each_client_by_its_authorization_header_without_logging_it(assembly: Assembly) -> None:
    """A rule per API, split by the FHIR base in the path, each answering 429 in its API's words."""
    for tenant in assembly.tenants:
        t = assembly.tenant(tenant.id)
        (acl,) = t.props("AWS::WAFv2::WebACL")
        rules = {r["Name"]: r for r in acl["Rules"]}
        for name, kind in (
            ("per-client-rate", RestApiKind.CLINIC),
            ("per-client-rate-fhir", RestApiKind.FHIR),
        ):
            rule = rules[name]
            statement = rule["Statement"]["RateBasedStatement"]
            assert statement["AggregateKeyType"] == "CUSTOM_KEYS"
            assert statement["Limit"] == tenant.client_rate_limit
            assert statement["EvaluationWindowSec"] == 300
            (key,) = statement["CustomKeys"]
            assert key["Header"]["Name"].lower() == "authorization"
            scope = statement["ScopeDownStatement"]
            on_fhir = scope if kind is RestApiKind.FHIR else scope["NotStatement"]["Statement"]
            match = on_fhir["ByteMatchStatement"]
            assert match["FieldToMatch"] == {"UriPath": {}} and match["SearchString"] == "/fhir/r4/"
            assert match["PositionalConstraint"] == "CONTAINS"
            response = rule["Action"]["Block"]["CustomResponse"]
            assert response["ResponseCode"] == 429
            body = json.loads(acl["CustomResponseBodies"][response["CustomResponseBodyKey"]]["Content"])
            if kind is RestApiKind.CLINIC:
                assert body["type"] == "/problems/too-many-requests" and body["status"] == 429
            else:
                get_fhir_model_class("OperationOutcome").model_validate(body)
                assert body["issue"][0]["code"] == "throttled"
            cors = {h["Name"]: render(h["Value"]) for h in response.get("ResponseHeaders", [])}
            assert cors == {"Access-Control-Allow-Origin": _web_origin(t, tenant)}
        # Requests without the header (sign-in pages, health) are still limited per address.
        assert any(
            r["Statement"].get("RateBasedStatement", {}).get("AggregateKeyType") == "IP" for r in acl["Rules"]
        )


def _minutes(client: dict[str, Any], token: str) -> float:
    value: float = client[f"{token}TokenValidity"]
    unit = client.get("TokenValidityUnits", {}).get(f"{token}Token", "hours")  # CloudFormation's default
    return value * {"minutes": 1, "hours": 60, "days": 1440, "seconds": 1 / 60}[unit]


def test_identity_mfa_for_the_workforce_admin_created_users_and_short_tokens(assembly: Assembly) -> None:
    for tenant in assembly.tenants:
        t = assembly.tenant(tenant.id)
        pools = _by_name(t, "AWS::Cognito::UserPool", "UserPoolName")
        workforce = pools[f"telehealth-{tenant.id}-workforce"]["Properties"]
        assert workforce["MfaConfiguration"] == "ON"
        assert workforce["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
        patients = pools[f"telehealth-{tenant.id}-patients"]["Properties"]
        assert patients["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is False
        groups = {g["GroupName"] for g in t.props("AWS::Cognito::UserPoolGroup")}
        assert groups == {"providers", "staff", "admins"}
        clients = t.props("AWS::Cognito::UserPoolClient")
        assert len(clients) == 2 + len(tenant.machine_clients)
        for client in clients:
            assert _minutes(client, "Access") <= 15
            assert "implicit" not in client.get("AllowedOAuthFlows", [])
            if "IdTokenValidity" in client:
                assert _minutes(client, "Id") <= 15
        servers = {
            r["Properties"]["Identifier"]: (rid, r["Properties"])
            for rid, r in t.of_type("AWS::Cognito::UserPoolResourceServer").items()
        }
        assert set(servers) == {topology.RESOURCE_SERVER, topology.SMART_RESOURCE_SERVER}
        # The FHIR facade's: every resource type it serves and the wildcard, in SMART v2's `rs` and
        # `cruds` and v1's `read`, within Cognito's 100 a server (v1's `write` and `*` went).
        smart_id, smart = servers[topology.SMART_RESOURCE_SERVER]
        smart_names = {s["ScopeName"] for s in smart["Scopes"]}
        assert len(smart["Scopes"]) == len(smart_names) <= 100
        forms = ("rs", "cruds", "read")
        assert smart_names == {f"{kind}.{form}" for kind in (*SERVED_TYPES, "*") for form in forms}
        assert {"Patient.rs", "Appointment.cruds", "*.rs", "Patient.read"} <= smart_names
        integrations_id, integrations = servers[topology.RESOURCE_SERVER]
        assert {s["ScopeName"] for s in integrations["Scopes"]} == {
            "appointments.read",
            "hl7.adt",
            "rpm.readings",
        }
        machine = {
            c["ClientName"]: c for c in clients if c.get("AllowedOAuthFlows") == ["client_credentials"]
        }
        assert set(machine) == {f"machine-{m.name}" for m in tenant.machine_clients}
        for spec in tenant.machine_clients:
            client = machine[f"machine-{spec.name}"]
            assert client["GenerateSecret"] is True
            scopes = {render(s) for s in client["AllowedOAuthScopes"]}
            # Each on its own server: Cognito composes `<server identifier>/<name>`.
            assert scopes == {
                f"<ref:{smart_id}>/{scope.removeprefix('system/')}"
                if scope.startswith("system/")
                else f"<ref:{integrations_id}>/{scope}"
                for scope in spec.scopes
            }
            assert len(scopes) <= 50
        assert len(t.of_type("AWS::Cognito::UserPoolDomain")) == 2  # each pool's managed login


def test_the_media_worker_task_is_fargate_arm64_from_the_dockerfile_with_a_narrow_role(
    assembly: Assembly,
) -> None:
    for tenant in assembly.tenants:
        t = assembly.tenant(tenant.id)
        t.one("AWS::ECS::Cluster")
        task_id, task = t.one("AWS::ECS::TaskDefinition")
        p = task["Properties"]
        assert p["RequiresCompatibilities"] == ["FARGATE"]
        assert p["RuntimePlatform"]["CpuArchitecture"] == "ARM64"
        (container,) = p["ContainerDefinitions"]
        assert container["ReadonlyRootFilesystem"] is True
        assert container["User"] == "10001"
        assert "cdk-hnb659fds-container-assets" in json.dumps(container["Image"])
        role_id = p["TaskRoleArn"]["Fn::GetAtt"][0]
        policy = next(
            r["Properties"]["PolicyDocument"]
            for r in t.of_type("AWS::IAM::Policy").values()
            if {"Ref": role_id} in r["Properties"]["Roles"]
        )
        table_id = t.one("AWS::DynamoDB::Table")[0]
        for statement in policy["Statement"]:
            resources = as_list(statement["Resource"])
            assert "*" not in resources, statement
            for action in as_list(statement["Action"]):
                # It reads recordings and never writes or deletes media; its results go to the
                # clinic table with their outbox entries, never straight to HealthLake.
                assert not action.startswith(("s3:Put", "s3:Delete", "healthlake:")), action
                if action.startswith("dynamodb:"):
                    assert all(table_id in json.dumps(r) for r in resources), statement
        assert task_id


def test_two_tenants_share_no_resource_names(assembly: Assembly) -> None:
    name_properties = (
        "TableName",
        "BucketName",
        "QueueName",
        "TopicName",
        "FunctionName",
        "StateMachineName",
        "LogGroupName",
        "UserPoolName",
        "DatastoreName",
        "BackupVaultName",
        "BackupPlanName",
        "ClusterName",
        "Family",
        "DashboardName",
        "AlarmName",
        "ArchiveName",
    )
    names: dict[str, set[str]] = {}
    for tenant in assembly.tenants:
        found: set[str] = set()
        for stack in (f"telehealth-{tenant.id}", f"telehealth-{tenant.id}-backup-copy"):
            for r in assembly.templates[stack].resources.values():
                p = r.get("Properties", {})
                found |= {str(render(p[k])) for k in name_properties if k in p}
                if r["Type"] in ("AWS::Events::EventBus", "AWS::Events::Rule", "AWS::ApiGateway::RestApi"):
                    found.add(str(render(p["Name"])))
                if r["Type"] == "AWS::KMS::Alias":
                    found.add(p["AliasName"])
        # A name that is a reference (to a function, an API id) names a resource counted above.
        names[tenant.id] = {n for n in found if "<ref:" not in n and "<getatt:" not in n}
    first, second = (names[t.id] for t in assembly.tenants[:2])
    assert first and second
    assert first & second == set()


def test_only_the_functions_that_call_a_third_party_are_on_the_egress_path(assembly: Assembly) -> None:
    baseline = assembly.baseline("us-east-1").body
    for tenant in assembly.tenants:
        expected = {f.key for f in topology.functions_for(tenant) if f.on_egress_path}
        assert egress_functions(assembly.tenant(tenant.id).body, baseline, tenant.id) == expected
    assert egress_functions(assembly.tenant("riverside").body, baseline, "riverside") == {
        "payments",
        "payment-notices",
        "eligibility",
        "prescribing",
        "subscription-delivery",
    }


def test_a_tenant_with_payments_off_has_none_of_its_functions_secrets_or_grants(
    assembly: Assembly,
) -> None:
    desert = assembly.tenant("desert-clinic")
    assert not [
        r
        for r in desert.props("AWS::Lambda::Function")
        if str(render(r.get("FunctionName", ""))).endswith(("-payments", "-payment-notices"))
    ]
    # Its third parties are Dexcom (remote monitoring) and Photon (e-prescribing), whose secrets
    # alone it has: no Stripe's, no clearinghouse's.
    assert sorted(s["Name"] for s in desert.props("AWS::SecretsManager::Secret")) == sorted(
        p.secret_name("desert-clinic") for p in (topology.DEXCOM, topology.PHOTON)
    )
    # Its api may invoke three functions: subscription-delivery (a subscription's secret), dexcom
    # (a patient's Dexcom sign-in) and prescribing; no payments' (the state machine's role invokes
    # visit-tasks, as ever).
    functions = _by_name(desert, "AWS::Lambda::Function", "FunctionName")
    api = functions[topology.API.name("desert-clinic")]
    invocable = {
        lid
        for lid, r in desert.of_type("AWS::Lambda::Function").items()
        if render(r["Properties"].get("FunctionName"))
        in (
            topology.SUBSCRIPTION_DELIVERY.name("desert-clinic"),
            topology.DEXCOM_CALLS.name("desert-clinic"),
            topology.PRESCRIBING.name("desert-clinic"),
        )
    }
    assert len(invocable) == 3
    role = api["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = [
        st
        for r in desert.of_type("AWS::IAM::Policy").values()
        if {"Ref": role} in r["Properties"]["Roles"]
        for st in r["Properties"]["PolicyDocument"]["Statement"]
    ]
    invoked = [st for st in statements if "lambda:InvokeFunction" in as_list(st["Action"])]
    assert statements and invoked
    assert all(any(lid in json.dumps(st["Resource"]) for lid in invocable) for st in invoked)
    riverside = assembly.tenant("riverside")
    secrets = riverside.props("AWS::SecretsManager::Secret")
    assert sorted(s["Name"] for s in secrets) == sorted(
        p.secret_name("riverside") for p in (topology.STRIPE, topology.CLEARINGHOUSE, topology.PHOTON)
    )
    for secret in secrets:
        assert secret["KmsKeyId"] == {"Fn::GetAtt": [riverside.tenant_key()[0], "Arn"]}


def test_egress_functions_send_https_only_and_take_no_connection(assembly: Assembly) -> None:
    t = assembly.tenant("riverside")
    name = topology.PAYMENTS.name("riverside")
    (payments,) = [r for r in t.props("AWS::Lambda::Function") if render(r.get("FunctionName")) == name]
    (group,) = payments["VpcConfig"]["SecurityGroupIds"]
    sg = t.resources[group["Fn::GetAtt"][0]]["Properties"]
    assert sg["SecurityGroupEgress"] == [
        {
            "CidrIp": "0.0.0.0/0",
            "Description": "endpoints and the egress path",
            "FromPort": 443,
            "IpProtocol": "tcp",
            "ToPort": 443,
        }
    ]
    assert "SecurityGroupIngress" not in sg
