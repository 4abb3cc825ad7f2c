"""One rule for every state-changing POST: the same Idempotency-Key with the same request replays
the first answer (status and body) even after the visit moved on; with another request it is a
422 that changes nothing; another caller's same key is theirs alone.

One visit walks through every route with a key (book, check in, admit, join link, join, end), so
the file costs one visit's life on the session's platform."""

from __future__ import annotations

import uuid
from typing import Any

from local.platform import LocalPlatform
from tests.conftest import Reply, eventually, user_tokens
from tests.e2e.test_scheduling import RIVERSIDE, book, call, fresh_slot
from tests.e2e.test_video_visit import provider_email, simulate
from tests.e2e.test_visits import CHECK_IN, soon_slot


def key() -> dict[str, str]:
    return {"Idempotency-Key": f"idem-{uuid.uuid4()}"}


def same(first: Reply, again: Reply) -> None:
    assert again.status == first.status, again.body
    assert again.json() == first.json()


def reused(reply: Reply) -> None:
    assert reply.status == 422, reply.body
    assert reply.headers.get("Content-Type", "").startswith("application/problem+json")
    assert reply.json()["type"] == "/problems/idempotency-key-reused"


def test_every_visit_route_replays_its_first_answer_and_refuses_a_reused_key(
    platform: LocalPlatform, gateway: str
) -> None:
    patient = user_tokens(platform, RIVERSIDE, "patient.one@riverside.example")["access"]
    other = user_tokens(platform, RIVERSIDE, "patient.two@riverside.example")["access"]
    slot = soon_slot(gateway, patient)
    provider = user_tokens(platform, RIVERSIDE, provider_email(slot))["access"]
    answers: list[tuple[str, str, str, Any, dict[str, str], Reply]] = []

    def post(path: str, token: str, body: Any, k: dict[str, str]) -> Reply:
        reply = call(gateway, "POST", path, token, body, **k)
        answers.append((path, token, "POST", body, k, reply))
        return reply

    # Book: a replay is the first 201; another slot under the key is refused and books nothing.
    kb = key()
    booked = post("/v1/appointments", patient, {"slot_id": slot, "state": "NY"}, kb)
    assert booked.status == 201, booked.body
    visit = f"/v1/appointments/{booked.json()['appointment_id']}"
    same(booked, call(gateway, "POST", "/v1/appointments", patient, {"slot_id": slot, "state": "NY"}, **kb))
    elsewhere = fresh_slot(gateway, patient)
    reused(call(gateway, "POST", "/v1/appointments", patient, {"slot_id": elsewhere, "state": "NY"}, **kb))
    assert book(gateway, patient, elsewhere).status == 201, "the refused request took no slot"

    # Check in: the first that passes its window is the answer every retry gets.
    kc, arrival = key(), {**CHECK_IN, "consent_to_recording": False}
    checked = eventually(
        lambda: (r := call(gateway, "POST", f"{visit}/check-in", patient, arrival, **kc)).status == 200 and r,
        timeout_s=30,
    )
    answers.append((f"{visit}/check-in", patient, "POST", arrival, kc, checked))
    same(checked, call(gateway, "POST", f"{visit}/check-in", patient, arrival, **kc))
    reused(
        call(gateway, "POST", f"{visit}/check-in", patient, {**arrival, "consent_to_recording": True}, **kc)
    )
    # Another patient's same key is theirs: it finds no visit of theirs, and never this answer.
    assert call(gateway, "POST", f"{visit}/check-in", other, arrival, **kc).status == 404

    # Admit (a Chime meeting, then the table: Powertools keeps the answer, the link sealed).
    ka = key()
    admitted = eventually(
        lambda: (r := call(gateway, "POST", f"{visit}/admit", provider, {}, **ka)).status == 200 and r,
        timeout_s=30,
    )
    answers.append((f"{visit}/admit", provider, "POST", {}, ka, admitted))
    # The provider joins at once (as their client does), which keeps the meeting open for the
    # patient: a meeting nobody connects to ends itself (seconds in the suite).
    mine = call(gateway, "POST", "/v1/join", provider, {"link": admitted.json()["link"]["link"]})
    assert mine.status == 200, (mine.status, mine.body)
    simulate(platform, "join", mine.json()["Attendee"]["JoinToken"])
    same(admitted, call(gateway, "POST", f"{visit}/admit", provider, {}, **ka))
    assert admitted.json()["link"]["link"].count(".") == 2, "the replayed link is the working link"
    guests = {"guests": [{"role": "interpreter", "user_id": "interp-1"}]}
    reused(call(gateway, "POST", f"{visit}/admit", provider, guests, **ka))

    # A join link: the replay is the same link (not a fresh one revoking it); another patient's
    # use of the key finds no visit of theirs.
    kl = key()
    link = post(f"{visit}/join-link", patient, None, kl)
    assert link.status == 201, link.body
    same(link, call(gateway, "POST", f"{visit}/join-link", patient, None, **kl))
    assert call(gateway, "POST", f"{visit}/join-link", other, None, **kl).status == 404

    # Join: a replay hands the same caller the same join information again; without the key the
    # spent link is refused; another link under the key is a 422.
    kj = key()
    joined = post("/v1/join", patient, {"link": link.json()["link"]}, kj)
    assert joined.status == 200, joined.body
    same(joined, call(gateway, "POST", "/v1/join", patient, {"link": link.json()["link"]}, **kj))
    assert joined.json()["Attendee"]["JoinToken"]
    assert call(gateway, "POST", "/v1/join", patient, {"link": link.json()["link"]}).status == 410
    reused(call(gateway, "POST", "/v1/join", patient, {"link": link.json()["link"][:-4] + "AAAA"}, **kj))

    # End, and every first answer replays although the visit is over now.
    ke = key()
    ended = post(f"{visit}/end", provider, None, ke)
    assert ended.status == 200 and ended.json()["state"] in ("completed", "no-show"), ended.body
    same(ended, call(gateway, "POST", f"{visit}/end", provider, None, **ke))
    for path, token, method, body, k, first in answers:
        same(first, call(gateway, method, path, token, body, **k))
    assert booked.json()["status"] == "booked", "the replay is the first answer, not the visit now"


