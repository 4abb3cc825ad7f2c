"""The FHIR facade's CapabilityStatement: what `GET /fhir/r4/metadata` says the facade serves.

Built from the same tables the facade's routes check requests against (FACADE in
healthlake_support.py: resource types, interactions, search parameters), so it cannot promise
what is not served; tests/e2e/test_fhir_facade.py holds it against the running facade. The
security block says how a client gets a token (SMART's `oauth-uris` extension with the token
endpoint only: client credentials is the one grant a health system's software uses).

Pure: no AWS, no I/O.
"""

from __future__ import annotations

from typing import Any

from telehealth.domain.fhir_access import FACADE_RESOURCE_TYPES, Interaction
from telehealth.domain.subscriptions import Topic
from telehealth.fhir import healthlake_support as support
from telehealth.fhir.subscriptions import SIGNING_SECRET_EXTENSION

SMART_SECURITY_SERVICE = "http://terminology.hl7.org/CodeSystem/restful-security-service"
OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
# The writes a health system makes, per resource type (its own store first, HealthLake through
# the outbox); every other write answers 405. A Patient is created by its MRN, conditionally
# (If-None-Exist: identifier=<MRN system>|<MRN>), and updated at its id (If-Match optional).
WRITES: dict[str, tuple[Interaction, ...]] = {
    "Patient": (Interaction.CREATE, Interaction.UPDATE),
    "ServiceRequest": (Interaction.CREATE,),  # a referral, onto the front desk's worklist
    # A patient's insurance, checked with the payer next (COVERAGE_WRITES says how).
    "Coverage": (Interaction.CREATE, Interaction.UPDATE),
}
CONDITIONAL_CREATE = frozenset({"Patient"})  # by its MRN (If-None-Exist)
# Writes only a clinic that checks insurance takes (payments on in the tenant file): elsewhere the
# statement leaves them out and the facade answers them 405.
INSURANCE_WRITES = frozenset({"Coverage"})
# What a client must know to write the type, said in the statement (its `documentation`).
WRITE_NOTES = {
    "Coverage": (
        "A patient's insurance. The clinic keeps one coverage per patient, at "
        "Coverage/coverage-<patient id>: a create for a patient with coverage on file replaces it "
        "(201, Location that same resource at its new version); an update is at that id, for the "
        "patient its beneficiary names (If-Match optional). The payer is named in payor by its "
        "identifier in urn:telehealth:clearinghouse-payer-id, from the clinic's clearinghouse "
        "directory; the member id in subscriberId; a dependent's subscriber is a contained "
        "RelatedPerson (name and birthDate) referenced by #id. Each write is checked with the "
        "payer next: the answer is a CoverageEligibilityResponse."
    ),
}
# When the statement last changed in substance: it is the same for every tenant and request.
RELEASED = "2026-12-01"
# FHIR Bulk Data Access (`$export`): system, Patient and Group level.
BULK_DATA = "http://hl7.org/fhir/uv/bulkdata"
BULK_EXPORT_NOTE = (
    "Bulk export (FHIR Bulk Data Access, for machine clients): GET [base]/$export, "
    "[base]/Patient/$export or [base]/Group/care-team-<provider id>/$export (the patients who have "
    "or had a visit with that provider) with Prefer: respond-async; _outputFormat (NDJSON), _type "
    "(the types the token may read) and _since. Poll Content-Location (202 with X-Progress and "
    "Retry-After; exports run one at a time, and wait while the record store runs another clinic's), "
    "then read each file in the manifest with the same token (requiresAccessToken). DELETE the status "
    "URL to cancel. Files are kept seven days."
)


