"""The FHIR facade: a health system's software, or a signed-in user, reads the clinical record.

Each request is checked before anything is read from HealthLake (a machine client by its SMART
scopes, a user by role and compartment: domain/fhir_access.py), its search held to what the facade
offers and what HealthLake accepts (fhir/healthlake_support.py), passed on, and answered in the
facade's own words: Bundles built afresh with the facade's URLs, never HealthLake's, and paging by
opaque cursors kept in the clinic table (a `next` link carries a random token, not the search:
the values searched for, often PHI, never come back in a URL). Every request is audited, once,
whatever its outcome: one AuditEvent naming the caller and every record returned.

Errors are `FacadeError`: a status and an OperationOutcome issue code, with a sentence that names
no patient and echoes no value searched for.
"""

from __future__ import annotations

import re
import secrets
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from telehealth.application.audit import AuditTrail
from telehealth.application.callers import Caller, NotFoundError
from telehealth.application.coverage import CoverageUnavailableError, InsuranceDesk
from telehealth.application.patients import MrnChangedError, PatientRecords
from telehealth.application.referrals import Referrals, UnknownPatientError
from telehealth.application.subscriptions import SubscriptionDesk
from telehealth.domain.appointments import Actor
from telehealth.domain.coverage import CoverageRuleError, PatientCoverage
from telehealth.domain.fhir_access import (
    COMPARTMENT_TYPES,
    SERVED_TYPES,
    ClinicRole,
    Decision,
    Interaction,
    InvalidScope,
    UserAccess,
    granted_scopes,
    machine_may,
    patients_of,
    role_may,
    user_may,
)
from telehealth.domain.subscriptions import Subscription, SubscriptionRuleError, SubscriptionState, Topic
from telehealth.fhir import healthlake_support as support
from telehealth.fhir.capability import writes_of
from telehealth.fhir.intake import (
    UnprocessableResource,
    received_coverage,
    referral_request,
    registered_patient,
)
from telehealth.fhir.projection import coverage as projection_coverage
from telehealth.fhir.projection import coverage_id, service_request, source_version
from telehealth.fhir.projection import patient as projection_patient
from telehealth.fhir.subscriptions import SIGNING_SECRET_EXTENSION
from telehealth.fhir.subscriptions import subscription as subscription_resource
from telehealth.ports import (
    FhirStoreError,
    IdempotencyClaim,
    IdempotentReplay,
    SearchCursor,
    StaleWriteError,
)

if TYPE_CHECKING:
    from telehealth.application.booking import Idempotency

Pairs = tuple[tuple[str, str], ...]

# How long a client may take to ask for the next page of a search.
CURSOR_LIFETIME = timedelta(minutes=30)
CURSOR_PARAMETER = "_cursor"
_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")  # R4's id
GROUP_ROLES = {"providers": ClinicRole.PROVIDER, "staff": ClinicRole.STAFF, "admins": ClinicRole.ADMIN}
# The parameters that confine a search to patients, per resource type (a user's search must be).
_PATIENT_PARAMETERS = ("patient", "subject", "subject:Patient", "patient:Patient")


class FacadeError(Exception):
    """What the facade answers instead of a resource: status, OperationOutcome issue code, and a
    sentence for the client (never a patient's details, never a searched value)."""

    def __init__(self, status: int, code: str, diagnostics: str, *, about: str | None = None) -> None:
        super().__init__(diagnostics)
        self.status, self.code, self.diagnostics = status, code, diagnostics
        # The record the refusal concerns, where it is known to exist (the audit names it; a
        # reference to what does not exist would lead nowhere).
        self.about = about


class FhirReader(Protocol):
    """The FHIR store as the facade reads it (adapters/healthlake.py)."""

    def read(self, resource_type: str, resource_id: str) -> dict[str, Any]: ...

    def vread(self, resource_type: str, resource_id: str, version_id: str) -> dict[str, Any]: ...

    def history(
        self, resource_type: str, resource_id: str, *, count: int | None = None
    ) -> dict[str, Any]: ...

    def search_page(self, resource_type: str, params: Pairs) -> dict[str, Any]: ...

    def follow(self, link: str, searched: Pairs) -> dict[str, Any]: ...


class CareTeams(Protocol):
    """The clinic's own table, for what HealthLake cannot say: the patients a provider has or had
    an appointment with (adapters/scheduling_store.py)."""

    def provider_for_user(self, user_sub: str) -> str | None: ...

    def patients_of_provider(self, provider_id: str) -> frozenset[str]: ...


