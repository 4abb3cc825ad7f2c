"""The e2e tests share the root conftest's platform (one start per session)."""

from __future__ import annotations

import pytest

from local.platform import LocalPlatform
from telehealth.adapters.healthlake import HealthLakeFhirStore


@pytest.fixture
def fhir(platform: LocalPlatform, monkeypatch: pytest.MonkeyPatch) -> HealthLakeFhirStore:
    """The riverside FHIR store, through the production adapter (SigV4 with the emulator's keys)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    return HealthLakeFhirStore(platform.fhir_endpoints["riverside"], region="us-east-1")
