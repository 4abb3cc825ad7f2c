"""The topology is the one declaration of the wiring; these are the invariants it keeps."""

from __future__ import annotations

import importlib
import json
import re

from infra import topology
from infra.assets import ROOT
from infra.tenants import Features, load_tenants
from tests.conftest import FUNCTION_ENVIRONMENT


def test_names_are_unique_per_kind_and_carry_the_tenant() -> None:
    for items in (topology.FUNCTIONS, topology.queues(), topology.RULES, topology.STATE_MACHINES):
        names = [i.name("acme") for i in items]
        assert len(names) == len(set(names))
        assert all(n.startswith("telehealth-acme-") for n in names)


def test_every_asynchronous_function_and_every_rule_target_has_a_dead_letter_queue() -> None:
    queue_keys = {q.key for q in topology.queues()}
    for fn in topology.FUNCTIONS:
        if fn.invocation in (topology.Invocation.EVENT, topology.Invocation.STREAM):
            assert fn.dlq is not None and fn.dlq.key in queue_keys
    for rule in topology.RULES:
        assert rule.dlq.key in queue_keys
        target = rule.target
        assert isinstance(target, topology.ContainerTask) or target.invocation is topology.Invocation.EVENT


def test_schedules_only_on_the_default_bus_and_patterns_are_valid_json() -> None:
    for rule in topology.RULES:
        assert (rule.schedule is None) != (rule.event_pattern is None)
        if rule.schedule:
            assert rule.bus is topology.BusKind.DEFAULT
        else:
            json.dumps(rule.pattern("riverside"))


def test_every_handler_resolves_to_a_callable() -> None:
    for fn in topology.FUNCTIONS:
        module = importlib.import_module(fn.module)
        assert callable(getattr(module, fn.handler.rsplit(".", 1)[1]))


def test_state_machine_placeholders_match_the_definition_files() -> None:
    for machine in topology.STATE_MACHINES:
        definition = (ROOT / "statemachines" / machine.definition_file).read_text()
        json.loads(definition)
        for placeholder in machine.functions:
            assert "${" + placeholder + "}" in definition


def test_no_catch_carries_an_errors_cause_into_a_later_state() -> None:
    """A task's error cause is its exception's message and stack, which can quote what a service
    refused (an e-mail address, a phone number). Its own TaskFailed event keeps it (the error is
    made clean at its source, the notifier); a Catch with a ResultPath would copy it into every
    later state's input, so each Catch discards it."""
    for machine in topology.STATE_MACHINES:
        definition = json.loads((ROOT / "statemachines" / machine.definition_file).read_text())
        catches = [
            (name, catch) for name, state in definition["States"].items() for catch in state.get("Catch", [])
        ]
        assert catches
        kept = [name for name, catch in catches if catch.get("ResultPath", "$") is not None]
        assert not kept, f"{machine.definition_file}: {kept} keep the error in the state"


def test_functions_import_only_what_their_asset_and_the_layer_ship() -> None:
    """A function's code asset is `functions/`; the layer is `telehealth` and its dependencies.
    `infra` and `local` stay on the developer's machine."""
    import ast

    for path in (ROOT / "functions").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in ("infra", "local", "tests", "tools"), f"{path}: {name}"


def test_domain_events_carry_ids_instants_and_flags_only() -> None:
    """Events live on in the archive and in DLQs: no field may hold PHI."""
    from telehealth.events import CATALOGUE

    allowed = {
        "schema_version",
        "appointment_id",
        "version",
        "provider_id",
        "patient_id",
        "start",
        "end",
        "recording_consented",
        # The visit's steps: which, who (a role), how it ended, where the media is; ids only.
        "reminder",
        "channels",
        "meeting_id",
        "role",
        "dropped",
        "ended_by",
        "absent",
        "reason",
        "bucket",
        "patient_stream_key",
        "encounter_id",
        "observation_ids",
        "subscription_id",  # a health system's subscription, by the platform's id
        # A payment's step: its count on the visit, Stripe's id for the hold, Stripe's reason.
        "sequence",
        "intent_id",
        "step",
        "code",
        "late_fee",
        "observation_id",
        "refused",
        "status",
        # Remote monitoring: an alert by id; who sent refused readings, as the audit trail names
        # them (a machine client's `Device/...`, a patient's `Patient/<id>`).
        "alert_id",
        "sender",
        "level",  # how many providers an unacknowledged alert has gone to
        # Triage: an intake by id; whether it holds words for NLP to read (not the words).
        "intake_id",
        "free_text",
        "case_id",  # store-and-forward: a case of photos, by id
    }
    for event in CATALOGUE:
        assert set(event.model_fields) <= allowed, event.__name__
        assert event.source.startswith("telehealth.") and "." in event.detail_type