def capability_statement(base_url: str, token_endpoint: str, *, insurance: bool = True) -> dict[str, Any]:
    """`base_url`: the facade's own base (`https://<api>/fhir/r4`), never HealthLake's;
    `insurance`: whether the clinic checks insurance (takes INSURANCE_WRITES)."""
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": RELEASED,
        "publisher": "telehealth platform",
        "kind": "instance",
        "software": {"name": "telehealth FHIR facade"},
        "implementation": {"description": "The clinic's FHIR R4 API", "url": base_url},
        "fhirVersion": "4.0.1",
        "instantiates": [f"{BULK_DATA}/CapabilityStatement/bulk-data"],
        "format": ["json"],
        "rest": [
            {
                "mode": "server",
                "security": {
                    "cors": False,
                    "service": [{"coding": [{"system": SMART_SECURITY_SERVICE, "code": "SMART-on-FHIR"}]}],
                    "description": (
                        "Machine clients: OAuth 2.0 client credentials with a client secret "
                        "(client_secret_basic) and SMART system scopes; users: the clinic's own "
                        "sign-in, checked by role and patient compartment."
                    ),
                    "extension": [
                        {"url": OAUTH_URIS, "extension": [{"url": "token", "valueUri": token_endpoint}]}
                    ],
                },
                "documentation": BULK_EXPORT_NOTE,
                "resource": [
                    *(_resource(kind, insurance) for kind in FACADE_RESOURCE_TYPES),
                    _subscription_resource(),
                ],
                "operation": [{"name": "export", "definition": f"{BULK_DATA}/OperationDefinition/export"}],
            }
        ],
    }


def interactions_of(resource_type: str, insurance: bool = True) -> tuple[Interaction, ...]:
    return (*support.FACADE_INTERACTIONS, *writes_of(resource_type, insurance))


def writes_of(resource_type: str, insurance: bool = True) -> tuple[Interaction, ...]:
    """The writes the facade takes on `resource_type` in a clinic that does (or does not) check
    insurance."""
    if resource_type in INSURANCE_WRITES and not insurance:
        return ()
    return WRITES.get(resource_type, ())


def _resource(resource_type: str, insurance: bool) -> dict[str, Any]:
    interactions = interactions_of(resource_type, insurance)
    note = WRITE_NOTES.get(resource_type) if writes_of(resource_type, insurance) else None
    return {
        "type": resource_type,
        **({"documentation": note} if note else {}),
        "interaction": [{"code": i.code} for i in interactions],
        "versioning": "versioned",
        "readHistory": Interaction.VREAD in interactions,
        "updateCreate": False,
        "conditionalCreate": resource_type in CONDITIONAL_CREATE,
        "searchParam": [
            {"name": p.name, "type": p.type.value} for p in support.search_parameters(resource_type)
        ],
        **(
            {
                "operation": [
                    {"name": "export", "definition": f"{BULK_DATA}/OperationDefinition/patient-export"}
                ]
            }
            if resource_type == "Patient"
            else {}
        ),
    }


# The backport IG's statement that the server supports a topic (R4 has no SubscriptionTopic).
TOPIC_EXTENSION = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/capabilitystatement-subscriptiontopic-canonical"
STATUS_OPERATION = (
    "http://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition/backport-subscription-status"
)


def _subscription_resource() -> dict[str, Any]:
    """Subscriptions, from the platform's own table: the two topics, a rest-hook with id-only
    JSON, `$status`; no history (a subscription's state is not a record of care)."""
    return {
        "type": "Subscription",
        "supportedProfile": [
            "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription"
        ],
        "documentation": (
            "Topic-based (the Subscriptions R5 Backport): criteria is one of the topics listed; "
            "channel rest-hook, payload application/fhir+json, content id-only; an https endpoint "
            "on a domain the clinic allows (else 422). The created Subscription carries its signing "
            f"secret once, in the extension {SIGNING_SECRET_EXTENSION}: every notification is signed "
            "X-Telehealth-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of '<t>.<body>'>. A delete "
            "turns it off."
        ),
        "extension": [{"url": TOPIC_EXTENSION, "valueCanonical": t.value} for t in Topic],
        "interaction": [{"code": c} for c in ("read", "search-type", "create", "delete")],
        "versioning": "no-version",
        "readHistory": False,
        "updateCreate": False,
        "conditionalCreate": False,
        "searchParam": [],
        "operation": [{"name": "status", "definition": STATUS_OPERATION}],
    }
