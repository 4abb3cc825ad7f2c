"""A case of photos (store-and-forward): one to six photos of the kinds a phone takes, each
uploaded before the case is sent; then due by the clinic's turnaround promise."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from telehealth.domain.photo_cases import (
    MAX_PHOTO_BYTES,
    CasePhoto,
    CaseRuleError,
    CaseStatus,
    PhotoCase,
    PhotoStatus,
    add_photo,
    submit,
)

NOW = datetime(2026, 12, 1, 9, tzinfo=UTC)
SHA = "ab" * 32


def case() -> PhotoCase:
    return PhotoCase("C1", "p-1", "urn:q|1", {"body_site": "arm"}, NOW)


def photo(n: int, content_type: str = "image/jpeg", size: int = 1000) -> CasePhoto:
    return CasePhoto(f"P{n}", content_type, size, SHA, NOW)


def test_six_photos_at_most_and_only_a_phones_kinds_within_the_size() -> None:
    c = case()
    for n in range(6):
        c = add_photo(c, photo(n))
    with pytest.raises(CaseRuleError) as seventh:
        add_photo(c, photo(7))
    assert seventh.value.code == "too-many-photos"
    for content_type, size in (
        ("image/gif", 10),
        ("application/pdf", 10),
        ("image/jpeg", MAX_PHOTO_BYTES + 1),
    ):
        with pytest.raises(CaseRuleError) as refused:
            add_photo(case(), photo(1, content_type, size))
        assert refused.value.code == "photo-refused"


def test_a_case_is_sent_once_every_photo_is_uploaded_and_is_due_by_the_promise() -> None:
    c = add_photo(add_photo(case(), photo(1)), photo(2))
    with pytest.raises(CaseRuleError) as early:
        submit(c, {"P1"}, NOW, timedelta(hours=48))
    assert early.value.code == "photos-not-uploaded"
    sent = submit(c, {"P1", "P2"}, NOW, timedelta(hours=48))
    assert sent.status is CaseStatus.SUBMITTED and sent.due_at == NOW + timedelta(hours=48)
    assert {p.status for p in sent.photos} == {PhotoStatus.SCANNING}
    with pytest.raises(CaseRuleError) as again:
        submit(sent, {"P1", "P2"}, NOW, timedelta(hours=48))
    assert again.value.code == "case-submitted"
    with pytest.raises(CaseRuleError) as empty:
        submit(case(), set(), NOW, timedelta(hours=48))
    assert empty.value.code == "no-photos"