# --- the egress path ----------------------------------------------------------------------------------

# Grants that reach the tenant's PHI: a function holding any of them stays in the isolated subnets.
PHI_GRANTS = ("table:", "fhir:", "audit:", "key:", "meetings:", "recordings:", "notify:")


def test_every_feature_a_function_belongs_to_is_a_switch_of_the_tenant_file() -> None:
    for fn in topology.FUNCTIONS:
        assert fn.feature is None or fn.feature in Features.model_fields, fn.key


def test_only_third_party_callers_are_on_the_egress_path_and_none_of_them_touches_phi() -> None:
    on_path = [fn for fn in topology.FUNCTIONS if fn.on_egress_path]
    assert on_path == [
        topology.PAYMENTS,
        topology.PAYMENT_NOTICES,
        topology.ELIGIBILITY,
        topology.PRESCRIBING,
        topology.SUBSCRIPTION_DELIVERY,
        topology.DEXCOM_CALLS,
    ]
    for fn in on_path:
        assert fn.third_parties or fn.reaches_subscribers, (
            f"{fn.key} is on the egress path with nothing to call"
        )
        assert not [g for g in fn.grants if g.startswith(PHI_GRANTS)], fn.key
    # Subscribers are reached by the delivery function alone, which holds no grant at all.
    assert [fn for fn in topology.FUNCTIONS if fn.reaches_subscribers] == [topology.SUBSCRIPTION_DELIVERY]
    assert topology.SUBSCRIPTION_DELIVERY.grants == ()
    for fn in topology.FUNCTIONS:
        if not fn.on_egress_path:
            assert fn.egress == ()


def test_a_tenant_without_a_feature_has_none_of_its_functions() -> None:
    riverside, desert = load_tenants()
    assert riverside.features.payments and not desert.features.payments
    assert topology.PAYMENTS in topology.functions_for(riverside)
    assert topology.PAYMENTS not in topology.functions_for(desert)
    assert set(topology.functions_for(desert)) == {
        f for f in topology.FUNCTIONS if f.feature in (None, "rpm", "triage", "eprescribing")
    }
    assert topology.TRIAGE_EVENTS not in topology.functions_for(riverside)
    environment = topology.function_environment(desert, **FUNCTION_ENVIRONMENT)
    assert environment["PAYMENTS_FUNCTION"] == environment["PAYMENT_NOTICES_FUNCTION"] == ""
    # Remote monitoring the other way round: desert-clinic's, not riverside's.
    assert topology.READINGS in topology.functions_for(desert)
    assert topology.READINGS not in topology.functions_for(riverside)
    assert environment["READINGS_QUEUE_URL"].endswith("/telehealth-desert-clinic-readings-work.fifo")
    assert topology.function_environment(riverside, **FUNCTION_ENVIRONMENT)["READINGS_QUEUE_URL"] == ""


def test_only_a_third_party_caller_is_told_where_its_secret_and_its_keys_are() -> None:
    arns = {
        "stripe": "arn:aws:secretsmanager:us-east-1:1:secret:telehealth/t/stripe-abcdef",
        "clearinghouse": "arn:aws:secretsmanager:us-east-1:1:secret:telehealth/t/clearinghouse-abcdef",
        "photon": "arn:aws:secretsmanager:us-east-1:1:secret:telehealth/t/photon-abcdef",
        "dexcom": "arn:aws:secretsmanager:us-east-1:1:secret:telehealth/t/dexcom-abcdef",
    }
    keys = {
        "prescriber-credentials": "arn:aws:kms:us-east-1:1:key/prescribers",
        "subscription-secrets": "arn:aws:kms:us-east-1:1:key/subscriptions",
        "dexcom-credentials": "arn:aws:kms:us-east-1:1:key/dexcom",
    }

    def told(fn: topology.Function) -> dict[str, str]:
        return topology.own_environment(fn, arns, keys)

    assert told(topology.PAYMENTS) == {"STRIPE_SECRET_ARN": arns["stripe"]}
    assert told(topology.PAYMENT_NOTICES) == {"STRIPE_SECRET_ARN": arns["stripe"]}
    assert told(topology.ELIGIBILITY) == {"CLEARINGHOUSE_SECRET_ARN": arns["clearinghouse"]}
    assert told(topology.PRESCRIBING) == {
        "PHOTON_SECRET_ARN": arns["photon"],
        "PRESCRIBER_KEY_ARN": keys["prescriber-credentials"],
    }
    assert told(topology.SUBSCRIPTION_DELIVERY) == {"SUBSCRIPTION_KEY_ARN": keys["subscription-secrets"]}
    assert told(topology.DEXCOM_CALLS) == {
        "DEXCOM_SECRET_ARN": arns["dexcom"],
        "DEXCOM_KEY_ARN": keys["dexcom-credentials"],
    }
    for fn in topology.FUNCTIONS:
        if fn not in (
            topology.PAYMENTS,
            topology.PAYMENT_NOTICES,
            topology.ELIGIBILITY,
            topology.PRESCRIBING,
            topology.SUBSCRIPTION_DELIVERY,
            topology.DEXCOM_CALLS,
        ):
            assert told(fn) == {}
    shared = topology.function_environment(load_tenants()[0], **FUNCTION_ENVIRONMENT)
    assert not [k for k in shared if k.startswith(("STRIPE", "CLEARINGHOUSE", "PHOTON", "PRESCRIBER"))]


