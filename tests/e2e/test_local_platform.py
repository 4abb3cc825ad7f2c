"""The embedded default, end to end: parity with the stacks, health, tokens, events, workflows."""

from __future__ import annotations

import base64
import json
import time
import urllib.parse
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from infra import topology
from local.emulator import ACCOUNT
from local.platform import LocalPlatform
from local.tokens import sign_for_tests
from telehealth.adapters.meetings import ChimeMeetings
from tests.conftest import HEALTH_CACHE_S, Assembly, eventually, http, render, user_tokens

RIVERSIDE, DESERT = "riverside", "desert-clinic"


# --- parity: what the stacks declare, the local platform has ------------------------------------


def _local_names(platform: LocalPlatform, tenant_id: str) -> dict[str, set[str]]:
    region = platform.provisioned[tenant_id].region
    ddb, events = platform.client("dynamodb", region), platform.client("events", region)
    sqs, lam, sfn = (
        platform.client("sqs", region),
        platform.client("lambda", region),
        platform.client("stepfunctions", region),
    )
    buses = {b["Name"] for b in events.list_event_buses()["EventBuses"]}
    rules = {r["Name"] for bus in buses for r in events.list_rules(EventBusName=bus)["Rules"]}
    return {
        "tables": set(ddb.list_tables()["TableNames"]),
        "buses": buses,
        "rules": rules,
        "queues": {url.rsplit("/", 1)[1] for url in sqs.list_queues().get("QueueUrls", [])},
        "functions": {f["FunctionName"] for f in lam.list_functions()["Functions"]},
        "state_machines": {m["name"] for m in sfn.list_state_machines()["stateMachines"]},
    }


def _template_names(assembly: Assembly) -> dict[str, set[str]]:
    names: dict[str, set[str]] = {
        k: set() for k in ("tables", "buses", "rules", "queues", "functions", "state_machines")
    }
    wanted = {
        "AWS::DynamoDB::Table": ("tables", "TableName"),
        "AWS::Events::EventBus": ("buses", "Name"),
        "AWS::Events::Rule": ("rules", "Name"),
        "AWS::SQS::Queue": ("queues", "QueueName"),
        "AWS::Lambda::Function": ("functions", "FunctionName"),
        "AWS::StepFunctions::StateMachine": ("state_machines", "StateMachineName"),
    }
    for template in assembly.templates.values():
        for resource in template.resources.values():
            if resource["Type"] in wanted:
                kind, prop = wanted[resource["Type"]]
                name = resource.get("Properties", {}).get(prop)
                if name is not None:  # CDK's own helpers (unnamed) are not the platform's
                    names[kind].add(str(render(name)))
    return names


def test_every_table_bus_rule_queue_state_machine_and_function_of_the_stacks_runs_locally(
    platform: LocalPlatform, assembly: Assembly
) -> None:
    local: dict[str, set[str]] = {}
    for tenant_id in platform.provisioned:
        for kind, found in _local_names(platform, tenant_id).items():
            local.setdefault(kind, set()).update(found)
    declared = _template_names(assembly)
    for kind, names in declared.items():
        assert names, f"the templates declare no {kind}"
        assert names - local[kind] == set(), f"{kind} in the stacks but not local"


def test_local_rules_carry_the_same_patterns_targets_and_dlqs_as_the_stacks(platform: LocalPlatform) -> None:
    events = platform.client("events")
    for tenant in platform.settings.tenants:  # each tenant's rules: a feature it has off, none
        for spec in topology.rules_for(tenant):
            kwargs = (
                {"EventBusName": topology.TENANT_BUS.name(tenant.id)}
                if spec.bus is topology.BusKind.TENANT
                else {}
            )
            rule = events.describe_rule(Name=spec.name(tenant.id), **kwargs)
            if spec.event_pattern:
                assert json.loads(rule["EventPattern"]) == spec.pattern(tenant.id)
            else:
                assert rule["ScheduleExpression"] == spec.schedule
            (target,) = events.list_targets_by_rule(Rule=spec.name(tenant.id), **kwargs)["Targets"]
            if isinstance(spec.target, topology.ContainerTask):
                assert target["Arn"].endswith(f":cluster/{spec.target.cluster_name(tenant.id)}")
                assert target["EcsParameters"]["TaskDefinitionArn"].endswith(
                    f"/{spec.target.name(tenant.id)}"
                )
            else:
                assert target["Arn"].endswith(f":function:{spec.target.name(tenant.id)}")
            assert target["DeadLetterConfig"]["Arn"].endswith(f":{spec.dlq.name(tenant.id)}")
        absent = [r for r in topology.RULES if r not in topology.rules_for(tenant)]
        for spec in absent:
            with pytest.raises(events.exceptions.ResourceNotFoundException):
                events.describe_rule(Name=spec.name(tenant.id))
    forward = events.describe_rule(Name=topology.chime_forwarding_rule_name(RIVERSIDE))
    assert json.loads(forward["EventPattern"]) == topology.chime_forwarding_pattern(RIVERSIDE)


