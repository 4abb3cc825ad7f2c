"""The e2e tests share the root conftest's platform (one start per session)."""

from __future__ import annotations

from typing import Any

import pytest

from local.platform import LocalPlatform
from telehealth.adapters.healthlake import HealthLakeFhirStore


@pytest.fixture
def fhir(platform: LocalPlatform, monkeypatch: pytest.MonkeyPatch) -> HealthLakeFhirStore:
    """The riverside FHIR store, through the production adapter (SigV4 with the emulator's keys)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    return HealthLakeFhirStore(platform.fhir_endpoints["riverside"], region="us-east-1")


def in_record(fhir: HealthLakeFhirStore, resource_type: str, resource_id: str) -> dict[str, Any]:
    """The resource as HealthLake holds it; not there yet (the outbox relays it moments after the
    change) is an AssertionError, so `eventually` asks again."""
    from telehealth.ports import FhirStoreError

    try:
        return fhir.read(resource_type, resource_id)
    except FhirStoreError as error:
        assert error.status not in (404, 410), f"{resource_type}/{resource_id} is not in the record yet"
        raise


@pytest.fixture(scope="session")
def patient_clip(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A patient's camera for the recording: a synthetic clip of a face with a known pulse (78 bpm)
    and breathing (14 a minute). Made once (it takes seconds): the HTTP and the browser tests of the
    estimates both send it."""
    from media_workers.rppg.synthetic import ClipSpec, write_clip

    spec = ClipSpec(
        duration_s=15.0, width=320, height=240, heart_rate_bpm=78.0, respiratory_rate_bpm=14.0, seed=0
    )
    return write_clip(spec, tmp_path_factory.mktemp("clips") / "patient.mp4")
