"""Allergies and medicines in the browser: the patient tells them on their phone before a visit
(one coded from the clinic's list, one in words), and the visit's clinician reconciles them in the
visit's note view; the patient then sees them as checked. Once the patient is admitted, the
clinician writes a prescription there (an allergy's refusal shown first), checks it and sends it to
a pharmacy, renews it at the pharmacy's request, and unlinks and links again their Photon account
(signing in at Photon's page and coming back); the patient's phone shows the prescription and
where it stands. Each screen of the clinic's passes axe."""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.sync_api import Page, expect

from local.platform import LocalPlatform
from tests.conftest import http, user_tokens
from tests.e2e.browser.conftest import write_prescription
from tests.e2e.browser.test_visit import provider_of
from tests.e2e.test_scheduling import RIVERSIDE, book, call
from tests.e2e.test_video_visit import admit_when_waiting
from tests.e2e.test_visits import check_in_when_open, soon_slot
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

    # Admitted, the clinician prescribes from the same view: amoxicillin is refused (the penicillin
    # allergy), sertraline passes its checks and goes to the pharmacy the directory finds.
    check_in_when_open(gateway, patient, visit, False)
    admit_when_waiting(
        gateway, user_tokens(platform, RIVERSIDE, provider_of(platform, visit, PATIENT))["access"], visit
    )
    page.reload()
    rx = page.get_by_role("region", name="Prescriptions")
    expect(rx.get_by_text("No prescriptions in this visit yet.")).to_be_visible(timeout=15_000)
    write_prescription(
        rx,
        search="amoxicillin 500 capsule",
        rxcui="308191",
        dose="1 capsule",
        how_often="three times a day",
        quantity=21,
        days=7,
        directions="Take one capsule three times a day.",
        pharmacy=("NY", "riverside", "phr_riverside00001"),
    )
    rx.get_by_role("button", name="Check the prescription").click()
    expect(rx.get_by_role("alert")).to_contain_text("Allergy on file to Penicillins", timeout=15_000)
    write_prescription(
        rx,
        search="sertraline 50",
        rxcui="312941",
        dose="1 tablet",
        how_often="once a day",
        quantity=30,
        days=30,
        directions="Take one tablet each morning.",
    )
    rx.get_by_role("button", name="Check the prescription").click()
    expect(rx.get_by_text("Every check passed.")).to_be_visible(timeout=15_000)
    rx.get_by_role("button", name="Send to the pharmacy").click()
    expect(rx.get_by_role("status")).to_contain_text("sent to Riverside Community Pharmacy", timeout=15_000)
    row = rx.get_by_role("row", name="sertraline")
    expect(row).to_contain_text("At the pharmacy", timeout=20_000)
    screenshot(page, "prescribed")
    axe_check(page)

    # The pharmacy asks to renew it; the clinician renews it from the same list.
    provider_token = user_tokens(platform, RIVERSIDE, provider_of(platform, visit, PATIENT))["access"]
    listed = call(gateway, "GET", f"/v1/appointments/{visit}/prescriptions", provider_token).json()
    (sent,) = listed["prescriptions"]
    assert platform.photon is not None
    order = platform.photon.order_of(sent["prescription_id"])
    assert order is not None
    assert (
        http("POST", f"{platform.photon.url}/_control/orders/{order['id']}/renewal", body=b"{}").status == 200
    )
    page.reload()
    rx = page.get_by_role("region", name="Prescriptions")
    expect(rx.get_by_text(re.compile("The pharmacy asks to renew sertraline"))).to_be_visible(timeout=15_000)
    rx.get_by_role("button", name=re.compile("^Renew sertraline")).click()
    expect(rx.get_by_role("status")).to_contain_text(
        "renewed, sent to Riverside Community Pharmacy", timeout=15_000
    )
    expect(rx.get_by_text("A renewal")).to_be_visible()
    axe_check(page)

    # The clinician unlinks their Photon account and links it again by signing in at Photon, which
    # sends the browser back to the note, the account linked (the API's tests hold what it changes).
    account = page.get_by_role("region", name="Your Photon account")
    expect(account).to_contain_text("Linked since")
    account.get_by_role("button", name="Unlink your Photon account").click()
    expect(account.get_by_role("status")).to_have_text(re.compile("Your Photon account is unlinked"))
    account.get_by_role("button", name="Link your Photon account").click()
    expect(page.get_by_role("heading", name="Sign in to Photon")).to_be_visible(timeout=15_000)
    assert platform.photon is not None and page.url.startswith(f"{platform.photon.url}/authorize?")
    page.get_by_label("Email").fill("prescriber@riverside.example")
    page.get_by_role("button", name="Sign in and allow").click()
    account = page.get_by_role("region", name="Your Photon account")
    expect(account.get_by_role("status")).to_have_text(
        "Your Photon account is linked: you can send prescriptions.", timeout=20_000
    )
    assert page.url.endswith(f"#/today/note/{visit}") and "code=" not in page.url
    expect(account).to_contain_text("Linked since")
    screenshot(page, "photon-linked")
    axe_check(page)

    # The patient's phone shows it on the visit's screen, in their words.
    phone.goto(phone.url.split("#", 1)[0] + f"#/visits/{visit}")
    mine = phone.get_by_role("region", name="Your prescriptions")
    expect(mine).to_contain_text("Take one tablet each morning.", timeout=15_000)
    expect(mine).to_contain_text("Your pharmacy has it")
    screenshot(phone, "prescription")
    axe_check(phone)
