"""`make demo`: one whole video visit over HTTP, as the portal and a provider would drive it.

Starts the local platform if none is running (and stops it again afterwards), then: book a slot
that starts within minutes, check in with consent, wait in the waiting room, admit, redeem both
join links, join (the Chime stand-in plays both clients; the patient's camera sends a synthetic
clip), end, wait for the recording, read the rPPG worker's estimates and confirm one, and read
the Encounter back from the FHIR store. Each step prints its latency; any failure exits non-zero.

`--ui` (`make demo UI=1`): the same visit with two people in two headless Chromium processes, the
patient on a phone (camera: the red clip) in the portal and the provider on a laptop (camera: the
blue clip) in the dashboard; after each step both pages are photographed into
`.local/screenshots/demo/<step>-<who>-<step title>.png`, and a CSP violation on either page fails
the demo. A step with a `ui` action runs it in the browsers; the others still go over HTTP.
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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from local.platform import STATE_FILE

if TYPE_CHECKING:
    from playwright.sync_api import Page

TENANT = "riverside"
PATIENT = f"patient.one@{TENANT}.example"


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

    def __init__(self, patient: Page, provider: Page, folder: Path, csp_violations: list[dict[str, Any]]):
        self.patient = patient
        self.provider = provider
        self.folder = folder
        self.csp_violations = csp_violations

    def shoot(self, step_no: int, title: str) -> None:
        from tools.browser import slug

        for who, page in (("patient", self.patient), ("provider", self.provider)):
            page.screenshot(path=str(self.folder / f"{step_no:02d}-{who}-{slug(title)}.png"), full_page=True)
        if self.csp_violations:
            raise DemoFailedError(f"CSP violations in the browsers: {self.csp_violations}")


@contextmanager
def browsers(state: dict[str, Any]) -> Iterator[Browsers]:
    """Both browsers open on the tenant's portal and dashboard, closed (with Playwright) afterwards."""
    from playwright.sync_api import sync_playwright

    from tools.browser import SCREENSHOTS, launch, new_context, write_clip

    camera = SCREENSHOTS.parent / "demo-camera"
    web = f"{state['urls']['gateway']}/tenants/{TENANT}/"
    folder = SCREENSHOTS / "demo"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    seen: list[dict[str, Any]] = []
    with sync_playwright() as playwright:
        patient_browser = launch(playwright, write_clip("red", camera / "red.y4m"))
        provider_browser = launch(playwright, write_clip("blue", camera / "blue.y4m"))
        try:
            patient = new_context(patient_browser, "patient", seen).new_page()
            provider = new_context(provider_browser, "workforce", seen).new_page()
            patient.goto(web)
            provider.goto(f"{web}dashboard/")
            yield Browsers(patient, provider, folder, seen)
        finally:
            patient_browser.close()
            provider_browser.close()


class Demo:
    def __init__(self, state: dict[str, Any], ui: Browsers | None = None) -> None:
        self.state = state
        self.api = f"{state['urls']['gateway']}/tenants/{TENANT}"
        self.step_no = 0
        self.ui = ui

    def step(self, title: str, action: Callable[[], Any], ui: Callable[[Browsers], Any] | None = None) -> Any:
        """One step of the visit: `action` over HTTP, or with --ui `ui` in the browsers where the
        step has one; either way, with --ui, both pages photographed after it."""
        self.step_no += 1
        started = time.perf_counter()
        try:
            result = ui(self.ui) if self.ui is not None and ui is not None else action()
        except Exception as error:
            print(f"{self.step_no:2}. {title:<58} FAILED: {error}")
            raise DemoFailedError(title) from error
        print(f"{self.step_no:2}. {title:<58} {(time.perf_counter() - started) * 1000:8.0f} ms")
        if self.ui is not None:
            self.ui.shoot(self.step_no, title)
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
                Demo(state, ui).run()
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
