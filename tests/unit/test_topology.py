"""The topology is the one declaration of the wiring; these are the invariants it keeps."""

from __future__ import annotations

import importlib
import json

from infra import topology
from infra.assets import ROOT


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
            json.dumps(rule.event_pattern)


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
        "observation_id",
        "refused",
        "status",
    }
    for event in CATALOGUE:
        assert set(event.model_fields) <= allowed, event.__name__
        assert event.source.startswith("telehealth.") and "." in event.detail_type
