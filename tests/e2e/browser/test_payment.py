"""Paying for a visit in the browser: the patient sees what a visit costs before booking one, enters
a card in Stripe's Card Element (localstripe's stand-in of Stripe.js, loaded from its own origin
as Stripe.js is from js.stripe.com), is told when the card is refused and fixes it; the front desk
sees the visit's payment on the provider's day and refunds part of it; the administrator sets the
clinic's fees. Each screen passes axe, the patient's on a phone."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from playwright.sync_api import Page, expect

from local.platform import LocalPlatform
from local.seed import SEED_PROVIDERS
from tests.conftest import CLINIC_SETTINGS_TTL_S, eventually, user_tokens
from tests.e2e.browser.conftest import SIGNED_IN_WAIT_MS
from tests.e2e.browser.test_visit import appointment_in_address
from tests.e2e.test_billing import _price_of, _visit_event
from tests.e2e.test_coverage import self_pay_again
from tests.e2e.test_scheduling import RIVERSIDE, call
from tools.browser import Screenshots

PATIENT = "patient.one@riverside.example"
# Stripe's test cards: one whose charges are declined (it saves, its hold is refused), one that pays.
DECLINED_AT_CHARGE, VISA = "4000000000000341", "4242424242424242"


def _enter_card(page: Page, number: str) -> None:
    """Into the Card Element's fields (localstripe's are plain inputs; Stripe's sit in its iframe)."""
    page.get_by_role("button", name="Add a card").click()
    field = page.get_by_placeholder("number")
    expect(field).to_be_focused(timeout=15_000)  # the form opens on the card's first field
    field.fill(number)
    page.get_by_placeholder("exp_month").fill("12")
    page.get_by_placeholder("exp_year").fill("30")
    page.get_by_placeholder("cvc").fill("123")
    page.get_by_placeholder("postal_code").fill("10001")


