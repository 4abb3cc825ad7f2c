"""Allergies and medicines in the browser: the patient tells them on their phone before a visit
(one coded from the clinic's list, one in words), and the visit's clinician reconciles them in the
visit's note view; the patient then sees them as checked. Each screen passes axe."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page, expect

from local.platform import LocalPlatform
from tests.conftest import user_tokens
from tests.e2e.browser.test_visit import provider_of
from tests.e2e.test_scheduling import RIVERSIDE, book, call
from tests.e2e.test_visits import soon_slot
from tools.browser import Screenshots

PATIENT = "patient.two@riverside.example"


def test_the_patient_tells_allergies_and_medicines_and_the_clinician_reconciles_them(
    platform: LocalPlatform,
    signed_in_page: Callable[..., Page],
    axe_check: Callable[[Page], None],
    screenshot: Screenshots,
) -> None:
    gateway = platform.urls["gateway"]
    patient = user_tokens(platform, RIVERSIDE, PATIENT)["access"]
    # A visit booked for soon: its clinician goes through the lists before the patient is admitted.
    booked = book(gateway, patient, soon_slot(gateway, patient))
    assert booked.status == 201, booked.body
    visit = booked.json()["appointment_id"]

    phone = signed_in_page(PATIENT, "Your visits")
    phone.get_by_role("link", name="Allergies and medicines").click()
    expect(phone.get_by_role("heading", level=1, name="Your allergies and medicines")).to_be_visible()
    phone.get_by_label("Allergic to").fill("penicillins")
    phone.get_by_label("Allergic to").press("Tab")  # the list is searched when the field is left
    phone.get_by_role("radio", name="Penicillins").check()
    phone.get_by_label("What happens (optional)").fill("hives")
    phone.get_by_label("How bad (optional)").select_option("moderate")
    phone.get_by_role("button", name="Add allergy").click()
    expect(phone.get_by_role("status")).to_have_text("Penicillins added to your allergies.")
    phone.get_by_label("Medicine", exact=True).fill("Fish oil capsules")
    phone.get_by_label("How you take it (optional)").fill("one a day")
    phone.get_by_role("button", name="Add medicine").click()
    expect(phone.get_by_role("status")).to_have_text("Fish oil capsules added to your medicines.")
    expect(phone.get_by_text("Penicillins (hives, moderate)")).to_be_visible()
    screenshot(phone, "told")
    axe_check(phone)

    # The clinician goes through them in the visit's note view and saves them as reconciled.
    page = signed_in_page(provider_of(platform, visit, PATIENT), "Visit note", route=f"#/today/note/{visit}")
    expect(
        page.get_by_text("The note opens once you have admitted the patient to the visit.")
    ).to_be_visible()
    lists = page.get_by_role("region", name="Allergies and medications")
    expect(lists.get_by_role("rowheader", name="Penicillins (hives, moderate)")).to_be_visible(timeout=15_000)
    lists.get_by_label("Status of Fish oil capsules").select_option("stopped")
    lists.get_by_label("New medication").fill("lisinopril 10")
    lists.get_by_label("New medication").press("Tab")
    expect(lists.get_by_label("Coded as")).to_be_visible()
    lists.get_by_label("Dose").fill("one a day")
    expect(lists.get_by_label("Coded as")).to_have_value("314076")  # the list's first match, chosen
    lists.get_by_role("button", name="Add medication").click()
    lists.get_by_role("button", name="Save the reconciled lists").click()
    expect(lists.get_by_role("status")).to_have_text("Allergies and medications reconciled.")
    expect(lists.get_by_text("checked").first).to_be_visible()
    screenshot(page, "reconciled")
    axe_check(page)

    after = call(gateway, "GET", "/v1/me/allergies-and-medications", patient).json()
    penicillins = next(a for a in after["allergies"] if a["text"] == "Penicillins")
    assert (penicillins["verified"], penicillins["code"]["system"]) == (
        True,
        "http://va.gov/terminology/medrt",
    )
    statuses = {m["text"]: m["status"] for m in after["medications"]}
    assert statuses["Fish oil capsules"] == "stopped"
    added = [
        name
        for name, status in statuses.items()
        if name.startswith("lisinopril 10 MG") and status == "active"
    ]
    assert added, statuses

    # The patient sees what their clinician checked.
    phone.reload()
    expect(phone.get_by_text("Penicillins (hives, moderate) · Checked by your clinician")).to_be_visible(
        timeout=15_000
    )
    expect(phone.get_by_text("Fish oil capsules")).to_have_count(0)
