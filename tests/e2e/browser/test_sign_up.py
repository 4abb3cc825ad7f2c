"""A new patient, on a phone: creates an account through the managed login, confirms it with the
mailed code, gives their details (the portal asks before the first booking) and books."""

from __future__ import annotations

import json
import re
import secrets
import urllib.parse
import urllib.request
from collections.abc import Callable

from playwright.sync_api import Page, expect

from local.platform import LocalPlatform
from local.seed import DEMO_PASSWORD
from tools.browser import Screenshots


def _mailed_code(web: str, to: str) -> str:
    with urllib.request.urlopen(f"{web}_sim/mail?{urllib.parse.urlencode({'to': to})}") as reply:  # noqa: S310
        mail = json.loads(reply.read())
    found = re.search(r"\d{6}", mail[-1]["body"])
    assert found, mail
    return found.group(0)


def test_a_new_patient_signs_up_gives_their_details_and_books(
    platform: LocalPlatform,
    web: str,
    open_page: Callable[..., Page],
    axe_check: Callable[[Page], None],
    screenshot: Screenshots,
) -> None:
    email = f"patient.new.{secrets.token_hex(4)}@riverside.example"
    page = open_page("patient")
    page.goto(web)
    page.get_by_role("button", name="Sign in").first.click()
    page.get_by_role("link", name="Create an account").click()
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password", exact=True).fill(DEMO_PASSWORD)
    screenshot(page, "create an account")
    page.get_by_role("button", name="Sign up").click()
    page.get_by_label("Code").fill(_mailed_code(web, email))
    page.get_by_role("button", name="Confirm account").click()

    # Back in the portal, signed in: a newcomer is asked who they are before anything else.
    heading = page.get_by_role("heading", level=1, name="Your details")
    expect(heading).to_be_visible(timeout=20_000)
    expect(page.get_by_role("status").filter(has_text="Before you book a visit")).to_be_visible()
    expect(page.get_by_text(f"Reminders go to {email}")).to_be_visible()
    axe_check(page)
    screenshot(page, "your details")

    page.get_by_label("First name").fill("Robin")
    page.get_by_label("Last name").fill("Synthetic")
    page.get_by_label("Date of birth").fill("1850-01-01")  # the browser takes it; the clinic does not
    page.get_by_label("State you live in").select_option(label="New Jersey")
    page.get_by_label("Your time zone").select_option("America/New_York")
    page.get_by_label("Mobile phone (optional)").fill("+1 555 010 0042")
    page.get_by_role("button", name="Save your details").click()
    expect(page.get_by_role("alert")).to_have_text("Date of birth: A date of birth is at most 130 years ago.")
    expect(page.get_by_label("Date of birth")).to_have_attribute("aria-invalid", "true")
    screenshot(page, "a date of birth too long ago")

    page.get_by_label("Date of birth").fill("1991-04-02")
    page.get_by_role("button", name="Save your details").click()
    expect(page.get_by_role("heading", level=1, name="Book a visit")).to_be_visible(timeout=15_000)
    expect(page.get_by_role("status").filter(has_text="Your details are saved.")).to_be_visible()

    page.get_by_label("Where will you be during the visit?").select_option(label="New York")
    page.get_by_label("Kind of care").select_option(label="Urgent care")
    page.get_by_role("button", name="Find a time").click()
    page.get_by_role("button", name="Book this time").first.click()
    expect(page.get_by_role("heading", level=1, name="Your visit")).to_be_visible(timeout=15_000)
    expect(page.get_by_role("status").filter(has_text="Your visit is booked")).to_be_visible()
    screenshot(page, "booked")

    # Their details stay theirs to change: the page opens filled in.
    page.get_by_role("link", name="Your details").click()
    expect(page.get_by_label("Last name")).to_have_value("Synthetic", timeout=15_000)
    expect(page.get_by_label("State you live in")).to_have_value("NJ")