# --- health ------------------------------------------------------------------------------------------


def test_health_reports_every_component_and_names_the_one_that_is_down(
    platform: LocalPlatform, gateway: str
) -> None:
    up = http("GET", f"{gateway}/health")
    assert up.status == 200
    assert up.json() == {
        "status": "ok",
        "components": dict.fromkeys(("aws", "fhir", "meetings", "payments"), "ok"),
    }
    time.sleep(HEALTH_CACHE_S + 0.1)  # past the health cache
    platform.pause("healthlake")
    try:
        down = http("GET", f"{gateway}/tenants/{DESERT}/health")
        assert down.status == 503
        # desert-clinic has payments switched off: nothing to ask about them.
        assert down.json()["components"] == {"aws": "ok", "fhir": "unavailable", "meetings": "ok"}
    finally:
        platform.resume("healthlake")


# --- the gateway: routes and the Cognito authorizer's rules ------------------------------------


def test_a_path_no_resource_has_is_a_404_problem(gateway: str) -> None:
    reply = http("GET", f"{gateway}/v2/anything")
    assert reply.status == 404 and reply.headers["Content-Type"] == "application/problem+json"
    assert reply.json()["type"] == "/problems/not-found"
    assert http("POST", f"{gateway}/health").status == 404


def test_a_users_access_token_passes_the_authorizer_on_user_routes(
    platform: LocalPlatform, gateway: str
) -> None:
    tokens = user_tokens(platform, RIVERSIDE, "patient.one@riverside.example")
    # The API function answered (a problem of its own): the authorizer let it through.
    path = "/v1/appointments/01ARZ3NDEKTSV4RRFFQ69G5FAV"  # a well-formed id no appointment has
    reply = http("GET", f"{gateway}{path}", headers={"Authorization": tokens["access"]})
    assert reply.status == 404 and reply.json()["type"] == "/problems/not-found"
    bearer = http("GET", f"{gateway}{path}", headers={"Authorization": f"Bearer {tokens['access']}"})
    assert bearer.status == 404


@pytest.mark.parametrize(
    "case", ["missing", "expired", "forged", "other-tenant", "id-token", "missing-scope", "garbage"]
)
def test_the_authorizer_answers_401_as_api_gateway_would(
    platform: LocalPlatform, gateway: str, case: str
) -> None:
    riverside = platform.provisioned[RIVERSIDE]
    patient = user_tokens(platform, RIVERSIDE, "patient.one@riverside.example")
    now = int(time.time())
    claims = {
        "iss": riverside.issuers["patients"],
        "token_use": "access",
        "scope": topology.USER_SCOPE,
        "sub": "x",
    }
    header = {
        "missing": None,
        "expired": sign_for_tests({**claims, "exp": now - 1, "iat": now - 900}),
        "forged": sign_for_tests({**claims, "exp": now + 600}, forged=True),
        "other-tenant": user_tokens(platform, DESERT, "patient.one@desert-clinic.example")["access"],
        "id-token": patient["id"],
        "missing-scope": patient["access"],
        "garbage": "not-a-jwt",
    }[case]
    path = "/integrations/appointments" if case == "missing-scope" else "/v1/appointments"
    reply = http("GET", f"{gateway}{path}", headers={"Authorization": header} if header else {})
    assert reply.status == 401 and reply.json()["type"] == "/problems/unauthorized"


def _client_credentials(gateway: str, client: tuple[str, str, tuple[str, ...]], scope: str) -> Any:
    client_id, secret, _ = client
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return http(
        "POST",
        f"{gateway}/oauth2/token",
        headers={"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"},
        body=urllib.parse.urlencode({"grant_type": "client_credentials", "scope": scope}).encode(),
    )


