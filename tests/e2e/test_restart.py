"""`make run` keeps its data: a visit booked and checked in, then the whole platform killed with
SIGKILL a moment later, is there when it starts again (the booking, its FHIR resources, the patient's
token) and goes on to its end. The platform runs as `python -m local` in a process of its own, with
a state directory of its own: the session's platform is not touched."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from local.token import user_tokens
from telehealth.adapters.healthlake import HealthLakeFhirStore
from tools.demo import PATIENT, TENANT, Demo

CHECK_IN = {
    "state": "NY",
    "emergency_contact": "+1 555 0100",
    "consent_to_telehealth": True,
    "consent_to_recording": False,
    "reason": "synthetic: a sore throat",
}


class Platform:
    """`python -m local` on a state directory, started and waited for."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.log = (state_dir / "run.log").open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "local", "--state-dir", str(state_dir), "--port", "0"],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.state = self._wait_ready()
        self.demo = Demo(self.state)

    def _wait_ready(self) -> dict[str, Any]:
        deadline = time.monotonic() + 180
        file = self.state_dir / "platform.json"
        while time.monotonic() < deadline:
            assert self.process.poll() is None, (self.state_dir / "run.log").read_text()[-3000:]
            if file.exists():
                state: dict[str, Any] = json.loads(file.read_text())
                if state["pid"] == self.process.pid:  # not the file a killed run left
                    return state
            time.sleep(0.2)
        raise AssertionError("the platform did not start within 180 s")

    def fhir(self) -> HealthLakeFhirStore:
        return HealthLakeFhirStore(self.state["tenants"][TENANT]["fhir_endpoint"], region="us-east-1")

    def descendants(self) -> set[int]:
        children: dict[int, list[int]] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
                children.setdefault(parent, []).append(int(entry.name))
        found, todo = set(), [self.process.pid]
        while todo:
            for child in children.get(todo.pop(), []):
                found.add(child)
                todo.append(child)
        return found

    def kill(self) -> None:
        """SIGKILL to the platform's process group: nothing of it runs to stop anything."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    yield tmp_path


def _alive(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_kill_minus_nine_loses_nothing_acknowledged_and_the_visit_goes_on(state_dir: Path) -> None:
    first = Platform(state_dir)
    try:
        patient = user_tokens(PATIENT, platform=first.state)["access"]
        now = datetime.now(UTC)
        window = f"from={now:%Y-%m-%dT%H:%M:%SZ}&to={now + timedelta(minutes=15):%Y-%m-%dT%H:%M:%SZ}"
        search = f"/v1/slots?state=NY&specialty=urgent-care&{window}"
        slot = first.demo.call("GET", search, patient)["slots"][0]["slot_id"]
        book = {"slot_id": slot, "state": "NY"}
        visit = first.demo.call("POST", "/v1/appointments", patient, book, expect=201)["appointment_id"]
        fhir = first.fhir()
        appointment = first.demo.until(lambda: fhir.read_if_present("Appointment", visit), timeout_s=60)
        check_in = f"/v1/appointments/{visit}/check-in"
        first.demo.until(lambda: first.demo.call("POST", check_in, patient, CHECK_IN))
        processes = first.descendants()
    finally:
        first.kill()
    # The stand-ins and function hosts end with it, rather than writing on into the state.
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in processes) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in processes if _alive(p)]

    second = Platform(state_dir)
    try:
        demo = second.demo
        # The token issued before the kill still verifies; the visit is as it was left.
        room = demo.call("GET", f"/v1/appointments/{visit}/waiting-room", patient)
        assert room["state"] == "checked-in"
        # The record's version the store answered before the kill is there, as it was.
        assert second.fhir().vread("Appointment", visit, appointment["meta"]["versionId"]) == appointment
        assert slot not in [s["slot_id"] for s in demo.call("GET", search, patient)["slots"]]
        assert "Data: resumed from" in (state_dir / "run.log").read_text()
        demo.until(lambda: "Resumed the lifecycles of 1 open visits" in (state_dir / "run.log").read_text())

        # The resumed lifecycle takes the visit to its end.
        provider_email = f"{slot.split('.')[0].replace('-', '.', 1)}@{TENANT}.example"
        provider = user_tokens(provider_email, platform=second.state)["access"]
        admitted = demo.until(lambda: demo.call("POST", f"/v1/appointments/{visit}/admit", provider), 60)
        provider_join = demo.call("POST", "/v1/join", provider, {"link": admitted["link"]["link"]})
        link = demo.call("POST", f"/v1/appointments/{visit}/join-link", patient, expect=201)
        patient_join = demo.call("POST", "/v1/join", patient, {"link": link["link"]})
        demo.chime_client("join", provider_join["Attendee"]["JoinToken"])
        demo.chime_client("join", patient_join["Attendee"]["JoinToken"])
        status = f"/v1/appointments/{visit}/waiting-room"
        demo.until(lambda: demo.call("GET", status, patient)["state"] == "in-call", 60)
        demo.call("POST", f"/v1/appointments/{visit}/end", provider)
        encounter = demo.until(lambda: demo._encounter(visit), 60)
        assert encounter["status"] == "finished"
    finally:
        second.stop()