class PendingRecord(Protocol):
    """What the platform has written that the FHIR store may not have yet (the outbox)."""

    def latest_pending(self, reference: str) -> dict[str, Any] | None: ...


class SearchCursors(Protocol):
    """Searches in progress between pages (adapters/search_cursors.py)."""

    def save_cursor(self, cursor: SearchCursor) -> None: ...

    def cursor(self, token: str) -> SearchCursor | None: ...


@dataclass(frozen=True)
class FhirRequest:
    interaction: Interaction
    resource_type: str
    resource_id: str | None = None
    version_id: str | None = None
    params: Pairs = ()  # a search's parameters, as sent (a name may repeat)
    cursor: str | None = None  # a later page of a search or of a history
    body: Mapping[str, Any] | None = None  # a write's resource
    if_none_exist: str | None = None  # a conditional create's search (`identifier=system|value`)
    if_match: str | None = None  # an update's expected version (`W/"3"`)
    body_type_known: bool = True  # False: a body sent as something other than FHIR JSON
    idempotency: Idempotency | None = None  # a create's Idempotency-Key
    operation: str | None = None  # an instance operation (`$status` of a Subscription)


@dataclass(frozen=True)
class FacadeAnswer:
    """A resource or Bundle, with the status and headers a write answers with."""

    body: dict[str, Any]
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass
class _Answer:
    body: dict[str, Any]
    entities: list[str] = field(default_factory=list)
    status: int = 200
    location: str | None = None
    audited: bool = False  # a write's AuditEvent is in its own transaction


