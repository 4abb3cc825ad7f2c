"""The provider reviews the vital signs the rPPG worker estimated from a visit's recording, in the
dashboard: reads each estimate with its signal quality, confirms one, rejects the other, and finds
them so, with when they did it, after a reload, as the API has them.

The estimates are real: the visit runs over HTTP as the Chime stand-in's simulated clients, the
patient's camera sending a synthetic face with a known pulse, because locally the browsers' video
goes peer to peer and nothing records it (Chime's media servers cannot be stood in for). The
recording's end starts the worker, as in AWS; the provider's browser sees what it wrote."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from playwright.sync_api import Locator, Page, expect

from local.platform import LocalPlatform
from tests.conftest import eventually, user_tokens
from tests.e2e.browser.test_visit import appointment_in_address, provider_of
from tests.e2e.test_scheduling import RIVERSIDE, call
from tests.e2e.test_video_visit import recorded_visit
from tools.browser import Screenshots

PATIENT = "patient.one@riverside.example"
VIEW = "Vital signs from the video"
WORKER_S = 90.0  # as the HTTP test of the worker allows: a process of its own, started by the event


def estimate_row(page: Page, sign: str) -> Locator:
    return page.get_by_role("row").filter(has=page.get_by_role("rowheader", name=sign, exact=True))


def per_minute(row: Locator) -> float:
    """The estimate as the row shows it ("77.1 beats a minute")."""
    shown = row.get_by_role("cell").nth(0).inner_text()
    found = re.match(r"(\d+(?:\.\d+)?) (beats|breaths) a minute$", shown.strip())
    assert found, shown
    return float(found[1])


def test_the_provider_confirms_and_rejects_the_estimates_from_a_visits_recording(
    platform: LocalPlatform,
    signed_in_page: Callable[..., Page],
    axe_check: Callable[[Page], None],
    screenshot: Screenshots,
    patient_clip: Any,
) -> None:
    gateway = platform.urls["gateway"]
    patient = user_tokens(platform, RIVERSIDE, PATIENT)["access"]
    visit, provider_token = recorded_visit(platform, gateway, patient, patient_clip.path.read_bytes())

    # The provider opens the visit's vitals (the schedule's link, or the call's after it ends) while
    # the worker may still be reading the recording: the view says so and offers to look again.
    page = signed_in_page(provider_of(platform, visit, PATIENT), VIEW, route=f"#/today/vitals/{visit}")
    heart, breathing = estimate_row(page, "Heart rate"), estimate_row(page, "Breathing rate")
    check_again = page.get_by_role("button", name="Check again")
    expect(check_again.or_(heart)).to_be_visible(timeout=15_000)
    screenshot(page, "opened")
    axe_check(page)  # most often the words that the estimates are not there yet, and the button

    def shown() -> bool:
        if heart.is_visible():
            return True
        check_again.click()
        page.wait_for_timeout(1000)
        return heart.is_visible()

    eventually(shown, timeout_s=WORKER_S, interval_s=0)
    expect(page.get_by_text("2 estimates wait for your review.")).to_be_visible()
    expect(page.get_by_text("not a diagnostic measurement").first).to_be_visible()

    # Each estimate with its unit, the signal quality it was read with, and not yet reviewed.
    assert abs(per_minute(heart) - patient_clip.heart_rate_bpm) <= 5.0
    assert abs(per_minute(breathing) - patient_clip.respiratory_rate_bpm) <= 3.0
    for row in (heart, breathing):
        quality = row.get_by_role("cell").nth(1).inner_text().strip()
        assert re.fullmatch(r"\d{1,3}%", quality) and int(quality[:-1]) >= 50, quality
        expect(row.get_by_role("cell").nth(2)).to_have_text("Preliminary: not reviewed")
    # Oxygen saturation is never read from the video, and the page says why rather than leave a gap.
    expect(
        page.get_by_role("listitem").filter(has_text="Oxygen saturation: not estimated from video")
    ).to_be_visible()
    screenshot(page, "estimates")
    axe_check(page)

    # The provider confirms the heart rate and rejects the breathing rate.
    page.get_by_role("group", name="Review the heart rate").get_by_role("button", name="Confirm").click()
    said = page.get_by_role("status").filter(has_text="Heart rate confirmed.")
    expect(said).to_contain_text("1 estimate waits for your review.")
    expect(said).to_be_focused()
    page.get_by_role("group", name="Review the breathing rate").get_by_role("button", name="Reject").click()
    expect(page.get_by_role("status").filter(has_text="Breathing rate rejected.")).to_contain_text(
        "You have reviewed every estimate of this visit."
    )
    expect(heart.get_by_role("cell").nth(2)).to_have_text(re.compile(r"^Confirmed by you"))
    expect(breathing.get_by_role("cell").nth(2)).to_have_text(re.compile(r"^Rejected by you"))
    expect(page.get_by_role("button", name="Confirm")).to_have_count(0)
    screenshot(page, "reviewed")
    axe_check(page)

    # The API has them reviewed, and when; a reload (signed in again without a password) shows
    # each review with its time on the provider's clock.
    reply = call(gateway, "GET", f"/v1/appointments/{visit}/vitals", provider_token)
    assert reply.status == 200, reply
    readings = {r["sign"]: r for r in reply.json()["readings"]}
    statuses = {sign: r["status"] for sign, r in readings.items()}
    assert statuses == {"heart-rate": "final", "respiratory-rate": "entered-in-error"}, statuses
    zone = ZoneInfo(call(gateway, "GET", "/v1/me", provider_token).json()["zone"])

    def on_the_providers_clock(sign: str) -> str:
        at = datetime.fromisoformat(readings[sign]["reviewed_at"]).astimezone(zone)
        return at.strftime("%I:%M %p").lstrip("0")

    page.reload()
    expect(page.get_by_role("heading", level=1, name=VIEW)).to_be_visible(timeout=20_000)
    expect(heart.get_by_role("cell").nth(2)).to_have_text(
        f"Confirmed by you at {on_the_providers_clock('heart-rate')}", timeout=15_000
    )
    expect(breathing.get_by_role("cell").nth(2)).to_have_text(
        f"Rejected by you at {on_the_providers_clock('respiratory-rate')}"
    )
    expect(page.get_by_role("button", name="Reject")).to_have_count(0)
    expect(page.get_by_text("You have reviewed every estimate of this visit.")).to_be_visible()
    screenshot(page, "after a reload")

    # The provider writes the visit's note, citing the heart rate they confirmed: saved as they
    # type, coded from the diagnosis search, signed, then added to.
    page.goto(page.url.split("#")[0] + f"#/today/note/{visit}")
    expect(page.get_by_role("heading", level=1, name="Visit note")).to_be_visible(timeout=20_000)
    expect(page.get_by_text("Draft: not yet in the patient's record.")).to_be_visible()
    page.get_by_role("textbox", name="Subjective").fill("Feels well; follow-up of a cold.")
    page.get_by_role("textbox", name="Assessment").fill("Resolving viral upper respiratory infection.")
    saved = page.locator("#save-state")
    expect(saved).to_have_text(re.compile(r"^All changes saved at"), timeout=15_000)
    page.get_by_role("searchbox", name="Search diagnoses").fill("upper resp")
    page.get_by_role("button", name="Search", exact=True).click()
    page.get_by_role("button", name=re.compile(r"^Add J06\.9 ")).click()
    expect(page.get_by_role("list", name="Chosen diagnoses")).to_contain_text("J06.9")
    page.get_by_role("checkbox", name=re.compile(r"^Heart rate \d+ a minute")).check()
    page.get_by_role("textbox", name="Instructions for the patient").fill("Rest and drink fluids.")
    page.get_by_role("spinbutton", name="Follow up within (days)").fill("7")
    page.get_by_role("textbox", name="Follow-up reason").fill("if the cough is not better")
    expect(saved).to_have_text(re.compile(r"^All changes saved at"), timeout=15_000)
    screenshot(page, "note drafted")
    axe_check(page)
    # A reload brings back every word, as the API kept it.
    page.reload()
    expect(page.get_by_role("textbox", name="Assessment")).to_have_value(
        "Resolving viral upper respiratory infection.", timeout=20_000
    )
    expect(page.get_by_role("checkbox", name=re.compile(r"^Heart rate"))).to_be_checked()
    page.get_by_role("button", name="Sign the note").click()
    expect(page.get_by_role("status").filter(has_text="The note is signed")).to_be_focused()
    expect(page.get_by_text(re.compile(r"^Signed \d{4}-\d\d-\d\d \d\d:\d\d UTC\."))).to_be_visible()
    expect(page.get_by_role("textbox", name="Assessment")).to_have_count(0)  # read-only once signed
    page.get_by_role("textbox", name="Addendum").fill("Called the patient: feeling better.")
    page.get_by_role("button", name="Add addendum").click()
    expect(page.get_by_role("heading", name="Addendum 1")).to_be_visible()
    screenshot(page, "note signed")
    axe_check(page)
    note = call(gateway, "GET", f"/v1/appointments/{visit}/note", provider_token).json()
    assert (note["status"], [d["code"] for d in note["diagnoses"]]) == ("signed", ["J06.9"])
    assert note["observation_ids"] == [readings["heart-rate"]["observation_id"]]

    # The patient, on their phone, reads the summary in plain words (not the clinician's note) and
    # books the follow-up with the same clinician, by the day asked for.
    portal = signed_in_page(PATIENT, "Your visit", route=f"#/visits/{visit}")
    summary = portal.get_by_role("region", name="Your visit summary")
    expect(summary).to_be_visible(timeout=20_000)
    expect(summary).to_contain_text("Common cold or other upper airway infection")
    expect(summary).to_contain_text("Rest and drink fluids.")
    expect(summary).not_to_contain_text("Resolving viral")  # the clinician's narrative stays theirs
    expect(summary).not_to_contain_text("J06.9")
    screenshot(portal, "summary")
    axe_check(portal)
    summary.get_by_role("link", name="Book your follow-up").click()
    expect(portal.get_by_role("heading", level=1, name="Book your follow-up")).to_be_visible()
    portal.get_by_label("Where will you be during the visit?").select_option("NY")
    portal.get_by_role("button", name="Find a time").click()
    book = portal.get_by_role("button", name="Book this time").first
    expect(book).to_be_visible(timeout=15_000)
    axe_check(portal)
    clinician = call(gateway, "GET", f"/v1/appointments/{visit}", patient).json()["provider_id"]
    book.click()
    expect(portal.get_by_role("heading", level=1, name="Your visit")).to_be_visible(timeout=15_000)
    follow_up = appointment_in_address(portal)
    booked = call(gateway, "GET", f"/v1/appointments/{follow_up}", patient).json()
    assert booked["provider_id"] == clinician
    # Soon after, so inside the patient's cancellation window: the desk frees the time again.
    desk = user_tokens(platform, RIVERSIDE, "staff@riverside.example")["access"]
    assert call(gateway, "POST", f"/v1/appointments/{follow_up}/cancel", desk).status == 200
