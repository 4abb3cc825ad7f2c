"""The platform's wiring, declared once: tables, buses, rules, queues, state machines, functions.

The CDK constructs build the stacks from these declarations and the local platform provisions the
emulator from them, so a rule's event pattern or a function's trigger exists in exactly one place.
Plain data, no CDK imports: names are per tenant and derived here, nowhere else.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

from telehealth import api_conventions
from telehealth.domain import fhir_access

if TYPE_CHECKING:
    from infra.tenants import Tenant

PREFIX = "telehealth"


def tenant_prefix(tenant_id: str) -> str:
    return f"{PREFIX}-{tenant_id}"


# --- DynamoDB -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Index:
    name: str
    partition_key: str
    sort_key: str


@dataclass(frozen=True)
class Table:
    key: str
    partition_key: str
    sort_key: str
    indexes: tuple[Index, ...] = ()
    stream: bool = False
    ttl_attribute: str | None = None

    def name(self, tenant_id: str) -> str:
        return tenant_prefix(tenant_id)

    def create_request(self, table_name: str) -> dict[str, Any]:
        """DynamoDB's CreateTable arguments for its keys and indexes (on-demand), as the local
        platform and the tests create it; the stack adds encryption, the stream and protection."""
        attributes = {self.partition_key, self.sort_key} | {
            k for index in self.indexes for k in (index.partition_key, index.sort_key)
        }
        return {
            "TableName": table_name,
            "KeySchema": [
                {"AttributeName": self.partition_key, "KeyType": "HASH"},
                {"AttributeName": self.sort_key, "KeyType": "RANGE"},
            ],
            "AttributeDefinitions": [{"AttributeName": a, "AttributeType": "S"} for a in sorted(attributes)],
            "GlobalSecondaryIndexes": [
                {
                    "IndexName": index.name,
                    "KeySchema": [
                        {"AttributeName": index.partition_key, "KeyType": "HASH"},
                        {"AttributeName": index.sort_key, "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
                for index in self.indexes
            ],
            "BillingMode": "PAY_PER_REQUEST",
        }


# One table per tenant (single-table design). Its access patterns are written down in
# docs/architecture.md; the generic keys let every entity choose its own composite keys.
CLINIC_TABLE = Table(
    key="clinic",
    partition_key="pk",
    sort_key="sk",
    indexes=(
        Index("gsi1", "gsi1pk", "gsi1sk"),
        Index("gsi2", "gsi2pk", "gsi2sk"),
        # Sparse: only open appointments carry its keys (the visit reconciler walks it). Adding a
        # global secondary index to a deployed table is an in-place update in CloudFormation.
        Index("gsi3", "gsi3pk", "gsi3sk"),
    ),
    stream=True,
    ttl_attribute="expires_at",
)


def outbox_stream_filter(destinations: tuple[str, ...]) -> dict[str, Any]:
    """What a relay's stream mapping hands it: fresh outbox entries for its lanes. Lambda drops
    every other record before invoking, so ordinary writes (appointments, visits, slots, marking an
    entry delivered, an entry's retry being scheduled) cost no invocation."""
    return {
        "eventName": ["INSERT", "MODIFY"],
        "dynamodb": {
            "NewImage": {
                "pk": {"S": [{"prefix": "OUTBOX#"}]},
                "status": {"S": ["pending"]},
                "destination": {"S": list(destinations)},
                # An entry that failed waits for its back-off in the sweeper's lane.
                "attempts": {"N": [{"exists": False}]},
            }
        },
    }


# --- Queues ---------------------------------------------------------------------------------------


class QueueRole(Enum):
    TARGET_DLQ = "target-dlq"  # an EventBridge target's delivery failures
    FUNCTION_DLQ = "function-dlq"  # a function's asynchronous invocations that kept failing
    STREAM_FAILURES = "stream-failures"  # a stream consumer's failed batches (metadata only)
    WORK = "work"  # what a queue consumer is handed (its SQS event source)
    WORK_FAILURES = "work-failures"  # a work queue's messages that failed every receive (redrive)


@dataclass(frozen=True)
class Queue:
    key: str
    role: QueueRole
    # Fourteen days: the most SQS keeps, so an on-call engineer has two weekends to redrive.
    retention_days: int = 14
    # A work queue: where a message goes after `max_receives` failed receives (the key of the
    # queue), and how long a received message stays hidden (six times the consumer's timeout,
    # as Lambda's guide for SQS event sources says, so a retried batch is not handed out twice).
    dead_letter: str | None = None
    max_receives: int = 5
    visibility_timeout_s: int = 30
    # First in, first out within a message group (a patient's readings, one batch at a time).
    fifo: bool = False

    def name(self, tenant_id: str) -> str:
        return f"{tenant_prefix(tenant_id)}-{self.key}{'.fifo' if self.fifo else ''}"

    @property
    def pages_on_call(self) -> bool:
        """A message in any queue but a work queue is a fact nobody handled."""
        return self.role is not QueueRole.WORK

    def url(self, tenant_id: str, *, region: str, account: str) -> str:
        return f"https://sqs.{region}.amazonaws.com/{account}/{self.name(tenant_id)}"


# --- Functions ------------------------------------------------------------------------------------


class Invocation(Enum):
    """How a function is invoked decides its failure path: the caller, a DLQ or a stream queue."""

    API = "api"  # synchronous, API Gateway proxy; the caller sees the error
    WORKFLOW = "workflow"  # synchronous, a Step Functions task; Retry/Catch in the ASL
    EVENT = "event"  # asynchronous, an EventBridge rule target
    STREAM = "stream"  # DynamoDB stream event source mapping
    DIRECT = "direct"  # synchronous, Lambda Invoke by another function; the caller sees the error
    SIGN_UP = "sign-up"  # synchronous, a user pool trigger; Cognito tells the user it failed
    QUEUE = "queue"  # SQS event source on its own work queue; failed messages are retried, then set aside


# Messages a queue consumer is handed at once (each a patient's readings); a FIFO queue's mapping
# takes no batching window, so a batch is what is there when Lambda polls.
QUEUE_BATCH_SIZE = 10


# --- The egress path: what a function reaches outside the VPC's endpoints ------------------------


@dataclass(frozen=True)
class ThirdParty:
    """A party outside AWS that a function calls over the internet, from the egress subnets.

    Its domains are what the tenant file must name for a tenant whose enabled features need it,
    and so what the baseline's DNS firewall lets resolve. Its credential lives in a Secrets
    Manager secret of the tenant's, named in the calling function's environment only; locally
    its SDK is pointed at a stand-in through `base_url_variable`, as `AWS_ENDPOINT_URL` points
    the AWS SDK at the emulator.
    """

    key: str
    description: str
    domains: tuple[str, ...]
    secret_variable: str
    base_url_variable: str
    # Where its OAuth tokens come from, when that is another host than its API (Photon's).
    auth_url_variable: str | None = None

    def secret_name(self, tenant_id: str) -> str:
        return f"{PREFIX}/{tenant_id}/{self.key}"


@dataclass(frozen=True)
class AwsApi:
    """An AWS API the VPC has no endpoint for, reached from the egress subnets through the NAT."""

    service: str  # botocore's name for it
    endpoint_prefix: str  # the first label of its regional hostname

    def domains(self, region: str) -> tuple[str, ...]:
        return (f"{self.endpoint_prefix}.{region}.amazonaws.com",)


# Copays (#17). Only ids and amounts ever go to Stripe: it signs no BAA.
STRIPE = ThirdParty(
    key="stripe",
    description="Stripe: copays (ids and amounts only; Stripe signs no BAA)",
    domains=("api.stripe.com",),
    secret_variable="STRIPE_SECRET_ARN",  # noqa: S106 (the variable's name, not a secret)
    base_url_variable="STRIPE_API_BASE",
)
# Insurance eligibility (#17): a 270 as JSON out, the 271's benefits back. The check names the
# member (PHI): Stedi signs a BAA; the function keeps nothing and returns the normalized answer.
CLEARINGHOUSE = ThirdParty(
    key="clearinghouse",
    description="Stedi: insurance eligibility checks (270/271; Stedi signs a BAA)",
    domains=("healthcare.us.stedi.com",),
    secret_variable="CLEARINGHOUSE_SECRET_ARN",  # noqa: S106 (the variable's name, not a secret)
    base_url_variable="CLEARINGHOUSE_API_BASE",
)
# E-prescribing (#18): the patient's name, date of birth and phone and the prescription go to the
# network (PHI: Photon signs a BAA); its webhooks come back to the api, checked by the function.
PHOTON = ThirdParty(
    key="photon",
    description="Photon Health: e-prescribing to the patient's pharmacy (Photon signs a BAA)",
    domains=("api.photon.health", "auth.photon.health"),
    secret_variable="PHOTON_SECRET_ARN",  # noqa: S106 (the variable's name, not a secret)
    base_url_variable="PHOTON_API_BASE",
    auth_url_variable="PHOTON_AUTH_BASE",
)
# Remote monitoring (#20): a patient's CGM readings from Dexcom's cloud (API v3), polled; the
# patient links their account (OAuth), and Dexcom's answers name no one but the account's owner.
DEXCOM = ThirdParty(
    key="dexcom",
    description="Dexcom: patients' continuous glucose readings from Dexcom's cloud (API v3, retrospective)",
    domains=("api.dexcom.com",),
    secret_variable="DEXCOM_SECRET_ARN",  # noqa: S106 (the variable's name, not a secret)
    base_url_variable="DEXCOM_API_BASE",
)
# Where a third party's credential is read from. One caller (the payments function) does not
# justify an endpoint of its own in every AZ; its calls go through the NAT like Stripe's.
SECRETS_MANAGER = AwsApi("secretsmanager", "secretsmanager")


@dataclass(frozen=True)
class Subscribers:
    """Health systems' rest-hook endpoints: the hosts are the tenant file's `subscriber_domains`
    (each health system's), which the DNS firewall lets resolve and a subscription's endpoint must
    be on. No credential: each notification is signed with its subscription's own secret."""

    key: str = "subscribers"


SUBSCRIBERS = Subscribers()

Egress = ThirdParty | AwsApi | Subscribers


@dataclass(frozen=True)
class SealingKey:
    """A KMS key of the tenant's that one function alone may use (encrypt and decrypt): what it
    seals, other functions may carry but never open. Its ARN is in that function's environment."""

    key: str
    description: str
    variable: str
    purpose: str  # the encryption context's `telehealth:purpose`: the only use the grant allows


# Prescribers' Photon refresh tokens (#18): the api keeps them sealed and passes them with a send;
# only the prescribing function opens one (with the provider's id as encryption context).
PRESCRIBER_CREDENTIALS = SealingKey(
    key="prescriber-credentials",
    description="Prescribers' Photon refresh tokens, sealed: the prescribing function alone opens them",
    variable="PRESCRIBER_KEY_ARN",
    purpose=api_conventions.PRESCRIBER_SEAL_PURPOSE,
)


# Patients' Dexcom refresh tokens (#20): sealed and opened by the dexcom function alone, with the
# patient's id as encryption context; the table keeps them sealed.
DEXCOM_CREDENTIALS = SealingKey(
    key="dexcom-credentials",
    description="Patients' Dexcom refresh tokens, sealed: the dexcom function alone opens them",
    variable="DEXCOM_KEY_ARN",
    purpose=api_conventions.DEXCOM_SEAL_PURPOSE,
)


# Subscriptions' signing secrets (#19): made, sealed and opened by the subscription-delivery
# function alone (with the subscription's id as encryption context); the table keeps them sealed.
SUBSCRIPTION_SECRETS = SealingKey(
    key="subscription-secrets",
    description="Subscriptions' signing secrets, sealed: the subscription-delivery function alone opens them",
    variable="SUBSCRIPTION_KEY_ARN",
    purpose=api_conventions.SUBSCRIPTION_SEAL_PURPOSE,
)


@dataclass(frozen=True)
class Function:
    key: str
    handler: str  # dotted module path below the repository root, then the callable
    invocation: Invocation
    description: str
    memory_mb: int = 512
    timeout_s: int = 10
    # What the function may touch, by name; the constructs turn each into a scoped grant.
    # `invoke:<key>` allows Lambda Invoke on that one function (where the tenant has it).
    grants: tuple[str, ...] = ()
    # A stream relay: the outbox destinations (lanes) its mapping hands it.
    stream_destinations: tuple[str, ...] = ()
    # The tenant feature (a field of `tenants.Features`) it belongs to: off, it is not deployed.
    feature: str | None = None
    # What it reaches outside the VPC's endpoints. Non-empty puts it in the egress subnets (NAT,
    # DNS firewall); empty keeps it in the isolated subnets, behind the endpoints only.
    egress: tuple[Egress, ...] = ()
    # Keys it alone may use (`SealingKey`).
    sealing_keys: tuple[SealingKey, ...] = ()

    def name(self, tenant_id: str) -> str:
        return f"{tenant_prefix(tenant_id)}-{self.key}"

    @property
    def on_egress_path(self) -> bool:
        return bool(self.egress)

    @property
    def third_parties(self) -> tuple[ThirdParty, ...]:
        return tuple(e for e in self.egress if isinstance(e, ThirdParty))

    @property
    def aws_apis(self) -> tuple[AwsApi, ...]:
        return tuple(e for e in self.egress if isinstance(e, AwsApi))

    @property
    def reaches_subscribers(self) -> bool:
        return SUBSCRIBERS in self.egress

    @property
    def module(self) -> str:
        return self.handler.rsplit(".", 1)[0]

    @property
    def dlq(self) -> Queue | None:
        """Asynchronously invoked functions get a DLQ; a stream consumer gets a failure queue."""
        if self.invocation is Invocation.EVENT:
            return Queue(f"{self.key}-dlq", QueueRole.FUNCTION_DLQ)
        if self.invocation is Invocation.STREAM:
            return Queue(f"{self.key}-failures", QueueRole.STREAM_FAILURES)
        if self.invocation is Invocation.QUEUE:
            return Queue(f"{self.key}-failures", QueueRole.WORK_FAILURES, fifo=True)
        return None

    @property
    def work_queue(self) -> Queue | None:
        """A queue consumer's work: four days kept (SQS's default), each message tried five times,
        in order within its group (one patient's readings are held to their rules one batch at a
        time, so two batches never race for the patient's episodes)."""
        if self.invocation is not Invocation.QUEUE:
            return None
        return Queue(
            f"{self.key}-work",
            QueueRole.WORK,
            retention_days=4,
            dead_letter=f"{self.key}-failures",
            visibility_timeout_s=6 * self.timeout_s,
            fifo=True,
        )


API = Function(
    key="api",
    handler="functions.api.handler.lambda_handler",
    invocation=Invocation.API,
    description="The clinic's HTTPS API: patients, providers, staff and health-system clients",
    memory_mb=1024,
    timeout_s=15,
    # Facts leave through the outbox (the relay and the sweeper put them on the bus), so only
    # those two may put events: the parity record showed no other function ever does.
    grants=(
        "table:write",
        "workflow:start",
        "workflow:signal",
        "key:use",
        "fhir:write",
        "fhir:read",  # the FHIR facade: read, vread, history and search
        "meetings:manage",
        "invoke:payments",
        "invoke:payment-notices",  # Stripe's webhooks
        "invoke:eligibility",  # the clearinghouse's payer directory, for the insurance form
        "invoke:prescribing",  # the e-prescribing network: sends, and its webhooks checked
        "invoke:subscription-delivery",  # a new subscription's signing secret
        "exports:read",  # a bulk export's files, streamed to the client that asked
        "fhir:export-cancel",  # a bulk export cancelled by its client
        "invoke:bulk-exports",  # woken (asynchronously) when a bulk export is asked for
        "send:readings",  # remote monitoring's readings, once checked
        "invoke:dexcom",  # a patient's Dexcom sign-in: where, and its code exchanged
        # Store-and-forward: a photo's upload slot is signed with the api's role (the browser's
        # POST is the role's PutObject), a case's uploads are listed before it is submitted, and a
        # photo's review copy (never its original) is read for the clinician.
        "uploads:cases",
    ),
)
VISIT_TASKS = Function(
    key="visit-tasks",
    handler="functions.workflow.visit_tasks.lambda_handler",
    invocation=Invocation.WORKFLOW,
    description="Task steps of the visit lifecycle state machine",
    # The finish step lists which files a recording left (recordings:list).
    grants=("table:write", "key:use", "meetings:manage", "notify:send", "recordings:list"),
)
OUTBOX_RELAY = Function(
    key="outbox-relay",
    handler="functions.ingest.outbox_relay.lambda_handler",
    invocation=Invocation.STREAM,
    description="The clinical record's lane from the table's stream: HealthLake and the audit archive",
    timeout_s=60,
    grants=("table:write", "fhir:write", "audit:write", "key:use"),
    stream_destinations=("fhir",),
)
OUTBOX_SIGNALS = Function(
    key="outbox-signals",
    handler="functions.ingest.outbox_relay.lambda_handler",
    invocation=Invocation.STREAM,
    description="The signals' lanes from the table's stream: events onto the bus, waiting steps resumed",
    timeout_s=60,
    grants=("table:write", "bus:put", "key:use", "workflow:signal"),
    stream_destinations=("events", "workflow"),
)
OUTBOX_SWEEPER = Function(
    key="outbox-sweeper",
    handler="functions.ingest.outbox_sweeper.lambda_handler",
    invocation=Invocation.EVENT,
    description="Re-drives outbox items the stream could not deliver (the stream keeps 24 hours)",
    timeout_s=300,
    grants=("table:write", "fhir:write", "audit:write", "bus:put", "key:use", "workflow:signal"),
)
CHIME_EVENTS = Function(
    key="chime-events",
    handler="functions.events.chime_events.lambda_handler",
    invocation=Invocation.EVENT,
    description="Turns Chime meeting events forwarded from the default bus into visit facts",
    grants=("table:write", "key:use", "meetings:read", "recordings:list"),
)

# Tells patients, by e-mail and text, that something waits for them in the portal (their
# after-visit summary), in words that say nothing of what it is; one function for every such notice.
PATIENT_NOTICES = Function(
    key="patient-notices",
    handler="functions.events.patient_notices.lambda_handler",
    invocation=Invocation.EVENT,
    description="Tells a patient their after-visit summary is ready, and nothing of what it says",
    grants=("table:write", "key:use", "notify:send"),
)

VISIT_RECONCILER = Function(
    key="visit-reconciler",
    handler="functions.workflow.visit_reconciler.lambda_handler",
    invocation=Invocation.EVENT,
    description="Starts or restarts the lifecycle of every open visit whose execution is not running",
    timeout_s=300,
    # Reads the open-visits index and the appointment; lists, describes and starts executions.
    # The key both ways: reading the table decrypts, and Lambda puts a failed event on the
    # function's (encrypted) DLQ with the function's own role, which generates a data key.
    grants=("table:read", "key:use", "workflow:reconcile"),
)

# The one function that calls Stripe: the api asks it (Lambda Invoke) and never calls Stripe itself,
# so the functions that hold PHI stay in the isolated subnets. Its requests and replies carry ids
# and amounts only (`telehealth.adapters.payments`).
PAYMENTS = Function(
    key="payments",
    handler="functions.egress.payments.lambda_handler",
    invocation=Invocation.DIRECT,
    description="Calls Stripe for the api (ids and amounts only): the one function on the egress path",
    feature="payments",
    egress=(STRIPE, SECRETS_MANAGER),
)

# Stripe's webhooks, checked and re-read for the api: the payments function's code, deployed apart
# with its own reserved concurrency, so a flood of notices with a signature of the right shape
# (the route takes no token) queues here and never takes the capacity holds and captures need.
# It answers notices alone.
PAYMENT_NOTICES = Function(
    key="payment-notices",
    handler="functions.egress.payments.notice_handler",
    invocation=Invocation.DIRECT,
    description="Checks Stripe's webhook signatures and re-reads the hold they name (notices only)",
    feature="payments",
    egress=(STRIPE, SECRETS_MANAGER),
)

# Checks a patient's insurance with the clearinghouse for whoever holds the coverage (the
# visit-payments function, by Lambda Invoke), and lists its payer directory for the api: the
# member's details go out and the normalized answer comes back; nothing is kept here.
ELIGIBILITY = Function(
    key="eligibility",
    handler="functions.egress.eligibility.lambda_handler",
    invocation=Invocation.DIRECT,
    description="Checks insurance eligibility with the clearinghouse; lists its payers (keeps nothing)",
    # A payer's real-time answer can take most of a minute; the clearinghouse gives up at 60 s.
    timeout_s=75,
    feature="payments",
    egress=(CLEARINGHOUSE, SECRETS_MANAGER),
)

# The one function that reaches the e-prescribing network, for the api (Lambda Invoke): the
# pharmacy directory, screening, sending and cancelling, and checking the network's webhooks. It
# keeps nothing (`telehealth.adapters.photon`); webhooks are few (a handful per prescription), so
# they share its concurrency rather than take a function of their own.
PRESCRIBING = Function(
    key="prescribing",
    handler="functions.egress.prescribing.lambda_handler",
    invocation=Invocation.DIRECT,
    description="Sends prescriptions through the e-prescribing network; checks its webhooks (keeps nothing)",
    # A send is up to five calls to the network (token, patient, screening, prescription, order).
    timeout_s=20,
    feature="eprescribing",
    egress=(PHOTON, SECRETS_MANAGER),
    sealing_keys=(PRESCRIBER_CREDENTIALS,),
)

# The patient pool's post-confirmation trigger. The pool names it by an ARN built from its name
# (`function_arn`), not by reference: the function's environment names the pool.
PATIENT_ENROLMENT = Function(
    key="patient-enrolment",
    handler="functions.identity.enrolment.lambda_handler",
    invocation=Invocation.SIGN_UP,
    description="Enrols a patient who confirmed their sign-up: their Patient record, e-mail only",
    # Cognito waits five seconds for a trigger; a cold start in the VPC and two table calls fit.
    timeout_s=5,
    grants=("table:write", "key:use"),
)

# Settles a visit's money as the visit ends: captured, released or the clinic's no-show fee.
VISIT_PAYMENTS = Function(
    key="visit-payments",
    handler="functions.events.visit_payments.lambda_handler",
    invocation=Invocation.EVENT,
    description="Holds and settles visits' payments; checks patients' insurance (ids only in events)",
    feature="payments",
    # An eligibility check waits for the payer (up to a minute, through the eligibility function).
    timeout_s=120,
    # notify:send: a patient whose card refused the hold is told by e-mail and text.
    grants=("table:write", "key:use", "invoke:payments", "invoke:eligibility", "notify:send"),
)

# The one function that reaches health systems' subscription endpoints: the api asks it for a new
# subscription's signing secret, the notices function to post a notification (Lambda Invoke). It
# keeps nothing; only it may open a signing secret.
SUBSCRIPTION_DELIVERY = Function(
    key="subscription-delivery",
    handler="functions.egress.subscriptions.lambda_handler",
    invocation=Invocation.DIRECT,
    description="Posts signed subscription notifications to health systems' endpoints (keeps nothing)",
    timeout_s=15,  # one POST, which gives up at ten seconds
    egress=(SUBSCRIBERS,),
    sealing_keys=(SUBSCRIPTION_SECRETS,),
)

# Tells health systems subscribed of appointment and encounter changes (the tenant bus), makes a
# new subscription's handshake, and every minute sends heartbeats and retries due; a notification
# whose attempts ran out goes to its DLQ.
SUBSCRIPTION_NOTICES = Function(
    key="subscription-notices",
    handler="functions.events.subscription_notices.lambda_handler",
    invocation=Invocation.EVENT,
    description="Tells subscribed health systems of appointment and encounter changes (ids only)",
    timeout_s=120,  # a few subscribers, each up to a ten-second POST
    # Its DLQ is its own (Lambda's, for invocations that failed): it sets a notification aside there
    # itself too, which the DLQ's grant to its role already allows.
    grants=("table:write", "key:use", "invoke:subscription-delivery"),
)

# Runs health systems' bulk exports (`$export`) as HealthLake export jobs, one at a time: starts
# the next when none runs (HealthLake runs one per account), follows it, and indexes its files.
# Every minute, and woken by the api (an asynchronous invoke) when an export is asked for: a rule
# on an event would cost the stack six resources for what a minute's tick makes up anyway.
# Reserved concurrency 1 in the tenant file: two runners would start two jobs.
BULK_EXPORTS = Function(
    key="bulk-exports",
    handler="functions.events.bulk_exports.lambda_handler",
    invocation=Invocation.EVENT,
    description="Runs health systems' bulk exports one at a time as HealthLake export jobs",
    # It follows a job it started for up to 20 s; a completed job's objects are each read once to
    # index them, at S3's pace (a few GB in Lambda's fifteen minutes).
    timeout_s=900,
    # fhir:write: a care team's Group, which a Group export reads its members from.
    grants=("table:write", "key:use", "fhir:write", "fhir:export", "exports:read"),
)

# Remote monitoring's readings, handed over through its work queue by the api (and the device
# clouds' poller): each message is one patient's readings, already checked; the function keeps
# them (a reading sent again is the same item) and holds them to the patient's program's rules.
# What the rules raise leaves through the outbox, with the alert.
READINGS = Function(
    key="readings",
    handler="functions.ingest.readings.lambda_handler",
    invocation=Invocation.QUEUE,
    description="Keeps patients' device readings and holds them to their monitoring program's rules",
    timeout_s=60,
    feature="rpm",
    grants=("table:write", "key:use"),
)

# The one function that reaches Dexcom's cloud, on the egress path and with no grant of the
# clinic's data (the api and the poll ask it, Lambda Invoke): where a patient signs in, the sign-in's
# code exchanged, a refresh token rotated, a window of glucose values read. Tokens leave it sealed.
DEXCOM_CALLS = Function(
    key="dexcom",
    handler="functions.egress.dexcom.lambda_handler",
    invocation=Invocation.DIRECT,
    description="Calls Dexcom's cloud for the api and the poll: sign-ins, tokens, glucose values",
    timeout_s=60,
    feature="rpm",
    egress=(DEXCOM, SECRETS_MANAGER),
    sealing_keys=(DEXCOM_CREDENTIALS,),
)
# Every 15 minutes: each linked patient's Dexcom readings since the last poll (Dexcom's data are
# retrospective: hours late), read through the dexcom function and handed to the readings queue.
DEXCOM_POLL = Function(
    key="dexcom-poll",
    handler="functions.events.dexcom_poll.lambda_handler",
    invocation=Invocation.EVENT,
    description="Polls linked patients' Dexcom accounts for glucose readings, for the readings queue",
    timeout_s=300,
    feature="rpm",
    grants=("table:write", "key:use", "send:readings", "invoke:dexcom"),
)

# The alert-escalation state machine's step: hands an urgent alert nobody acknowledged on to the
# next provider the clinic's settings name, and pages them (an e-mail to the address for pages their
# profile names).
ALERT_ESCALATION = Function(
    key="alert-escalation",
    handler="functions.workflow.alert_escalation.lambda_handler",
    invocation=Invocation.WORKFLOW,
    description="Hands an unacknowledged urgent monitoring alert on to the next provider the clinic names",
    feature="rpm",
    grants=("table:write", "key:use", "notify:send"),
)

# Every hour: patients whose devices have sent nothing for days get an alert of their own (a
# missing day is not a normal one, and the rules only run when readings arrive).
MONITORING_SWEEP = Function(
    key="monitoring-sweep",
    handler="functions.events.monitoring_sweep.lambda_handler",
    invocation=Invocation.EVENT,
    description="Hourly: an alert for each enrolled patient whose readings have stopped for days",
    timeout_s=300,
    feature="rpm",
    grants=("table:write", "key:use"),
)

# Virtual triage's afterwards. A patient shown an emergency instruction pages the clinic's on-call
# (by e-mail, nothing of whose or why): a function of triage's own, so that no other backlog
# delays a page. It is also the photo-case-deadline timer's step, which pages the same on-call
# about a case of photos nearing or past its deadline, and tells a patient their case is answered
# (one function and one rule, not three: the tenant stack's resources are counted, see
# tests/infra/test_tenant_stack.py). Those are two steps and one notice per case, few beside what
# its reserved concurrency takes. A check's free text is read by
# Comprehend Medical for the clinician: one at a time (reserved concurrency 1), under
# InferSNOMEDCT's two requests a second.
TRIAGE_NOTICES = Function(
    key="triage-notices",
    handler="functions.events.triage_notices.lambda_handler",
    invocation=Invocation.EVENT,
    description="Pages the on-call (an emergency shown, a case of photos due); tells a patient of an answer",
    feature="triage",
    grants=("table:write", "key:use", "notify:send"),
)
TRIAGE_EVENTS = Function(
    key="triage-events",
    handler="functions.events.triage_events.lambda_handler",
    invocation=Invocation.EVENT,
    description="Reads a symptom check's free text with Comprehend Medical, for the clinician",
    timeout_s=60,
    feature="triage",
    grants=("table:write", "key:use", "nlp:infer"),
)

# Store-and-forward: a photo's malware verdict (GuardDuty Malware Protection for S3, on the default
# bus) makes its review copy, or refuses it. Pillow decodes up to 50 MP: memory for that.
PHOTO_SCANS = Function(
    key="photo-scans",
    handler="functions.events.photo_scans.lambda_handler",
    invocation=Invocation.EVENT,
    description="A patient's photo scanned clean: its review copy made (upright, sRGB, pixels only)",
    memory_mb=1769,  # a full vCPU: decoding and converting a 12 MP photo is CPU-bound
    timeout_s=60,
    feature="triage",
    grants=("table:write", "key:use", "uploads:review"),
)

FUNCTIONS: tuple[Function, ...] = (
    API,
    PATIENT_ENROLMENT,
    VISIT_TASKS,
    OUTBOX_RELAY,
    OUTBOX_SIGNALS,
    OUTBOX_SWEEPER,
    CHIME_EVENTS,
    PATIENT_NOTICES,
    VISIT_RECONCILER,
    PAYMENTS,
    PAYMENT_NOTICES,
    ELIGIBILITY,
    VISIT_PAYMENTS,
    PRESCRIBING,
    SUBSCRIPTION_DELIVERY,
    SUBSCRIPTION_NOTICES,
    BULK_EXPORTS,
    READINGS,
    ALERT_ESCALATION,
    MONITORING_SWEEP,
    TRIAGE_NOTICES,
    TRIAGE_EVENTS,
    PHOTO_SCANS,
    DEXCOM_CALLS,
    DEXCOM_POLL,
)
STREAM_RELAYS: tuple[Function, ...] = tuple(f for f in FUNCTIONS if f.stream_destinations)


def functions_for(tenant: Tenant) -> tuple[Function, ...]:
    """The tenant's functions: those of a feature it has switched off are not deployed at all."""
    return tuple(f for f in FUNCTIONS if f.feature is None or getattr(tenant.features, f.feature))


def third_parties_of(functions: Iterable[Function]) -> tuple[ThirdParty, ...]:
    """Each third party the functions call, once (a secret each)."""
    return tuple(dict.fromkeys(p for f in functions for p in f.third_parties))


def sealing_keys_of(functions: Iterable[Function]) -> tuple[SealingKey, ...]:
    """Each key of the functions' own (`SealingKey`), once."""
    return tuple(dict.fromkeys(k for f in functions for k in f.sealing_keys))


def check_reserved_concurrency(
    tenant_id: str, reserved: dict[str, int], functions: tuple[Function, ...] = FUNCTIONS
) -> None:
    """Every function the tenant has gets a reservation from the tenant file, and the file names
    no other (not one of a feature switched off)."""
    expected = {f.key for f in functions}
    if set(reserved) != expected:
        raise ValueError(
            f"tenant {tenant_id}: reserved_concurrency must name exactly {sorted(expected)}; "
            f"missing {sorted(expected - set(reserved))}, unknown {sorted(set(reserved) - expected)}"
        )


def third_party_domains(functions: tuple[Function, ...]) -> frozenset[str]:
    """The third parties' domains these functions call."""
    return frozenset(d for f in functions for party in f.third_parties for d in party.domains)


def check_egress_domains(tenant_id: str, named: tuple[str, ...], functions: tuple[Function, ...]) -> None:
    """The tenant file names exactly the third-party domains its enabled features call: a missing
    one would be refused by the DNS firewall, an extra one would open it for nothing."""
    needed = third_party_domains(functions)
    if set(named) != needed:
        raise ValueError(
            f"tenant {tenant_id}: egress_domains must name exactly {sorted(needed)} (what its enabled "
            f"features call); missing {sorted(needed - set(named))}, "
            f"not needed {sorted(set(named) - needed)}"
        )


# The hostnames an AWS service answers on in a region, by its VPC endpoint service name
# (`com.amazonaws.<region>.<name>`), where that is not simply `<name>.<region>.amazonaws.com`.
# The DNS firewall is the VPC's, so it must let every service the VPC's workloads reach resolve,
# through an endpoint (private DNS) or not. S3 in us-east-1 answers on its global names too
# (botocore's default there), and Fargate pulls image layers from an S3 bucket of ECR's.
_AWS_SERVICE_DOMAINS: dict[str, tuple[str, ...]] = {
    "s3": (
        "s3.amazonaws.com",
        "*.s3.amazonaws.com",
        "s3.{region}.amazonaws.com",
        "*.s3.{region}.amazonaws.com",
    ),
    "ecr.api": ("api.ecr.{region}.amazonaws.com",),
    "ecr.dkr": ("*.dkr.ecr.{region}.amazonaws.com",),
}


def aws_service_domains(endpoint_service: str, region: str) -> tuple[str, ...]:
    templates = _AWS_SERVICE_DOMAINS.get(endpoint_service, (f"{endpoint_service}.{{region}}.amazonaws.com",))
    return tuple(t.format(region=region) for t in templates)


def firewall_domains(
    tenants: tuple[Tenant, ...] | list[Tenant], region: str, endpoint_services: tuple[str, ...] | list[str]
) -> tuple[str, ...]:
    """What the region's VPC may resolve: the AWS services it has endpoints for, the AWS APIs the
    tenants' egress functions reach through the NAT, and the union of the tenants' third-party
    domains (the firewall is per VPC, so one tenant's domain resolves for every tenant there)."""
    found = {d for service in endpoint_services for d in aws_service_domains(service, region)}
    for tenant in tenants:
        found |= set(tenant.egress_domains) | set(tenant.subscriber_domains)
        for function in functions_for(tenant):
            found |= {d for api in function.aws_apis for d in api.domains(region)}
    return tuple(sorted(found))


# --- Events ---------------------------------------------------------------------------------------


class BusKind(Enum):
    TENANT = "tenant"  # the tenant's custom bus
    DEFAULT = "default"  # the account's default bus: AWS service events and schedules


@dataclass(frozen=True)
class Bus:
    key: str
    archive_retention_days: int = 365

    def name(self, tenant_id: str) -> str:
        return tenant_prefix(tenant_id)


TENANT_BUS = Bus(key="clinic")


@dataclass(frozen=True)
class ContainerTask:
    """A media worker: one container run per event (a Fargate task in AWS, a process locally),
    given the event's fields as environment variables, as the rule's input transformer does."""

    key: str
    module: str  # what `python -m` runs
    description: str
    environment_from_event: dict[str, str]  # variable -> JSON path in the event

    def name(self, tenant_id: str) -> str:
        return f"{tenant_prefix(tenant_id)}-{self.key}"

    def cluster_name(self, tenant_id: str) -> str:
        return f"{tenant_prefix(tenant_id)}-media"

    def environment(self, event: dict[str, Any]) -> dict[str, str]:
        """What the rule's input transformer gives the task: each path's value, as a string."""
        found: dict[str, str] = {}
        for variable, path in self.environment_from_event.items():
            value: Any = event
            for part in path.removeprefix("$.").split("."):
                value = value[part]
            found[variable] = str(value)
        return found


RPPG_WORKER = ContainerTask(
    key="rppg",
    module="media_workers.rppg.worker",
    description="Vital signs from the patient's video of a recorded visit (preliminary Observations)",
    environment_from_event={
        "VIDEO_BUCKET": "$.detail.bucket",
        "VIDEO_KEY": "$.detail.patient_stream_key",
        "APPOINTMENT_ID": "$.detail.appointment_id",
        "VISIT_VERSION": "$.detail.version",
        "ENCOUNTER_ID": "$.detail.encounter_id",
        "PATIENT_ID": "$.detail.patient_id",
    },
)
CONTAINER_TASKS: tuple[ContainerTask, ...] = (RPPG_WORKER,)


@dataclass(frozen=True)
class Rule:
    key: str
    bus: BusKind
    description: str
    target: Function | ContainerTask
    # The events it matches; a function of the tenant's id for a pattern that names the tenant's
    # own resources (an AWS service's events on the account's default bus).
    event_pattern: dict[str, Any] | Callable[[str], dict[str, Any]] | None = None
    schedule: str | None = None  # an EventBridge schedule expression; default bus only

    def name(self, tenant_id: str) -> str:
        return f"{tenant_prefix(tenant_id)}-{self.key}"

    def pattern(self, tenant_id: str) -> dict[str, Any] | None:
        return self.event_pattern(tenant_id) if callable(self.event_pattern) else self.event_pattern

    @property
    def dlq(self) -> Queue:
        """Every rule's target DLQ is the tenant's one: EventBridge marks each message with the
        rule and target it failed (`RULE_ARN`, `TARGET_ARN`), which is what a queue per rule
        told, at two resources of the stack's 500 per rule."""
        return RULE_TARGETS_DLQ


RULE_TARGETS_DLQ = Queue("rule-targets-dlq", QueueRole.TARGET_DLQ)


CHIME_SOURCE = "aws.chime"
# GuardDuty Malware Protection for S3 announces each scan on the account's default bus.
GUARDDUTY_SOURCE = "aws.guardduty"
MALWARE_SCAN_RESULT = "GuardDuty Malware Protection Object Scan Result"
PHOTO_PREFIX = "cases/"  # where patients' photos land in the uploads bucket (the protected prefix)
CHIME_DETAIL_TYPES = ("Chime Meeting State Change", "Chime Media Pipeline State Change")

RULES: tuple[Rule, ...] = (
    Rule(
        key="chime-meeting-events",
        bus=BusKind.TENANT,
        description="Chime meeting and pipeline events, forwarded here by the account baseline",
        target=CHIME_EVENTS,
        event_pattern={"source": [CHIME_SOURCE], "detail-type": list(CHIME_DETAIL_TYPES)},
    ),
    Rule(
        key="recording-available",
        bus=BusKind.TENANT,
        description="A visit's recording is ready: the rPPG worker reads the patient's stream",
        target=RPPG_WORKER,
        event_pattern={"source": ["telehealth.media"], "detail-type": ["Recording.Available"]},
    ),
    Rule(
        key="visit-payments",
        bus=BusKind.TENANT,
        description="A visit booked, ended or moved, money moved, insurance recorded: estimated, settled",
        target=VISIT_PAYMENTS,
        event_pattern={
            "source": [
                "telehealth.visits",
                "telehealth.scheduling",
                "telehealth.payments",
                "telehealth.coverage",
            ],
            "detail-type": [
                "Visit.Completed",
                "Visit.NoShow",
                "Visit.Cancelled",
                "Appointment.Booked",
                "Appointment.Rescheduled",
                "Payment.Failed",
                "Payment.Captured",
                "Payment.Refunded",
                "Coverage.Recorded",
            ],
        },
    ),
    Rule(
        key="after-visit-summary",
        bus=BusKind.TENANT,
        description="A note signed or amended: tell the patient their summary is ready (no content)",
        target=PATIENT_NOTICES,
        event_pattern={"source": ["telehealth.notes"], "detail-type": ["Note.Signed", "Note.Amended"]},
    ),
    Rule(
        key="triage-notices",
        bus=BusKind.TENANT,
        description="Page the on-call for an emergency shown; tell a patient their photo case is answered",
        target=TRIAGE_NOTICES,
        event_pattern={
            "source": ["telehealth.triage"],
            "detail-type": ["Triage.EmergencyShown", "PhotoCase.Answered"],
        },
    ),
    Rule(
        key="triage-free-text",
        bus=BusKind.TENANT,
        description="A symptom check ended with the patient's own words: read them for the clinician",
        target=TRIAGE_EVENTS,
        # Only checks with words to read: the rest would invoke it for nothing.
        event_pattern={
            "source": ["telehealth.triage"],
            "detail-type": ["Triage.Completed"],
            "detail": {"free_text": [True]},
        },
    ),
    Rule(
        key="photo-scans",
        bus=BusKind.DEFAULT,
        description="GuardDuty's malware verdict on a patient's photo: make its review copy, or refuse it",
        target=PHOTO_SCANS,
        event_pattern=lambda tenant_id: {
            "source": [GUARDDUTY_SOURCE],
            "detail-type": [MALWARE_SCAN_RESULT],
            "detail": {
                "s3ObjectDetails": {
                    "bucketName": [{"prefix": f"{tenant_prefix(tenant_id)}-uploads-"}],
                    "objectKey": [{"prefix": PHOTO_PREFIX}],
                }
            },
        },
    ),
    Rule(
        key="subscription-events",
        bus=BusKind.TENANT,
        description="Appointments and encounters changed, a subscription made: tell the health systems",
        target=SUBSCRIPTION_NOTICES,
        event_pattern={
            "source": ["telehealth.scheduling", "telehealth.visits", "telehealth.subscriptions"],
            "detail-type": list(api_conventions.SUBSCRIBED_EVENTS),
        },
    ),
    Rule(
        key="subscription-ticks",
        bus=BusKind.DEFAULT,
        description="Every minute: subscription heartbeats due, and notifications due another try",
        target=SUBSCRIPTION_NOTICES,
        schedule="rate(1 minute)",
    ),
    Rule(
        key="export-ticks",
        bus=BusKind.DEFAULT,
        description="Every minute: follow the running bulk export; start the next when HealthLake is free",
        target=BULK_EXPORTS,
        schedule="rate(1 minute)",
    ),
    Rule(
        key="payment-holds",
        bus=BusKind.DEFAULT,
        description="Every 15 minutes: hold what visits starting within two days cost, on the saved card",
        target=VISIT_PAYMENTS,
        schedule="rate(15 minutes)",
    ),
    Rule(
        key="outbox-sweep",
        bus=BusKind.DEFAULT,
        description="Every minute: deliver outbox items the stream did not",
        target=OUTBOX_SWEEPER,
        schedule="rate(1 minute)",
    ),
    Rule(
        key="dexcom-poll",
        bus=BusKind.DEFAULT,
        description="Every 15 minutes: linked patients' Dexcom readings since the last poll",
        target=DEXCOM_POLL,
        schedule="rate(15 minutes)",
    ),
    Rule(
        key="monitoring-sweep",
        bus=BusKind.DEFAULT,
        description="Every hour: an alert for each monitored patient whose readings stopped days ago",
        target=MONITORING_SWEEP,
        schedule="rate(1 hour)",
    ),
    Rule(
        key="visit-reconcile",
        bus=BusKind.DEFAULT,
        description="Every five minutes: start the lifecycle of open visits whose execution is not running",
        target=VISIT_RECONCILER,
        schedule="rate(5 minutes)",
    ),
)


def rules_for(tenant: Tenant) -> tuple[Rule, ...]:
    """The tenant's rules: none whose target function a feature it switched off leaves out."""
    deployed = functions_for(tenant)
    return tuple(r for r in RULES if not isinstance(r.target, Function) or r.target in deployed)


def chime_forwarding_pattern(tenant_id: str) -> dict[str, Any]:
    """The baseline's default-bus rule: this tenant's Chime events, by ExternalMeetingId prefix.

    Meetings are created with ``ExternalMeetingId = "<tenant>:<visit id>"`` (no PHI), which is
    what lets one account's default bus fan Chime's events out to the right silo.
    """
    return {
        "source": [CHIME_SOURCE],
        "detail-type": list(CHIME_DETAIL_TYPES),
        "detail": {"externalMeetingId": [{"prefix": f"{tenant_id}:"}]},
    }


def chime_forwarding_rule_name(tenant_id: str) -> str:
    return f"{tenant_prefix(tenant_id)}-chime-forward"


# --- Buckets ------------------------------------------------------------------------------------

BUCKET_PURPOSES = ("uploads", "recordings", "audit", "access-logs", "exports")


def function_arn(function: Function, tenant_id: str, *, region: str, account: str) -> str:
    """A function's ARN from its name, for what must name it before it exists (a user pool's
    trigger, whose function's environment names the pool)."""
    return f"arn:aws:lambda:{region}:{account}:function:{function.name(tenant_id)}"


def export_role_name(tenant_id: str) -> str:
    """The role HealthLake assumes to write the tenant's bulk exports into its export bucket."""
    return f"{tenant_prefix(tenant_id)}-healthlake-exports"


def bucket_name(tenant_id: str, purpose: str, account: str) -> str:
    """Bucket names are global: the account id keeps two deployments of one tenant id apart."""
    assert purpose in BUCKET_PURPOSES, purpose
    return f"{tenant_prefix(tenant_id)}-{purpose}-{account}"


# --- Workflows ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StateMachine:
    key: str
    definition_file: str  # below statemachines/
    # ASL `${Name}` placeholders and the function each one resolves to.
    functions: dict[str, Function] = field(default_factory=dict)
    # The tenant feature it belongs to (as a function's): off, it is not deployed.
    feature: str | None = None

    def name(self, tenant_id: str) -> str:
        return f"{tenant_prefix(tenant_id)}-{self.key}"


VISIT_LIFECYCLE = StateMachine(
    key="visit-lifecycle",
    definition_file="visit_lifecycle.asl.json",
    functions={"VisitTasksFunctionArn": VISIT_TASKS},
)

# One execution per urgent remote-monitoring alert, started through the outbox with the alert.
ALERT_ESCALATION_TIMER = StateMachine(
    key="alert-escalation",
    definition_file="alert_escalation.asl.json",
    functions={"AlertEscalationFunctionArn": ALERT_ESCALATION},
    feature="rpm",
)

# One execution per submitted case of photos, started through the outbox with the submission.
CASE_DEADLINE_TIMER = StateMachine(
    key="photo-case-deadline",
    definition_file="photo_case_deadline.asl.json",
    functions={"CaseDeadlineFunctionArn": TRIAGE_NOTICES},
    feature="triage",
)

STATE_MACHINES: tuple[StateMachine, ...] = (VISIT_LIFECYCLE, ALERT_ESCALATION_TIMER, CASE_DEADLINE_TIMER)


def state_machines_for(tenant: Tenant) -> tuple[StateMachine, ...]:
    return tuple(m for m in STATE_MACHINES if m.feature is None or getattr(tenant.features, m.feature))


def state_machine_arn(machine: StateMachine, tenant: Tenant, account: str) -> str:
    return f"arn:aws:states:{tenant.region}:{account}:stateMachine:{machine.name(tenant.id)}"


# --- HealthLake's bundle quota, shared ------------------------------------------------------------

# Bundles (POST to the base) a second: per data store, and per account (every tenant's data store
# in the account and region). Neither the tenants nor their deliverers talk to one another, so each
# is given a fixed share: the account's rate split between the tenants there, at most the data
# store's, split between the tenant's deliverers that may run at once (the relay's and the
# sweeper's reserved concurrency). Above it HealthLake answers 429, which the relay takes as an
# outage of its FHIR lane: entries wait, none is lost.
HEALTHLAKE_BUNDLES_PER_SECOND = {"datastore": 10.0, "account": 20.0}


def bundle_pace(tenant: Tenant, tenants_sharing: int) -> float:
    """Bundles a second one of the tenant's outbox deliverers may send."""
    tenant_share = min(
        HEALTHLAKE_BUNDLES_PER_SECOND["datastore"], HEALTHLAKE_BUNDLES_PER_SECOND["account"] / tenants_sharing
    )
    deliverers = sum(tenant.concurrency_of(f.key) for f in (OUTBOX_RELAY, OUTBOX_SWEEPER))
    return tenant_share / deliverers


# --- What every function is told --------------------------------------------------------------------

# Powertools' PHI-safe settings. Per-function values (the service name) are set in code.
POWERTOOLS_ENVIRONMENT = {
    "POWERTOOLS_TRACER_CAPTURE_RESPONSE": "false",
    "POWERTOOLS_TRACER_CAPTURE_ERROR": "false",
    "POWERTOOLS_LOGGER_LOG_EVENT": "false",
    "POWERTOOLS_LOG_LEVEL": "INFO",
    "POWERTOOLS_METRICS_NAMESPACE": "Telehealth",
}


def web_origins(tenant: Tenant, served_at: str | None) -> tuple[str, ...]:
    """Where the tenant's portals run, first where its own distribution serves them (`served_at`,
    none locally), then the tenant file's other portal origins: CORS origins and sign-in URLs."""
    return tuple(dict.fromkeys([*([served_at] if served_at else []), *tenant.portal_origins]))


def function_environment(
    tenant: Tenant,
    *,
    account: str,
    fhir_endpoint: str,
    workforce_pool_id: str,
    patient_pool_id: str,
    web_origin: str | None = None,
    login_urls: Mapping[str, str],
    portal_clients: Mapping[str, str],
    tenants_sharing_healthlake: int = 1,
) -> dict[str, str]:
    """The one environment all of a tenant's functions share.

    One set per tenant, not per function: locally a tenant's functions share one process, so a
    value that differed between two functions would leak from one into the other. Names and ARNs
    are built here from names (no references), which also keeps CloudFormation free of cycles
    (the state machine names the task function; the task function names the state machine).
    """
    tenant_id, region = tenant.id, tenant.region
    return {
        **POWERTOOLS_ENVIRONMENT,
        "TENANT_ID": tenant_id,
        "TABLE_NAME": CLINIC_TABLE.name(tenant_id),
        "EVENT_BUS_NAME": TENANT_BUS.name(tenant_id),
        "UPLOADS_BUCKET": bucket_name(tenant_id, "uploads", account),
        "RECORDINGS_BUCKET": bucket_name(tenant_id, "recordings", account),
        "AUDIT_BUCKET": bucket_name(tenant_id, "audit", account),
        "VISIT_LIFECYCLE_ARN": state_machine_arn(VISIT_LIFECYCLE, tenant, account),
        # Urgent monitoring alerts' timers, started by the outbox's deliverers (empty: rpm is off).
        "ALERT_ESCALATION_ARN": state_machine_arn(ALERT_ESCALATION_TIMER, tenant, account)
        if ALERT_ESCALATION_TIMER in state_machines_for(tenant)
        else "",
        # Cases of photos' deadline timers, started the same way (empty: triage is off).
        "CASE_DEADLINE_ARN": state_machine_arn(CASE_DEADLINE_TIMER, tenant, account)
        if CASE_DEADLINE_TIMER in state_machines_for(tenant)
        else "",
        "FHIR_STORE_ENDPOINT": fhir_endpoint,
        # This deliverer's share of HealthLake's bundle quota (readings' summaries go in bundles).
        "FHIR_BUNDLES_PER_SECOND": f"{bundle_pace(tenant, tenants_sharing_healthlake):.3f}",
        "CHIME_MEDIA_REGION": tenant.chime_media_region,
        "WORKFORCE_POOL_ID": workforce_pool_id,
        "PATIENT_POOL_ID": patient_pool_id,
        # Each pool's managed login (its base URL: /oauth2/authorize and /oauth2/token below it)
        # and its portal's public client, by pool kind: Swagger UI at /docs signs in with them.
        **{api_conventions.login_url_variable(kind): login_urls[kind] for kind in POOL_KINDS},
        **{api_conventions.portal_client_variable(kind): portal_clients[kind] for kind in POOL_KINDS},
        "SERVED_STATES": ",".join(tenant.states),
        # The features the tenant has on (the API's served document leaves the others' routes out).
        "FEATURES": ",".join(name for name, on in tenant.features.model_dump().items() if on),
        "MRN_SYSTEM": tenant.medical_record_system,
        # What the clinic's settings are until an admin first changes them (they live in the
        # table, read at run time); the tenant file holds seed values only.
        "CLINIC_SEED_SETTINGS": json.dumps(seed_settings(tenant), sort_keys=True),
        "CORS_ORIGINS": ",".join(web_origins(tenant, web_origin)),
        "PORTAL_URL": next(iter(web_origins(tenant, web_origin)), ""),
        # The dashboard: where a prescriber's sign-in at Photon comes back to (registered there).
        "DASHBOARD_URL": f"{next(iter(web_origins(tenant, web_origin)), '')}/dashboard/",
        "NOTIFY_FROM": tenant.notify_from,
        "RECORDING_ENABLED": "true" if tenant.features.recording else "false",
        # The symptom check's content: the clinic's questionnaire and its own red flags (the
        # tenant file's `triage`), empty where the tenant has triage off.
        "TRIAGE_CONTENT": tenant.triage.model_dump_json() if tenant.features.triage else "",
        # Where a patient's sign-in at Dexcom comes back to: the portal (registered at Dexcom).
        "DEXCOM_RETURN_URL": f"{next(iter(web_origins(tenant, web_origin)), '')}/",
        # Where the api asks about Dexcom sign-ins (empty: the tenant has remote monitoring off).
        "DEXCOM_FUNCTION": DEXCOM_CALLS.name(tenant_id) if DEXCOM_CALLS in functions_for(tenant) else "",
        # Where the api asks for payments (empty: the tenant has none): a name, no credential.
        "PAYMENTS_FUNCTION": PAYMENTS.name(tenant_id) if PAYMENTS in functions_for(tenant) else "",
        # Where the api hands Stripe's webhooks (the same code, its own concurrency).
        "PAYMENT_NOTICES_FUNCTION": PAYMENT_NOTICES.name(tenant_id)
        if PAYMENT_NOTICES in functions_for(tenant)
        else "",
        # Stripe.js's key for the portal's card form (public; the secret key is the payments
        # function's alone).
        "PAYMENTS_PUBLISHABLE_KEY": tenant.stripe_publishable_key or "",
        # Where insurance is checked (empty: the tenant takes no payments), and who asks: the
        # clinic's billing NPI and name go in every eligibility check as its provider; with its TIN,
        # on every Good Faith Estimate.
        "ELIGIBILITY_FUNCTION": ELIGIBILITY.name(tenant_id) if ELIGIBILITY in functions_for(tenant) else "",
        # Where prescriptions are sent (empty: the tenant has e-prescribing off).
        "PRESCRIBING_FUNCTION": PRESCRIBING.name(tenant_id) if PRESCRIBING in functions_for(tenant) else "",
        # Subscriptions: where notifications leave from, the hosts a subscriber's endpoint may be
        # on (the DNS firewall's), and where a notification that ran out of tries is set aside.
        "SUBSCRIPTION_DELIVERY_FUNCTION": SUBSCRIPTION_DELIVERY.name(tenant_id),
        "SUBSCRIBER_DOMAINS": ",".join(tenant.subscriber_domains),
        "SUBSCRIPTION_DLQ_URL": f"https://sqs.{region}.amazonaws.com/{account}/"
        + Queue(f"{SUBSCRIPTION_NOTICES.key}-dlq", QueueRole.FUNCTION_DLQ).name(tenant_id),
        # Bulk exports: where HealthLake writes them, with which key, as which role.
        "EXPORTS_BUCKET": bucket_name(tenant_id, "exports", account),
        "BULK_EXPORTS_FUNCTION": BULK_EXPORTS.name(tenant_id),
        "EXPORTS_KEY": f"arn:aws:kms:{region}:{account}:alias/{PREFIX}/{tenant_id}",
        "EXPORT_ROLE_ARN": f"arn:aws:iam::{account}:role/{export_role_name(tenant_id)}",
        # Where checked readings are handed over (empty: the tenant has remote monitoring off).
        "READINGS_QUEUE_URL": READINGS.work_queue.url(tenant_id, region=region, account=account)  # type: ignore[union-attr]
        if READINGS in functions_for(tenant)
        else "",
        "BILLING_NPI": tenant.billing_npi or "",
        "BILLING_TIN": tenant.billing_tin or "",
        "CLINIC_NAME": tenant.display_name,
    }


def seed_settings(tenant: Tenant) -> dict[str, Any]:
    """The tenant file's seed values for the clinic's settings, as the table spells them (the
    platform's own defaults fill the rest)."""
    seed: dict[str, Any] = {"cancellation_window_hours": tenant.cancellation_window_hours}
    if tenant.visit_timings:
        seed["visit_timings"] = dict(tenant.visit_timings)
    return seed


def own_environment(
    function: Function, secret_arns: Mapping[str, str], key_arns: Mapping[str, str]
) -> dict[str, str]:
    """What one function is told beyond the tenant's environment: where its third parties'
    credentials are (by secret ARN, never the credential), and its own keys (`SealingKey`). Only a
    function that calls a third party gets anything here, so no other function can find, let
    alone read, Stripe's key."""
    return {
        **{party.secret_variable: secret_arns[party.key] for party in function.third_parties},
        **{k.variable: key_arns[k.key] for k in function.sealing_keys},
    }


# --- Queues, all of them --------------------------------------------------------------------------


def queues(functions: tuple[Function, ...] = FUNCTIONS) -> tuple[Queue, ...]:
    """Every queue a tenant stack has: the rules' targets' DLQ, one per asynchronous function
    (and stream consumer), and a queue consumer's work queue with its dead-letter queue."""
    rules = [r for r in RULES if not isinstance(r.target, Function) or r.target in functions]
    found = [r.dlq for r in rules] + [q for f in functions if (q := f.dlq) is not None]
    # After the dead-letter queues: a work queue names its own.
    found += [q for f in functions if (q := f.work_queue) is not None]
    return tuple(dict.fromkeys(found))


# --- The HTTP API ---------------------------------------------------------------------------------

API_STAGE = "live"

# Cognito authorizer semantics: a method with OAuth scopes accepts *access* tokens carrying any
# one of them; Cognito puts this scope in every user's access token, so user routes list it.
USER_SCOPE = "aws.cognito.signin.user.admin"
RESOURCE_SERVER = "telehealth"
# The FHIR facade's SMART scopes live on a resource server of their own, named `system`, so the
# token carries them as SMART spells them (`system/Patient.rs`; telehealth/domain/fhir_access.py).
SMART_RESOURCE_SERVER = fhir_access.RESOURCE_SERVER
SMART_SCOPES = fhir_access.SUPPORTED_SCOPES
# Where the facade's SMART discovery document is: below its FHIR base, as SMART App Launch wants.
SMART_CONFIGURATION = api_conventions.SMART_CONFIGURATION
STRIPE_WEBHOOK = api_conventions.STRIPE_WEBHOOK
PRESCRIBING_WEBHOOK = api_conventions.PRESCRIBING_WEBHOOK
FHIR_METADATA = f"{api_conventions.FHIR_BASE}/metadata"

# --- Sign-in: the portals' pools and OAuth clients (infra/identity.py; local/provision.py) --------

POOL_KINDS = ("workforce", "patients")
# What the portals ask for in the authorization request (the managed login grants these).
PORTAL_SCOPES = ("openid", "email", "profile", USER_SCOPE)
# Where each pool's portal lives below a web origin (and BASE locally): its sign-in callback and
# its sign-out URL. Swagger UI (served by the API at /docs) signs in through either pool: its
# redirect page, below the API's base URL, is a callback of both pools' clients.
PORTAL_PATHS = {"patients": "/", "workforce": "/dashboard/"}
DOCS_OAUTH_REDIRECT = api_conventions.DOCS_OAUTH_REDIRECT


@dataclass(frozen=True)
class PasswordRules:
    min_length: int
    symbols: bool  # upper and lower case letters and digits always


PASSWORD_RULES = {"workforce": PasswordRules(14, symbols=True), "patients": PasswordRules(12, symbols=False)}


def portal_callback_urls(kind: str, web_bases: Sequence[str], api_bases: Sequence[str]) -> list[str]:
    """A pool's client's callback URLs: its portal on the web bases (origin, or origin + BASE
    locally) and Swagger UI's redirect page on the API's bases (the stage's URL in AWS; locally
    the gateway serves the API at the same bases as the web)."""
    return [f"{b}{PORTAL_PATHS[kind]}" for b in web_bases] + [f"{b}{DOCS_OAUTH_REDIRECT}" for b in api_bases]


def portal_logout_urls(kind: str, web_bases: Sequence[str]) -> list[str]:
    return [f"{b}{PORTAL_PATHS[kind]}" for b in web_bases]


def machine_scope(scope: str) -> str:
    """A machine client's scope as its token carries it: the tenant file names the platform's own
    integration scopes bare (`appointments.read`, on the `telehealth` server) and SMART scopes as
    SMART writes them (`system/Patient.rs`, already the token's spelling)."""
    if scope.startswith(f"{SMART_RESOURCE_SERVER}/"):
        return scope
    return f"{RESOURCE_SERVER}/{scope}"


class RouteGroup(Enum):
    """Who a route is for, and so whose throttle it is under (each group's limits are in the
    tenant file). API Gateway throttles per method, so every method of a group gets the group's
    limits and a flood of one route cannot take another group's (or another route's) capacity."""

    PUBLIC = "public"  # health and the API's own docs: the stage's default limits
    PATIENT = "patient"  # booking, check-in, joining, their own appointments
    CLINICIAN = "clinician"  # the waiting room, admitting, ending, vitals, availability
    ADMIN = "admin"  # the clinic's administration (providers, licences, services, settings)
    INTEGRATION = "integration"  # health systems' machine clients


THROTTLED_GROUPS: tuple[RouteGroup, ...] = tuple(g for g in RouteGroup if g is not RouteGroup.PUBLIC)

ANY = "ANY"


@dataclass(frozen=True)
class Route:
    """An API Gateway resource: its path, its methods, which tokens the authorizer lets through
    and the group whose throttle it is under."""

    path: str
    methods: tuple[str, ...]  # ("ANY",) for a greedy `{proxy+}` resource
    group: RouteGroup
    scopes: tuple[str, ...] = (USER_SCOPE,)  # empty: no authorizer (health and the API's own docs)
    feature: str | None = None  # only tenants with this feature have the route (payments)

    @property
    def api(self) -> api_conventions.RestApiKind:
        """The REST API the resource is on: the FHIR facade's, or the clinic's."""
        return api_conventions.api_of(self.path)

    @property
    def throttle_keys(self) -> tuple[str, ...]:
        """The stage's method-settings keys, `/<resource path>/<METHOD>` (API Gateway's and
        CDK's `methodOptions` form): one token bucket each."""
        return tuple(f"{self.path}/{method}" for method in self.methods)


_APPOINTMENT = "/v1/appointments/{appointment_id}"
_PATIENT, _CLINICIAN = RouteGroup.PATIENT, RouteGroup.CLINICIAN

# Every resource of the REST API. A path shared by patients and providers is the patient group's
# (docs/decisions.md, Route groups): the many callers size its limits. The admin and integration
# groups are greedy resources, so a route added below them lands in their group by its path.
ROUTES: tuple[Route, ...] = (
    Route("/health", ("GET",), RouteGroup.PUBLIC, ()),
    Route("/openapi.json", ("GET",), RouteGroup.PUBLIC, ()),
    Route("/docs", ("GET",), RouteGroup.PUBLIC, ()),
    Route("/docs/{asset}", ("GET",), RouteGroup.PUBLIC, ()),  # its scripts, styles, redirect page
    # What a health system's software reads before asking for a token (no token needed to read it).
    Route(SMART_CONFIGURATION, ("GET",), RouteGroup.PUBLIC, ()),
    Route(FHIR_METADATA, ("GET",), RouteGroup.PUBLIC, ()),  # the facade's CapabilityStatement
    # Patients (and what they share with providers and staff).
    Route("/v1/slots", ("GET",), _PATIENT),
    Route("/v1/appointments", ("GET", "POST"), _PATIENT),
    Route(_APPOINTMENT, ("GET",), _PATIENT),
    Route(f"{_APPOINTMENT}/cancel", ("POST",), _PATIENT),
    Route(f"{_APPOINTMENT}/reschedule", ("POST",), _PATIENT),
    Route(f"{_APPOINTMENT}/check-in", ("POST",), _PATIENT),
    Route(f"{_APPOINTMENT}/waiting-room", ("GET",), _PATIENT),
    Route(f"{_APPOINTMENT}/join-link", ("POST",), _PATIENT),
    Route(f"{_APPOINTMENT}/summary", ("GET",), _PATIENT),  # the after-visit summary, once signed
    # A visit's payment (tenants with payments on): patients save a card and see it; staff refund.
    Route("/v1/payments/card-setups", ("POST",), _PATIENT, feature="payments"),
    Route(f"{_APPOINTMENT}/payment", ("GET",), _PATIENT, feature="payments"),
    Route(f"{_APPOINTMENT}/payment/card", ("PUT",), _PATIENT, feature="payments"),
    Route(f"{_APPOINTMENT}/payment/refunds", ("POST",), _CLINICIAN, feature="payments"),
    # A self-pay visit's Good Faith Estimate, as issued at booking (the patient's and the desk's).
    Route(f"{_APPOINTMENT}/estimate", ("GET",), _PATIENT, feature="payments"),
    Route("/v1/estimates/preview", ("GET",), _PATIENT, feature="payments"),  # before booking
    # Stripe's events: the one route that takes a write without a token (Stripe has none to send);
    # the function checks its signature. Under the stage's default limits, as the public reads.
    Route(STRIPE_WEBHOOK, ("POST",), RouteGroup.PUBLIC, (), feature="payments"),
    # A patient's insurance (tenants with payments on): the payers to choose from, their coverage.
    Route("/v1/payers", ("GET",), _PATIENT, feature="payments"),
    Route("/v1/me/coverage", ("GET", "PUT"), _PATIENT, feature="payments"),
    Route("/v1/join", ("POST",), _PATIENT),
    # E-prescribing (tenants with it on): the patient's prescriptions and the pharmacy directory.
    Route("/v1/me/prescriptions", ("GET",), _PATIENT, feature="eprescribing"),
    Route("/v1/pharmacies", ("GET",), _PATIENT, feature="eprescribing"),
    # The network's webhooks: no token (it has none to send); the function checks the signature.
    Route(PRESCRIBING_WEBHOOK, ("POST",), RouteGroup.PUBLIC, (), feature="eprescribing"),
    Route("/v1/me/readings", ("GET", "POST"), _PATIENT, feature="rpm"),
    Route("/v1/me/dexcom", ("GET", "PUT", "DELETE"), _PATIENT, feature="rpm"),
    Route("/v1/me/dexcom/sign-in", ("POST",), _PATIENT, feature="rpm"),
    # Virtual triage (tenants with it on): the patient's symptom checks, in one greedy resource.
    Route("/v1/me/triage/{proxy+}", (ANY,), _PATIENT, feature="triage"),
    Route("/v1/me", ("GET",), _PATIENT),
    Route("/v1/me/details", ("GET", "PUT"), _PATIENT),
    # Allergies and medicines: the patient tells them, the visit's clinician reconciles them; the
    # drug list both search (no one's record).
    Route("/v1/me/allergies-and-medications", ("GET", "PUT"), _PATIENT),
    Route("/v1/drugs", ("GET",), _PATIENT),
    Route("/v1/allergens", ("GET",), _PATIENT),
    # Clinicians.
    Route("/v1/waiting-room", ("GET",), _CLINICIAN),
    Route(f"{_APPOINTMENT}/admit", ("POST",), _CLINICIAN),
    Route(f"{_APPOINTMENT}/end", ("POST",), _CLINICIAN),
    Route(f"{_APPOINTMENT}/vitals", ("GET",), _CLINICIAN),
    Route(f"{_APPOINTMENT}/vitals/review", ("POST",), _CLINICIAN),
    # The clinician's note: its provider writes and signs; other providers and the desk read. What
    # is done to the note (sign, amend, add to, its revisions) shares one greedy resource: each
    # resource of its own cost three of the tenant stack's 500 (itself, its method, its CORS
    # preflight), and the function routes them itself.
    Route(f"{_APPOINTMENT}/note", ("GET", "PUT"), _CLINICIAN),
    Route(f"{_APPOINTMENT}/note/{{proxy+}}", (ANY,), _CLINICIAN),
    Route("/v1/diagnoses", ("GET",), _CLINICIAN),
    Route(f"{_APPOINTMENT}/allergies-and-medications", ("GET", "PUT"), _CLINICIAN),
    # The visit's prescriptions: the checks while writing, the send, the list; cancelling one.
    Route(f"{_APPOINTMENT}/prescriptions", ("GET", "POST"), _CLINICIAN, feature="eprescribing"),
    Route(f"{_APPOINTMENT}/prescriptions/checks", ("POST",), _CLINICIAN, feature="eprescribing"),
    # A prescription's own actions (cancel, answer a renewal): one greedy resource, as the admin
    # group's are, which keeps the tenant stack under CloudFormation's 500 resources.
    Route("/v1/prescriptions/{proxy+}", (ANY,), _CLINICIAN, feature="eprescribing"),
    Route("/v1/providers/{provider_id}/availability", ("GET", "PUT"), _CLINICIAN),
    Route("/v1/patients/search", ("POST",), _CLINICIAN),  # the front desk, booking for a patient
    Route("/v1/patients/merges", ("GET",), _CLINICIAN),  # a health system's merges, staff review them
    Route("/v1/patients/merges/{patient_id}", ("DELETE",), _CLINICIAN),  # and undo one
    Route("/v1/referrals", ("GET",), _CLINICIAN),  # the front desk's worklist
    Route("/v1/follow-ups", ("GET",), _CLINICIAN),  # and its follow-ups to book
    Route("/v1/patients/{patient_id}/coverage", ("GET", "PUT"), _CLINICIAN, feature="payments"),
    Route("/v1/referrals/{referral_id}", ("GET",), _CLINICIAN),
    # Remote monitoring (tenants with it on): the care team's panel, enrolments, devices, a
    # patient's readings and alerts, in one greedy resource; the patient's own readings.
    Route("/v1/monitoring/{proxy+}", (ANY,), _CLINICIAN, feature="rpm"),
    # Triage's care-team side: a patient's symptom checks, the rules and their sign-off.
    Route("/v1/triage/{proxy+}", (ANY,), _CLINICIAN, feature="triage"),
    # The clinic's administration.
    Route("/v1/admin/{proxy+}", (ANY,), RouteGroup.ADMIN),
    # Health systems.
    Route("/integrations/{proxy+}", (ANY,), RouteGroup.INTEGRATION, (machine_scope("appointments.read"),)),
    # A health system's ADT feed: a resource of its own, so the authorizer asks for its own scope.
    Route(
        api_conventions.HL7_ADT,
        ("POST",),
        RouteGroup.INTEGRATION,
        (machine_scope(api_conventions.HL7_ADT_SCOPE),),
    ),
    # Remote monitoring's readings from device gateways and makers' clouds: their own scope.
    Route(
        api_conventions.DEVICE_READINGS,
        ("POST",),
        RouteGroup.INTEGRATION,
        (machine_scope(api_conventions.DEVICE_READINGS_SCOPE),),
        feature="rpm",
    ),
    # The FHIR facade: machine clients with any SMART scope, and users with their own token (the
    # route checks the scope's resource type and interaction, or the user's role and compartment).
    Route("/fhir/{proxy+}", (ANY,), RouteGroup.INTEGRATION, (*SMART_SCOPES, USER_SCOPE)),
)


def routes_for(tenant: Tenant) -> tuple[Route, ...]:
    """The tenant's API resources: none of a feature it has switched off."""
    return tuple(r for r in ROUTES if r.feature is None or getattr(tenant.features, r.feature))


def _segment_rank(pattern: str) -> int:
    return 0 if pattern == "{proxy+}" else 1 if pattern.startswith("{") else 2


def match_route(path: str, routes: tuple[Route, ...] = ROUTES) -> tuple[Route, dict[str, str]] | None:
    """The resource API Gateway picks for a path, and its path parameters: at each segment a
    literal before a `{variable}`, a variable before a greedy `{proxy+}` (which needs at least one
    segment). None: no resource has the path (API Gateway's `Missing Authentication Token`)."""
    segments = path.split("/")[1:]
    best: tuple[tuple[int, ...], Route, dict[str, str]] | None = None
    for route in routes:
        patterns = route.path.split("/")[1:]
        parameters: dict[str, str] = {}
        rank: list[int] = []
        for i, pattern in enumerate(patterns):
            if pattern == "{proxy+}":
                rest = segments[i:]
                if not rest or not all(rest):
                    break
                parameters["proxy"] = "/".join(rest)
            elif i >= len(segments) or not segments[i]:
                break
            elif pattern.startswith("{"):
                parameters[pattern.strip("{}")] = segments[i]
            elif pattern != segments[i]:
                break
            rank.append(_segment_rank(pattern))
        else:
            if patterns[-1] != "{proxy+}" and len(segments) != len(patterns):
                continue
            if best is None or tuple(rank) > best[0]:
                best = (tuple(rank), route, parameters)
    return (best[1], best[2]) if best else None


def route_method(route: Route, method: str) -> str | None:
    """The method of the resource that takes a request: its own, else its ANY (a CORS preflight's
    OPTIONS, where the stack declares one, is answered before this); None: API Gateway has none."""
    if method in route.methods:
        return method
    if ANY in route.methods and method in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"):
        return ANY
    return None