class FhirFacade:
    def __init__(
        self,
        store: FhirReader,
        care: CareTeams,
        cursors: SearchCursors,
        trail: AuditTrail,
        clock: Callable[[], datetime],
        *,
        pending: PendingRecord,
        patients: PatientRecords,
        referrals: Referrals,
        mrn_system: str,
        insurance: InsuranceDesk | None = None,
        subscriptions: SubscriptionDesk | None = None,
        subscriber_domains: tuple[str, ...] = (),
    ) -> None:
        self.store, self.care, self.cursors, self.trail, self.clock = store, care, cursors, trail, clock
        self.pending, self.patients, self.referrals, self.mrn_system = (
            pending,
            patients,
            referrals,
            mrn_system,
        )
        # None where the clinic checks no insurance (payments off): Coverage is read, not written.
        self.insurance = insurance
        # Subscriptions, from the platform's own table (built on first use by the api).
        self.subscriptions, self.subscriber_domains = subscriptions, subscriber_domains

    def answer(self, caller: Caller, request: FhirRequest, base_url: str) -> FacadeAnswer:
        """The resource or Bundle for `request`; `base_url` is the facade's (`.../fhir/r4`).
        Audited once, success or not."""
        try:
            answer = self._answer(caller, request, base_url.rstrip("/"))
        except IdempotentReplay:  # a twin request's answer: the first one was audited
            raise
        except Exception as error:
            about = error.about if isinstance(error, FacadeError) and error.about else None
            self.trail.failed(caller, request.interaction, error, [about] if about else [])
            raise
        if not answer.audited:
            entries = self.trail.entries(
                self.trail.agent(caller), request.interaction, answer.entities, self.clock()
            )
            self.trail.store.record(entries)
        return _finished(answer)

    # --- the interactions ----------------------------------------------------------------------

    def _answer(self, caller: Caller, request: FhirRequest, base: str) -> _Answer:
        kind = request.resource_type
        if kind not in SERVED_TYPES:
            raise FacadeError(404, "not-supported", f"The facade serves no resource type {kind}.")
        if not all(_ID.fullmatch(i) for i in (request.resource_id, request.version_id) if i is not None):
            raise FacadeError(400, "invalid", "A FHIR id is 1 to 64 letters, digits, '-' and '.'.")
        access = _Access(caller, self.care)
        access.check_type(request.interaction, kind)
        if kind == "Subscription":
            return self._subscription(access, request, base)
        if request.operation is not None:
            raise FacadeError(
                404, "not-supported", f"The facade has no operation {request.operation} on {kind}."
            )
        if request.interaction.writes:
            return self._write(caller, request, base)
        if request.interaction is Interaction.SEARCH:
            return self._search(access, request, base)
        assert request.resource_id is not None
        current = self._current(kind, str(request.resource_id))
        about = _reference(current)
        _about(about, lambda: access.check_record(request.interaction, current))
        if request.interaction is Interaction.READ:
            return _Answer(current, [_reference(current)])
        if request.interaction is Interaction.VREAD:
            version = self._store(
                lambda: self.store.vread(kind, str(request.resource_id), str(request.version_id))
            )
            # An older version may name others.
            _about(about, lambda: access.check_record(request.interaction, version))
            return _Answer(version, [_reference(current)])
        return self._history(access, request, base, current)

    def _history(self, access: _Access, request: FhirRequest, base: str, current: dict[str, Any]) -> _Answer:
        """A resource's versions, a page at a time (`_count`, then the `next` link's cursor), each
        version checked as a vread of it would be."""
        kind, resource_id, about = request.resource_type, str(request.resource_id), _reference(current)
        here = f"{base}/{about}/_history"
        if request.cursor is not None:
            cursor = self._resume(access.caller, request)
            page = self._store(lambda: self.store.follow(cursor.link, cursor.searched))
            params, self_link = cursor.searched, f"{here}?{CURSOR_PARAMETER}={cursor.token}"
        else:
            params, self_link = request.params, here
            refused = _history_problem(params)
            if refused is not None:
                raise FacadeError(400, "invalid", refused, about=about)
            count = next((int(v) for k, v in params if k == "_count"), None)
            page = self._store(lambda: self.store.history(kind, resource_id, count=count))
        versions = [found["resource"] for found in page.get("entry", []) if "resource" in found]

        def each_version() -> None:  # as a vread of each
            for version in versions:
                access.check_record(request.interaction, version)

        _about(about, each_version)
        entries = [_history_entry(base, about, found) for found in page.get("entry", [])]
        next_url = self._next(access.caller, kind, page, params, base, resource_id=resource_id)
        return _Answer(_bundle("history", self_link, entries, next_url), [about])

    def _resume(self, caller: Caller, request: FhirRequest) -> SearchCursor:
        """The cursor a later page names, if it is this caller's, for this search or history, and
        not expired."""
        assert request.cursor is not None
        cursor = self.cursors.cursor(request.cursor)
        if (
            cursor is None
            or cursor.owner != caller.subject
            or cursor.resource_type != request.resource_type
            or cursor.resource_id != request.resource_id
        ):
            raise FacadeError(404, "not-found", "No such page: follow the links of a search's Bundle.")
        if cursor.expires_at <= self.clock():
            raise FacadeError(410, "expired", "This search's pages have expired: search again.")
        return cursor

    def _current(self, kind: str, resource_id: str) -> dict[str, Any]:
        """The resource's newest version: the FHIR store's, or the platform's own where a newer
        one is still on its way there (read-your-writes: a client reads what it just wrote).

        The outbox is asked first: the relay marks a version delivered only once the store has
        it, so a version not pending then is in the store when it is read after. Asked the other
        way round, a delivery between the two reads answered 404 for what was just written."""
        reference = f"{kind}/{resource_id}"
        pending = self.pending.latest_pending(reference)
        stored: dict[str, Any] | None = None
        gone: FhirStoreError | None = None
        try:
            stored = self.store.read(kind, resource_id)
        except FhirStoreError as error:
            if error.status not in (404, 410):
                raise _from_store(error) from error
            gone = error
        if pending is not None and (stored is None or _version(pending) > _version(stored)):
            return _own(pending)
        if stored is None:
            assert gone is not None
            raise _from_store(gone) from gone
        return stored

    # --- writes ------------------------------------------------------------------------------------

    def _write(self, caller: Caller, request: FhirRequest, base: str) -> _Answer:
        """The writes that belong to the health system: a Patient, by MRN, a referral, and a
        patient's insurance. The platform's own store first (the table); HealthLake has them
        through the outbox."""
        kind, interaction = request.resource_type, request.interaction
        taken = interaction in writes_of(kind, insurance=self.insurance is not None)
        if taken and not request.body_type_known:
            raise FacadeError(415, "not-supported", "A resource is sent as application/fhir+json.")
        if kind == "ServiceRequest" and taken:
            return self._refer(caller, request, base)
        if kind == "Coverage" and taken:
            return self._cover(caller, request, base)
        if kind != "Patient" or not taken:
            raise FacadeError(
                405,
                "not-supported",
                f"The facade does not take a {interaction.code} of {kind}: "
                "see the CapabilityStatement (metadata) for what it serves.",
            )
        body = request.body
        if not isinstance(body, Mapping):
            raise FacadeError(400, "invalid", "The body must be a FHIR resource in JSON.")
        try:
            registered = registered_patient(body, self.mrn_system, self.clock().date())
        except UnprocessableResource as error:
            raise FacadeError(422, "processing", str(error)) from error
        if interaction is Interaction.CREATE:
            self._check_if_none_exist(request.if_none_exist, registered.mrn)
            try:
                profile, created = self.patients.register(
                    caller,
                    registered,
                    self.mrn_system,
                    lambda new: self._claim(request, _created(base, projection_patient(new))),
                )
            except StaleWriteError as error:
                raise FacadeError(
                    409, "conflict", "A registration of this MRN is in progress: retry."
                ) from error
            if created:
                return _created(base, projection_patient(profile))
            return _Answer(_own(projection_patient(profile)), audited=True)
        if body.get("id") != request.resource_id:
            raise FacadeError(400, "invalid", "An update's resource carries the id of the URL.")
        expected = _expected_version(request.if_match)
        updating = f"Patient/{request.resource_id}"  # on file, when a rule refuses the update
        try:
            profile = self.patients.update_registered(
                caller, str(request.resource_id), registered, self.mrn_system, expected
            )
        except NotFoundError as error:
            raise FacadeError(404, "not-found", "No such patient: register them with a create.") from error
        except StaleWriteError as error:
            raise FacadeError(
                412, "conflict", "The patient changed since the version in If-Match.", about=updating
            ) from error
        except MrnChangedError as error:
            raise FacadeError(422, "business-rule", str(error), about=updating) from error
        return _Answer(_own(projection_patient(profile)), audited=True)

    def _subscription(self, access: _Access, request: FhirRequest, base: str) -> _Answer:
        """A health system's subscriptions, from the platform's table: create, read, search (its
        own), delete (turned off: read afterwards, it is gone) and `$status`."""
        assert self.subscriptions is not None
        desk, interaction, caller = self.subscriptions, request.interaction, access.caller
        about = f"Subscription/{request.resource_id}" if request.resource_id else None
        try:
            if interaction is Interaction.CREATE:
                if not request.body_type_known:
                    raise FacadeError(415, "not-supported", "A resource is sent as application/fhir+json.")
                if not isinstance(request.body, Mapping):
                    raise FacadeError(400, "invalid", "The body must be a FHIR resource in JSON.")
                # Told of a topic's changes is told of its records' ids and times: the token must
                # read them too.
                if request.body.get("criteria") in {t.value for t in Topic}:
                    topic = Topic(str(request.body["criteria"]))
                    access.check_type(Interaction.READ, topic.resource_type)

                def created(made: Subscription, secret: str) -> _Answer:
                    resource = subscription_resource(made)
                    # The signing secret, told this once (kept sealed, read back never; a kept
                    # answer for Idempotency-Key holds it sealed by that key).
                    resource["extension"] = [{"url": SIGNING_SECRET_EXTENSION, "valueString": secret}]
                    location = f"{base}/Subscription/{made.subscription_id}"
                    return _Answer(resource, [f"Subscription/{made.subscription_id}"], 201, location)

                made, secret = desk.create(
                    caller,
                    request.body,
                    base,
                    self.subscriber_domains,
                    lambda new, told: self._claim(request, created(new, told)),
                )
                return created(made, secret)
            if interaction is Interaction.SEARCH:
                if any(k not in ("_count",) for k, _ in request.params):
                    raise FacadeError(
                        400, "not-supported", "Subscriptions are searched without parameters: yours, all."
                    )
                found = [
                    subscription_resource(s)
                    for s in desk.search(caller)
                    if s.state is not SubscriptionState.OFF
                ]
                entries = [
                    {"fullUrl": f"{base}/Subscription/{r['id']}", "resource": r, "search": {"mode": "match"}}
                    for r in found
                ]
                bundle = _bundle("searchset", f"{base}/Subscription", entries, None, total=len(entries))
                return _Answer(bundle, [f"Subscription/{r['id']}" for r in found])
            assert request.resource_id is not None and about is not None
            if interaction is Interaction.DELETE:
                desk.turn_off(caller, request.resource_id)
                return _Answer({}, [about], 204)
            if interaction is not Interaction.READ or request.version_id is not None:
                raise FacadeError(
                    405,
                    "not-supported",
                    f"A Subscription takes read, search, create, delete and $status, not {interaction.code}.",
                )
            if request.operation not in (None, "$status"):
                raise FacadeError(
                    404, "not-supported", f"A Subscription has no operation {request.operation}."
                )
            found_one = desk.read(caller, request.resource_id)
            if found_one.state is SubscriptionState.OFF:
                raise FacadeError(410, "deleted", "This subscription was deleted.", about=about)
            if request.operation == "$status":
                return _Answer(desk.status(caller, request.resource_id, base), [about])
            return _Answer(subscription_resource(found_one), [about])
        except SubscriptionRuleError as error:
            raise FacadeError(422, "processing", str(error)) from error
        except NotFoundError as error:
            raise FacadeError(404, "not-found", "No such subscription.") from error

    def _refer(self, caller: Caller, request: FhirRequest, base: str) -> _Answer:
        """A referral: on the front desk's worklist at once, in HealthLake through the outbox."""
        if not isinstance(request.body, Mapping):
            raise FacadeError(400, "invalid", "The body must be a FHIR resource in JSON.")
        if request.if_none_exist is not None:
            raise FacadeError(400, "not-supported", "A referral is not created conditionally.")
        try:
            wanted = referral_request(request.body)
            referral = self.referrals.receive(
                caller, wanted, lambda new: self._claim(request, _created(base, service_request(new)))
            )
        except UnprocessableResource as error:
            raise FacadeError(422, "processing", str(error)) from error
        except UnknownPatientError as error:
            raise FacadeError(422, "processing", f"ServiceRequest.subject: {error}") from error
        return _created(base, service_request(referral))

    def _cover(self, caller: Caller, request: FhirRequest, base: str) -> _Answer:
        """A patient's insurance, onto the insurance desk: recorded, projected, audited and checked
        with the payer next, as the front desk's recording is. The clinic keeps one coverage per
        patient, at `Coverage/coverage-<patient id>`: a create for a patient with coverage on file
        replaces it (201, as a create answers), so a health system need not read before it writes;
        an update is at that id (If-Match optional)."""
        assert self.insurance is not None
        body = request.body
        if not isinstance(body, Mapping):
            raise FacadeError(400, "invalid", "The body must be a FHIR resource in JSON.")
        creating = request.interaction is Interaction.CREATE
        if creating and request.if_none_exist is not None:
            raise FacadeError(
                400,
                "not-supported",
                "A coverage is not created conditionally: a create replaces the patient's.",
            )
        if not creating and body.get("id") != request.resource_id:
            raise FacadeError(400, "invalid", "An update's resource carries the id of the URL.")
        expected = None if creating else _expected_version(request.if_match)
        try:
            patient_id, coverage = received_coverage(body, self.clock().date())
        except UnprocessableResource as error:
            raise FacadeError(422, "processing", str(error)) from error
        resource_id = coverage_id(patient_id)
        if not creating and request.resource_id != resource_id:
            raise FacadeError(
                422,
                "processing",
                "Coverage.beneficiary: a patient's coverage is at Coverage/coverage-<the beneficiary's id>.",
            )
        reference = f"Coverage/{resource_id}"

        def on_file(before: PatientCoverage | None) -> None:
            if creating:
                if before is not None:  # a create that replaces: the scopes must allow an update
                    _Access(caller, self.care).check_type(Interaction.UPDATE, "Coverage")
                return
            if before is None:
                raise FacadeError(404, "not-found", "No coverage is on file for this patient: create it.")
            # The version a client's If-Match names is the Coverage's as the facade answers it
            # (ETag): the desk's record moves on with each eligibility check, the Coverage does not.
            if expected is not None and _version(self._current("Coverage", resource_id)) != expected:
                raise FacadeError(
                    412, "conflict", "The coverage changed since the version in If-Match.", about=reference
                )

        def answer(recorded: PatientCoverage) -> _Answer:
            resource = projection_coverage(recorded)
            return _created(base, resource) if creating else _Answer(_own(resource), audited=True)

        try:
            recorded = self.insurance.record(
                caller,
                coverage,
                patient_id,
                on_file=on_file,
                claim_of=lambda new: self._claim(request, answer(new)),
                interaction=request.interaction,
            )
        except NotFoundError as error:
            raise FacadeError(
                422,
                "processing",
                "Coverage.beneficiary: the beneficiary is no patient of this clinic: register them first.",
            ) from error
        except CoverageRuleError as error:  # the one rule left to the desk: the payer's directory
            raise FacadeError(
                422,
                "processing",
                "Coverage.payor: the payer is not in the clinic's clearinghouse directory.",
            ) from error
        except CoverageUnavailableError as error:
            raise FacadeError(
                503, "transient", "The clearinghouse's payer directory is unavailable; try again shortly."
            ) from error
        except StaleWriteError as error:
            raise FacadeError(
                412 if expected is not None else 409,
                "conflict",
                "The coverage changed meanwhile: read it and try again.",
                about=reference,
            ) from error
        return answer(recorded)

    @staticmethod
    def _claim(request: FhirRequest, answer: _Answer) -> IdempotencyClaim | None:
        """The Idempotency-Key record of a create, holding the answer a retry gets back."""
        return request.idempotency.claim(_finished(answer)) if request.idempotency else None

    def _check_if_none_exist(self, criteria: str | None, mrn: str) -> None:
        """A conditional create's search: by the MRN, the one it registers (`identifier=system|value`)."""
        if criteria is None:
            return
        pairs = urllib.parse.parse_qsl(criteria.lstrip("?"), keep_blank_values=True)
        if pairs != [("identifier", f"{self.mrn_system}|{mrn}")]:
            raise FacadeError(
                400,
                "invalid",
                "If-None-Exist takes the MRN: identifier=<the clinic's MRN system>|<the body's MRN>.",
            )

    def _search(self, access: _Access, request: FhirRequest, base: str) -> _Answer:
        kind = request.resource_type
        if not request.body_type_known:
            raise FacadeError(
                415, "not-supported", "A search by POST sends application/x-www-form-urlencoded."
            )
        if request.cursor is not None:
            cursor = self._resume(access.caller, request)
            params = cursor.searched
            access.check_search(kind, params)
            page = self._store(lambda: self.store.follow(cursor.link, cursor.searched))
            self_link = f"{base}/{kind}?{CURSOR_PARAMETER}={cursor.token}"
        else:
            params = request.params
            _check_search(kind, params)
            access.check_search(kind, params)
            page = self._store(lambda: self.store.search_page(kind, params))
            self_link = f"{base}/{kind}"
        matches = [
            e["resource"]
            for e in page.get("entry", [])
            if "resource" in e and e.get("search", {}).get("mode", "match") == "match"
        ]
        matches = self._with_own_writes(kind, params, matches) if request.cursor is None else matches
        shown = [r for r in matches if access.may_see(r)]
        next_url = self._next(access.caller, kind, page, params, base)
        entries = [
            {"fullUrl": f"{base}/{_reference(r)}", "resource": r, "search": {"mode": "match"}} for r in shown
        ]
        body = _bundle("searchset", self_link, entries, next_url, total=page.get("total"))
        return _Answer(body, [_reference(r) for r in shown])

    def _with_own_writes(
        self, kind: str, params: Pairs, matches: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """The searches a health system makes right after its own writes, answered from the
        table, which has them first: a patient by their MRN, a patient's referrals. Each record
        the table has replaces HealthLake's match where the table's is newer, and joins the
        results where HealthLake has none yet. One read of the table; other searches are
        HealthLake's alone (a read per match would be a round trip per row)."""
        own: list[dict[str, Any]] = []
        patients = _confined_to(kind, params)
        if kind == "ServiceRequest" and len(patients) == 1 and _matches_only_patient(params):
            own = [service_request(r) for r in self.referrals.of_patient(next(iter(patients)))]
        mrns = [v for k, v in params if k == "identifier" and v.startswith(f"{self.mrn_system}|")]
        if kind == "Patient" and len(mrns) == 1 and len(params) == 1 + sum(k == "_count" for k, _ in params):
            profile = self.patients.by_mrn(self.mrn_system, mrns[0].split("|", 1)[1])
            own = [projection_patient(profile)] if profile is not None else []
        newest = {r["id"]: r for r in own}
        found = []
        for match in matches:
            mine = newest.pop(match["id"], None)
            found.append(_own(mine) if mine is not None and _version(mine) > _version(match) else match)
        return found + [_own(r) for r in newest.values()]

    def _next(
        self,
        caller: Caller,
        kind: str,
        page: Mapping[str, Any],
        params: Pairs,
        base: str,
        *,
        resource_id: str | None = None,
    ) -> str | None:
        """The facade's `next` link for the store's: a cursor the caller alone can follow."""
        link = next((li["url"] for li in page.get("link", []) if li.get("relation") == "next"), None)
        if link is None:
            return None
        cursor = SearchCursor(
            token=secrets.token_urlsafe(24),
            owner=caller.subject,
            resource_type=kind,
            link=link,
            searched=params,
            expires_at=self.clock() + CURSOR_LIFETIME,
            resource_id=resource_id,
        )
        self.cursors.save_cursor(cursor)
        here = kind if resource_id is None else f"{kind}/{resource_id}/_history"
        return f"{base}/{here}?{CURSOR_PARAMETER}={cursor.token}"

    @staticmethod
    def _store(call: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        try:
            return call()
        except FhirStoreError as error:
            raise _from_store(error) from error


class _Access:
    """Who is asking, and what they may see: the decisions of domain/fhir_access.py with the facts
    they need looked up (a provider's patients) once, when first needed."""

    def __init__(self, caller: Caller, care: CareTeams) -> None:
        self.caller, self.care = caller, care
        self._user: UserAccess | None = None

    @property
    def machine(self) -> bool:
        return self.caller.actor is Actor.MACHINE

    def check_type(self, interaction: Interaction, resource_type: str) -> None:
        """Before anything is read: a machine client's scopes, a user's role on the type."""
        if self.machine:
            try:
                scopes = granted_scopes(" ".join(sorted(self.caller.scopes)))
            except InvalidScope as error:
                raise FacadeError(403, "forbidden", str(error)) from error
            if not machine_may(scopes, interaction, resource_type):
                raise FacadeError(
                    403,
                    "forbidden",
                    f"The token's scopes do not allow {interaction.code} on {resource_type}.",
                )
            return
        _refuse(role_may(self._roles(), interaction, resource_type))

    def check_record(self, interaction: Interaction, resource: Mapping[str, Any]) -> None:
        if not self.machine:
            _refuse(
                user_may(
                    self.user(resource), interaction, str(resource["resourceType"]), patients_of(resource)
                )
            )

    def check_search(self, resource_type: str, params: Pairs) -> None:
        if self.machine:
            return
        confined = _confined_to(resource_type, params)
        _refuse(user_may(self.user(None, confined), Interaction.SEARCH, resource_type, confined))

    def may_see(self, resource: Mapping[str, Any]) -> bool:
        """A user sees only the matches inside their compartment (a search confined to their
        patients returns nothing else; this holds even where a parameter reaches further)."""
        if self.machine:
            return True
        kind = str(resource.get("resourceType", ""))
        return user_may(self.user(resource), Interaction.SEARCH, kind, patients_of(resource)).allowed

    def user(self, resource: Mapping[str, Any] | None, patients: frozenset[str] = frozenset()) -> UserAccess:
        """The user's access; a provider's patients are looked up only when a compartment type
        is asked for (the directory needs none)."""
        if self._user is not None:
            return self._user
        roles = self._roles()
        own = self.caller.subject if ClinicRole.PATIENT in roles else None
        kind = str(resource.get("resourceType", "")) if resource is not None else None
        needs_care = ClinicRole.PROVIDER in roles and (kind is None or kind in COMPARTMENT_TYPES)
        if not needs_care:
            return UserAccess(roles, own)
        provider_id = self.care.provider_for_user(self.caller.subject)
        in_care = self.care.patients_of_provider(provider_id) if provider_id else frozenset()
        self._user = UserAccess(roles, own, in_care)
        return self._user

    def _roles(self) -> frozenset[ClinicRole]:
        if self.caller.actor is Actor.PATIENT:
            return frozenset({ClinicRole.PATIENT})
        return frozenset(GROUP_ROLES[g] for g in self.caller.groups if g in GROUP_ROLES)


def _about(reference: str, check: Callable[[], None]) -> None:
    """Run `check`; a refusal it raises concerns `reference`, which exists (it was just read)."""
    try:
        check()
    except FacadeError as error:
        error.about = reference
        raise


def _refuse(decision: Decision) -> None:
    if not decision.allowed:
        raise FacadeError(403, "forbidden", decision.reason)


def _confined_to(resource_type: str, params: Pairs) -> frozenset[str]:
    """The patients a search is confined to: its `patient`/`subject` values (or `_id` for Patient),
    every one of them, as a search with several values (`a,b`) or repeats reaches them all."""
    names = ("_id",) if resource_type == "Patient" else _PATIENT_PARAMETERS
    found: set[str] = set()
    for key, value in params:
        if key in names:
            found |= {v.removeprefix("Patient/") for v in value.split(",") if v}
    return frozenset(found)


def _check_search(resource_type: str, params: Pairs) -> None:
    """The search holds to what the facade offers on the type and what HealthLake accepts; a
    refusal names the parameter, never its value."""
    offered = {p.name: p.type for p in support.search_parameters(resource_type)}
    for key, _ in params:
        name = key.split(":", 1)[0].split(".", 1)[0]
        if name == CURSOR_PARAMETER:
            raise FacadeError(400, "invalid", f"{CURSOR_PARAMETER} is for a page's link alone.")
        if name not in offered and name not in support.FACADE_RESULT_PARAMETERS:
            raise FacadeError(
                400,
                "not-supported",
                f"The facade does not offer the search parameter {name} on {resource_type}.",
            )
    problem = support.refusal(resource_type, params, offered)
    if problem is not None:
        raise FacadeError(400, "invalid", f"This search cannot be run: {problem}.")


def _history_problem(params: Pairs) -> str | None:
    """What a resource's history takes: its page size."""
    for name, value in params:
        if name != "_count":
            return f"A resource's history takes _count only, not {name}."
        if not value.isdigit() or not 1 <= int(value) <= support.HEALTHLAKE.max_count:
            return f"_count must be a whole number from 1 to {support.HEALTHLAKE.max_count}."
    return None


def _from_store(error: FhirStoreError) -> FacadeError:
    if error.status == 404:
        return FacadeError(404, "not-found", "No such resource.")
    if error.status == 410:
        return FacadeError(410, "deleted", "The resource was deleted.")
    if 400 <= error.status < 500:
        return FacadeError(400, "invalid", "The clinical record refused this request.")
    return FacadeError(503, "transient", "The clinical record is unavailable; try again shortly.")


def _matches_only_patient(params: Pairs) -> bool:
    """A search by the patient alone (and a page size): its matches are all their resources."""
    return all(k in (*_PATIENT_PARAMETERS, "_count") for k, _ in params)


def _created(base: str, resource: dict[str, Any]) -> _Answer:
    """A create's answer: 201, the resource at its first version, where it lives."""
    location = f"{base}/{_reference(resource)}/_history/{_version(resource)}"
    return _Answer(_own(resource), status=201, location=location, audited=True)


def _finished(answer: _Answer) -> FacadeAnswer:
    """The answer as the client gets it: `Location` for a create, `ETag` for a resource."""
    headers = {"Location": answer.location} if answer.location else {}
    version = _version(answer.body) if answer.body.get("resourceType") != "Bundle" else 0
    if version:
        headers["ETag"] = f'W/"{version}"'
    return FacadeAnswer(answer.body, answer.status, headers)


def _version(resource: Mapping[str, Any]) -> int:
    """The record's version as the platform counts it (the source-version tag every projection
    carries; HealthLake's own versionId for a resource the platform did not project). ETags and
    If-Match speak this version, so a client's If-Match means the same whichever store answered."""
    return source_version(dict(resource)) or _int(resource.get("meta", {}).get("versionId"))


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _own(resource: Mapping[str, Any]) -> dict[str, Any]:
    """A resource answered from the platform's own record, with the versionId FHIR clients read."""
    meta = {**resource.get("meta", {}), "versionId": str(_version(resource))}
    return {**resource, "meta": meta}


def _expected_version(if_match: str | None) -> int | None:
    """`W/"3"` (or `"3"`, or `3`) -> 3; None when there is no If-Match."""
    if if_match is None:
        return None
    text = if_match.strip().removeprefix("W/").strip('"')
    if not text.isdigit():
        raise FacadeError(400, "invalid", 'If-Match names a version: W/"<versionId>".')
    return int(text)


def _reference(resource: Mapping[str, Any]) -> str:
    return f"{resource['resourceType']}/{resource['id']}"


def _history_entry(base: str, reference: str, found: Mapping[str, Any]) -> dict[str, Any]:
    """A version in a history Bundle: the resource (none for a deletion), and the request and
    response R4 requires there, with the store's URLs replaced by the facade's reference."""
    request = found.get("request", {})
    response = found.get("response", {})
    version = str(response.get("etag", "")) or str(
        found.get("resource", {}).get("meta", {}).get("versionId", "")
    )
    entry: dict[str, Any] = {"fullUrl": f"{base}/{reference}"}
    if "resource" in found:
        entry["resource"] = found["resource"]
    entry["request"] = {"method": str(request.get("method", "PUT")), "url": reference}
    entry["response"] = {
        "status": str(response.get("status", "200")),
        **({"etag": version if version.startswith("W/") else f'W/"{version}"'} if version else {}),
        **({"lastModified": response["lastModified"]} if "lastModified" in response else {}),
    }
    return entry


def _bundle(
    kind: str, self_link: str, entries: list[dict[str, Any]], next_link: str | None, *, total: Any = None
) -> dict[str, Any]:
    links = [{"relation": "self", "url": self_link}]
    if next_link is not None:
        links.append({"relation": "next", "url": next_link})
    return {
        "resourceType": "Bundle",
        "type": kind,
        **({"total": total} if isinstance(total, int) and kind == "searchset" else {}),
        "link": links,
        "entry": entries,
    }