def test_a_patient_sees_the_price_pays_with_a_card_fixes_a_refused_one_and_the_desk_refunds_part(
    platform: LocalPlatform,
    web: str,
    signed_in_page: Callable[..., Page],
    axe_check: Callable[[Page], None],
    screenshot: Screenshots,
) -> None:
    gateway = platform.urls["gateway"]
    price = _price_of(platform, gateway, "general")
    dollars = f"${price / 100:,.2f}"

    page = signed_in_page(PATIENT, "Your visits")
    page.get_by_role("link", name="Book a visit").first.click()
    page.get_by_label("Where will you be during the visit?").select_option("NY")
    page.get_by_role("button", name="Find a time").click()
    # The price, before anything is booked.
    expect(page.locator("#price")).to_have_text(
        re.compile(rf"^A visit costs {re.escape(dollars)}, which you pay")
    )
    # And the Good Faith Estimate itself, before anything is booked.
    page.get_by_text("Your Good Faith Estimate").click()
    ahead = page.locator("#estimate")
    expect(ahead.get_by_role("row", name=re.compile("Total estimate"))).to_contain_text(dollars)
    expect(ahead).to_contain_text("not a contract")
    axe_check(page)
    screenshot(page, "the price before booking")
    page.get_by_role("button", name="Book this time").first.click()
    expect(page.get_by_role("heading", level=1, name="Your visit")).to_be_visible(timeout=15_000)
    visit = appointment_in_address(page)
    payment = page.get_by_role("region", name="Payment")
    expect(payment).to_contain_text(f"This visit costs {dollars}.")
    # Paying for it themselves, the patient has the clinic's Good Faith Estimate in writing.
    estimate = page.get_by_role("region", name="Good Faith Estimate")
    expect(estimate.get_by_role("row", name=re.compile("Total estimate"))).to_contain_text(
        dollars, timeout=20_000
    )
    expect(estimate).to_contain_text("NPI 1234567893")
    expect(estimate.get_by_role("button", name="Print or save this estimate")).to_be_visible()
    axe_check(page)
    screenshot(page, "the good faith estimate")

    # A card that saves but whose bank refuses the hold: the patient is told, and asked for another.
    _enter_card(page, DECLINED_AT_CHARGE)
    axe_check(page)
    screenshot(page, "the card form")
    page.get_by_role("button", name="Save card").click()
    expect(payment).to_contain_text("Your card was not accepted: your bank declined it.", timeout=20_000)
    expect(page.get_by_role("status").filter(has_text="not accepted for this visit")).to_be_visible()
    screenshot(page, "a refused card")
    _enter_card(page, VISA)
    page.get_by_role("button", name="Save card").click()
    expect(payment).to_contain_text(f"{dollars} is held on your card.", timeout=20_000)
    expect(page.get_by_role("button", name="Add a card")).to_have_count(0)
    axe_check(page)
    screenshot(page, "held")

    # The visit is done (as the lifecycle announces it); the front desk opens its payment on the
    # provider's day, sees it taken, and refunds $10 of it.
    patient_token = user_tokens(platform, RIVERSIDE, PATIENT)["access"]
    booked = call(gateway, "GET", f"/v1/appointments/{visit}", patient_token).json()
    _visit_event(platform, "Visit.Completed", visit)
    zone = ZoneInfo(
        next(p.zone for p in SEED_PROVIDERS if p.local_part == booked["provider_id"].replace("-", ".", 1))
    )
    start = datetime.fromisoformat(booked["start"]).astimezone(zone)
    desk = signed_in_page("staff@riverside.example", "A provider's day")
    desk.get_by_label("Provider").select_option(booked["provider_id"])
    desk.get_by_label("Day").fill(start.date().isoformat())
    desk.get_by_role("button", name="Show the day").click()
    at = rf"{start.hour % 12 or 12}:{start.minute:02d}\W+{'AM' if start.hour < 12 else 'PM'}"
    # A cancelled visit may have had the same time: the booked one's.
    desk.get_by_role("button", name=re.compile(rf"^Payment for the visit at {at} \(Booked\)$")).click()
    panel = desk.locator("staff-visit-payment")
    expect(panel.locator("dd").nth(3)).to_have_text(dollars, timeout=30_000)  # taken as it completed
    axe_check(desk)
    desk.get_by_label(re.compile(r"^Refund, in USD")).fill("10")
    desk.get_by_role("button", name="Refund", exact=True).click()
    expect(desk.get_by_role("status").filter(has_text="Refunded $10.00.")).to_be_visible(timeout=20_000)
    # What the completed visit was billed as: the telehealth modifier, and (the patient never said
    # they were at home: no check-in here) place of service 02; the refund is not owed again.
    expect(panel).to_contain_text("modifier 95, place of service 02")
    expect(panel).to_contain_text("Paid (")
    screenshot(desk, "refunded")

    page.reload()
    expect(payment).to_contain_text(f"You paid {dollars} for this visit.", timeout=20_000)
    expect(payment).to_contain_text("$10.00 was refunded to your card.")


def test_the_administrator_sets_the_clinics_fees_in_the_settings_form(
    platform: LocalPlatform, signed_in_page: Callable[..., Page], axe_check: Callable[[Page], None]
) -> None:
    admin = user_tokens(platform, RIVERSIDE, "admin@riverside.example")["access"]
    settings = call(platform.urls["gateway"], "GET", "/v1/admin/settings", admin).json()
    page = signed_in_page("admin@riverside.example", "Clinic settings", route="#/settings")
    fees = page.get_by_role("group", name="Payments")
    expect(fees.get_by_label(re.compile("^No-show fee"))).to_have_value(
        f"{settings['no_show_fee_minor'] / 100:.2f}", timeout=SIGNED_IN_WAIT_MS
    )
    expect(fees.get_by_label(re.compile("^Late cancellation fee"))).to_have_value(
        f"{settings['late_cancellation_fee_minor'] / 100:.2f}"
    )
    expect(fees.get_by_label(re.compile("^Currency"))).to_have_value(settings["currency"])
    expect(fees.get_by_label(re.compile("goes ahead when"))).to_be_checked(checked=settings["proceed_unpaid"])
    axe_check(page)
    # A new no-show fee, saved from the form; the other tests' fee is put back after.
    try:
        fees.get_by_label(re.compile("^No-show fee")).fill(f"{settings['no_show_fee_minor'] / 100 + 1:.2f}")
        page.get_by_role("button", name="Save settings").click()
        expect(page.get_by_role("status").filter(has_text="Settings saved.")).to_be_visible(timeout=10_000)
        after = call(platform.urls["gateway"], "GET", "/v1/admin/settings", admin).json()
        assert after["no_show_fee_minor"] == settings["no_show_fee_minor"] + 100
        unchanged = ("currency", "late_cancellation_fee_minor", "proceed_unpaid", "visit_timings")
        assert {k: after[k] for k in unchanged} == {k: settings[k] for k in unchanged}
    finally:
        now = call(platform.urls["gateway"], "GET", "/v1/admin/settings", admin).json()
        body = {"no_show_fee_minor": settings["no_show_fee_minor"], "version": now["version"]}
        assert call(platform.urls["gateway"], "PUT", "/v1/admin/settings", admin, body).status == 200
        time.sleep(CLINIC_SETTINGS_TTL_S + 0.5)  # every function reads the fee put back


