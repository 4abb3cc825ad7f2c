"""A read of what a client just wrote finds it, whenever the outbox's relay delivers it: before,
during, or after the facade's read."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import pytest

from telehealth.application.callers import Caller
from telehealth.application.fhir_facade import FhirFacade, FhirRequest
from telehealth.domain.appointments import Actor
from telehealth.domain.fhir_access import Interaction
from telehealth.ports import FhirStoreError

PATIENT = {"resourceType": "Patient", "id": "p1", "meta": {"versionId": "1"}, "name": [{"family": "Wrote"}]}


class _Relay:
    """The outbox and the FHIR store as the relay moves a version between them: it delivers after
    the facade's `delivers_after`-th read (of either), the moment a race would hurt."""

    def __init__(self, delivers_after: int) -> None:
        self.reads, self.delivers_after = 0, delivers_after
        self.pending: dict[str, Any] | None = PATIENT
        self.stored: dict[str, Any] | None = None

    def _read(self) -> None:
        self.reads += 1
        if self.reads == self.delivers_after:
            self.stored, self.pending = self.pending, None

    # The FHIR store.
    def read(self, resource_type: str, resource_id: str) -> dict[str, Any]:
        stored = self.stored
        self._read()
        if stored is None:
            raise FhirStoreError(404, ("not-found",))
        return stored

    # The outbox.
    def latest_pending(self, reference: str) -> dict[str, Any] | None:
        pending = self.pending
        self._read()
        return pending


class _Trail:
    class store:  # noqa: N801 - the trail's store, as AuditTrail names it
        @staticmethod
        def record(entries: Any) -> None: ...

    def agent(self, caller: Caller) -> Any:
        return caller.subject

    def entries(self, *args: Any) -> list[Any]:
        return []

    def failed(self, *args: Any) -> None: ...


@pytest.mark.parametrize("delivers_after", [0, 1, 2], ids=["not yet", "between the reads", "already"])
def test_a_patient_just_written_is_read_back_however_the_relay_is_timed(delivers_after: int) -> None:
    relay = _Relay(delivers_after)
    if delivers_after == 2:
        relay.stored, relay.pending = relay.pending, None
    none = cast(Any, None)
    facade = FhirFacade(
        cast(Any, relay),
        none,
        none,
        cast(Any, _Trail()),
        lambda: datetime(2026, 12, 1, tzinfo=UTC),
        pending=relay,
        patients=none,
        referrals=none,
        mrn_system="urn:mrn",
    )
    ehr = Caller(Actor.MACHINE, "ehr", frozenset({"system/Patient.rs"}), frozenset())
    answer = facade.answer(ehr, FhirRequest(Interaction.READ, "Patient", "p1"), "https://x/fhir/r4")
    assert answer.status == 200 and answer.body["name"] == [{"family": "Wrote"}]
