"""An admin keeps a prescriber's DEA registrations in the dashboard, below the provider's form: the
seeded ones shown, one added for another state with its schedules, saved on the version read; a
number whose check digit is wrong is refused in words. The view passes axe."""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.sync_api import Page, expect

from local.platform import LocalPlatform
from tests.conftest import user_tokens
from tests.e2e.browser.conftest import SIGNED_IN_WAIT_MS
from tests.e2e.test_scheduling import RIVERSIDE, call


def test_an_admin_keeps_a_prescribers_dea_registrations(
    platform: LocalPlatform, signed_in_page: Callable[..., Page], axe_check: Callable[[Page], None]
) -> None:
    gateway = platform.urls["gateway"]
    admin = user_tokens(platform, RIVERSIDE, "admin@riverside.example")["access"]
    dea = "/v1/admin/providers/dr-okafor/dea-registrations"
    before = call(gateway, "GET", dea, admin).json()
    page = signed_in_page("admin@riverside.example", "Providers", route="#/providers")
    page.get_by_role("button", name="Open Ngozi Okafor").click()
    form = page.get_by_role("form", name="DEA registrations")
    expect(form.get_by_role("group", name="Registration 1", exact=True)).to_be_visible(timeout=15_000)
    axe_check(page)
    try:
        form.get_by_role("button", name="Add a registration").click()
        added = form.get_by_role("group", name=f"Registration {len(before['registrations']) + 1}", exact=True)
        added.get_by_label("State").fill("MA")
        added.get_by_label("Number").fill("FO1234564")  # the check digit is 3
        added.get_by_label("Expires").fill("2028-06-30")
        added.get_by_label("Schedule II", exact=True).uncheck()
        form.get_by_role("button", name="Save DEA registrations").click()
        expect(form.get_by_role("alert")).to_contain_text("check digit")
        added.get_by_label("Number").fill("FO1234563")
        form.get_by_role("button", name="Save DEA registrations").click()
        expect(form.get_by_role("status")).to_have_text("DEA registrations saved.")
        saved = call(gateway, "GET", dea, admin).json()
        massachusetts = next(r for r in saved["registrations"] if r["state"] == "MA")
        assert massachusetts == {
            "number": "FO1234563",
            "state": "MA",
            "schedules": ["III", "IV", "V"],
            "expires": "2028-06-30",
        }
    finally:
        current = call(gateway, "GET", dea, admin).json()
        restored = call(gateway, "PUT", dea, admin, {**before, "version": current["version"]})
        assert restored.status == 200, restored.body

    # The clinic's settings show the note's template and the controlled-substance rules with their
    # dates, as an admin changes them (saved with the rest of the form: the payment test saves it).
    settings = signed_in_page("admin@riverside.example", "Clinic settings", route="#/settings")
    expect(settings.get_by_label(re.compile("^Sections of a visit note"))).to_have_value(
        "Subjective\nObjective\nAssessment\nPlan", timeout=SIGNED_IN_WAIT_MS
    )
    expect(settings.get_by_label("DEA's telemedicine flexibilities end after")).to_have_value("2026-12-31")
    axe_check(settings)