def test_a_patient_adds_their_insurance_and_sees_what_a_visit_costs_them(
    platform: LocalPlatform,
    signed_in_page: Callable[..., Page],
    axe_check: Callable[[Page], None],
    screenshot: Screenshots,
) -> None:
    gateway = platform.urls["gateway"]
    patient = "patient.two@riverside.example"  # not the self-pay patient above
    page = signed_in_page(patient, "Your details", route="#/details")
    insurance = page.get_by_role("region", name="Your insurance (optional)")
    insurance.get_by_label("Insurer").select_option(label="Riverside Health Plan")
    insurance.get_by_label("Member ID").fill("ACT1001")
    axe_check(page)
    insurance.get_by_role("button", name="Save your insurance").click()
    said = insurance.get_by_role("status")
    expect(said).to_contain_text("We are asking your insurer", timeout=10_000)
    # The insurer's answer arrives in the background, and is said.
    expect(said).to_contain_text("Your co-payment for a visit: $25.00.", timeout=45_000)
    axe_check(page)
    screenshot(page, "insured")

    page.get_by_role("link", name="Book a visit").first.click()
    page.get_by_label("Where will you be during the visit?").select_option("NY")
    page.get_by_role("button", name="Find a time").click()
    expect(page.locator("#price")).to_have_text(
        re.compile(r"^With your insurance, a visit costs you \$25\.00\.")
    )
    screenshot(page, "the insured price")

    self_pay_again(gateway, user_tokens(platform, RIVERSIDE, patient)["access"])


def test_the_front_desk_records_a_patients_insurance_while_booking_for_them(
    platform: LocalPlatform,
    signed_in_page: Callable[..., Page],
    axe_check: Callable[[Page], None],
    screenshot: Screenshots,
) -> None:
    gateway = platform.urls["gateway"]
    token = user_tokens(platform, RIVERSIDE, "patient.two@riverside.example")["access"]
    details = call(gateway, "GET", "/v1/me/details", token).json()
    desk = signed_in_page("staff@riverside.example", "Book for a patient", route="#/book")
    desk.get_by_label("Patient's last name").fill(details["family_name"])
    desk.get_by_label("Date of birth").fill(details["birth_date"])
    desk.get_by_role("button", name="Find patient").click()
    insurance = desk.get_by_role("region", name="The patient's insurance")
    expect(insurance).to_be_visible(timeout=15_000)
    insurance.get_by_label("Insurer").select_option(label="Lakeside Mutual")
    insurance.get_by_label(re.compile("^Member ID")).fill("ACT3003")
    axe_check(desk)
    insurance.get_by_role("button", name="Save the insurance").click()
    expect(insurance.get_by_role("status")).to_contain_text("The insurer is being asked", timeout=10_000)
    screenshot(desk, "insurance recorded by the desk")
    path = f"/v1/patients/{details['patient_id']}/coverage"
    staff = user_tokens(platform, RIVERSIDE, "staff@riverside.example")["access"]

    def answered() -> bool:
        found = call(gateway, "GET", path, staff).json()
        return (
            found["member_id"] == "ACT3003"
            and found["check"] is not None
            and found["check"]["status"] == "active"
        )

    assert eventually(answered, timeout_s=30)
    self_pay_again(gateway, token)
