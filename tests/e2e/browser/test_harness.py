"""The browser harness on the portal's first page: what every later browser test relies on."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tools.browser import Screenshots, dominant_colour


def test_the_portals_first_page_loads_accessible_and_within_its_csp(
    open_page: Callable[..., Page], web: str, axe_check: Callable[[Page], None], screenshot: Screenshots
) -> None:
    page = open_page("patient")
    response = page.goto(web)
    assert response is not None and response.status == 200
    expect(page.get_by_role("link", name="Video visits")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    screenshot(page, "first page")
    axe_check(page)


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
