"""Every screen a person reaches passes axe-core (WCAG 2.0/2.1 A and AA) within its CSP: each
dashboard view for the role that sees it, and the portal's screens not on the whole visit's way
(its visits, a visit, moving a visit). A screenshot of each for a person to look at."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect

from local.platform import LocalPlatform
from tests.conftest import eventually, user_tokens
from tests.e2e.test_scheduling import RIVERSIDE, call, stamp
from tools.browser import Screenshots

PATIENT = "patient.one@riverside.example"

# Who sees which views (the dashboard's navigation, by title), and what a view's page is called.
WORKFORCE = {
    "dr.okafor": ("Today", "Weekly hours"),
    "staff": ("Book for a patient", "Referrals", "Merged records", "A provider's day"),
    "admin": ("Providers", "Services", "Clinic settings"),
}
LANDS_ON = {"dr.okafor": "Today", "staff": "A provider's day", "admin": "A provider's day"}


@pytest.mark.parametrize("who", sorted(WORKFORCE))
def test_each_dashboard_view_is_accessible(
    who: str,
    platform: LocalPlatform,
    signed_in_page: Callable[..., Page],
    axe_check: Callable[[Page], None],
    screenshot: Screenshots,
) -> None:
    if who == "staff":  # a health system's referral waits on the front desk's worklist
        referral = _refer(platform, "patient.two@riverside.example", "Follow-up of palpitations")
    # Each lands on their first view (a provider's day for staff and admins alike), checked signed out too.
    page = signed_in_page(f"{who}@{platform.default_tenant}.example", LANDS_ON[who], signed_out=axe_check)
    for title in WORKFORCE[who]:
        page.get_by_role("navigation").get_by_role("link", name=title).click()
        expect(page.get_by_role("heading", level=1, name=title)).to_be_focused(timeout=15_000)
        page.wait_for_load_state("networkidle")
        screenshot(page, title)
        axe_check(page)
    if who == "admin":
        page.get_by_role("navigation").get_by_role("link", name="Providers").click()
        page.get_by_role("button", name="Open Ngozi Okafor").click()  # from the directory's list
        expect(page.get_by_label("Family name")).to_have_value("Okafor", timeout=15_000)
        screenshot(page, "a provider")
        axe_check(page)
        page.get_by_role("button", name="Save provider").click()  # as it was: a new version, same facts
        expect(page.get_by_role("status").filter(has_text="Provider saved.")).to_be_visible(timeout=15_000)
        # A service and the code it is billed as (the seed's), saved as it was.
        page.get_by_role("navigation").get_by_role("link", name="Services").click()
        page.get_by_role("button", name="Change General visit").click()
        expect(page.get_by_label("Billing code (CPT or HCPCS, optional)")).to_have_value("99213")
        axe_check(page)
        page.get_by_role("button", name="Save service").click()
        expect(page.get_by_role("status").filter(has_text="General visit saved.")).to_be_visible(
            timeout=15_000
        )
        expect(
            page.get_by_role("row", name="General visit").get_by_role("cell", name="99213")
        ).to_be_visible()
    if who == "staff":  # a provider chosen from the directory, not typed
        okafor = "Okafor, Ngozi (family medicine)"
        page.get_by_label("Provider", exact=True).select_option(label=okafor)  # "A provider's day"
        page.get_by_role("button", name="Show the day").click()
        expect(page.get_by_role("heading", level=2, name="Ngozi Okafor")).to_be_visible(timeout=15_000)
        screenshot(page, "a provider's day")
        axe_check(page)
        page.get_by_role("navigation").get_by_role("link", name="Book for a patient").click()
        # The patient found as a front desk finds them: last name (any case) and date of birth.
        page.get_by_label("Patient's last name").fill("SAMPLECASE")
        page.get_by_label("Date of birth").fill("1981-04-14")
        page.get_by_role("button", name="Find patient").click()
        riley = page.get_by_role("radio", name="Riley Samplecase, born April 14, 1981")
        expect(riley).to_be_checked(timeout=15_000)  # the one match, chosen
        page.get_by_label("Patient's state (two letters)").fill("NY")
        page.get_by_label("Provider (optional)").select_option(label=okafor)
        page.get_by_role("button", name="Find slots").click()
        expect(page.get_by_role("heading", level=2, name="Open times on")).to_be_visible(timeout=15_000)
        screenshot(page, "times with a provider")
        axe_check(page)
        # Booked from the referral on the worklist: its patient chosen, tomorrow, with whoever is
        # free in urgent care (open around the clock); the referral then leaves the list.
        page.get_by_role("navigation").get_by_role("link", name="Referrals").click()
        row = page.get_by_role("row").filter(has_text="Follow-up of palpitations")
        expect(row).to_contain_text("Urgent")
        screenshot(page, "the worklist")
        axe_check(page)  # the table, not its loading line
        row.get_by_role("link", name="Book a visit for Riley Samplecase, born April 14, 1981").click()
        expect(page.get_by_role("heading", level=2, name="For a referral")).to_be_visible(timeout=15_000)
        expect(page.get_by_role("radio", name="Riley Samplecase, born April 14, 1981")).to_be_checked()
        page.get_by_label("Day", exact=True).fill((date.today() + timedelta(days=1)).isoformat())
        page.get_by_label("Specialty (optional)").fill("urgent-care")
        page.get_by_label("Provider (optional)").select_option(label="Any provider")
        page.get_by_role("button", name="Find slots").click()
        page.get_by_role("button", name=re.compile(r"^Book ")).first.click()
        booked = page.get_by_role("status").filter(has_text="Booked:")
        expect(booked).to_contain_text("for Riley Samplecase, born April 14, 1981", timeout=15_000)
        expect(booked).to_contain_text("The referral is off the worklist.")
        screenshot(page, "booked for a referral")
        page.get_by_role("navigation").get_by_role("link", name="Referrals").click()
        expect(page.get_by_role("heading", level=1, name="Referrals")).to_be_focused(timeout=15_000)
        expect(page.get_by_text("Follow-up of palpitations")).to_have_count(0, timeout=15_000)
        staff = user_tokens(platform, RIVERSIDE, "staff@riverside.example")["access"]
        after = call(platform.urls["gateway"], "GET", f"/v1/referrals/{referral}", staff).json()
        assert after["status"] == "booked" and after["appointment_id"]


def _refer(platform: LocalPlatform, email: str, reason: str) -> str:
    """A referral as the health system's software sends it, through the FHIR facade."""
    from local.tokens import mint_client_credentials_token
    from tests.e2e.test_fhir_facade import referral_resource
    from tests.e2e.test_scheduling import patient_id

    gateway = platform.urls["gateway"]
    issuer = platform.provisioned[RIVERSIDE].issuers["workforce"]
    token = mint_client_credentials_token(
        issuer=issuer, client_id="ehr-sync", scopes=["system/ServiceRequest.cruds"]
    )
    referral = referral_resource(patient_id(platform, email), reasonCode=[{"text": reason}])
    sent = call(
        gateway,
        "POST",
        "/fhir/r4/ServiceRequest",
        token,
        referral,
        **{"Content-Type": "application/fhir+json"},
    )
    assert sent.status == 201, sent.body
    return str(sent.json()["id"])


