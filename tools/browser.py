"""Headless Chromium as a person's browser, for the browser tests and `make demo UI=1`.

Debian's chromium (installed by `make setup`) driven by the PyPI `playwright` package; Playwright's
own browser download is never used. Each browser process gets its own fake camera (a synthetic Y4M
clip: Chromium reads the file once per process), so a two-party call runs two processes, and each
side can tell the other's picture from its own by colour.
"""

from __future__ import annotations

import re
import shutil
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from local import signin

if TYPE_CHECKING:  # the caller brings Playwright (started once per session)
    from playwright.sync_api import Browser, BrowserContext, Page, Playwright, WebSocketRoute

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = REPO / ".local" / "screenshots"

# What axe-core checks: WCAG 2.0 and 2.1, levels A and AA (the bar), nothing best-practice.
AXE_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")

# A patient's phone (the portal is built phone first) and a provider's laptop.
PHONE: dict[str, Any] = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
DESKTOP: dict[str, Any] = {"viewport": {"width": 1280, "height": 800}}
Who = Literal["patient", "workforce"]

# The camera clips' background colours (RGB) by name; `dominant_colour` answers with these names.
CLIP_COLOURS: dict[str, tuple[int, int, int]] = {"red": (200, 30, 30), "blue": (30, 50, 200)}


class ChromiumMissingError(RuntimeError):
    pass


# --- fake camera --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clip:
    colour: str
    path: Path