def test_a_machine_client_gets_a_token_for_its_scopes_only(platform: LocalPlatform, gateway: str) -> None:
    client = platform.provisioned[RIVERSIDE].machine_clients["ehr-sync"]
    granted = _client_credentials(gateway, client, "telehealth/appointments.read")
    assert granted.status == 200
    token = granted.json()["access_token"]
    listed = http(
        "GET", f"{gateway}/integrations/appointments?provider_id=dr-okafor", headers={"Authorization": token}
    )
    assert listed.status == 200 and "appointments" in listed.json()
    # Its scope does not open the FHIR facade, and a user route wants a user's token.
    assert http("GET", f"{gateway}/fhir/Patient", headers={"Authorization": token}).status == 401
    assert http("GET", f"{gateway}/v1/appointments", headers={"Authorization": token}).status == 401
    # A scope the client was not given, or one no resource server defines, is not granted.
    for scope in ("system/Observation.cruds", "telehealth/fhir.write"):
        assert _client_credentials(gateway, client, scope).json() == {"error": "invalid_scope"}
    wrong = (client[0], "not-the-secret", client[2])
    assert _client_credentials(gateway, wrong, "telehealth/appointments.read").json() == {
        "error": "invalid_client"
    }


def test_cors_preflight_allows_only_configured_origins(gateway: str) -> None:
    allowed = http("OPTIONS", f"{gateway}/v1/appointments", headers={"Origin": "http://portal.example"})
    assert allowed.status == 204
    assert allowed.headers["Access-Control-Allow-Origin"] == "http://portal.example"
    assert "Authorization" in allowed.headers["Access-Control-Allow-Headers"]
    # Another origin hears the tenant's first one (as CDK's preflight mock answers): the browser refuses.
    refused = http("OPTIONS", f"{gateway}/v1/appointments", headers={"Origin": "http://elsewhere.example"})
    assert refused.headers["Access-Control-Allow-Origin"] != "http://elsewhere.example"
    # The tenant file's own portal origin works too; the function adds the header to responses.
    tenant_origin = http("OPTIONS", f"{gateway}/health", headers={"Origin": "https://care.riverside.example"})
    assert tenant_origin.status == 204
    answered = http("GET", f"{gateway}/openapi.json", headers={"Origin": "http://portal.example"})
    assert answered.headers["Access-Control-Allow-Origin"] == "http://portal.example"


def test_openapi_and_swagger_ui_are_served(gateway: str) -> None:
    document = http("GET", f"{gateway}/openapi.json")
    assert document.status == 200 and document.json()["openapi"].startswith("3.1")
    assert "/health" in document.json()["paths"]
    ui = http("GET", f"{gateway}/docs")
    assert ui.status == 200 and b"swagger" in ui.body.lower()


# --- events: forwarding, delivery, and both dead-letter paths ----------------------------------


def _receive(platform: LocalPlatform, queue_name: str, region: str = "us-east-1") -> list[dict[str, Any]]:
    sqs = platform.client("sqs", region)
    url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
    messages: list[dict[str, Any]] = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=1
    ).get("Messages", [])
    return messages


def _chime_events_handled(platform: LocalPlatform, tenant_id: str, meeting_id: str) -> list[str]:
    name = topology.CHIME_EVENTS.name(tenant_id)
    return [
        event["detail"]["eventType"]
        for function, event in list(platform.dispatcher.completed)
        if function == name and event.get("detail", {}).get("meetingId") == meeting_id
    ]


def _meetings(platform: LocalPlatform, tenant: str) -> ChimeMeetings:
    return ChimeMeetings(
        meetings_client=platform.client("chime-sdk-meetings", endpoint=platform.urls["chime"]),
        pipelines_client=platform.client("chime-sdk-media-pipelines", endpoint=platform.urls["chime"]),
        tenant_id=tenant,
    )


