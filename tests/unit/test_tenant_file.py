"""The tenant file: what a cloud team gets told when it is wrong."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from infra import topology
from infra.tenants import SMART_SCOPES, TENANTS_FILE, TenantFile, load_tenants


def _example() -> dict[str, Any]:
    data: dict[str, Any] = tomllib.loads(TENANTS_FILE.read_text())
    return data


def test_the_shipped_file_has_two_valid_tenants_covering_every_function() -> None:
    tenants = load_tenants()
    assert len(tenants) == 2
    for tenant in tenants:
        functions = topology.functions_for(tenant)
        topology.check_reserved_concurrency(tenant.id, tenant.reserved_concurrency, functions)
        topology.check_egress_domains(tenant.id, tenant.egress_domains, functions)
    assert {f for t in tenants for f in topology.functions_for(t)} == set(topology.FUNCTIONS)
    # One of them has a feature switched off, so every tier sees a tenant without its function.
    assert any(set(topology.functions_for(t)) != set(topology.FUNCTIONS) for t in tenants)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("states", ["NY", "XX"], "not known: ['XX']"),
        ("states", [], "non-empty"),
        ("id", "Bad_Id", "String should match pattern"),
        ("region", "mars-1", "String should match pattern"),
        ("backup_copy_region", "us-east-1", "backup_copy_region must differ"),
        ("recording_retention_days", 0, "greater than or equal to 1"),
        ("machine_clients", [{"name": "ehr", "scopes": ["admin"]}], "admin: not one of"),
        ("machine_clients", [{"name": "ehr", "scopes": []}], "non-empty"),
        # The placeholders the FHIR facade's SMART scopes replaced.
        ("machine_clients", [{"name": "ehr", "scopes": ["fhir.read"]}], "fhir.read: not one of"),
        ("machine_clients", [{"name": "ehr", "scopes": ["system/Patient.sr"]}], "in that order"),
        ("machine_clients", [{"name": "ehr", "scopes": ["patient/Patient.rs"]}], "not issued by this"),
        # Well-formed SMART, but not a scope the resource server defines (Cognito would refuse it).
        ("machine_clients", [{"name": "ehr", "scopes": ["system/Patient.r"]}], "defines no such scope"),
        # 51 of the resource server's 70: more than Cognito lets one app client hold.
        ("machine_clients", [{"name": "ehr", "scopes": list(SMART_SCOPES[:51])}], "allows an app client 50"),
        ("surprise", True, "Extra inputs are not permitted"),
        ("egress_domains", ["API.stripe.com"], "String should match pattern"),
        ("egress_domains", ["*.stripe.com"], "String should match pattern"),
        ("egress_domains", ["https://api.stripe.com"], "String should match pattern"),
        (
            "egress_domains",
            [],
            "missing ['api.photon.health', 'api.stripe.com', 'auth.photon.health', "
            "'healthcare.us.stedi.com']",
        ),
        (
            "egress_domains",
            [
                "api.photon.health",
                "api.stripe.com",
                "auth.photon.health",
                "healthcare.us.stedi.com",
                "files.stripe.com",
            ],
            "not needed ['files.stripe.com']",
        ),
        ("billing_npi", "1234567890", "a valid ten-digit NPI"),  # the check digit is wrong
        ("billing_tin", "000000000", "String should match pattern"),  # an EIN is written NN-NNNNNNN
        # CloudFront reads certificates from us-east-1 only, whatever the tenant's region.
        (
            "web",
            {
                "domain": "care.riverside.example",
                "certificate_arn": "arn:aws:acm:us-west-2:111122223333:certificate/"
                "0d6f3c3e-2b1a-4c1e-9a53-5f0e7c1d2b4a",
            },
            "certificate_arn must be an ACM certificate in us-east-1",
        ),
        ("web", {"domain": "https://care.riverside.example", "certificate_arn": "x"}, "String should match"),
    ],
)
def test_a_wrong_setting_is_refused_with_a_message_naming_it(field: str, value: Any, message: str) -> None:
    data = _example()
    data["tenant"][0][field] = value
    with pytest.raises(ValidationError, match=message.replace("[", r"\[").replace("]", r"\]")):
        TenantFile.model_validate(data)


def test_duplicate_tenant_ids_are_refused() -> None:
    data = _example()
    data["tenant"][1]["id"] = data["tenant"][0]["id"]
    with pytest.raises(ValidationError, match="unique"):
        TenantFile.model_validate(data)


def test_reserved_concurrency_must_name_exactly_the_topologys_functions(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"missing \['api'\]"):
        topology.check_reserved_concurrency("t", {f.key: 1 for f in topology.FUNCTIONS if f.key != "api"})
    with pytest.raises(ValueError, match=r"unknown \['ghost'\]"):
        topology.check_reserved_concurrency("t", {**{f.key: 1 for f in topology.FUNCTIONS}, "ghost": 1})


@pytest.mark.parametrize(
    ("value", "message"),
    [("12345", "String should match pattern"), (123456789012, "valid string"), ("", "String should match")],
)
def test_an_account_is_twelve_digits_quoted(value: Any, message: str) -> None:
    data = _example()
    data["tenant"][1]["account"] = value
    with pytest.raises(ValidationError, match=message):
        TenantFile.model_validate(data)
    data["tenant"][1]["account"] = "012345678901"
    assert TenantFile.model_validate(data).tenant[1].account == "012345678901"
    assert TenantFile.model_validate(_example()).tenant[0].account is None  # the deploying account


def test_a_feature_switched_off_needs_no_function_concurrency_and_no_domain() -> None:
    data = _example()
    riverside = data["tenant"][0]
    riverside["features"]["payments"] = False
    with pytest.raises(
        ValidationError, match=r"unknown \['eligibility', 'payment-notices', 'payments', 'visit-payments'\]"
    ):
        TenantFile.model_validate(data)
    for key in ("payments", "payment-notices", "eligibility", "visit-payments"):
        del riverside["reserved_concurrency"][key]
    with pytest.raises(ValidationError, match=r"not needed \['api.stripe.com', 'healthcare.us.stedi.com'\]"):
        TenantFile.model_validate(data)
    riverside["egress_domains"] = ["api.photon.health", "auth.photon.health"]  # e-prescribing's, still on
    (tenant, _) = TenantFile.model_validate(data).tenant
    assert not {topology.PAYMENTS, topology.PAYMENT_NOTICES} & set(topology.functions_for(tenant))


def test_a_feature_switched_on_needs_its_function_concurrency_and_its_domains() -> None:
    data = _example()
    desert = data["tenant"][1]
    desert["features"]["payments"] = True
    with pytest.raises(
        ValidationError, match=r"missing \['eligibility', 'payment-notices', 'payments', 'visit-payments'\]"
    ):
        TenantFile.model_validate(data)
    desert["reserved_concurrency"] |= {
        "payments": 2,
        "payment-notices": 1,
        "eligibility": 2,
        "visit-payments": 1,
    }
    with pytest.raises(ValidationError, match=r"missing \['api.stripe.com', 'healthcare.us.stedi.com'\]"):
        TenantFile.model_validate(data)
    desert["egress_domains"] = [*desert["egress_domains"], "api.stripe.com", "healthcare.us.stedi.com"]
    with pytest.raises(ValidationError, match=r"needs stripe_publishable_key"):
        TenantFile.model_validate(data)
    desert["stripe_publishable_key"] = "pk_test_desertexample"
    with pytest.raises(ValidationError, match=r"needs billing_npi"):
        TenantFile.model_validate(data)
    desert["billing_npi"] = "1234567893"
    with pytest.raises(ValidationError, match=r"needs billing_tin"):
        TenantFile.model_validate(data)
    desert["billing_tin"] = "00-0000000"
    (_, tenant) = TenantFile.model_validate(data).tenant
    assert topology.PAYMENTS in topology.functions_for(tenant)


def test_a_clinics_red_flags_follow_the_platforms_and_read_only_what_its_questionnaire_asks() -> None:
    from telehealth.application.triage_content import rule_set_of
    from telehealth.domain.triage import Disposition, triage

    (_, desert) = load_tenants()
    questionnaire, rule_set = rule_set_of(desert.triage.model_dump())
    assert rule_set.version == "2026.1+desert.1"
    assert [f.code for f in rule_set.red_flags][-1] == "heat-stroke"  # after every platform flag
    hot_and_confused = {
        "age": 70,
        "complaint": "fever",
        "temperature_f": 104.0,
        "confused_or_very_drowsy": True,
    }
    flag, routing = triage(hot_and_confused, rule_set)
    assert flag is not None and flag.code == "heat-stroke" and routing.disposition is Disposition.EMERGENCY
    assert triage({**hot_and_confused, "confused_or_very_drowsy": False}, rule_set)[0] is None

    data = _example()
    flags = data["tenant"][1]["triage"]["red_flags"]
    # A flag on a question the questionnaire never asks could never hold: refused.
    flags.append(
        {
            **flags[0],
            "code": "pregnancy-bleeding",
            "when": [{"question": "pregnant", "operator": "=", "answer": True}],
        }
    )
    with pytest.raises(
        ValidationError, match=r"does not ask what its red flags read: pregnancy-bleeding reads pregnant"
    ):
        TenantFile.model_validate(data)
    # A condition its question's answers cannot meet (a yes/no compared as a number) is refused.
    odd = [{"question": "confused_or_very_drowsy", "operator": ">=", "answer": 1}]
    flags[-1] = {**flags[0], "code": "odd", "when": odd}
    with pytest.raises(
        ValidationError, match=r"red flag odd: confused_or_very_drowsy >= 1 is not a condition"
    ):
        TenantFile.model_validate(data)
    # The platform's flags are not replaced by a clinic's of the same code.
    flags[-1] = {**flags[0], "code": "stroke"}
    with pytest.raises(ValidationError, match=r"the platform's red flags are not replaced: stroke"):
        TenantFile.model_validate(data)
    # A clinic's flags need a version of their own, for the sign-off.
    flags.pop()
    del data["tenant"][1]["triage"]["red_flags_version"]
    with pytest.raises(ValidationError, match=r"need a version of their own"):
        TenantFile.model_validate(data)
    data["tenant"][1]["triage"] = {"questionnaire": "no-such-questionnaire.json"}
    with pytest.raises(ValidationError, match=r"triage"):
        TenantFile.model_validate(data)
    assert questionnaire.version == "2026.1"


def test_a_questionnaire_that_leaves_a_red_flags_questions_out_is_found() -> None:
    from telehealth.domain.triage import RULE_SET, unasked
    from telehealth.fhir.questionnaire import authored

    _, questionnaire = authored()
    asked = {i.link_id for i in questionnaire.items}
    assert unasked(asked, RULE_SET) == {}
    assert unasked(asked - {"face_droop", "lips_blue"}, RULE_SET) == {
        "stroke": ["face_droop"],
        "severe-breathing-difficulty": ["lips_blue"],
    }
