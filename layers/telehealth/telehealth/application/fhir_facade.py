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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from telehealth.application.audit import AuditTrail
from telehealth.application.callers import Caller
from telehealth.domain.appointments import Actor
from telehealth.domain.fhir_access import (
    COMPARTMENT_TYPES,
    FACADE_RESOURCE_TYPES,
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
from telehealth.fhir import healthlake_support as support
from telehealth.fhir.audit import Outcome
from telehealth.ports import FhirStoreError, SearchCursor

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

    def __init__(self, status: int, code: str, diagnostics: str) -> None:
        super().__init__(diagnostics)
        self.status, self.code, self.diagnostics = status, code, diagnostics


class FhirReader(Protocol):
    """The FHIR store as the facade reads it (adapters/healthlake.py)."""

    def read(self, resource_type: str, resource_id: str) -> dict[str, Any]: ...

    def vread(self, resource_type: str, resource_id: str, version_id: str) -> dict[str, Any]: ...

    def history(self, resource_type: str, resource_id: str) -> dict[str, Any]: ...

    def search_page(self, resource_type: str, params: Pairs) -> dict[str, Any]: ...

    def follow(self, link: str, searched: Pairs) -> dict[str, Any]: ...


class CareTeams(Protocol):
    """The clinic's own table, for what HealthLake cannot say: the patients a provider has or had
    an appointment with (adapters/scheduling_store.py)."""

    def provider_for_user(self, user_sub: str) -> str | None: ...

    def patients_of_provider(self, provider_id: str) -> frozenset[str]: ...


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
    cursor: str | None = None  # a later page of a search


@dataclass
class _Answer:
    body: dict[str, Any]
    entities: list[str] = field(default_factory=list)


class FhirFacade:
    def __init__(
        self,
        store: FhirReader,
        care: CareTeams,
        cursors: SearchCursors,
        trail: AuditTrail,
        clock: Callable[[], datetime],
    ) -> None:
        self.store, self.care, self.cursors, self.trail, self.clock = store, care, cursors, trail, clock

    def answer(self, caller: Caller, request: FhirRequest, base_url: str) -> dict[str, Any]:
        """The resource or Bundle for `request`; `base_url` is the facade's (`.../fhir/r4`).
        Audited once, success or not."""
        target = [f"{request.resource_type}/{request.resource_id}"] if request.resource_id else []
        try:
            answer = self._answer(caller, request, base_url.rstrip("/"))
        except FacadeError as error:
            self._audit(caller, request.interaction, target if error.status != 404 else [], error)
            raise
        except Exception as error:
            self._audit(caller, request.interaction, [], error)
            raise
        self._audit(caller, request.interaction, answer.entities, None)
        return answer.body

    # --- the interactions ----------------------------------------------------------------------

    def _answer(self, caller: Caller, request: FhirRequest, base: str) -> _Answer:
        kind = request.resource_type
        if kind not in FACADE_RESOURCE_TYPES:
            raise FacadeError(404, "not-supported", f"The facade serves no resource type {kind}.")
        if not all(_ID.fullmatch(i) for i in (request.resource_id, request.version_id) if i is not None):
            raise FacadeError(400, "invalid", "A FHIR id is 1 to 64 letters, digits, '-' and '.'.")
        access = _Access(caller, self.care)
        access.check_type(request.interaction, kind)
        if request.interaction.writes:
            raise FacadeError(
                405,
                "not-supported",
                f"The facade does not take a {request.interaction.code} of {kind}: "
                "see the CapabilityStatement (metadata) for what it serves.",
            )
        if request.interaction is Interaction.SEARCH:
            return self._search(access, request, base)
        assert request.resource_id is not None
        current = self._store(lambda: self.store.read(kind, str(request.resource_id)))
        access.check_record(request.interaction, current)
        if request.interaction is Interaction.READ:
            return _Answer(current, [_reference(current)])
        if request.interaction is Interaction.VREAD:
            version = self._store(
                lambda: self.store.vread(kind, str(request.resource_id), str(request.version_id))
            )
            access.check_record(request.interaction, version)  # an older version may name others
            return _Answer(version, [_reference(current)])
        history = self._store(lambda: self.store.history(kind, str(request.resource_id)))
        entries = []
        for found in history.get("entry", []):
            resource = found.get("resource")
            if resource is not None:
                access.check_record(request.interaction, resource)  # as a vread of each version
            entries.append(_history_entry(base, _reference(current), found))
        body = _bundle("history", f"{base}/{kind}/{request.resource_id}/_history", entries, None)
        return _Answer(body, [_reference(current)])

    def _search(self, access: _Access, request: FhirRequest, base: str) -> _Answer:
        kind = request.resource_type
        if request.cursor is not None:
            cursor = self.cursors.cursor(request.cursor)
            if cursor is None or cursor.owner != access.caller.subject or cursor.resource_type != kind:
                raise FacadeError(404, "not-found", "No such page: follow the links of a search's Bundle.")
            if cursor.expires_at <= self.clock():
                raise FacadeError(410, "expired", "This search's pages have expired: search again.")
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
        shown = [r for r in matches if access.may_see(r)]
        next_url = self._next(access.caller, kind, page, params, base)
        entries = [
            {"fullUrl": f"{base}/{_reference(r)}", "resource": r, "search": {"mode": "match"}} for r in shown
        ]
        body = _bundle("searchset", self_link, entries, next_url, total=page.get("total"))
        return _Answer(body, [_reference(r) for r in shown])

    def _next(
        self, caller: Caller, kind: str, page: Mapping[str, Any], params: Pairs, base: str
    ) -> str | None:
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
        )
        self.cursors.save_cursor(cursor)
        return f"{base}/{kind}?{CURSOR_PARAMETER}={cursor.token}"

    @staticmethod
    def _store(call: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        try:
            return call()
        except FhirStoreError as error:
            raise _from_store(error) from error

    # --- the audit trail -------------------------------------------------------------------------

    def _audit(
        self, caller: Caller, interaction: Interaction, entities: Sequence[str], error: Exception | None
    ) -> None:
        now = self.clock()
        if error is None:
            entries = self.trail.entries(self.trail.agent(caller), interaction, entities, now)
        else:
            minor = isinstance(error, FacadeError) and error.status < 500
            entries = [
                self.trail.entry(
                    self.trail.agent(caller),
                    interaction,
                    entities,
                    now,
                    outcome=Outcome.MINOR_FAILURE if minor else Outcome.SERIOUS_FAILURE,
                    failure=error.code if isinstance(error, FacadeError) else type(error).__name__,
                )
            ]
        self.trail.store.record(entries)


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


def _from_store(error: FhirStoreError) -> FacadeError:
    if error.status == 404:
        return FacadeError(404, "not-found", "No such resource.")
    if error.status == 410:
        return FacadeError(410, "deleted", "The resource was deleted.")
    if 400 <= error.status < 500:
        return FacadeError(400, "invalid", "The clinical record refused this request.")
    return FacadeError(503, "transient", "The clinical record is unavailable; try again shortly.")


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
