"""The tenant file (`tenants.toml`): who the platform is deployed for and how each silo is sized.

Read by the CDK app and by the local platform alike, so it is plain Python with pydantic for the
error messages a cloud team sees when the file is wrong.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from infra.topology import PREFIX, RouteGroup
from telehealth import api_conventions
from telehealth.domain import fhir_access
from telehealth.domain.jurisdictions import US_JURISDICTIONS

ROOT = Path(__file__).resolve().parent.parent
TENANTS_FILE = ROOT / "tenants.toml"

# AWS regions are lower-case words and a digit; checked loosely, CloudFormation checks the rest.
RegionName = Annotated[str, Field(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$")]
# Tenant ids become parts of bucket, table and function names, so they stay short and DNS-safe.
TenantId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,18}[a-z0-9]$")]
# Twelve digits, quoted in the file (a TOML integer would lose leading zeros).
AccountId = Annotated[str, Field(pattern=r"^\d{12}$")]

# The platform's own integration routes' scopes (the `telehealth` resource server), named bare.
MACHINE_SCOPES = ("appointments.read", api_conventions.HL7_ADT_SCOPE, api_conventions.DEVICE_READINGS_SCOPE)
# The FHIR facade's, named as SMART writes them (the `system` resource server: system/Patient.rs).
SMART_SCOPES = fhir_access.SUPPORTED_SCOPES
# Cognito allows an app client 50 scopes (AllowedOAuthScopes).
COGNITO_SCOPES_PER_CLIENT = 50
# Where a portal served from another origin may call the API from (CORS).
PortalOrigin = Annotated[str, Field(pattern=r"^https://[a-z0-9.-]+(:\d{2,5})?$")]
# A third party's API host, exactly (no wildcard: the DNS firewall would allow every name under it).
Hostname = Annotated[
    str,
    Field(pattern=r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$", max_length=253),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Features(_Strict):
    """Capabilities a tenant has switched on. Off means the routes answer 404, no rule fires, and
    nothing of it is deployed: no function, no secret, no domain in the DNS firewall."""

    recording: bool = False
    payments: bool = False
    eprescribing: bool = False
    rpm: bool = False
    triage: bool = False


class ApiThrottle(_Strict):
    """API Gateway's token bucket for one method: `rate` requests a second, `burst` at once."""

    rate: Annotated[int, Field(gt=0, le=10_000)]
    burst: Annotated[int, Field(gt=0, le=5_000)]


class MachineClient(_Strict):
    """A health system's integration: a client-credentials app client with these scopes: the
    integration routes' (`appointments.read`) and the FHIR facade's SMART scopes, written as the
    token carries them (`system/Patient.rs`, `system/*.read`; docs/operations.md)."""

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,30}$")]
    scopes: tuple[str, ...]

    @field_validator("scopes")
    @classmethod
    def _known_scopes(cls, scopes: tuple[str, ...]) -> tuple[str, ...]:
        if not scopes or len(set(scopes)) != len(scopes):
            raise ValueError("scopes must be a non-empty list without repeats")
        for scope in scopes:
            if scope in MACHINE_SCOPES:
                continue
            if "/" not in scope:
                raise ValueError(f"{scope}: not one of {list(MACHINE_SCOPES)} nor a SMART scope")
            try:
                fhir_access.parse_scope(scope)
            except fhir_access.InvalidScope as error:
                raise ValueError(f"{scope}: {error}") from None
            if scope not in SMART_SCOPES:
                raise ValueError(
                    f"{scope}: the resource server defines no such scope; SMART scopes here are "
                    "<type or *>.rs or .cruds (v2), .read, .write or .* (v1)"
                )
        if len(scopes) > COGNITO_SCOPES_PER_CLIENT:
            raise ValueError(f"Cognito allows an app client {COGNITO_SCOPES_PER_CLIENT} scopes")
        return scopes


class WebDomain(_Strict):
    """The portal's own name on CloudFront, instead of its *.cloudfront.net one. CloudFront reads
    certificates from ACM in us-east-1 only, whatever the tenant's region."""

    domain: Hostname
    certificate_arn: str

    @field_validator("certificate_arn")
    @classmethod
    def _in_us_east_1(cls, arn: str) -> str:
        if not re.fullmatch(r"arn:aws[a-z-]*:acm:us-east-1:\d{12}:certificate/[0-9a-f-]{36}", arn):
            raise ValueError(
                "certificate_arn must be an ACM certificate in us-east-1 (CloudFront reads none elsewhere)"
            )
        return arn


LinkId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]


class TriageCondition(_Strict):
    """One condition on an answer, as a Questionnaire's `enableWhen` writes it."""

    question: LinkId
    operator: Literal["=", "!=", ">=", "<=", ">", "<"]
    answer: bool | int | float | Annotated[str, Field(max_length=64)]