def test_a_chime_event_reaches_only_the_tenant_named_in_its_external_meeting_id(
    platform: LocalPlatform,
) -> None:
    meeting, _ = _meetings(platform, DESERT).create_meeting_with_attendees(
        external_meeting_id=f"{DESERT}:visit-{uuid.uuid4().hex[:8]}",
        media_region="us-west-2",
        external_user_ids=["patient:p-1", "practitioner:pr-1"],
        idempotency_key=str(uuid.uuid4()),
    )
    handled = eventually(lambda: _chime_events_handled(platform, DESERT, meeting["MeetingId"]))
    assert handled == ["chime:MeetingStarted"]
    time.sleep(0.5)
    assert _chime_events_handled(platform, RIVERSIDE, meeting["MeetingId"]) == []


def test_a_handler_that_keeps_failing_lands_in_the_functions_dlq_after_its_retries(
    platform: LocalPlatform,
) -> None:
    # An event whose meeting belongs to no tenant is refused by the handler, every time.
    foreign = {
        "detail-type": "Chime Meeting State Change",
        "source": "aws.chime",
        "detail": {"externalMeetingId": "nobody:visit-9"},
    }
    lam = platform.client("lambda")
    lam.invoke(
        FunctionName=topology.CHIME_EVENTS.name(RIVERSIDE),
        InvocationType="Event",
        Payload=json.dumps(foreign).encode(),
    )
    dlq = topology.CHIME_EVENTS.dlq.name(RIVERSIDE)  # type: ignore[union-attr]
    (message,) = eventually(lambda: _receive(platform, dlq))
    assert json.loads(message["Body"]) == foreign
    # Lambda writes the error's message here: handlers' messages carry no PHI for that reason.
    assert (
        message["MessageAttributes"]["ErrorMessage"]["StringValue"]
        == "externalMeetingId does not carry this tenant's prefix"
    )


def test_a_rule_target_that_cannot_be_delivered_lands_in_the_targets_dlq(platform: LocalPlatform) -> None:
    events, sqs = platform.client("events"), platform.client("sqs")
    bus = topology.TENANT_BUS.name(RIVERSIDE)
    dlq_url = sqs.create_queue(QueueName="probe-undeliverable-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(
        Name="probe-undeliverable",
        EventBusName=bus,
        EventPattern=json.dumps({"source": ["telehealth.probe"]}),
    )
    gone = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:telehealth-{RIVERSIDE}-no-such-function"
    events.put_targets(
        Rule="probe-undeliverable",
        EventBusName=bus,
        Targets=[
            {
                "Id": "gone",
                "Arn": gone,
                "DeadLetterConfig": {"Arn": dlq_arn},
                "RetryPolicy": {"MaximumRetryAttempts": 2},
            }
        ],
    )
    events.put_events(
        Entries=[
            {"Source": "telehealth.probe", "DetailType": "Probe.Sent", "Detail": "{}", "EventBusName": bus}
        ]
    )
    (message,) = eventually(lambda: _receive(platform, "probe-undeliverable-dlq"))
    assert json.loads(message["Body"])["detail-type"] == "Probe.Sent"
    assert message["MessageAttributes"]["TARGET_ARN"]["StringValue"] == gone


# --- workflows: a state machine waiting on a task token ------------------------------------------