def test_a_booking_and_a_move_replay_their_first_answers_after_a_cancel(
    gateway: str, platform: LocalPlatform
) -> None:
    patient = user_tokens(platform, RIVERSIDE, "patient.one@riverside.example")["access"]
    slot, moved_to, other = (fresh_slot(gateway, patient) for _ in range(3))
    kb, kr = key(), key()
    booked = call(gateway, "POST", "/v1/appointments", patient, {"slot_id": slot, "state": "NY"}, **kb)
    assert booked.status == 201, booked.body
    path = f"/v1/appointments/{booked.json()['appointment_id']}"
    moved = call(gateway, "POST", f"{path}/reschedule", patient, {"slot_id": moved_to}, **kr)
    assert moved.status == 200 and moved.json()["version"] == 2, moved.body
    reused(call(gateway, "POST", f"{path}/reschedule", patient, {"slot_id": other}, **kr))

    cancelled = call(gateway, "POST", f"{path}/cancel", patient)
    assert cancelled.status == 200 and cancelled.json()["status"] == "cancelled"
    # Late retries get their first answers: the 201 of a booked appointment and the move's 200,
    # not the cancelled appointment, nor the 409 a cancelled visit would meet.
    same(booked, call(gateway, "POST", "/v1/appointments", patient, {"slot_id": slot, "state": "NY"}, **kb))
    same(moved, call(gateway, "POST", f"{path}/reschedule", patient, {"slot_id": moved_to}, **kr))
    assert booked.json()["status"] == moved.json()["status"] == "booked"
    # The refused reuse moved nothing: the move and the cancel are the only versions.
    read = call(gateway, "GET", path, patient).json()
    assert read["version"] == 3 and read["start"] == moved.json()["start"]
