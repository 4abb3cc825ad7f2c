"""`make demo`: one whole video visit over HTTP, as the portal and a provider would drive it.

Starts the local platform if none is running (and stops it again afterwards), then: book a slot
that starts within minutes, check in with consent, wait in the waiting room, admit, redeem both
join links, join (the Chime stand-in plays both clients; the patient's camera sends a synthetic
clip), end, wait for the recording, read the rPPG worker's estimates and confirm one, and read
the Encounter back from the FHIR store. Each step prints its latency; any failure exits non-zero.

`--ui` (`make demo UI=1`): the visit as its two people live it, in two headless Chromium
processes: the patient on a phone in the portal (camera: a red clip) signs in, books the soonest
urgent-care time, checks in and waits; the provider on a laptop in the dashboard (camera: a blue
clip) signs in with their password and TOTP, admits the patient from the queue and joins; the
patient joins from the waiting room; each side's remote video decodes frames of the other's clip;
the provider ends the visit and the patient sees its end. Every step is photographed into
`.local/screenshots/demo/<step>-<who>-<step title>.png`, and a CSP violation fails the demo.
It needs no pacing: `make run` keeps Chime's five minutes for an empty meeting and the tenant's
own join window (four minutes), as people need.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

from local.platform import STATE_FILE

if TYPE_CHECKING:
    from playwright.sync_api import Page

TENANT = "riverside"
PATIENT = f"patient.one@{TENANT}.example"
# The demo's patient and provider are in New York (urgent care there runs around the clock).
PATIENT_ZONE = "America/New_York"
# How long a page may take to show what a step waits for before the demo calls it failed.
UI_WAIT_S = 30
# How long each side gets for the other's video to arrive and show.
CALL_S = 30.0
Person = Literal["patient", "provider"]
BOTH: tuple[Person, ...] = ("patient", "provider")


class DemoFailedError(Exception):
    pass


def _http(method: str, url: str, token: str | None = None, body: Any = None) -> tuple[int, Any]:
    request = urllib.request.Request(  # noqa: S310 (the local gateway, loopback)
        url,
        data=json.dumps(body).encode() if body is not None else None,
        headers={
            "Content-Type": "application/json",
            **({"Authorization": f"Bearer {token}"} if token else {}),
        },
        method=method,
    )
    try:
        with urllib.request.urlopen(request, timeout=35) as reply:  # noqa: S310
            raw = reply.read()
            return reply.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        raw = error.read()
        return error.code, json.loads(raw) if raw else None


def _running() -> dict[str, Any] | None:
    if not STATE_FILE.exists():
        return None
    state: dict[str, Any] = json.loads(STATE_FILE.read_text())
    try:
        status, _ = _http("GET", f"{state['urls']['gateway']}/tenants/{TENANT}/health")
    except OSError:
        return None
    return state if status in (200, 503) else None


def _start() -> subprocess.Popen[bytes]:
    STATE_FILE.unlink(missing_ok=True)
    process = subprocess.Popen(
        [sys.executable, "-m", "local", "--port", os.environ.get("PORT", "0")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while _running() is None:
        if process.poll() is not None or time.monotonic() > deadline:
            raise DemoFailedError("the local platform did not start; try `make run` to see why")
        time.sleep(0.5)
    return process


class Browsers:
    """The visit's two people, each in their own Chromium process (the fake camera is per process)."""

    def __init__(
        self, patient: Page, provider: Page, web: str, folder: Path, csp_violations: list[dict[str, Any]]
    ) -> None:
        self.patient = patient
        self.provider = provider
        self.web = web
        self.folder = folder
        self.csp_violations = csp_violations

    def shoot(self, step_no: int, title: str, who: Sequence[Person]) -> None:
        from tools.browser import slug

        for name in who:
            page = self.patient if name == "patient" else self.provider
            page.screenshot(path=str(self.folder / f"{step_no:02d}-{name}-{slug(title)}.png"), full_page=True)
        if self.csp_violations:
            raise DemoFailedError(f"CSP violations in the browsers: {self.csp_violations}")


