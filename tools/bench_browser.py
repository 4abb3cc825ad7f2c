"""The web in a browser: how soon the portal can be used, how soon the call shows the other person,
and what the two-party call costs in memory. Headless Chromium (Debian's, driven by Playwright, as
the browser tests and `make demo UI=1`), against a local platform this part starts itself (as
`make run` does: real clocks, in a process of its own, so its memory is not counted here).

The figures, each the median of a few runs:

- **Portal interactive**: from the navigation's start (the page's `performance.timeOrigin`, which
  the Navigation Timing entry's `startTime` 0 is) to the first animation frame at which the
  signed-out first screen can be used: its h1 "Video visits with your clinic" is rendered (laid
  out, not zero-sized) and its "Sign in" button is in the page and enabled. Read in the page
  (`performance.now()` in a `requestAnimationFrame`-polled check), so it is the page's own clock,
  not Playwright's round trips. Cold: a fresh profile each run (nothing cached, as a patient's
  first visit); warm: a reload of that page (the HTTP cache as the server's headers allow). The
  Navigation Timing entry's first byte and DOMContentLoaded are printed beside it.
- **First remote frame**: from the patient's click on "Join your visit" in the waiting room (the
  click event's `timeStamp`) to the first frame of the provider's video presented in the call's
  `#remote-video` (`requestVideoFrameCallback`'s `now`, registered as the call view gives the
  element its stream). The provider has joined first (in the dashboard, their camera showing), as
  in a visit. It covers redeeming the link, the call screen and the video code loading, the
  camera, the relay's join, the offer and answer, ICE on loopback, and the first decoded frame.
- **Call memory**: once each side decodes the other's video, the resident memory (RSS, which
  counts pages shared between a browser's processes once per process) and the proportional share
  (PSS, shared pages divided among their processes) of each Chromium process tree (browser, GPU,
  network, renderers: one browser per person), and each call page's JavaScript heap in use (the
  DevTools protocol's `Performance.getMetrics`, `JSHeapUsedSize`).

Bounded: the platform's start, then about 10 s per portal run and 20 s per call.
"""

from __future__ import annotations

import json
import re
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from local.seed import DEMO_PASSWORD

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

PORTAL_RUNS = 5
CALL_RUNS = 3
TENANT = "riverside"
PATIENT = f"patient.one@{TENANT}.example"
WAIT_MS = 30_000

# The portal's signed-out first screen, usable: the time it became so on the page's clock.
PORTAL_READY = """() => {
  const root = document.querySelector("patient-portal")?.shadowRoot;
  const h1 = root?.querySelector("h1");
  const button = [...(root?.querySelectorAll("button") ?? [])]
    .find((b) => b.textContent.trim() === "Sign in");
  const shown = h1 && h1.textContent.trim() === "Video visits with your clinic"
    && h1.getBoundingClientRect().height > 0;
  return shown && button && button.isConnected && !button.disabled ? performance.now() : false;
}"""

NAVIGATION = """() => {
  const entry = performance.getEntriesByType("navigation")[0];
  return {firstByte: entry.responseStart, domContentLoaded: entry.domContentLoadedEventEnd};
}"""

# Before any of the page's scripts: the Join click's time, and the first frame presented by the
# call's remote video (watched from the moment the call view gives the element its stream).
CALL_WATCH = """(() => {
  const srcObject = Object.getOwnPropertyDescriptor(HTMLMediaElement.prototype, "srcObject");
  Object.defineProperty(HTMLMediaElement.prototype, "srcObject", {
    configurable: true,
    enumerable: srcObject.enumerable,
    get() { return srcObject.get.call(this); },
    set(value) {
      srcObject.set.call(this, value);
      if (value && this.id === "remote-video") {
        this.requestVideoFrameCallback((now) => { window.__benchFirstFrame ??= now; });
      }
    },
  });
  document.addEventListener("click", (event) => {
    const button = event.composedPath().find((node) => node instanceof HTMLButtonElement);
    if (button && button.textContent.trim() === "Join your visit") {
      window.__benchJoinClicked = event.timeStamp;
    }
  }, true);
})();"""


FORGET_LAST_CALL = "() => { window.__benchFirstFrame = undefined; window.__benchJoinClicked = undefined; }"


