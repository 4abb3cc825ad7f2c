"""The browser tests: headless Chromium (Debian's, driven by Playwright) against the session's one
local platform. Started once for this package and per camera clip; every page a test opens is
watched for CSP violations, and the gateway's CSP reports are read when the package is done.

Package scope, not session: while Playwright's sync API is up, the main thread counts as running
an event loop (its dispatcher lives in a greenlet), so an `asyncio.run` in any later test would
fail; Playwright stops once the browser tests are over."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Generator, Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, Playwright, expect, sync_playwright

import tools.browser
from local.platform import LocalPlatform
from local.seed import DEMO_PASSWORD
from tests.conftest import CLINIC_SETTINGS_TTL_S, http, user_tokens
from tests.e2e.test_scheduling import call
from tools.browser import (
    SCREENSHOTS,
    Clip,
    Screenshots,
    Who,
    launch,
    new_context,
    sign_in,
    write_clip,
)

# How long the browser's own CSP reports (sent in the background) get to reach the gateway.
CSP_REPORT_GRACE_S = 1.0
# What test_harness's own violation asks for, so that it, and only it, is not held against the run:
# a script from a reserved name that never resolves (RFC 2606), which no page of the app loads.
PROVOKED_VIOLATION = "http://csp-violation.invalid/provoked-by-the-harness-test.js"


def provoked(violation: Any) -> bool:
    """A violation (the page's event or a report the gateway kept) the harness test asked for."""
    return PROVOKED_VIOLATION in json.dumps(violation)


FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Notes a failed test, for its pages' screenshots at teardown."""
    report = yield
    if report.when == "call" and report.failed:
        item.stash[FAILED] = True
    return report


@pytest.fixture(scope="package")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Clip]:
    """The fake cameras: one mostly red, one mostly blue, each crossed by a moving white bar."""
    folder = tmp_path_factory.mktemp("camera")
    return {colour: write_clip(colour, folder / f"{colour}.y4m") for colour in ("red", "blue")}


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as started:
        yield started


@pytest.fixture(scope="package")
def chromium_for(playwright: Playwright, clips: dict[str, Clip]) -> Iterator[Callable[[str], Browser]]:
    """`chromium_for("red")`: the browser whose camera plays the red clip, launched on
    first use (Chromium reads the fake camera's file once per process, so one process per clip)."""
    browsers: dict[str, Browser] = {}

    def browser(clip: str) -> Browser:
        if clip not in browsers:
            browsers[clip] = launch(playwright, clips[clip])
        return browsers[clip]

    yield browser
    for running in browsers.values():
        running.close()


# A person's pace, not a script's: the session's platform ends an empty meeting after 3 s and
# gives an admitted patient 6 s to join (so the lifecycle tests run fast); people reading a screen
# and pressing a button get Chime's own five minutes' grace for an empty meeting in spirit.
PEOPLE_EMPTY_MEETING_S = 60.0
PEOPLE_JOIN_WINDOW_S = 90.0


@pytest.fixture(scope="package")
def at_a_persons_pace(platform: LocalPlatform) -> Iterator[None]:
    """For the browser tests: a longer join window, as the clinic's admin sets it (the admin
    API), and a longer empty-meeting timeout on the Chime stand-in; both restored after."""
    chime = platform.chime
    assert chime is not None
    gateway = platform.urls["gateway"]
    tenant = platform.default_tenant
    admin = user_tokens(platform, tenant, f"admin@{tenant}.example")["access"]

    def settings(body: dict[str, Any] | None = None) -> dict[str, Any]:
        reply = call(gateway, "PUT" if body else "GET", "/v1/admin/settings", admin, body)
        assert reply.status == 200, reply
        answer: dict[str, Any] = reply.json()
        return answer

    before = settings()
    settings({"visit_timings": {"join_window": PEOPLE_JOIN_WINDOW_S}, "version": before["version"]})
    empty_timeout, chime.state.empty_timeout_s = chime.state.empty_timeout_s, PEOPLE_EMPTY_MEETING_S
    time.sleep(CLINIC_SETTINGS_TTL_S + 0.2)  # every function's cached settings are stale by then
    yield
    chime.state.empty_timeout_s = empty_timeout
    # On the version as it is now: a browser test may have saved the settings form meanwhile.
    settings(
        {
            "visit_timings": {"join_window": before["visit_timings"]["join_window"]},
            "version": settings()["version"],
        }
    )
    time.sleep(CLINIC_SETTINGS_TTL_S + 0.2)  # the session's own clocks again, for what follows


@pytest.fixture(scope="session")
def web(platform: LocalPlatform) -> str:
    """The default tenant's web origin and BASE (`/`): the patient portal."""
    return f"{platform.urls['gateway']}/"


@pytest.fixture(scope="package")
def csp_violations(platform: LocalPlatform) -> Iterator[list[dict[str, Any]]]:
    """Every CSP violation a page reported in the browser, and, at the session's end, none in the
    gateway's kept reports of any tenant once the browser tests are done (but the one the harness
    test provokes on purpose)."""
    seen: list[dict[str, Any]] = []
    yield seen
    time.sleep(CSP_REPORT_GRACE_S)
    reported = {}
    for tenant in platform.provisioned:
        reply = http("GET", f"{platform.urls['gateway']}/tenants/{tenant}/_sim/csp-reports")
        assert reply.status == 200, reply
        if reports := [r for r in reply.json() if not provoked(r)]:
            reported[tenant] = reports
    assert not reported, f"CSP violations reported to the gateway: {json.dumps(reported, indent=1)[:3000]}"