@contextmanager
def browsers(state: dict[str, Any]) -> Iterator[Browsers]:
    """Both browsers, each with one blank page, closed (with Playwright) afterwards."""
    from playwright.sync_api import expect, sync_playwright

    from tools.browser import SCREENSHOTS, launch, new_context, write_clip

    camera = SCREENSHOTS.parent / "demo-camera"
    web = f"{state['urls']['gateway']}/tenants/{TENANT}/"
    folder = SCREENSHOTS / "demo"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    seen: list[dict[str, Any]] = []
    # A page on a busy laptop: the default 5 s is a script's patience, not a person's.
    expect.set_options(timeout=UI_WAIT_S * 1000)
    with sync_playwright() as playwright:
        patient_browser = launch(playwright, write_clip("red", camera / "red.y4m"))
        provider_browser = launch(playwright, write_clip("blue", camera / "blue.y4m"))
        try:
            patient = new_context(patient_browser, "patient", seen, timezone_id=PATIENT_ZONE).new_page()
            provider = new_context(provider_browser, "workforce", seen, timezone_id=PATIENT_ZONE).new_page()
            for page in (patient, provider):
                page.set_default_timeout(UI_WAIT_S * 1000)
            yield Browsers(patient, provider, web, folder, seen)
        finally:
            patient_browser.close()
            provider_browser.close()


