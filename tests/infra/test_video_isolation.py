"""Video isolated per tenant: one tenant's functions may create only meetings and pipelines tagged
with their own tenant, and act on no meeting or pipeline tagged with another's, as the synthesized
policies decide it. What IAM cannot bound is named in docs/operations.md (Video isolation)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from infra.tenant import MEDIA_PIPELINE_ACTIONS, MEETING_CREATE_ACTIONS, MEETING_MANAGE_ACTIONS
from local.parity.policies import Access, TemplatePolicies
from telehealth.adapters.meetings import TENANT_TAG
from tests.conftest import FAKE_ACCOUNT, Assembly, as_list, iam_statements

REGION = "us-east-1"
TENANTS = ("riverside", "desert-clinic")
MEETING = f"arn:aws:chime:{REGION}:{FAKE_ACCOUNT}:meeting/5a2c3d4e-0000-4000-8000-000000000001"
PIPELINE = f"arn:aws:chime:{REGION}:{FAKE_ACCOUNT}:media-pipeline/5a2c3d4e-0000-4000-8000-000000000002"
OPERATIONS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


@pytest.fixture(scope="module")
def policies(assembly: Assembly) -> dict[str, TemplatePolicies]:
    return {
        tenant: TemplatePolicies.load(
            assembly.tenant(tenant).body,
            assembly.baseline(REGION).body,
            tenant_id=tenant,
            account=FAKE_ACCOUNT,
            region=REGION,
        )
        for tenant in TENANTS
    }


def _other(tenant: str) -> str:
    return next(t for t in TENANTS if t != tenant)


def _created(tenant: str) -> dict[str, str | tuple[str, ...]]:
    return {f"aws:RequestTag/{TENANT_TAG}": tenant, "aws:TagKeys": (TENANT_TAG,)}


def _owned(tenant: str) -> dict[str, str | tuple[str, ...]]:
    return {f"aws:ResourceTag/{TENANT_TAG}": tenant}


MANAGERS = ("function:api", "function:visit-tasks")


@pytest.mark.parametrize("tenant", TENANTS)
@pytest.mark.parametrize("principal", MANAGERS)
@pytest.mark.parametrize("action", MEETING_CREATE_ACTIONS)
def test_a_tenant_creates_meetings_and_pipelines_tagged_with_itself_only(
    policies: dict[str, TemplatePolicies], tenant: str, principal: str, action: str
) -> None:
    mine = policies[tenant]
    own = mine.decide(Access(principal, action, "*", _created(tenant)))
    assert own.allowed, own.why
    theirs = mine.decide(Access(principal, action, "*", _created(_other(tenant))))
    assert not theirs.allowed
    assert f"aws:RequestTag/{TENANT_TAG}" in theirs.why  # the refusal names the condition
    assert not mine.decide(Access(principal, action, "*")).allowed  # untagged
    extra = {**_created(tenant), "aws:RequestTag/owner": "x", "aws:TagKeys": (TENANT_TAG, "owner")}
    assert not mine.decide(Access(principal, action, "*", extra)).allowed  # its tag and another


@pytest.mark.parametrize("tenant", TENANTS)
@pytest.mark.parametrize("principal", MANAGERS)
@pytest.mark.parametrize(
    ("action", "resource"),
    [(a, MEETING) for a in MEETING_MANAGE_ACTIONS] + [(a, PIPELINE) for a in MEDIA_PIPELINE_ACTIONS],
)
def test_one_tenants_function_acting_on_anothers_meeting_is_denied(
    policies: dict[str, TemplatePolicies], tenant: str, principal: str, action: str, resource: str
) -> None:
    mine = policies[tenant]
    own = mine.decide(Access(principal, action, resource, _owned(tenant)))
    assert own.allowed, own.why
    theirs = mine.decide(Access(principal, action, resource, _owned(_other(tenant))))
    assert not theirs.allowed
    assert principal in theirs.why and action in theirs.why
    # A meeting that has ended has no tags left to read: Chime answers its NotFound.
    assert mine.decide(Access(principal, action, resource)).allowed


@pytest.mark.parametrize("tenant", TENANTS)
def test_the_chime_events_function_reads_its_own_meetings_and_changes_none(
    policies: dict[str, TemplatePolicies], tenant: str
) -> None:
    mine = policies[tenant]
    for action in ("chime:GetMeeting", "chime:ListAttendees", "chime:GetAttendee"):
        assert mine.decide(Access("function:chime-events", action, MEETING, _owned(tenant))).allowed
        assert not mine.decide(
            Access("function:chime-events", action, MEETING, _owned(_other(tenant)))
        ).allowed
    for action in ("chime:DeleteMeeting", "chime:CreateAttendee", "chime:DeleteAttendee"):
        assert not mine.decide(Access("function:chime-events", action, MEETING, _owned(tenant))).allowed


def test_transcription_which_iam_cannot_bound_to_a_tenant_is_granted_to_no_one(
    policies: dict[str, TemplatePolicies],
) -> None:
    for tenant, mine in policies.items():
        for principal in mine.principals():
            for action in ("chime:StartMeetingTranscription", "chime:StopMeetingTranscription"):
                assert not mine.decide(Access(principal, action, "*")).allowed, (tenant, principal)


def test_what_iam_cannot_bound_is_a_row_of_the_operations_table(assembly: Assembly) -> None:
    """Every Chime action a role holds is in docs/operations.md's Video isolation table, and so is
    every one the platform does not grant because IAM could not bound it."""
    granted = {
        action
        for tenant in TENANTS
        for _, statement in iam_statements(assembly.tenant(tenant))
        if statement.get("Effect") == "Allow"
        for action in as_list(statement.get("Action", []))
        if action.startswith("chime:")
    }
    section = OPERATIONS.read_text().split("## Video isolation", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    documented = {f"chime:{name}" for row in rows for name in re.findall(r"`(\w+)`", row.split("|")[1])}
    assert granted <= documented, granted - documented
    assert {"chime:StartMeetingTranscription", "chime:StopMeetingTranscription"} <= documented