@pytest.fixture(autouse=True)
def no_csp_violation(csp_violations: list[dict[str, Any]]) -> Iterator[None]:
    """Fails the test during which a page saw a CSP violation, naming it (but a provoked one)."""
    before = len(csp_violations)
    yield
    new = [v for v in csp_violations[before:] if not provoked(v)]
    assert not new, f"CSP violations: {json.dumps(new, indent=1)}"


@pytest.fixture
def open_page(
    request: pytest.FixtureRequest,
    chromium_for: Callable[[str], Browser],
    csp_violations: list[dict[str, Any]],
) -> Iterator[Callable[..., Page]]:
    """`open_page(who="patient", clip="red")`: a page in a fresh profile (a phone for a patient, a
    laptop for the workforce) of the browser with that camera; closed when the test ends, after a
    screenshot of each page if the test failed (`.local/screenshots/<test>/failed-<n>.png`)."""
    contexts: list[BrowserContext] = []

    def page(who: Who = "patient", clip: str = "red") -> Page:
        context = new_context(chromium_for(clip), who, csp_violations)
        contexts.append(context)
        return context.new_page()

    yield page
    if request.node.stash.get(FAILED, False):
        folder = SCREENSHOTS / request.node.name
        folder.mkdir(parents=True, exist_ok=True)
        for n, opened in enumerate(p for context in contexts for p in context.pages):
            opened.screenshot(path=str(folder / f"failed-{n + 1}.png"), full_page=True)
    for context in contexts:
        context.close()


# How long the managed login and the app's first API calls get to show the signed-in view.
SIGNED_IN_WAIT_MS = 20_000


@pytest.fixture
def signed_in_page(platform: LocalPlatform, web: str, open_page: Callable[..., Page]) -> Callable[..., Page]:
    """`signed_in_page(email, lands_on, clip=None, route="", signed_out=None)`: a page (see
    `open_page`) of the default tenant's app for that person, signed in as a person does: the
    portal for a patient, the dashboard for the workforce (whose authenticator code is filled in
    too), opened at `route` (a fragment such as `#/today/vitals/<id>`, which the sign-in returns
    to), "Sign in" pressed and the managed login's form filled. Returns once the view the person
    lands on shows its h1, `lands_on`. `signed_out(page)` runs on the signed-out page first (an
    axe check, say). The camera's clip is red for a patient and blue for the workforce unless
    `clip` says otherwise (the two sides of a call tell each other apart by it). `tenant` opens
    another tenant's app, at its BASE (`/tenants/<id>/`)."""

    def page(
        email: str,
        lands_on: str,
        *,
        clip: str | None = None,
        route: str = "",
        signed_out: Callable[[Page], None] | None = None,
        tenant: str | None = None,
    ) -> Page:
        provisioned = platform.provisioned[tenant or platform.default_tenant]
        base = f"{web}tenants/{tenant}/" if tenant else web
        # The workforce pool asks every one of its users for an authenticator code; patients have none.
        totp = provisioned.totp.get(email)
        who: Who = "patient" if totp is None else "workforce"
        opened = open_page(who, clip or ("red" if who == "patient" else "blue"))
        opened.goto(f"{base}{'' if who == 'patient' else 'dashboard/'}{route}")
        if signed_out is not None:
            signed_out(opened)
        opened.get_by_role("button", name="Sign in").first.click()
        sign_in(opened, email, DEMO_PASSWORD, totp=totp)
        expect(opened.get_by_role("heading", level=1, name=lands_on)).to_be_visible(timeout=SIGNED_IN_WAIT_MS)
        return opened

    return page


@pytest.fixture
def screenshot(request: pytest.FixtureRequest) -> Screenshots:
    """`screenshot(page, name)` -> `.local/screenshots/<test>/<n>-<name>.png`."""
    return Screenshots(SCREENSHOTS / request.node.name)


@pytest.fixture
def axe_check() -> Callable[[Page], None]:
    """`axe_check(page)` fails listing every WCAG 2.0/2.1 A/AA violation axe-core finds."""
    return tools.browser.axe_check


def write_prescription(
    rx: Locator,
    *,
    search: str,
    rxcui: str,
    dose: str,
    how_often: str,
    quantity: int,
    days: int,
    directions: str,
    pharmacy: tuple[str, str, str] | None = None,
) -> None:
    """Fill the prescription form (`rx`, its region) as a prescriber does: find the drug by words
    and see it chosen, then the directions; `pharmacy` is (the state the search names, the words
    searched, the pharmacy chosen), left as it is when None."""
    rx.get_by_label("Find the drug").fill(search)
    rx.get_by_label("Find the drug").press("Tab")
    expect(rx.get_by_label("Drug", exact=True)).to_have_value(rxcui)
    rx.get_by_label("Dose").fill(dose)
    rx.get_by_label("How often").fill(how_often)
    rx.get_by_label("Quantity").fill(str(quantity))
    rx.get_by_label("Days' supply").fill(str(days))
    rx.get_by_label("Directions for the patient, in plain words").fill(directions)
    if pharmacy is not None:
        state, words, chosen = pharmacy
        rx.get_by_label(f"Find a pharmacy in {state}").fill(words)
        rx.get_by_label(f"Find a pharmacy in {state}").press("Tab")
        expect(rx.get_by_label("Pharmacy", exact=True)).to_have_value(chosen)