class ClinicRedFlag(_Strict):
    """A red flag the clinic adds to the platform's: when its conditions hold (all of them, or
    any), the check stops with `instruction`, and `call` is the number to call. `source` is what
    the rule rests on."""

    code: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,40}$")]
    call: Literal["911", "988"]
    instruction: Annotated[str, Field(min_length=10, max_length=400)]
    source: Annotated[str, Field(min_length=5, max_length=400)]
    when: Annotated[tuple[TriageCondition, ...], Field(min_length=1, max_length=6)]
    behavior: Literal["all", "any"] = "all"


class TriageContent(_Strict):
    """What the clinic's symptom check asks and what stops it: its questionnaire (a FHIR
    Questionnaire shipped in telehealth/fhir/questionnaires/, by file name) and its own red
    flags, versioned together (`red_flags_version`): the medical director signs the platform's
    rule set and these off as one version."""

    questionnaire: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9.-]{0,80}\.json$")] = (
        "triage-intake-2026.1.json"
    )
    red_flags: tuple[ClinicRedFlag, ...] = ()
    red_flags_version: Annotated[str, Field(pattern=r"^[a-z0-9-]{1,30}\.[0-9]{1,4}$")] | None = None


class Tenant(_Strict):
    id: TenantId
    display_name: str
    # The AWS account the tenant's stacks go to, with a baseline of that account's own; none: the
    # deploying account, shared with every tenant that names none. IAM cannot keep one tenant's
    # role off another's media pipelines in a shared account (docs/operations.md, Video isolation).
    account: AccountId | None = None
    region: RegionName
    chime_media_region: RegionName
    backup_copy_region: RegionName
    states: tuple[str, ...]
    recording_retention_days: Annotated[int, Field(ge=1, le=3650)]
    # A seed value: the clinic's settings live in the table (admins change them, /v1/admin/settings);
    # this applies until an admin first writes them.
    cancellation_window_hours: Annotated[int, Field(ge=0, le=168)]
    # The stage's default, for the methods of no group (health, the API's docs, CORS preflights).
    api_throttle: ApiThrottle
    # Each route group's limits, for every method of the group (topology.RouteGroup).
    route_throttles: dict[str, ApiThrottle]
    # Requests one client (one Authorization header) may send in five minutes before WAF blocks
    # it for a while; WAF's floor is 10.
    client_rate_limit: Annotated[int, Field(ge=10, le=2_000_000_000)]
    features: Features
    reserved_concurrency: dict[str, Annotated[int, Field(ge=1, le=1000)]]
    machine_clients: tuple[MachineClient, ...] = ()
    portal_origins: tuple[PortalOrigin, ...] = ()
    # The verified SES identity reminders are sent from.
    notify_from: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$")]
    # The clinic's own visit clocks, in seconds (check_in_opens, no_show_grace, join_window,
    # admit_by_after_end, overrun, link_lifetime, reminders); the defaults otherwise. Seed values,
    # as `cancellation_window_hours`.
    visit_timings: dict[str, float | list[float]] = {}
    # The third-party hosts the tenant's enabled features call (payments: api.stripe.com), exactly
    # those: the region's DNS firewall allows the union of its tenants' lists and nothing else.
    egress_domains: tuple[Hostname, ...] = ()
    # The hosts of the health systems' subscription endpoints (FHIR rest-hooks), exactly: the DNS
    # firewall lets them resolve too, and a subscription to any other host is refused (422).
    subscriber_domains: tuple[Hostname, ...] = ()
    # The web apps' custom domain and its certificate; none: the distribution's own domain.
    web: WebDomain | None = None
    # The identifier system of the health system's medical record numbers: a Patient its software
    # writes through the FHIR facade is matched by its MRN in this system. None: one of the
    # platform's own naming, for a clinic with no EHR of its own behind it.
    mrn_system: Annotated[str, Field(pattern=r"^(urn:[a-z0-9][a-z0-9-]*:|https?://)\S{1,200}$")] | None = None
    # The clinic's Stripe publishable key (public: Stripe.js in the portal uses it to save a card);
    # with payments on. The secret key is never in this file (docs/operations.md).
    stripe_publishable_key: Annotated[str, Field(pattern=r"^pk_(test|live)_[A-Za-z0-9]{1,255}$")] | None = (
        None
    )

    # The clinic's billing NPI (ten digits, the check digit valid): eligibility checks name it as
    # the provider asking; with payments on.
    billing_npi: Annotated[str, Field(pattern=r"^\d{10}$")] | None = None
    # Its taxpayer id (an EIN, NN-NNNNNNN): a self-pay patient's Good Faith Estimate names it with
    # the NPI (45 CFR 149.610); with payments on.
    billing_tin: Annotated[str, Field(pattern=r"^\d{2}-\d{7}$")] | None = None
    # Virtual triage's content (with triage on): the questionnaire and the clinic's red flags.
    triage: TriageContent = TriageContent()

    @property
    def medical_record_system(self) -> str:
        return self.mrn_system or f"urn:telehealth:{self.id}:mrn"

    @field_validator("states")
    @classmethod
    def _us_states(cls, states: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(states) - US_JURISDICTIONS)
        if unknown or not states:
            raise ValueError(f"states must be non-empty USPS codes; not known: {unknown}")
        return states

    @model_validator(mode="after")
    def _copy_elsewhere(self) -> Tenant:
        if self.backup_copy_region == self.region:
            raise ValueError("backup_copy_region must differ from region (a disaster takes both)")
        return self

    @model_validator(mode="after")
    def _throttles_every_group(self) -> Tenant:
        from infra import topology

        expected = {g.value for g in topology.THROTTLED_GROUPS}
        if set(self.route_throttles) != expected:
            raise ValueError(
                f"tenant {self.id}: route_throttles must name exactly {sorted(expected)}; "
                f"missing {sorted(expected - set(self.route_throttles))}, "
                f"unknown {sorted(set(self.route_throttles) - expected)}"
            )
        return self

    def throttle_of(self, group: RouteGroup) -> ApiThrottle:
        return self.api_throttle if group is RouteGroup.PUBLIC else self.route_throttles[group.value]

    @model_validator(mode="after")
    def _fits_its_features(self) -> Tenant:
        """Concurrency and third-party domains for exactly the functions its features deploy."""
        from infra import topology

        functions = topology.functions_for(self)
        topology.check_reserved_concurrency(self.id, self.reserved_concurrency, functions)
        topology.check_egress_domains(self.id, self.egress_domains, functions)
        if self.features.payments and self.stripe_publishable_key is None:
            raise ValueError(
                f"tenant {self.id}: payments on needs stripe_publishable_key (pk_live_... or pk_test_...)"
            )
        if self.features.payments and (self.billing_npi is None or not npi_is_valid(self.billing_npi)):
            raise ValueError(f"tenant {self.id}: payments on needs billing_npi, a valid ten-digit NPI")
        if self.features.triage:
            _check_triage(self.id, self.triage)
        if self.features.payments and self.billing_tin is None:
            raise ValueError(
                f"tenant {self.id}: payments on needs billing_tin, the clinic's EIN (NN-NNNNNNN)"
            )
        return self

    def concurrency_of(self, function_key: str) -> int:
        return self.reserved_concurrency[function_key]