def test_the_portals_other_screens_are_accessible(
    platform: LocalPlatform,
    signed_in_page: Callable[..., Page],
    axe_check: Callable[[Page], None],
    screenshot: Screenshots,
) -> None:
    # A visit two days out, booked over the API: the screens to move or cancel it.
    gateway = platform.urls["gateway"]
    token = user_tokens(platform, RIVERSIDE, PATIENT)["access"]
    start = datetime.now(UTC) + timedelta(days=2)
    window = f"from={stamp(start)}&to={stamp(start + timedelta(hours=6))}"
    slots = call(gateway, "GET", f"/v1/slots?state=NY&specialty=urgent-care&{window}", token)
    assert slots.status == 200 and slots.json()["slots"], slots
    booked = call(
        gateway,
        "POST",
        "/v1/appointments",
        token,
        {"slot_id": slots.json()["slots"][0]["slot_id"], "state": "NY"},
    )
    assert booked.status == 201, booked
    visit = booked.json()["appointment_id"]

    page = signed_in_page(PATIENT, "Your visits")
    page.wait_for_load_state("networkidle")
    screenshot(page, "your visits")
    axe_check(page)
    page.locator(f'a[href="#/visits/{visit}"]').click()
    expect(page.get_by_role("heading", level=1, name="Your visit")).to_be_visible(timeout=15_000)
    screenshot(page, "a visit")
    axe_check(page)
    page.get_by_role("link", name="Reschedule").click()
    expect(page.get_by_role("heading", level=1, name="Reschedule your visit")).to_be_visible()
    screenshot(page, "reschedule")
    axe_check(page)

    # Cancelling asks first; the visit is then cancelled for the API too.
    page.go_back()
    page.get_by_role("button", name="Cancel visit").click()
    dialog = page.get_by_role("dialog", name="Cancel this visit?")
    expect(dialog).to_be_visible()
    screenshot(page, "cancel")
    axe_check(page)
    dialog.get_by_role("button", name="Yes, cancel it").click()
    eventually(
        lambda: call(gateway, "GET", f"/v1/appointments/{visit}", token).json()["status"] == "cancelled"
    )