def _pids_under(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def _kib(path: str, field: str) -> int:
    try:
        found = re.search(rf"^{field}:\s+(\d+) kB", Path(path).read_text(), re.MULTILINE)
    except OSError:
        return 0  # the process ended meanwhile
    return int(found.group(1)) if found else 0


def _tree_memory_kib(root: int) -> tuple[int, int]:
    """RSS and PSS of a process and all its descendants, from /proc."""
    pids = _pids_under(root)
    rss = sum(_kib(f"/proc/{pid}/status", "VmRSS") for pid in pids)
    pss = sum(_kib(f"/proc/{pid}/smaps_rollup", "Pss") for pid in pids)
    return rss, pss


def _chromium_with(clip: Path) -> int:
    """The browser process (not its helpers, which inherit the flag) whose fake camera is `clip`."""
    flag = f"--use-file-for-fake-video-capture={clip}".encode()
    matching: dict[int, int] = {}
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if flag in cmdline.read_bytes().split(b"\0"):
                stat = (cmdline.parent / "stat").read_text()
                matching[int(cmdline.parent.name)] = int(stat.rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
    roots = [pid for pid, parent in matching.items() if parent not in matching]
    if len(roots) != 1:
        raise RuntimeError(f"expected one Chromium with the clip {clip}, found {roots}")
    return roots[0]


def _js_heap_used(page: Page) -> float:
    session = page.context.new_cdp_session(page)
    try:
        session.send("Performance.enable")
        metrics = {m["name"]: m["value"] for m in session.send("Performance.getMetrics")["metrics"]}
    finally:
        session.detach()
    return float(metrics["JSHeapUsedSize"])


def _median(samples: list[float]) -> str:
    return f"{statistics.median(samples):7.0f} ms (runs: {', '.join(f'{s:.0f}' for s in samples)})"


def _mib(samples: list[float]) -> str:
    return f"{statistics.median(samples) / 1024:6.0f} MiB"


@contextmanager
def _platform() -> Iterator[dict[str, Any]]:
    from local.platform import free_port
    from tools.bench import _start_local, _stop_local

    with tempfile.TemporaryDirectory() as state_dir:
        process, wall, _ = _start_local(free_port(), Path(state_dir))
        print(f"  (a local platform started in {wall:.0f} s)")
        try:
            yield json.loads((Path(state_dir) / "platform.json").read_text())
        finally:
            _stop_local(process)


def portal_figures(browser: Browser, web: str, violations: list[dict[str, Any]]) -> None:
    from tools.browser import new_context

    cold: list[float] = []
    warm: list[float] = []
    first_byte: list[float] = []
    loaded: list[float] = []
    for _ in range(PORTAL_RUNS):
        context = new_context(browser, "patient", violations)
        try:
            page = context.new_page()
            page.goto(web, wait_until="commit")
            cold.append(page.wait_for_function(PORTAL_READY, polling="raf", timeout=WAIT_MS).json_value())
            navigation = page.evaluate(NAVIGATION)
            first_byte.append(navigation["firstByte"])
            loaded.append(navigation["domContentLoaded"])
            page.reload(wait_until="commit")
            warm.append(page.wait_for_function(PORTAL_READY, polling="raf", timeout=WAIT_MS).json_value())
        finally:
            context.close()
    print(f"  portal's first screen interactive, cold  {_median(cold)}")
    print(f"    its first byte                         {_median(first_byte)}")
    print(f"    its DOMContentLoaded                   {_median(loaded)}")
    print(f"  the same, reloaded (warm)                {_median(warm)}")


class _Visits:
    """A patient's visits booked and checked in over the API, so each call run starts in the
    waiting room (what comes before is the demo's and the browser tests', not measured here)."""

    def __init__(self, state: dict[str, Any]) -> None:
        from local.token import user_tokens
        from tools.demo import Demo

        self.api = Demo(state)
        self.patient = user_tokens(PATIENT, platform=state)["access"]

    def checked_in(self, run: int) -> tuple[str, str, str]:
        """(appointment id, its provider's e-mail, the reason given) of a fresh checked-in visit."""
        now = datetime.now(UTC)
        window = f"from={now:%Y-%m-%dT%H:%M:%SZ}&to={now + timedelta(minutes=15):%Y-%m-%dT%H:%M:%SZ}"
        path = f"/v1/slots?state=NY&specialty=urgent-care&{window}"
        slot = self.api.call("GET", path, self.patient)["slots"][0]["slot_id"]
        booked = self.api.call(
            "POST", "/v1/appointments", self.patient, {"slot_id": slot, "state": "NY"}, expect=201
        )
        visit = booked["appointment_id"]
        reason = f"Bench call {run} ({visit[-6:]})"
        check_in = {
            "state": "NY",
            "emergency_contact": "+1 555 0100",
            "consent_to_telehealth": True,
            "consent_to_recording": False,
            "reason": reason,
        }
        check_in_path = f"/v1/appointments/{visit}/check-in"
        self.api.until(lambda: self.api.call("POST", check_in_path, self.patient, check_in))
        return visit, f"{slot.split('.')[0].replace('-', '.', 1)}@{TENANT}.example", reason


def call_figures(
    state: dict[str, Any],
    browsers: dict[str, Browser],
    clips: list[Path],
    web: str,
    violations: list[dict[str, Any]],
) -> None:
    from playwright.sync_api import expect

    from tools.browser import dominant_colour, new_context, remote_video_shows, sign_in

    def until(check: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + WAIT_MS / 1000
        while not check():
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what}: not within {WAIT_MS / 1000:.0f} s")
            time.sleep(0.2)

    visits = _Visits(state)
    patient_context = new_context(browsers["red"], "patient", violations)
    patient_context.add_init_script(CALL_WATCH)
    patient = patient_context.new_page()
    patient.set_default_timeout(WAIT_MS)
    patient.goto(web)
    patient.get_by_role("button", name="Sign in").first.click()
    sign_in(patient, PATIENT, DEMO_PASSWORD)
    expect(patient.get_by_role("heading", level=1, name="Your visits")).to_be_visible(timeout=WAIT_MS)

    first_frame: list[float] = []
    rss: list[float] = []
    pss: list[float] = []
    heap: list[float] = []
    for run in range(1, CALL_RUNS + 1):
        visit, email, reason = visits.checked_in(run)
        provider_context = new_context(browsers["blue"], "workforce", violations)
        try:
            provider = provider_context.new_page()
            provider.set_default_timeout(WAIT_MS)
            provider.goto(f"{web}dashboard/")
            provider.get_by_role("button", name="Sign in").first.click()
            sign_in(provider, email, DEMO_PASSWORD, totp=state["tenants"][TENANT]["totp"][email])
            provider.get_by_role("row").filter(has_text=reason).get_by_role("button", name="Admit").click()
            provider.get_by_role("button", name="Join the call").click()
            # The provider is in the call: their camera shows (the relay's join follows at once).
            until(lambda: dominant_colour(provider, "#local-video") == "blue", "the provider's camera")  # noqa: B023
            time.sleep(0.5)

            patient.goto(f"{web}#/visits/{visit}/waiting")
            join = patient.get_by_role("button", name="Join your visit")
            join.wait_for()
            patient.evaluate(FORGET_LAST_CALL)
            join.click()
            patient.wait_for_function("() => window.__benchFirstFrame !== undefined", timeout=WAIT_MS)
            first_frame.append(patient.evaluate("() => window.__benchFirstFrame - window.__benchJoinClicked"))

            until(lambda: remote_video_shows(patient, "blue"), "the patient seeing the provider")
            until(lambda: remote_video_shows(provider, "red"), "the provider seeing the patient")  # noqa: B023
            memory = [_tree_memory_kib(_chromium_with(clip)) for clip in clips]
            rss.append(sum(r for r, _ in memory))
            pss.append(sum(p for _, p in memory))
            heap.append(_js_heap_used(patient) + _js_heap_used(provider))

            provider.get_by_role("button", name="End visit").first.click()
            provider.get_by_role("button", name="Yes, end the visit").click()
            expect(patient.get_by_role("heading", level=1, name="Your visit has ended")).to_be_visible(
                timeout=WAIT_MS
            )
        finally:
            provider_context.close()
    patient_context.close()
    print(f"  first remote frame after Join            {_median(first_frame)}")
    print("  the two-party call (both browsers, whole process trees):")
    print(f"    resident (RSS)                         {_mib(rss)}")
    print(f"    proportional (PSS)                     {_mib(pss)}")
    print(f"    JavaScript heap in use, both pages     {statistics.median(heap) / 2**20:6.1f} MiB")


def browser_figures() -> None:
    from playwright.sync_api import sync_playwright

    from tools.browser import launch, write_clip

    print("\n== web in a browser: the portal's first screen, the call (headless Chromium, local) ==")
    started = time.monotonic()
    violations: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as camera, _platform() as state:
        web = f"{state['urls']['gateway']}/tenants/{TENANT}/"
        clips = {colour: write_clip(colour, Path(camera) / f"{colour}.y4m") for colour in ("red", "blue")}
        with sync_playwright() as playwright:
            browsers = {colour: launch(playwright, clip) for colour, clip in clips.items()}
            try:
                portal_figures(browsers["red"], web, violations)
                call_figures(state, browsers, [clip.path for clip in clips.values()], web, violations)
            finally:
                for running in browsers.values():
                    running.close()
    if violations:
        print(f"  CSP violations seen: {violations}")
    print(f"  ({time.monotonic() - started:.0f} s in all)")