def _check_triage(tenant_id: str, content: TriageContent) -> None:
    """The questionnaire loads and asks every question each red flag reads, the platform's and
    the clinic's: a questionnaire that left out the stroke questions would let a stroke through."""
    from telehealth.application.triage_content import rule_set_of

    try:
        questionnaire, rule_set = rule_set_of(content.model_dump())
    except (OSError, ValueError) as error:
        raise ValueError(f"tenant {tenant_id}: triage: {error}") from error
    from telehealth.domain.triage import unasked

    for flag in content.red_flags:  # each condition is one its question's answers can meet
        for condition in flag.when:
            item = questionnaire.item(condition.question)
            if item is None:
                continue  # said below, with the rest
            numeric = item.type.value in ("integer", "decimal")
            comparing = condition.operator in (">=", "<=", ">", "<")
            if (comparing and not numeric) or item.problem(condition.answer) is not None:
                raise ValueError(
                    f"tenant {tenant_id}: triage's red flag {flag.code}: {condition.question} "
                    f"{condition.operator} {condition.answer!r} is not a condition its answers can meet"
                )
    missing = unasked({item.link_id for item in questionnaire.items}, rule_set)
    if missing:
        said = "; ".join(f"{code} reads {', '.join(ids)}" for code, ids in sorted(missing.items()))
        raise ValueError(
            f"tenant {tenant_id}: triage's questionnaire does not ask what its red flags read: {said}"
        )


class TenantFile(_Strict):
    tenant: tuple[Tenant, ...]

    @model_validator(mode="after")
    def _unique(self) -> TenantFile:
        ids = [t.id for t in self.tenant]
        if len(ids) != len(set(ids)):
            raise ValueError("tenant ids must be unique")
        return self


def baseline_stack_name(account: str | None, region: str) -> str:
    """The account baseline of an account and region: `telehealth-baseline-<region>` in the
    deploying account, `telehealth-baseline-<region>-<account>` in an account a tenant names."""
    return f"{PREFIX}-baseline-{region}" + (f"-{account}" if account else "")


def baselines(tenants: Sequence[Tenant]) -> dict[tuple[str | None, str], tuple[Tenant, ...]]:
    """One baseline per account and region the tenants live in, with the tenants it serves."""
    found: dict[tuple[str | None, str], tuple[Tenant, ...]] = {}
    for tenant in tenants:
        place = (tenant.account, tenant.region)
        found[place] = (*found.get(place, ()), tenant)
    return found


def load_tenants(path: Path = TENANTS_FILE) -> tuple[Tenant, ...]:
    with path.open("rb") as f:
        return TenantFile.model_validate(tomllib.load(f)).tenant


def npi_is_valid(npi: str) -> bool:
    """The NPI's check digit: Luhn over the nine digits prefixed with 80840 (the NPI standard)."""
    if len(npi) != 10 or not npi.isdigit():
        return False
    digits = [int(d) for d in "80840" + npi[:9]]
    total = 0
    for i, d in enumerate(reversed(digits)):
        d = d * 2 if i % 2 == 0 else d
        total += d - 9 if d > 9 else d
    return (10 - total % 10) % 10 == int(npi[9])
