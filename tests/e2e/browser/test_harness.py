"""The browser harness on the portal's first page: what every later browser test relies on."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import eventually, http
from tests.e2e.browser.conftest import PROVOKED_VIOLATION, provoked
from tools.browser import Screenshots, dominant_colour


def test_the_portals_first_page_loads_accessible_and_within_its_csp(
    open_page: Callable[..., Page], web: str, axe_check: Callable[[Page], None], screenshot: Screenshots
) -> None:
    """A signed-out patient's first screen: the app read its config.json and says what it is for,
    with the one thing to do next, and nothing went wrong on the way."""
    page = open_page("patient")
    response = page.goto(web)
    assert response is not None and response.status == 200
    expect(page.get_by_role("heading", level=1, name="Video visits with your clinic")).to_be_visible()
    expect(page.get_by_role("link", name="Video visits")).to_be_visible()
    expect(page.get_by_role("button", name="Sign in")).to_be_enabled()
    expect(page.get_by_role("alert")).to_have_count(0)
    screenshot(page, "first page")
    axe_check(page)


# A script a page did not ship, from an origin its CSP does not allow: what an injection would add.
INJECT_SCRIPT = """(source) => {
  const script = document.createElement("script");
  script.src = source;
  document.head.append(script);
}"""


def test_a_violation_in_a_page_is_caught_in_the_page_and_reported_to_the_gateway(
    open_page: Callable[..., Page], web: str, csp_violations: list[dict[str, Any]]
) -> None:
    """What makes the run's "no CSP violation" mean something: a script injected into the portal
    is refused, the page's listener sees it, and the browser's report reaches the gateway's
    collector (which keeps it; the package's final check leaves out only this provoked one)."""
    page = open_page("patient")
    page.goto(web)
    expect(page.get_by_role("heading", level=1, name="Video visits with your clinic")).to_be_visible()
    page.evaluate(INJECT_SCRIPT, PROVOKED_VIOLATION)

    def in_the_page() -> list[dict[str, Any]]:
        page.wait_for_timeout(100)  # Playwright hands on the page's binding calls while it is called
        return [v for v in csp_violations if v["blocked"] == PROVOKED_VIOLATION]

    seen = eventually(in_the_page, timeout_s=5.0, interval_s=0)
    assert seen[0]["directive"] == "script-src-elem", seen

    def at_the_gateway() -> list[dict[str, Any]]:
        reply = http("GET", f"{web}_sim/csp-reports")
        assert reply.status == 200, reply
        return [r for r in reply.json() if provoked(r)]

    report = eventually(at_the_gateway, timeout_s=5.0, interval_s=0.1)[-1]["csp-report"]
    assert report["blocked-uri"] == PROVOKED_VIOLATION, report
    assert report["effective-directive"] == "script-src-elem", report
    assert report["document-uri"] == web, report


# A page's own camera preview, as the device check will show it.
SHOW_CAMERA = """async () => {
  const video = document.createElement("video");
  video.id = "harness-camera";
  video.muted = true;
  video.autoplay = true;
  video.playsInline = true;
  document.body.append(video);
  video.srcObject = await navigator.mediaDevices.getUserMedia({video: true});
}"""


@pytest.mark.parametrize("clip", ["red", "blue"])
def test_each_browser_shows_its_own_clip_as_its_camera(
    open_page: Callable[..., Page], web: str, clip: str
) -> None:
    """The whole-visit tests tell the two sides apart by colour: the colour read is the clip's."""
    page = open_page("patient", clip)
    page.goto(web)
    page.evaluate(SHOW_CAMERA)
    deadline = time.monotonic() + 10
    while (seen := dominant_colour(page, "#harness-camera")) != clip and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert seen == clip
