"""The portal without a mouse: a patient who uses only the keyboard signs in, books, checks in and
joins their visit, every control reached with Tab and worked with Enter, Space or typing."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Locator, Page, expect

from local.platform import LocalPlatform
from local.seed import DEMO_PASSWORD
from tests.conftest import user_tokens
from tests.e2e.browser.test_visit import appointment_in_address, provider_of
from tests.e2e.test_scheduling import RIVERSIDE, call
from tests.e2e.test_video_visit import simulate
from tools.browser import Screenshots

PATIENT = "patient.one@riverside.example"
# Whether the element the keyboard's focus is on (inside shadow roots too) is this one.
FOCUSED = """(element) => {
  let active = document.activeElement;
  while (active && active.shadowRoot && active.shadowRoot.activeElement) {
    active = active.shadowRoot.activeElement;
  }
  return active === element;
}"""


def tab_to(page: Page, target: Locator, limit: int = 60) -> None:
    """Presses Tab until the focus is on `target`, as a keyboard user moves through the page."""
    target.wait_for(timeout=20_000)
    for _ in range(limit):
        page.keyboard.press("Tab")
        if target.evaluate(FOCUSED):
            return
    raise AssertionError(f"{limit} presses of Tab never reached {target}")


def press(page: Page, target: Locator, key: str = "Enter") -> None:
    tab_to(page, target)
    page.keyboard.press(key)


def choose(page: Page, select: Locator, label: str) -> None:
    """A closed select picks the option whose label is typed while it has the focus."""
    tab_to(page, select)
    page.keyboard.type(label)


def type_into(page: Page, field: Locator, text: str) -> None:
    tab_to(page, field)
    page.keyboard.type(text)


def test_a_keyboard_only_patient_books_checks_in_and_joins(
    at_a_persons_pace: None,
    platform: LocalPlatform,
    web: str,
    open_page: Callable[..., Page],
    screenshot: Screenshots,
) -> None:
    page = open_page("patient", "red")
    page.goto(web)
    press(page, page.get_by_role("button", name="Sign in").first)
    type_into(page, page.get_by_label("Email address"), PATIENT)
    type_into(page, page.get_by_label("Password", exact=True), DEMO_PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1, name="Your visits")).to_be_visible(timeout=20_000)

    press(page, page.get_by_role("link", name="Book a visit").first)
    expect(page.get_by_role("heading", level=1, name="Book a visit")).to_be_focused()
    choose(page, page.get_by_label("Where will you be during the visit?"), "New York")
    choose(page, page.get_by_label("Kind of care"), "Urgent care")
    press(page, page.get_by_role("button", name="Find a time"))
    press(page, page.get_by_role("button", name="Book this time").first)
    expect(page.get_by_role("heading", level=1, name="Your visit")).to_be_visible(timeout=15_000)
    visit = appointment_in_address(page)
    screenshot(page, "booked by keyboard")

    press(page, page.get_by_role("link", name="Check in"))
    expect(page.get_by_role("heading", level=1, name="Check in")).to_be_visible()
    choose(page, page.get_by_label("Where are you now?"), "New York")
    press(page, page.get_by_label("Yes, at home"), "Space")
    type_into(page, page.get_by_label("Emergency contact"), "+1 555 0111")
    press(page, page.get_by_label("I agree to have this visit by video (telehealth)."), "Space")
    press(page, page.get_by_role("button", name="Check in"))
    expect(page.get_by_role("heading", level=1, name="Waiting room")).to_be_visible(timeout=40_000)
    screenshot(page, "waiting by keyboard")

    # The provider admits the patient and is in the call (their side is the two-browser test's).
    gateway = platform.urls["gateway"]
    provider = user_tokens(platform, RIVERSIDE, provider_of(platform, visit, PATIENT))["access"]
    admitted = call(gateway, "POST", f"/v1/appointments/{visit}/admit", provider, {})
    assert admitted.status == 200, admitted
    joined = call(gateway, "POST", "/v1/join", provider, {"link": admitted.json()["link"]["link"]})
    assert joined.status == 200, joined
    simulate(platform, "join", joined.json()["Attendee"]["JoinToken"])
    press(page, page.get_by_role("button", name="Join your visit"))
    expect(page.get_by_role("heading", level=1, name="Your video visit")).to_be_visible(timeout=20_000)
    screenshot(page, "joined by keyboard")
    press(page, page.get_by_role("button", name="Leave"))
    ended = call(platform.urls["gateway"], "POST", f"/v1/appointments/{visit}/end", provider, {})
    assert ended.status == 200, ended