class Demo:
    def __init__(self, state: dict[str, Any], ui: Browsers | None = None) -> None:
        self.state = state
        self.api = f"{state['urls']['gateway']}/tenants/{TENANT}"
        self.step_no = 0
        self.ui = ui

    def step(self, title: str, action: Callable[[], Any], who: Sequence[Person] = BOTH) -> Any:
        """One step of the visit; with --ui, the pages of `who` photographed after it."""
        self.step_no += 1
        started = time.perf_counter()
        try:
            result = action()
        except Exception as error:
            print(f"{self.step_no:2}. {title:<66} FAILED: {error}")
            raise DemoFailedError(title) from error
        print(f"{self.step_no:2}. {title:<66} {(time.perf_counter() - started) * 1000:8.0f} ms")
        if self.ui is not None:
            self.ui.shoot(self.step_no, title, who)
        return result

    def call(self, method: str, path: str, token: str, body: Any = None, expect: int = 200) -> Any:
        status, answer = _http(method, f"{self.api}{path}", token, body)
        if status != expect:
            raise DemoFailedError(f"{method} {path} answered {status}: {answer}")
        return answer

    def until(self, check: Callable[[], Any], timeout_s: float = 60) -> Any:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                found = check()
                if found:
                    return found
            except DemoFailedError:
                if time.monotonic() > deadline:
                    raise
            if time.monotonic() > deadline:
                raise DemoFailedError(f"not done within {timeout_s:.0f} s")
            time.sleep(0.2)

    def chime_client(self, action: str, join_token: str, video: bytes | None = None) -> None:
        body = {
            "JoinToken": join_token,
            **({"VideoBase64": base64.b64encode(video).decode()} if video else {}),
        }
        status, answer = _http("POST", f"{self.state['urls']['chime']}/_sim/{action}", body=body)
        if status != 200:
            raise DemoFailedError(f"the Chime client could not {action}: {answer}")

    def run(self) -> None:
        from local.token import user_tokens

        # The simulated camera is made first: it is setup, not part of the visit.
        camera = self.step(
            "the patient's camera: a synthetic 20 s clip of a face, pulse 72 bpm", self._camera
        )
        patient = self.step("patient signs in", lambda: user_tokens(PATIENT, platform=self.state)["access"])
        now = datetime.now(UTC)
        window = f"from={now:%Y-%m-%dT%H:%M:%SZ}&to={now + timedelta(minutes=15):%Y-%m-%dT%H:%M:%SZ}"
        slots = self.step(
            "search slots starting within 15 minutes (urgent care, NY)",
            lambda: self.call("GET", f"/v1/slots?state=NY&specialty=urgent-care&{window}", patient)["slots"],
        )
        if not slots:
            raise DemoFailedError("no urgent-care slot in the next 15 minutes")
        slot = slots[0]["slot_id"]
        booked = self.step(
            "book the first slot",
            lambda: self.call(
                "POST", "/v1/appointments", patient, {"slot_id": slot, "state": "NY"}, expect=201
            ),
        )
        visit = booked["appointment_id"]
        check_in = {
            "state": "NY",
            "emergency_contact": "+1 555 0100",
            "consent_to_telehealth": True,
            "consent_to_recording": True,
            "reason": "sore throat since Tuesday",
        }
        self.step(
            "check in with consent (once the lifecycle waits for it)",
            lambda: self.until(
                lambda: self.call("POST", f"/v1/appointments/{visit}/check-in", patient, check_in)
            ),
        )
        place = self.step(
            "waiting room: position and estimated wait",
            lambda: self.call("GET", f"/v1/appointments/{visit}/waiting-room", patient),
        )
        print(f"      position {place['position']}, about {place['estimated_wait_s'] // 60} min")
        provider_email = f"{slot.split('.')[0].replace('-', '.', 1)}@{TENANT}.example"
        provider = self.step(
            f"provider {provider_email} signs in",
            lambda: user_tokens(provider_email, platform=self.state)["access"],
        )
        queue = self.step("provider sees the queue", lambda: self.call("GET", "/v1/waiting-room", provider))
        print(f"      {len(queue['waiting'])} waiting")
        admitted = self.step(
            "provider admits (licensure re-checked, meeting created)",
            lambda: self.until(lambda: self.call("POST", f"/v1/appointments/{visit}/admit", provider)),
        )
        provider_join = self.step(
            "provider redeems their link",
            lambda: self.call("POST", "/v1/join", provider, {"link": admitted["link"]["link"]}),
        )
        link = self.step(
            "patient asks for a join link",
            lambda: self.call("POST", f"/v1/appointments/{visit}/join-link", patient, expect=201),
        )
        patient_join = self.step(
            "patient redeems it", lambda: self.call("POST", "/v1/join", patient, {"link": link["link"]})
        )
        self.step(
            "the link works once (second try: 410)",
            lambda: self.call("POST", "/v1/join", patient, {"link": link["link"]}, expect=410),
        )

        def both_join() -> None:
            self.chime_client("join", provider_join["Attendee"]["JoinToken"])
            self.chime_client("join", patient_join["Attendee"]["JoinToken"], camera)
            self.until(
                lambda: (
                    self.call("GET", f"/v1/appointments/{visit}/waiting-room", patient)["state"] == "in-call"
                )
            )

        self.step("both Chime clients join; Chime's events put the visit in call", both_join)
        status = f"/v1/appointments/{visit}/waiting-room"
        self.step(
            "the call goes on while the recording runs (consented)",
            lambda: self.until(lambda: self.call("GET", status, patient)["recording"] == "recording"),
        )
        self.step(
            "provider ends the visit", lambda: self.call("POST", f"/v1/appointments/{visit}/end", provider)
        )
        self.step(
            "the recording is made available (concatenated, announced)",
            lambda: self.until(lambda: self.call("GET", status, patient)["recording"] == "available"),
        )
        vitals = self.step(
            "the rPPG worker's estimates reach the provider (preliminary)",
            lambda: self.until(lambda: self.call("GET", f"/v1/appointments/{visit}/vitals", provider), 120),
        )
        for reading in vitals["readings"]:
            print(f"      {reading['sign']}: {reading['per_minute']} per minute ({reading['status']})")
        for sign, reason in vitals["refused"].items():
            print(f"      {sign}: not measured ({reason})")
        if vitals["readings"]:
            first = vitals["readings"][0]["sign"]
            self.step(
                f"provider confirms the {first} estimate",
                lambda: self.call(
                    "POST",
                    f"/v1/appointments/{visit}/vitals/review",
                    provider,
                    {"sign": first, "decision": "confirm"},
                ),
            )
        encounter = self.step(
            "the Encounter reaches the FHIR store, finished",
            lambda: self.until(lambda: self._encounter(visit)),
        )
        history = [h["status"] for h in encounter.get("statusHistory", [])]
        print(f"      Encounter/{encounter['id']}: {' -> '.join([*history, encounter['status']])}")

    def run_ui(self) -> None:
        """The visit in the two browsers, by what each person sees and presses (accessible names)."""
        from playwright.sync_api import expect

        from local.seed import DEMO_PASSWORD
        from tools.browser import dominant_colour, frames_decoded, remote_video_shows, sign_in

        assert self.ui is not None
        ui = self.ui
        patient, provider = ui.patient, ui.provider
        first_screen = patient.get_by_role("heading", level=1, name="Video visits with your clinic")

        def heading(page: Page, name: str) -> Any:
            return page.get_by_role("heading", level=1, name=name)

        def open_portal() -> None:
            patient.goto(ui.web)
            expect(first_screen).to_be_visible()

        self.step("the patient opens the portal on their phone", open_portal, ["patient"])

        def patient_signs_in() -> None:
            patient.get_by_role("button", name="Sign in").first.click()
            sign_in(patient, PATIENT, DEMO_PASSWORD)
            expect(heading(patient, "Your visits")).to_be_visible()

        self.step("patient signs in (managed login)", patient_signs_in, ["patient"])

        def find_times() -> None:
            patient.get_by_role("link", name="Book a visit").first.click()
            expect(heading(patient, "Book a visit")).to_be_visible()
            patient.get_by_label("Where will you be during the visit?").select_option("NY")
            patient.get_by_label("Kind of care").select_option("urgent-care")
            patient.get_by_role("button", name="Find a time").click()
            found = patient.get_by_text("open times found").or_(patient.get_by_text("No open times"))
            expect(found.first).to_be_visible()
            if patient.get_by_text("No open times").count():
                # Just before midnight: the soonest times are tomorrow's.
                tomorrow = datetime.now(ZoneInfo(PATIENT_ZONE)).date() + timedelta(days=1)
                patient.get_by_label("Date").fill(tomorrow.isoformat())
                patient.get_by_role("button", name="Find a time").click()
            expect(patient.get_by_role("button", name="Book this time").first).to_be_visible()

        self.step("patient looks for urgent-care times in New York", find_times, ["patient"])

        def book() -> str:
            patient.get_by_role("button", name="Book this time").first.click()
            expect(heading(patient, "Your visit")).to_be_visible()
            return patient.url.split("#", 1)[1].split("/")[2]  # #/visits/<id>

        visit = self.step("patient books the soonest time", book, ["patient"])
        reason = f"Sore throat since Tuesday (demo {visit[-6:]})"

        def check_in() -> None:
            patient.get_by_role("link", name="Check in").click()
            expect(heading(patient, "Check in")).to_be_visible()
            patient.get_by_label("Where are you now?").select_option("NY")
            patient.get_by_label("Emergency contact").fill("+1 555 0100")
            patient.get_by_label("Reason for your visit (optional)").fill(reason)
            patient.get_by_label("I agree to have this visit by video (telehealth).").check()
            patient.get_by_role("button", name="Check in").click()
            # The visit's lifecycle may still be starting: the screen says when check-in opens.
            expect(heading(patient, "Waiting room")).to_be_visible(timeout=60_000)
            expect(patient.get_by_text("in line").first).to_be_visible()

        self.step("patient checks in (where, a contact, the reason, consent)", check_in, ["patient"])

        def camera_check() -> None:
            expect(patient.get_by_role("button", name="Looks good")).to_be_enabled()
            self.until(lambda: dominant_colour(patient, "telehealth-device-check video") == "red", UI_WAIT_S)

        self.step("patient waits, and sees their own camera (the red clip)", camera_check, ["patient"])

        # Which provider the patient booked: setup for the demo, read as the patient's own visit.
        email = self._provider_of(visit)
        totp = self.state["tenants"][TENANT]["totp"][email]
        print(f"      {PATIENT} booked {email}")

        def provider_signs_in() -> None:
            provider.goto(f"{ui.web}dashboard/")
            provider.get_by_role("button", name="Sign in").first.click()
            sign_in(provider, email, DEMO_PASSWORD, totp=totp)
            expect(heading(provider, "Today")).to_be_visible()

        self.step("provider signs in on a laptop (password, then TOTP)", provider_signs_in, ["provider"])
        row = provider.get_by_role("row").filter(has_text=reason)
        self.step(
            "provider sees the patient in the queue (reason, minutes waited)",
            lambda: expect(row).to_be_visible(),
            ["provider"],
        )

        def admit() -> None:
            row.get_by_role("button", name="Admit").click()
            expect(provider.get_by_role("button", name="Join the call")).to_be_visible()

        self.step("provider admits the patient (licensure re-checked, meeting made)", admit, ["provider"])

        def provider_joins() -> None:
            provider.get_by_role("button", name="Join the call").click()
            expect(heading(provider, "Video visit")).to_be_visible()
            expect(provider.locator("#local-video")).to_be_visible()

        self.step("provider joins the call", provider_joins, ["provider"])

        def patient_joins() -> None:
            patient.get_by_role("button", name="Join your visit").click()
            expect(heading(patient, "Your video visit")).to_be_visible()

        self.step("patient joins from the waiting room (single-use link)", patient_joins, ["patient"])

        def both_see_each_other() -> str:
            self.until(lambda: remote_video_shows(patient, "blue"), CALL_S)
            self.until(lambda: remote_video_shows(provider, "red"), CALL_S)
            return f"frames decoded: patient {frames_decoded(patient)}, provider {frames_decoded(provider)}"

        seen = self.step(
            "each sees the other's video (patient: the blue clip, provider: red)", both_see_each_other
        )
        print(f"      {seen}")

        def end() -> None:
            provider.get_by_role("button", name="End visit").first.click()
            provider.get_by_role("button", name="Yes, end the visit").click()
            expect(provider.get_by_text("The visit has ended for everyone.")).to_be_visible()

        self.step("provider ends the visit", end, ["provider"])

        def patient_sees_the_end() -> None:
            expect(heading(patient, "Your visit has ended")).to_be_visible()
            expect(patient.get_by_role("heading", name="What happens next")).to_be_visible()

        self.step("patient sees the visit's end and what happens next", patient_sees_the_end, ["patient"])
        encounter = self.step(
            "the Encounter reaches the FHIR store, finished",
            lambda: self.until(lambda: self._encounter(visit)),
            [],
        )
        history = [h["status"] for h in encounter.get("statusHistory", [])]
        print(f"      Encounter/{encounter['id']}: {' -> '.join([*history, encounter['status']])}")

    def _provider_of(self, visit: str) -> str:
        """The booked provider's e-mail (seeded users are named after their provider id)."""
        from local.token import user_tokens

        token = user_tokens(PATIENT, platform=self.state)["access"]
        provider_id: str = self.call("GET", f"/v1/appointments/{visit}", token)["provider_id"]
        return f"{provider_id.replace('-', '.', 1)}@{TENANT}.example"

    @staticmethod
    def _camera() -> bytes:
        import tempfile
        from pathlib import Path

        from media_workers.rppg.synthetic import ClipSpec, write_clip

        with tempfile.TemporaryDirectory() as scratch:
            clip = write_clip(ClipSpec(duration_s=20.0, heart_rate_bpm=72.0), Path(scratch) / "camera.mp4")
            return clip.path.read_bytes()

    def _encounter(self, visit: str) -> dict[str, Any] | None:
        from telehealth.adapters.healthlake import HealthLakeFhirStore

        os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
        fhir = HealthLakeFhirStore(self.state["tenants"][TENANT]["fhir_endpoint"], region="us-east-1")
        found = fhir.read_if_present("Encounter", f"{visit.lower()}-v1")
        return found if found and found["status"] == "finished" else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--ui", action="store_true", help="through two headless browsers, a screenshot per step"
    )
    args = parser.parse_args(argv)
    started_here = None
    try:
        state = _running()
        if state is None:
            print("starting the local platform ...")
            started_here = _start()
            state = _running()
        assert state is not None
        began = time.perf_counter()
        if args.ui:
            with browsers(state) as ui:
                Demo(state, ui).run_ui()
            print(f"screenshots of each step: {ui.folder}")
        else:
            Demo(state).run()
        print(f"the whole visit took {time.perf_counter() - began:.1f} s")
        return 0
    except DemoFailedError as failed:
        print(f"demo failed: {failed}", file=sys.stderr)
        return 1
    finally:
        if started_here is not None:
            started_here.terminate()
            started_here.wait(timeout=30)


if __name__ == "__main__":
    raise SystemExit(main())