def test_the_firewall_allows_the_union_of_the_tenants_domains_and_the_aws_apis_they_use() -> None:
    riverside, desert = load_tenants()
    endpoints = ["s3", "dynamodb", "kms", "ecr.dkr"]
    both = topology.firewall_domains([riverside, desert], "us-east-1", endpoints)
    assert "api.stripe.com" in both  # riverside's, in the VPC desert-clinic shares
    assert "secretsmanager.us-east-1.amazonaws.com" in both  # the payments function's, through the NAT
    aws = {"kms.us-east-1.amazonaws.com", "*.dkr.ecr.us-east-1.amazonaws.com", "s3.amazonaws.com"}
    assert aws <= set(both)
    # Without a tenant that calls a third party, neither Stripe nor the secrets' API resolves.
    quiet = desert.model_copy(
        update={
            "features": desert.features.model_copy(update={"rpm": False, "eprescribing": False}),
            "egress_domains": (),
        }
    )
    assert "api.dexcom.com" in topology.firewall_domains([desert], "us-east-1", endpoints)
    alone = topology.firewall_domains([quiet], "us-east-1", endpoints)
    assert "api.stripe.com" not in alone
    assert "secretsmanager.us-east-1.amazonaws.com" not in alone
    other = desert.model_copy(update={"egress_domains": ("api.example-eligibility.com",)})
    assert {"api.stripe.com", "api.example-eligibility.com"} <= set(
        topology.firewall_domains([riverside, other], "us-east-1", endpoints)
    )


def test_the_fhir_facade_takes_smart_scopes_and_users_and_its_discovery_document_is_public() -> None:
    facade, _ = topology.match_route("/fhir/r4/Patient") or (None, None)
    assert facade is not None and facade.path == "/fhir/{proxy+}"
    assert {"system/Patient.rs", "system/Appointment.cruds", "system/*.rs", "system/Patient.read"} <= set(
        facade.scopes
    )
    assert topology.USER_SCOPE in facade.scopes  # users, checked by role and compartment
    # The appointments feed's scope does not open the facade, nor do the placeholders it replaced.
    assert not {"telehealth/appointments.read", "telehealth/fhir.read", "telehealth/fhir.write"} & set(
        facade.scopes
    )
    discovery, _ = topology.match_route("/fhir/r4/.well-known/smart-configuration") or (None, None)
    assert discovery is not None and discovery.scopes == () and discovery.methods == ("GET",)
    assert discovery.group is topology.RouteGroup.PUBLIC


def test_the_only_routes_that_take_a_write_without_a_token_are_the_webhooks_each_with_its_feature() -> None:
    open_writes = [
        (route.path, method)
        for route in topology.ROUTES
        if not route.scopes
        for method in route.methods
        if method not in ("GET", "HEAD", "OPTIONS")
    ]
    assert open_writes == [(topology.STRIPE_WEBHOOK, "POST"), (topology.PRESCRIBING_WEBHOOK, "POST")]
    features = {r.path: r.feature for r in topology.ROUTES}
    assert (features[topology.STRIPE_WEBHOOK], features[topology.PRESCRIBING_WEBHOOK]) == (
        "payments",
        "eprescribing",
    )


def test_every_operation_of_a_feature_says_so_in_the_document() -> None:
    """A tenant's served document leaves out the operations of the features it has off, by their
    `x-tenant-feature`: each operation whose route (the gateway's) belongs to a feature carries it,
    and only those do."""
    document = json.loads((ROOT / "docs" / "openapi.json").read_text())
    wrong = []
    for path, item in document["paths"].items():
        found = topology.match_route(re.sub(r"\{[^}]+\}", "x", path))
        expected = found[0].feature if found else None
        for method, operation in item.items():
            if operation.get("x-tenant-feature") != expected:
                wrong.append(
                    f"{method.upper()} {path}: {operation.get('x-tenant-feature')} (route: {expected})"
                )
    assert not wrong, wrong
