"""Swagger UI at /docs in a real browser: Authorize opens the managed login, the patient signs in,
the redirect page hands the code back, and "Try it out" calls the API with the token; no CSP
violation on the way (the fixtures fail the test on one)."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from local.platform import LocalPlatform
from local.seed import DEMO_PASSWORD

PATIENT = "patient.two@riverside.example"
WAIT_MS = 15_000


def test_authorize_signs_in_through_the_managed_login_and_try_it_out_lists_the_patients_visits(
    platform: LocalPlatform, open_page: Callable[..., Page]
) -> None:
    """No screenshot of each step: Swagger UI's long page takes seconds to photograph, and the
    fixture photographs every page of a test that fails."""
    page = open_page("workforce")  # a laptop's window: Swagger UI is for developers
    page.goto(f"{platform.urls['gateway']}/docs")
    page.get_by_role("button", name="Authorize").first.click()
    patients = page.locator(".auth-container").filter(has_text="patients (OAuth2")
    client_ids = patients.locator("input[id^=client_id]")
    assert client_ids.input_value() == platform.provisioned["riverside"].portal_clients["patients"]

    with page.expect_popup() as opened:
        patients.locator("button.authorize").click()
    login = opened.value
    login.get_by_label("Email address").fill(PATIENT)
    login.get_by_label("Password", exact=True).fill(DEMO_PASSWORD)
    login.get_by_role("button", name="Sign in").click()
    try:
        login.wait_for_event("close", timeout=WAIT_MS)  # the redirect page handed the code back
    except PlaywrightTimeout:
        # Where the popup stopped, and what it said: the managed login's alert, or the redirect
        # page's own text (a stray CI failure once left only "timeout" to go on). On a loaded
        # machine it may close while this reads it: then it did hand the code back, late.
        where = login.url.split("?", 1)[0]
        try:
            said = login.locator("body").inner_text(timeout=2_000)[:300]
        except PlaywrightError:
            said = None
        if said is not None and not login.is_closed():
            raise AssertionError(f"the sign-in popup stayed open at {where}: {said!r}") from None
    patients.get_by_text("Authorized").wait_for(timeout=WAIT_MS)  # the code was redeemed
    page.locator("button.btn-done").first.click()

    operation = page.locator("#operations-Scheduling-list_appointments_v1_appointments_get")
    operation.locator(".opblock-summary-control").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.get_by_role("button", name="Execute").click()
    status = operation.locator(".live-responses-table .response .response-col_status")
    status.wait_for(timeout=WAIT_MS)
    assert status.inner_text().strip() == "200"
