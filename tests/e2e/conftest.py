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
