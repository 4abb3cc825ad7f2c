"""A whole video visit as its two people live it: the patient on a phone in the portal, the
provider on a laptop in the dashboard, each browser with its own camera clip (red for the patient,
blue for the provider), talking peer to peer through the local signalling relay."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from playwright.sync_api import Page, expect

from local.platform import LocalPlatform
from tests.conftest import eventually, user_tokens
from tests.e2e.test_scheduling import RIVERSIDE, call
from tools.browser import Screenshots, SignallingLine, dominant_colour, remote_video_shows

PATIENT = "patient.two@riverside.example"
CALL_S = 30.0  # how long each side gets to show the other's video
RECONNECTING = "The connection was lost. Reconnecting…"
PATIENT_GONE = "The other person is no longer connected. Waiting for them to come back…"


def provider_of(platform: LocalPlatform, appointment_id: str, patient: str = PATIENT) -> str:
    """The booked provider's e-mail, as the patient's own read of the visit names them."""
    token = user_tokens(platform, RIVERSIDE, patient)["access"]
    reply = call(platform.urls["gateway"], "GET", f"/v1/appointments/{appointment_id}", token)
    assert reply.status == 200, reply
    provider_id: str = reply.json()["provider_id"]
    return f"{provider_id.replace('-', '.', 1)}@{RIVERSIDE}.example"


def appointment_in_address(page: Page) -> str:
    """The visit the portal shows (`#/visits/<id>...`)."""
    fragment = page.url.split("#", 1)[1]
    return fragment.split("/")[2]


def test_a_whole_visit_in_two_browsers(
    at_a_persons_pace: None,
    platform: LocalPlatform,
    web: str,
    signed_in_page: Callable[..., Page],
    axe_check: Callable[[Page], None],
    screenshot: Screenshots,
) -> None:
    patient = signed_in_page(PATIENT, "Your visits")
    screenshot(patient, "signed in")

    # Book the soonest urgent-care time in New York.
    patient.get_by_role("link", name="Book a visit").first.click()
    expect(patient.get_by_role("heading", level=1, name="Book a visit")).to_be_visible()
    patient.get_by_label("Where will you be during the visit?").select_option("NY")
    patient.get_by_label("Kind of care").select_option("urgent-care")
    patient.get_by_role("button", name="Find a time").click()
    first = patient.get_by_role("button", name="Book this time").first
    expect(first).to_be_visible(timeout=15_000)
    screenshot(patient, "times")
    axe_check(patient)
    first.click()
    expect(patient.get_by_role("heading", level=1, name="Your visit")).to_be_visible(timeout=15_000)
    visit = appointment_in_address(patient)
    screenshot(patient, "booked")

    # Check in: where the patient is (at home), a contact, the reason, consent.
    patient.get_by_role("link", name="Check in").click()
    expect(patient.get_by_role("heading", level=1, name="Check in")).to_be_visible()
    patient.get_by_label("Where are you now?").select_option("NY")
    patient.get_by_label("Yes, at home").check()
    patient.get_by_label("Emergency contact").fill("+1 555 0100")
    reason = f"Sore throat, browser visit {visit[-6:]}"
    patient.get_by_label("Reason for your visit (optional)").fill(reason)
    patient.get_by_label("I agree to have this visit by video (telehealth).").check()
    axe_check(patient)
    patient.get_by_role("button", name="Check in").click()
    expect(patient.get_by_role("heading", level=1, name="Waiting room")).to_be_visible(timeout=40_000)
    line = patient.get_by_text("in line")
    expect(line.first).to_be_visible(timeout=15_000)
    screenshot(patient, "waiting")
    axe_check(patient)

    # A reload keeps the patient in line (the managed login's session re-authorizes silently).
    patient.reload()
    expect(patient.get_by_role("heading", level=1, name="Waiting room")).to_be_visible(timeout=20_000)
    expect(patient.get_by_text("in line").first).to_be_visible(timeout=15_000)

    # The provider signs in with MFA, sees the patient in the queue, admits and joins.
    provider = signed_in_page(provider_of(platform, visit), "Today")
    row = provider.get_by_role("row").filter(has_text=reason)
    expect(row).to_be_visible(timeout=20_000)
    screenshot(provider, "queue")
    axe_check(provider)
    row.get_by_role("button", name="Admit").click()
    provider.get_by_role("button", name="Join the call").click()

    # The patient joins from the waiting room; the link is used once.
    links: list[str] = []

    def keep_link(request: Any) -> None:
        if request.method == "POST" and request.url.endswith("/v1/join"):
            links.append(json.loads(request.post_data or "{}")["link"])

    patient.on("request", keep_link)
    # The patient's phone reaches the relay over a line the test can cut (see the lost connection below).
    network = SignallingLine(patient, platform.urls["signalling"])
    join = patient.get_by_role("button", name="Join your visit")
    expect(join).to_be_visible(timeout=20_000)
    join.click()
    expect(patient.get_by_role("heading", level=1, name="Your video visit")).to_be_visible(timeout=20_000)

    # Each side decodes the other's video, and sees the other's clip, not its own.
    eventually(lambda: remote_video_shows(patient, "blue"), timeout_s=CALL_S, interval_s=0.5)
    eventually(lambda: remote_video_shows(provider, "red"), timeout_s=CALL_S, interval_s=0.5)
    assert dominant_colour(patient, "#local-video") == "red"
    screenshot(patient, "in call")
    screenshot(provider, "in call")
    axe_check(patient)
    axe_check(provider)

    # A lost connection reconnects: the phone's network goes for a moment. The patient is told the
    # call is reconnecting while the phone keeps trying, the provider that the patient is gone for
    # now; once the network is back, each side sees the other again, over a connection negotiated
    # afresh.
    network.cut()
    expect(patient.get_by_text(RECONNECTING)).to_be_visible(timeout=5_000)
    expect(provider.get_by_text(PATIENT_GONE)).to_be_visible(timeout=5_000)
    screenshot(patient, "connection lost")
    screenshot(provider, "patient gone")

    def tried_again() -> bool:
        patient.wait_for_timeout(100)  # Playwright routes the page's new connections meanwhile
        return network.refused > 0

    eventually(tried_again, timeout_s=10, interval_s=0)
    expect(patient.get_by_text(RECONNECTING)).to_be_visible()
    network.restore()
    expect(patient.get_by_text("Connected.", exact=True)).to_be_visible(timeout=20_000)
    expect(provider.get_by_text("Connected.", exact=True)).to_be_visible()
    eventually(lambda: remote_video_shows(patient, "blue"), timeout_s=CALL_S, interval_s=0.5)
    eventually(lambda: remote_video_shows(provider, "red"), timeout_s=CALL_S, interval_s=0.5)
    screenshot(patient, "reconnected")
    screenshot(provider, "reconnected")

    # The provider ends the visit; the patient sees the end and what comes next.
    provider.get_by_role("button", name="End visit").first.click()
    provider.get_by_role("button", name="Yes, end the visit").click()
    expect(patient.get_by_role("heading", level=1, name="Your visit has ended")).to_be_visible(timeout=30_000)
    expect(patient.get_by_role("heading", name="What happens next")).to_be_visible()
    screenshot(patient, "ended")
    screenshot(provider, "ended")
    axe_check(patient)

    # The link the patient joined with cannot be used again.
    assert len(links) == 1, links
    patient.goto(f"{web}#/join/{links[0]}")
    expect(patient.get_by_text("already used or has expired")).to_be_visible(timeout=15_000)
    screenshot(patient, "link used")