def write_clip(
    colour: str, path: Path, *, width: int = 320, height: int = 240, fps: int = 15, seconds: float = 2.0
) -> Clip:
    """A Y4M clip (what `--use-file-for-fake-video-capture` reads, looped): the colour filling the
    frame and a white bar crossing it, so consecutive frames differ as a camera's do."""
    r, g, b = (c / 255 for c in CLIP_COLOURS[colour])
    # BT.601 limited range, as Chromium reads I420 from a camera.
    background = (
        16 + 65.481 * r + 128.553 * g + 24.966 * b,
        128 - 37.797 * r - 74.203 * g + 112.0 * b,
        128 + 112.0 * r - 93.786 * g - 18.214 * b,
    )
    white = (235.0, 128.0, 128.0)
    frames = round(fps * seconds)
    bar = width // 10 // 2 * 2
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for n in range(frames):
            x = (n * (width - bar) // max(frames - 1, 1)) // 2 * 2
            planes = []
            for index, (full, scale) in enumerate(((height, 1), (height, 2), (height, 2))):
                plane = np.full((full // scale, width // scale), background[index], dtype=np.float32)
                plane[:, x // scale : (x + bar) // scale] = white[index]
                planes.append(np.clip(np.rint(plane), 0, 255).astype(np.uint8))
            out.write(b"FRAME\n" + b"".join(p.tobytes() for p in planes))
    return Clip(colour, path)


# --- the browser --------------------------------------------------------------------------------


def fake_camera_args(clip: Clip) -> list[str]:
    return [
        # Camera and microphone granted without a prompt, from fake devices; the camera plays the clip.
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={clip.path}",
        # Both parties are on this machine: let WebRTC offer its loopback candidates.
        "--allow-loopback-in-peer-connection",
    ]


def launch(playwright: Playwright, clip: Clip) -> Browser:
    """One headless Chromium process with `clip` as its camera.

    Playwright starts Chromium with `--no-sandbox` unless asked otherwise (`chromium_sandbox`); the
    machines here (developers', CI's) run as root, where Chromium refuses its sandbox outright, and
    the pages it opens are the platform's own on loopback."""
    if not CHROMIUM.exists():
        raise ChromiumMissingError(
            f"Debian's chromium is not installed ({CHROMIUM}): run `make setup`, which installs it"
        )
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=fake_camera_args(clip))


CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolation({
    directive: event.effectiveDirective,
    blocked: event.blockedURI,
    source: event.sourceFile,
    line: event.lineNumber,
    page: location.pathname,
  });
}, true);
"""


def new_context(
    browser: Browser, who: Who, csp_violations: list[dict[str, Any]], timezone_id: str | None = None
) -> BrowserContext:
    """A fresh profile (no cookies, no storage): a phone for a patient, a laptop for the workforce,
    on the machine's clock unless `timezone_id` (an IANA zone) puts the person elsewhere.
    Every CSP violation its pages see is appended to `csp_violations` as it happens (the page URL's
    path only: a fragment may hold a join link)."""
    device: dict[str, Any] = {**(PHONE if who == "patient" else DESKTOP)}
    if timezone_id:
        device["timezone_id"] = timezone_id
    context = browser.new_context(**device)
    context.expose_binding("__cspViolation", lambda _source, violation: csp_violations.append(violation))
    context.add_init_script(CSP_LISTENER)
    return context


# --- what a person sees -------------------------------------------------------------------------


@cache
def _axe_source() -> str:
    if not AXE.exists():
        raise FileNotFoundError(f"{AXE} is missing: `make setup` installs axe-core from package.json")
    return AXE.read_text()


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's WCAG 2.0/2.1 A and AA violations on the page as it is now. Injected over the
    DevTools protocol, which the page's CSP does not govern (a script tag would be refused)."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        session = page.context.new_cdp_session(page)
        try:
            session.send("Runtime.evaluate", {"expression": _axe_source()})
        finally:
            session.detach()
    violations: list[dict[str, Any]] = page.evaluate(
        """async (tags) => {
          const results = await axe.run(document, {
            runOnly: {type: "tag", values: tags}, resultTypes: ["violations"],
          });
          return results.violations.map((v) => ({
            id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ")),
          }));
        }""",
        list(AXE_TAGS),
    )
    return violations


def axe_check(page: Page) -> None:
    """Fails, naming each violation and up to five of its elements, unless the page has none."""
    violations = axe_violations(page)
    assert not violations, (
        f"axe-core: {len(violations)} WCAG 2.1 A/AA violation(s) on {page.url}:\n"
        + "\n".join(
            f"  {v['id']} ({v['impact']}): {v['help']} at {', '.join(v['nodes'])}" for v in violations
        )
    )


def slug(name: str) -> str:
    """A file name's part from words: lower case, dashes."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:80]


class Screenshots:
    """`shoot(page, name)` writes `<folder>/<n>-<name>.png`, numbered in the order taken; the folder
    is emptied first, so what is there is the last run's."""

    def __init__(self, folder: Path) -> None:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        self.folder = folder
        self.taken = 0

    def __call__(self, page: Page, name: str) -> Path:
        self.taken += 1
        path = self.folder / f"{self.taken:02d}-{slug(name)}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


def sign_in(page: Page, email: str, password: str, totp: str | None = None, timeout_s: float = 15.0) -> None:
    """Fills the managed login's form as a person does, by its labels, from wherever the app sent
    the page (`.../auth/<pool>/login`); `totp` is the user's authenticator secret (workforce).
    Returns once the login has sent the browser back to the app."""
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    if totp is not None:
        code = page.get_by_label("Code")
        code.wait_for(timeout=timeout_s * 1000)
        # What the user's authenticator app shows now (Cognito and the stand-in take a step's drift).
        code.fill(signin.totp(totp, time.time()))
        page.get_by_role("button", name="Verify").click()
    try:
        page.wait_for_url(lambda url: "/auth/" not in url, timeout=timeout_s * 1000)
    except Exception as error:
        said = page.locator("body").inner_text()[:300]
        raise AssertionError(
            f"signing in as {email} did not return to the app; the page says: {said}"
        ) from error


def frames_decoded(page: Page, selector: str = "#remote-video") -> int:
    """The call view's count of remote frames decoded (`data-frames-decoded`, updated each second)."""
    value = page.locator(selector).get_attribute("data-frames-decoded")
    return int(value) if value else 0


def remote_video_shows(page: Page, colour: str) -> bool:
    """The remote video decodes frames, and they are the other side's clip (`colour`)."""
    before = frames_decoded(page)
    if before <= 0:
        return False
    time.sleep(1.2)  # the call view updates its count each second
    return frames_decoded(page) > before and dominant_colour(page, "#remote-video") == colour


# How a connection ends, for the page, when the network under it goes: no closing handshake.
LOST = 1006


class SignallingLine:
    """A page's connections to the signalling relay (`origin`), carried through Playwright so that
    a test can lose them as a person's network does: `cut()` ends those open, at both ends, and new
    ones are refused until `restore()`. Playwright's offline emulation would not do: it touches
    neither open WebSockets nor WebRTC. Routes the WebSockets the page opens from now on."""

    def __init__(self, page: Page, origin: str) -> None:
        self.down = False
        self.refused = 0  # connections tried while the network was down
        self._open: list[tuple[WebSocketRoute, WebSocketRoute]] = []
        page.route_web_socket(lambda url: url.startswith(origin + "/"), self._connect)

    def _connect(self, socket: WebSocketRoute) -> None:
        if self.down:
            self.refused += 1
            socket.close(code=LOST)
            return
        relay = socket.connect_to_server()
        # Playwright would pass a close on to the other end by itself, but not the 1006 of a cut
        # (a code no endpoint may send), and the relay's end of a cut would reach the page as a
        # clean close: so the relay's own closes (a meeting ended, a replaced socket) are passed
        # on here, and a cut's are not.
        relay.on_close(lambda code, reason: None if self.down else socket.close(code=code, reason=reason))
        self._open.append((socket, relay))

    def cut(self) -> None:
        """The connections end for both: the page sees them lost, and the relay sees the attendee
        go without a word (a drop) at once, where a real relay would notice when its pings go
        unanswered."""
        self.down = True
        for page_side, relay_side in self._open:
            page_side.close(code=LOST)
            relay_side.close(code=1000)
        self._open.clear()

    def restore(self) -> None:
        self.down = False


SAMPLE_VIDEO = """(video) => {
  if (!video.videoWidth) return null;
  const canvas = document.createElement("canvas");
  canvas.width = 32; canvas.height = 24;
  const context = canvas.getContext("2d", {willReadFrequently: true});
  context.drawImage(video, 0, 0, canvas.width, canvas.height);
  const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
  const channels = [[], [], []];
  for (let i = 0; i < data.length; i += 4) for (let c = 0; c < 3; c++) channels[c].push(data[i + c]);
  return channels.map((values) => values.sort((a, b) => a - b)[values.length >> 1]);
}"""


def dominant_colour(page: Page, selector: str) -> str | None:
    """The colour name (of CLIP_COLOURS) a person would say the video shows, from the median of its
    current frame's pixels (the clip's moving bar does not sway it); None while it shows no frame or
    nothing clearly one colour. Locators pierce open shadow roots, so `#remote-video` inside
    `<telehealth-call>` is found."""
    median = page.locator(selector).evaluate(SAMPLE_VIDEO)
    if median is None:
        return None
    for name, reference in CLIP_COLOURS.items():
        if max(abs(a - b) for a, b in zip(median, reference, strict=True)) < 60:
            return name
    return None
