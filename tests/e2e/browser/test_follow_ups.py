"""The desk's follow-ups in the browser: a note signed with a follow-up shows on the worklist by the
day it is wanted by, and "Book the follow-up" opens booking with the patient and clinician chosen.
The view passes axe."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

from playwright.sync_api import Page, expect

from local.platform import LocalPlatform
from tests.conftest import user_tokens
from tests.e2e.browser.test_visit import provider_of
from tests.e2e.test_scheduling import RIVERSIDE, book, call
from tests.e2e.test_video_visit import admit_when_waiting
from tests.e2e.test_visits import check_in_when_open, soon_slot

PATIENT = "patient.two@riverside.example"
SOAP = ["Subjective", "Objective", "Assessment", "Plan"]


def test_the_desk_books_a_follow_up_a_signed_note_asks_for(
    platform: LocalPlatform, signed_in_page: Callable[..., Page], axe_check: Callable[[Page], None]
) -> None:
    gateway = platform.urls["gateway"]
    patient = user_tokens(platform, RIVERSIDE, PATIENT)["access"]
    # With a clinician the patient has no other visit with from now on: earlier tests book this
    # patient soon with the same clinicians, and a later visit with the clinician answers the
    # follow-up (the desk is then rightly not asked to book one).
    now = datetime.now(UTC)
    seen_again = frozenset(
        a["provider_id"]
        for a in call(gateway, "GET", "/v1/appointments", patient).json()["appointments"]
        if a["status"] != "cancelled" and datetime.fromisoformat(a["start"]) >= now
    )
    booked = book(gateway, patient, soon_slot(gateway, patient, not_with=seen_again))
    assert booked.status == 201, booked.body
    visit = booked.json()["appointment_id"]
    check_in_when_open(gateway, patient, visit, False)
    provider = user_tokens(platform, RIVERSIDE, provider_of(platform, visit, PATIENT))["access"]
    admit_when_waiting(gateway, provider, visit)
    note = f"/v1/appointments/{visit}/note"
    saved = call(
        gateway,
        "PUT",
        note,
        provider,
        {
            "sections": [
                {"title": t, "text": "Sprained ankle, healing." if t == "Assessment" else ""} for t in SOAP
            ],
            "diagnoses": ["S93.401A"],
            "follow_up": {"within_days": 14, "reason": "to check the ankle"},
            "revision": 0,
        },
    )
    assert saved.status == 200, saved.body
    signed = call(gateway, "POST", f"{note}/sign", provider, {"revision": saved.json()["revision"]})
    assert signed.status == 200, signed.body

    page = signed_in_page("staff@riverside.example", "Referrals", route="#/referrals")
    follow_ups = page.get_by_role("region", name="Follow-ups to book")
    row = follow_ups.get_by_role("row", name=re.compile("Riley Samplecase"))
    expect(row.first).to_contain_text("to check the ankle", timeout=15_000)
    axe_check(page)
    row.first.get_by_role("link", name=re.compile("Book the follow-up")).click()
    expect(page.get_by_role("heading", name="For a follow-up")).to_be_visible()
    expect(page.get_by_text(re.compile("would like to see the patient again by"))).to_be_visible()
    expect(page.get_by_role("radio", name=re.compile("Riley Samplecase"))).to_be_checked()
    axe_check(page)