def start_lifecycle(
    platform: LocalPlatform,
    tenant_id: str,
    appointment_id: str,
    starts_in: timedelta = timedelta(minutes=10),
    name_suffix: str = "",
) -> tuple[Any, str]:
    """An execution of the visit lifecycle, its clock set by `starts_in` (the visit's start from
    now). Starting within the hour (the default), both reminders are past and the lifecycle goes
    straight to waiting for check-in."""
    sfn = platform.client("stepfunctions")
    arn = platform.provisioned[tenant_id].state_machine_arns[topology.VISIT_LIFECYCLE.key]
    start = datetime.now(UTC) + starts_in
    execution = sfn.start_execution(
        stateMachineArn=arn,
        name=f"{appointment_id}-v1{name_suffix}",
        input=json.dumps(
            {
                "appointment_id": appointment_id,
                "version": 1,
                "start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "end": (start + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        ),
    )["executionArn"]
    return sfn, execution


def test_the_lifecycle_waits_for_each_reminder_then_for_check_in(platform: LocalPlatform) -> None:
    appointment = f"appt-{uuid.uuid4().hex[:10]}"
    # The one-hour reminder is due in a few seconds: the lifecycle waits for it, sends it (an
    # appointment that does not exist gets none) and goes on to wait for check-in.
    sfn, execution = start_lifecycle(platform, RIVERSIDE, appointment, timedelta(hours=1, seconds=4))

    def entered() -> list[str]:
        events = sfn.get_execution_history(executionArn=execution)["events"]
        return [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]

    assert "UntilReminder" in eventually(
        lambda: "UntilCheckIn" in (names := entered()) and names, timeout_s=30
    )
    assert entered().count("Remind") == 1
    failures = [
        e["type"]
        for e in sfn.get_execution_history(executionArn=execution)["events"]
        if e["type"].endswith(("Failed", "TimedOut"))
    ]
    assert failures == []  # the reminder step succeeded, not caught
    assert sfn.describe_execution(executionArn=execution)["status"] == "RUNNING"
    sfn.stop_execution(executionArn=execution)


def _token(
    platform: LocalPlatform, tenant_id: str, appointment_id: str, step: str = "check-in"
) -> str | None:
    item = (
        platform.client("dynamodb")
        .get_item(
            TableName=topology.CLINIC_TABLE.name(tenant_id),
            Key={"pk": {"S": f"APPT#{appointment_id}"}, "sk": {"S": f"TASK#{step}#v1"}},
        )
        .get("Item")
    )
    return item["task_token"]["S"] if item else None


def test_the_lifecycle_waits_on_a_task_token_and_resumes_on_success(platform: LocalPlatform) -> None:
    appointment = f"appt-{uuid.uuid4().hex[:10]}"
    sfn, execution = start_lifecycle(platform, DESERT, appointment)
    token = eventually(lambda: _token(platform, DESERT, appointment), timeout_s=30)
    # The token was written by the desert-clinic host to its own table, not riverside's.
    assert _token(platform, RIVERSIDE, appointment) is None
    assert sfn.describe_execution(executionArn=execution)["status"] == "RUNNING"
    sfn.send_task_success(taskToken=token, output=json.dumps({"checked_in": True}))
    # Checked in, it waits for the provider; an admission that did not happen ends it.
    admission = eventually(lambda: _token(platform, DESERT, appointment, "admit"), timeout_s=30)
    sfn.send_task_success(taskToken=admission, output=json.dumps({"admitted": False}))
    assert eventually(
        lambda: sfn.describe_execution(executionArn=execution)["status"] == "SUCCEEDED", timeout_s=30
    )


def test_a_task_failure_fails_the_execution_through_its_catch(platform: LocalPlatform) -> None:
    appointment = f"appt-{uuid.uuid4().hex[:10]}"
    sfn, execution = start_lifecycle(platform, RIVERSIDE, appointment)
    token = eventually(lambda: _token(platform, RIVERSIDE, appointment), timeout_s=30)
    sfn.send_task_failure(taskToken=token, error="CheckInWindowClosed", cause="no check-in")
    described = eventually(
        lambda: (d := sfn.describe_execution(executionArn=execution))["status"] != "RUNNING" and d,
        timeout_s=30,
    )
    assert described["status"] == "FAILED"
    assert described.get("error") == "VisitTaskFailed"


def test_an_outbox_entry_reaches_the_stream_consumer_and_an_ordinary_write_does_not(
    platform: LocalPlatform,
) -> None:
    """The stream mapping's filter: a pending outbox entry wakes the relay (which delivers it), an
    ordinary write to the table does not."""
    from telehealth.adapters.table_store import TableStore
    from telehealth.ports import OutboxEntry

    table = topology.CLINIC_TABLE.name(RIVERSIDE)
    ordinary = f"PROBE#{uuid.uuid4().hex[:8]}"
    platform.client("dynamodb").put_item(TableName=table, Item={"pk": {"S": ordinary}, "sk": {"S": "v1"}})
    probe = {"id": uuid.uuid4().hex, "source": "telehealth.probe", "detail-type": "Probe.Sent", "detail": {}}
    entry = OutboxEntry(probe, 1, destination="events")
    TableStore(table, client=platform.client("dynamodb")).record([entry])

    def handed(key: str) -> bool:
        return any(
            function == topology.OUTBOX_SIGNALS.name(RIVERSIDE)
            and any(r["Keys"]["pk"]["S"] == key and r["eventName"] == "INSERT" for r in event["Records"])
            for function, event in list(platform.dispatcher.completed)
        )

    assert eventually(lambda: handed(f"OUTBOX#{entry.reference}"))
    assert not handed(ordinary)
