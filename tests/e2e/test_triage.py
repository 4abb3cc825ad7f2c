"""Virtual triage on the local platform (desert-clinic has it on; riverside does not): the clinic's
admin names its medical director and on-call, the medical director signs the rules off, and a
patient's symptom check asks one question at a time. A red flag ends it with the emergency
instruction, kept word for word, the on-call paged (saying nothing of whose or why) and the
QuestionnaireResponse in the record; other answers route, and "now" offers the soonest urgent-care
slot, which the patient books. Every answer is synthetic."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from local.platform import LocalPlatform
from telehealth.adapters.healthlake import HealthLakeFhirStore
from tests.conftest import CLINIC_SETTINGS_TTL_S, eventually, user_tokens
from tests.e2e.conftest import in_record
from tests.e2e.test_monitoring import subject
from tests.e2e.test_scheduling import call

DESERT = "desert-clinic"
BASE = f"/tenants/{DESERT}"
ME = f"{BASE}/v1/me/triage"
RULES = "2026.1+desert.1"  # the platform's rule set and the clinic's own red flags (tenants.toml)
HYDROXYZINE_25 = "995258"


def on_call_and_signed_off(platform: LocalPlatform, gateway: str, on_call: list[str]) -> None:
    """The admin names dr.okafor medical director and `on_call`; dr.okafor signs the rules off."""
    admin = user_tokens(platform, DESERT, "admin@desert-clinic.example")["access"]
    settings = call(gateway, "GET", f"{BASE}/v1/admin/settings", admin).json()
    wanted = {"medical_director": "dr-okafor", "on_call": on_call}
    changed = call(
        gateway, "PUT", f"{BASE}/v1/admin/settings", admin, {"triage": wanted, "version": settings["version"]}
    )
    assert changed.status == 200 and changed.json()["triage"]["on_call"] == on_call, changed.body
    director = user_tokens(platform, DESERT, "dr.okafor@desert-clinic.example")["access"]
    signed = call(gateway, "POST", f"{BASE}/v1/triage/rules/{RULES}/sign-off", director)
    assert signed.status == 200 and signed.json()["enabled"] is True, signed.body


def walk(gateway: str, patient: str, answers: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    """Start a check and answer each question it asks from `answers` (each must be there): the
    questions asked, in turn, and the last step."""
    step = call(gateway, "POST", f"{ME}/intakes", patient, {}, **{"Idempotency-Key": secrets.token_hex(8)})
    assert step.status == 201, step.body
    body, asked, given = step.json(), [], {}
    while body["question"] is not None:
        link_id = body["question"]["link_id"]
        asked.append(link_id)
        given[link_id] = answers[link_id]
        reply = call(gateway, "PUT", f"{ME}/intakes/{body['intake_id']}/answers", patient, {"answers": given})
        assert reply.status == 200, reply.body
        body = reply.json()
    return asked, body


CASE_ANSWERS = {
    "body_site": "arm",
    "days": 12,
    "what_changed": "A ring-shaped patch that grew.",
    "itchy": True,
}
CASE_ANSWERS |= {"painful": False, "spreading_fast": False, "fever": False}


def settled_photos(gateway: str, patient: str, case_id: str) -> list[dict[str, Any]]:
    """The case's photos once each has its verdict (ready, or refused with its reason)."""

    def settled() -> list[dict[str, Any]] | None:
        photos: list[dict[str, Any]] = call(gateway, "GET", f"{ME}/cases/{case_id}", patient).json()["photos"]
        return photos if all(p["status"] in ("ready", "refused") for p in photos) else None

    return list(eventually(settled, timeout_s=30))


def submitted_case(gateway: str, patient: str, photos: list[bytes]) -> str:
    """A case opened, its photos uploaded through their slots and submitted: its id."""
    import hashlib

    from tests.integration.test_s3_post_policy import post

    case_id = str(call(gateway, "POST", f"{ME}/cases", patient, {"answers": CASE_ANSWERS}).json()["case_id"])
    for photo in photos:
        asked = {
            "content_type": "image/jpeg",
            "size": len(photo),
            "sha256": hashlib.sha256(photo).hexdigest(),
        }
        slot = call(gateway, "POST", f"{ME}/cases/{case_id}/photos", patient, asked).json()["upload"]
        assert post(slot["url"], slot["fields"], photo)[0] == 204
    assert call(gateway, "POST", f"{ME}/cases/{case_id}/submit", patient).status == 200
    return case_id


def mails_sent() -> int:
    """How many e-mails SES has sent so far (in this process's emulator)."""
    from moto.ses.models import ses_backends

    from local.emulator import ACCOUNT

    return len(ses_backends[ACCOUNT]["us-east-1"].sent_messages)


def mail_to(address: str, since: int, about: str = "") -> list[Any]:
    """The e-mails SES sent to `address` after the first `since`, with `about` in the subject, once
    there are any (within 20 s)."""
    from moto.ses.models import ses_backends

    from local.emulator import ACCOUNT

    return list(
        eventually(
            lambda: [
                m
                for m in ses_backends[ACCOUNT]["us-east-1"].sent_messages[since:]
                if m.destinations["ToAddresses"] == [address] and about in m.subject
            ],
            timeout_s=20,
        )
    )


def test_riverside_has_no_symptom_check(platform: LocalPlatform, gateway: str) -> None:
    patient = user_tokens(platform, "riverside", "patient.one@riverside.example")["access"]
    provider = user_tokens(platform, "riverside", "dr.ramirez@riverside.example")["access"]
    for token, method, path in (
        (patient, "GET", "/v1/me/triage/availability"),
        (patient, "POST", "/v1/me/triage/intakes"),
        (provider, "GET", "/v1/triage/rules"),
    ):
        reply = call(gateway, method, f"/tenants/riverside{path}", token, {})
        assert reply.status == 404 and reply.headers["Content-Type"] == "application/problem+json", reply.body


def test_a_red_flag_ends_the_check_with_the_emergency_instruction_and_pages_the_on_call(
    platform: LocalPlatform, gateway: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = user_tokens(platform, DESERT, "admin@desert-clinic.example")["access"]
    settings = call(gateway, "GET", f"{BASE}/v1/admin/settings", admin).json()
    # Someone not of the clinic cannot be on call, and the refusal changes nothing.
    refused = call(
        gateway,
        "PUT",
        f"{BASE}/v1/admin/settings",
        admin,
        {"triage": {"on_call": ["dr-nobody"]}, "version": settings["version"]},
    )
    assert refused.status == 400 and "dr-nobody" in refused.json()["detail"], refused.body
    on_call_and_signed_off(platform, gateway, ["dr-lindqvist"])
    # Only the medical director signs off, and only a version the platform runs.
    other = user_tokens(platform, DESERT, "dr.ramirez@desert-clinic.example")["access"]
    assert call(gateway, "POST", f"{BASE}/v1/triage/rules/{RULES}/sign-off", other).status == 403
    director = user_tokens(platform, DESERT, "dr.okafor@desert-clinic.example")["access"]
    assert call(gateway, "POST", f"{BASE}/v1/triage/rules/1999.1/sign-off", director).status == 404
    rules = call(gateway, "GET", f"{BASE}/v1/triage/rules", other).json()
    assert [r["code"] for r in rules["rules"]][:2] == ["stroke", "chest-pain"]
    assert rules["rules"][-1]["code"] == "heat-stroke" and rules["version"] == RULES
    assert all(r["source"] for r in rules["rules"]) and rules["sign_offs"][0]["signed_by"] == "dr-okafor"

    tokens = user_tokens(platform, DESERT, "patient.one@desert-clinic.example")["access"]
    patient_id = subject(tokens)
    assert call(gateway, "GET", f"{ME}/availability", tokens).json()["available"] is True
    sent_before = mails_sent()
    asked, ended = walk(
        gateway,
        tokens,
        {"age": 71, "complaint": "neurological", "emergency_now": False, "face_droop": True},
    )
    # The questions stop at the red flag: nothing more is asked.
    assert asked == ["age", "complaint", "emergency_now", "face_droop"]
    assert ended["status"] == "stopped" and ended["outcome"]["disposition"] == "emergency"
    assert ended["emergency"]["call"] == "911" and "stroke" in ended["emergency"]["instruction"]
    intake_id = ended["intake_id"]

    # Bad answers change nothing: a value the question cannot take is a 422 naming the question.
    fresh = call(gateway, "POST", f"{ME}/intakes", tokens, {}).json()
    bad = call(
        gateway, "PUT", f"{ME}/intakes/{fresh['intake_id']}/answers", tokens, {"answers": {"age": 999}}
    )
    assert bad.status == 422 and bad.json()["type"].endswith("/answers-refused") and b"999" not in bad.body
    assert call(gateway, "GET", f"{ME}/intakes/{fresh['intake_id']}", tokens).json()["answers"] == {}
    # The ended check answers the same answers the same, and refuses others.
    path = f"{ME}/intakes/{intake_id}/answers"
    same = call(gateway, "PUT", path, tokens, {"answers": ended["answers"]})
    assert same.status == 200 and same.json()["emergency"] == ended["emergency"]
    changed = call(gateway, "PUT", path, tokens, {"answers": {**ended["answers"], "face_droop": False}})
    assert changed.status == 409 and changed.json()["type"].endswith("/intake-ended")
    # Another patient finds no such check.
    other_patient = user_tokens(platform, DESERT, "patient.two@desert-clinic.example")["access"]
    assert call(gateway, "GET", f"{ME}/intakes/{intake_id}", other_patient).status == 404

    # The on-call is paged: where to look, nothing of whose or why.
    mail = mail_to("dr.lindqvist@desert-clinic.example", sent_before)
    assert "emergency" in mail[0].body and "#triage" in mail[0].body
    assert "Testpatient" not in mail[0].body and "stroke" not in mail[0].body and "face" not in mail[0].body

    # The care team sees the check: each answer with its question, and what the patient was shown.
    seen = call(gateway, "GET", f"{BASE}/v1/triage/patients/{patient_id}/intakes", other).json()["intakes"]
    mine = next(i for i in seen if i["intake_id"] == intake_id)
    assert mine["emergency"]["instruction"] == ended["emergency"]["instruction"]
    assert mine["answers"][3] == {
        "link_id": "face_droop",
        "question": mine["answers"][3]["question"],
        "answer": True,
    }
    emergencies = call(gateway, "GET", f"{BASE}/v1/triage/emergencies", other).json()["emergencies"]
    assert (
        emergencies[0]["intake_id"] == intake_id and emergencies[0]["patient"]["family_name"] == "Testpatient"
    )

    # The record has the response, stopped, naming the questionnaire's version.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    record = HealthLakeFhirStore(platform.fhir_endpoints[DESERT], region="us-east-1")
    response = eventually(lambda: in_record(record, "QuestionnaireResponse", f"triage-{intake_id.lower()}"))
    assert response["status"] == "stopped" and response["subject"]["reference"] == f"Patient/{patient_id}"
    assert response["questionnaire"] == "urn:telehealth:questionnaire:triage-intake|2026.1"
    assert in_record(record, "Questionnaire", "triage-intake-2026-1")["version"] == "2026.1"


def test_urgent_answers_offer_the_soonest_urgent_care_slot_and_the_patient_books_it(
    platform: LocalPlatform, gateway: str
) -> None:
    on_call_and_signed_off(platform, gateway, ["dr-lindqvist"])
    patient = user_tokens(platform, DESERT, "patient.two@desert-clinic.example")["access"]
    answers = {
        "age": 34,
        "complaint": "urinary",
        "emergency_now": False,
        "temperature_f": 101.3,
        "days": 2,
        "severity": 5,
        "worsening": True,
        "flank_pain": True,
        "details": "Burning when peeing since Monday and a fever last night, but no vomiting.",
    }
    asked, ended = walk(gateway, patient, answers)
    assert "flank_pain" in asked and "face_droop" not in asked
    outcome = ended["outcome"]
    assert ended["status"] == "completed" and outcome["disposition"] == "now", ended
    assert "kidney" in outcome["why"]
    offer = outcome["offer"]
    assert offer["specialty"] == "urgent-care" and offer["state"] == "NM"
    soonest = offer["soonest"]
    start = datetime.fromisoformat(soonest["start"])
    assert datetime.now(UTC) - timedelta(minutes=5) <= start <= datetime.now(UTC) + timedelta(hours=4)
    assert soonest["provider"]["specialty"] == "urgent-care"
    booked = call(
        gateway,
        "POST",
        f"{BASE}/v1/appointments",
        patient,
        {"slot_id": soonest["slot_id"], "service_type": "general", "state": offer["state"]},
    )
    assert booked.status == 201, booked.body

    # The free text is read by Comprehend Medical (the stand-in) for the clinician, afterwards.
    provider = user_tokens(platform, DESERT, "dr.ramirez@desert-clinic.example")["access"]
    patient_id = subject(patient)

    def findings() -> list[dict[str, Any]] | None:
        checks = call(gateway, "GET", f"{BASE}/v1/triage/patients/{patient_id}/intakes", provider).json()
        check: dict[str, Any] = next(c for c in checks["intakes"] if c["intake_id"] == ended["intake_id"])
        return check["findings"]  # type: ignore[no-any-return]

    found = eventually(findings, timeout_s=30)
    assert [(f["display"], f["negated"]) for f in found] == [
        ("Dysuria", False),
        ("Fever", False),
        ("Vomiting", True),
    ]


def test_the_clinics_own_red_flag_from_its_tenant_file_stops_the_check_too(
    platform: LocalPlatform, gateway: str
) -> None:
    on_call_and_signed_off(platform, gateway, ["dr-lindqvist"])
    patient = user_tokens(platform, DESERT, "patient.two@desert-clinic.example")["access"]
    answers = {"age": 67, "complaint": "fever", "emergency_now": False, "temperature_f": 104.2}
    answers |= {"days": 1, "severity": 6, "worsening": True, "cannot_keep_fluids": False}
    asked, ended = walk(gateway, patient, {**answers, "confused_or_very_drowsy": True})
    assert asked[-1] == "confused_or_very_drowsy" and ended["status"] == "stopped"
    assert "heat stroke" in ended["emergency"]["instruction"] and ended["emergency"]["call"] == "911"


def test_a_case_of_photos_goes_straight_to_storage_through_its_slots_and_into_the_queue(
    platform: LocalPlatform, gateway: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hashlib

    from botocore.exceptions import ClientError

    from tests.integration.test_s3_post_policy import post
    from tools.synthetic_photos import phone_photo

    # The clinic wants its on-call told of each case as it arrives: a warning as long as the turnaround.
    admin = user_tokens(platform, DESERT, "admin@desert-clinic.example")["access"]
    version = call(gateway, "GET", f"{BASE}/v1/admin/settings", admin).json()["version"]
    told_at_once = {"triage": {"on_call": ["dr-lindqvist"], "photo_warning_hours": 48}, "version": version}
    assert call(gateway, "PUT", f"{BASE}/v1/admin/settings", admin, told_at_once).status == 200
    changed_at = time.monotonic()

    patient = user_tokens(platform, DESERT, "patient.one@desert-clinic.example")["access"]
    questions = call(gateway, "GET", f"{ME}/case-questions", patient).json()
    assert questions["max_photos"] == 6 and questions["questions"][0]["link_id"] == "body_site"
    answers = CASE_ANSWERS
    unanswered = call(gateway, "POST", f"{ME}/cases", patient, {"answers": {"body_site": "arm"}})
    assert unanswered.status == 422 and unanswered.json()["type"].endswith("/answers-refused")
    # A rash that spreads fast, or with a fever, does not wait days on photos.
    urgent = call(gateway, "POST", f"{ME}/cases", patient, {"answers": {**answers, "fever": True}})
    assert urgent.status == 422 and urgent.json()["type"].endswith("/needs-sooner"), urgent.body
    opened = call(
        gateway,
        "POST",
        f"{ME}/cases",
        patient,
        {"answers": answers},
        **{"Idempotency-Key": secrets.token_hex(8)},
    )
    assert opened.status == 201 and opened.json()["status"] == "draft", opened.body
    case_id = opened.json()["case_id"]

    photo = phone_photo(800, 600)
    digest = hashlib.sha256(photo).hexdigest()
    added = call(
        gateway,
        "POST",
        f"{ME}/cases/{case_id}/photos",
        patient,
        {"content_type": "image/jpeg", "size": len(photo), "sha256": digest},
    )
    assert added.status == 201, added.body
    slot = added.json()["upload"]
    assert "patient" not in slot["url"] and case_id in slot["fields"]["key"]  # ids only
    # Not uploaded yet: the case is not sent.
    early = call(gateway, "POST", f"{ME}/cases/{case_id}/submit", patient)
    assert early.status == 409 and early.json()["type"].endswith("/photos-not-uploaded")
    # Storage holds the upload to its slot: other bytes, or more of them, are refused there.
    status, said = post(slot["url"], slot["fields"], photo + b"more")
    assert status == 400 and "EntityTooLarge" in said
    status, said = post(slot["url"], slot["fields"], photo[:-4] + b"xxxx")
    assert status == 400 and "BadDigest" in said
    status, _ = post(slot["url"], slot["fields"], photo)
    assert status == 204
    # Until GuardDuty's verdict, nobody reads the original (the bucket's policy; here the stand-in's).
    uploads = platform.client("s3")
    with pytest.raises(ClientError) as unread:
        uploads.get_object(Bucket=slot["url"].rsplit("/", 1)[1], Key=slot["fields"]["key"])
    assert unread.value.response["Error"]["Code"] == "AccessDenied"
    # Two more: the EICAR test file (a "threat"), and a file that is not a photo at all.
    from local.standins.guardduty import EICAR

    for body in (EICAR + b" " * 40, b"%PDF-1.7 not a photo" * 20):
        more = call(
            gateway,
            "POST",
            f"{ME}/cases/{case_id}/photos",
            patient,
            {"content_type": "image/jpeg", "size": len(body), "sha256": hashlib.sha256(body).hexdigest()},
        ).json()
        assert post(more["upload"]["url"], more["upload"]["fields"], body)[0] == 204
    # Functions read the clinic's settings again once they are this old: the change above is read.
    time.sleep(max(0.0, changed_at + CLINIC_SETTINGS_TTL_S - time.monotonic()))
    sent_before = mails_sent()
    submitted = call(gateway, "POST", f"{ME}/cases/{case_id}/submit", patient)
    assert submitted.status == 200, submitted.body
    body = submitted.json()
    assert body["status"] == "submitted" and {p["status"] for p in body["photos"]} == {"scanning"}
    due = datetime.fromisoformat(body["due_at"]) - datetime.fromisoformat(body["submitted_at"])
    assert due == timedelta(hours=48)  # the clinic's turnaround promise (its settings)
    assert any(c["case_id"] == case_id for c in call(gateway, "GET", f"{ME}/cases", patient).json()["cases"])
    # A submitted case takes no more photos.
    more = call(
        gateway,
        "POST",
        f"{ME}/cases/{case_id}/photos",
        patient,
        {"content_type": "image/jpeg", "size": 10, "sha256": digest},
    )
    assert more.status == 409 and more.json()["type"].endswith("/case-submitted")

    # The scan's verdicts: the photo ready (its review copy made), the threat and the non-photo
    # refused, each with the reason the patient reads.
    photos = settled_photos(gateway, patient, case_id)
    assert [p["status"] for p in photos] == ["ready", "refused", "refused"]
    assert "safety check" in photos[1]["reason"] and "not a photo" in photos[2]["reason"]
    bucket, key = slot["url"].rsplit("/", 1)[1], slot["fields"]["key"]
    copy = uploads.get_object(Bucket=bucket, Key=key.replace("/original", "/review.jpg"))["Body"].read()
    assert copy[:3] == b"\xff\xd8\xff" and b"Exif" not in copy[:64]  # a JPEG, without its EXIF
    assert uploads.get_object(Bucket=bucket, Key=key)["Body"].read() == photo  # the original, kept as it came

    # The case's deadline timer pages the on-call (saying nothing of whose or why) and marks the case.
    mail = mail_to("dr.lindqvist@desert-clinic.example", sent_before, "case of photos")
    assert mail[0].subject == "A case of photos is nearing its deadline" and "#photo-reviews" in mail[0].body
    assert "Testpatient" not in mail[0].body and "arm" not in mail[0].body

    # The clinicians' queue, the soonest due first; the case with each answer beside its question.
    provider = user_tokens(platform, DESERT, "dr.ramirez@desert-clinic.example")["access"]
    staff = user_tokens(platform, DESERT, "staff@desert-clinic.example")["access"]

    def escalated() -> list[dict[str, Any]] | None:
        cases = call(gateway, "GET", f"{BASE}/v1/triage/cases", staff).json()["cases"]
        ours = next(q for q in cases if q["case"]["case_id"] == case_id)
        return cases if ours["escalated"] == "nearing" and not ours["overdue"] else None

    queued = eventually(escalated)
    dues = [q["case"]["due_at"] for q in queued]
    assert dues == sorted(dues)
    review = call(gateway, "GET", f"{BASE}/v1/triage/cases/{case_id}", provider).json()
    assert review["patient"]["family_name"] == "Testpatient"
    assert review["answers"][0] == {
        "link_id": "body_site",
        "question": "Where on your body is it?",
        "answer": "arm",
    }
    # The photo through the API (no link that outlives the request), and only a ready one.
    shown = call(gateway, "GET", f"{BASE}/v1/triage/cases/{case_id}/photos/{photos[0]['photo_id']}", provider)
    assert shown.status == 200 and shown.headers["Cache-Control"] == "no-store"
    import base64

    assert base64.b64decode(shown.json()["data"]) == copy
    refused_photo = f"{BASE}/v1/triage/cases/{case_id}/photos/{photos[1]['photo_id']}"
    assert call(gateway, "GET", refused_photo, provider).status == 404
    # Staff read; only a provider answers.
    answer = {"assessment": "Looks like ringworm (tinea corporis).", "advice": "", "outcome": "live-visit"}
    assert call(gateway, "POST", f"{BASE}/v1/triage/cases/{case_id}/answer", staff, answer).status == 403
    # ...one licensed where the patient lives (Arizona): dr-lindqvist is not, and is refused.
    elsewhere = user_tokens(platform, DESERT, "dr.lindqvist@desert-clinic.example")["access"]
    unlicensed = call(gateway, "POST", f"{BASE}/v1/triage/cases/{case_id}/answer", elsewhere, answer)
    assert unlicensed.status == 422 and unlicensed.json()["type"].endswith("/not-licensed"), unlicensed.body
    done = call(gateway, "POST", f"{BASE}/v1/triage/cases/{case_id}/answer", provider, answer)
    assert done.status == 200 and done.json()["status"] == "answered", done.body
    again = call(gateway, "POST", f"{BASE}/v1/triage/cases/{case_id}/answer", provider, answer)
    assert again.status == 409 and again.json()["type"].endswith("/case-answered")
    queued = call(gateway, "GET", f"{BASE}/v1/triage/cases", staff).json()["cases"]
    assert all(q["case"]["case_id"] != case_id for q in queued)  # answered: out of the queue
    mine = call(gateway, "GET", f"{ME}/cases/{case_id}", patient).json()
    assert mine["answer"]["outcome"] == "live-visit" and "ringworm" in mine["answer"]["assessment"]
    # The patient is told the answer is there: where to read it, not what it says.
    told = mail_to("patient.one@desert-clinic.example", sent_before, "Your photos have been answered")
    assert "#/photos" in told[0].body and "ringworm" not in told[0].body and "arm" not in told[0].body
    # The clinician asked to see the patient: the soonest time with them (or their kind of care),
    # which the patient books as any other.
    offered = mine["visit"]["soonest"]
    assert mine["visit"]["specialty"] == "pediatrics" and offered["provider"]["specialty"] == "pediatrics"
    listed = call(gateway, "GET", f"{ME}/cases", patient).json()["cases"]
    assert next(c for c in listed if c["case_id"] == case_id)["visit"] == mine["visit"]
    booking = {"slot_id": offered["slot_id"], "service_type": "general", "state": mine["visit"]["state"]}
    booked = call(gateway, "POST", f"{BASE}/v1/appointments", patient, booking)
    assert booked.status == 201 and booked.json()["provider_id"] == offered["provider"]["provider_id"], (
        booked.body
    )

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    record = HealthLakeFhirStore(platform.fhir_endpoints[DESERT], region="us-east-1")
    response = eventually(lambda: in_record(record, "QuestionnaireResponse", f"case-{case_id.lower()}"))
    assert response["questionnaire"] == "urn:telehealth:questionnaire:photo-case|2026.1"
    note = eventually(lambda: in_record(record, "DocumentReference", f"case-answer-{case_id.lower()}"))
    assert note["author"] == [{"reference": "Practitioner/dr-ramirez"}]
    assert base64.b64decode(note["content"][0]["attachment"]["data"]).decode().startswith("Assessment:")
    media = eventually(lambda: in_record(record, "Media", f"case-photo-{photos[0]['photo_id'].lower()}"))
    assert media["bodySite"]["coding"][0]["code"] == "53120007"  # the upper limb, as SNOMED CT has it


def test_a_prescription_written_from_a_case_goes_to_the_pharmacy_and_names_the_case_in_the_record(
    platform: LocalPlatform, gateway: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Desert-clinic has e-prescribing on too: a provider licensed where the patient lives writes a
    prescription from a case of photos as in a visit (the same checks, the same send), a
    controlled substance is refused (prescribed in a live visit, never from photos), and once the
    case is answered only its answerer prescribes from it. The MedicationRequest's supporting
    information is the case, as a case has no Encounter; the patient sees the prescription."""
    from tests.e2e.test_prescriptions import TRAMADOL_50, key, written
    from tools.synthetic_photos import phone_photo

    patient = user_tokens(platform, DESERT, "patient.one@desert-clinic.example")["access"]
    case_id = submitted_case(gateway, patient, [phone_photo(640, 480)])
    settled_photos(gateway, patient, case_id)
    provider = user_tokens(platform, DESERT, "dr.ramirez@desert-clinic.example")["access"]
    prescriptions = f"{BASE}/v1/triage/cases/{case_id}/prescriptions"
    before = call(gateway, "GET", prescriptions, provider).ok()
    assert before["prescriptions"] == [] and before["patient_state"] == "AZ"  # where the case was sent from
    found = call(gateway, "GET", f"{BASE}/v1/pharmacies?state=AZ&name=Desert%20Sun", provider).ok()
    (pharmacy,) = [p["pharmacy_id"] for p in found]

    # A controlled substance (tramadol, Schedule IV) is refused whatever is attested.
    controlled = written(TRAMADOL_50, pharmacy, prior_in_person=True)
    checks = call(gateway, "POST", f"{prescriptions}/checks", provider, controlled).ok()
    assert checks["refused"] and "store-and-forward-controlled" in [f["code"] for f in checks["findings"]]
    refused = call(gateway, "POST", prescriptions, provider, controlled, **key())
    assert refused.status == 422 and refused.json()["type"].endswith("/prescription-refused"), refused.body
    # A provider not licensed in Arizona is refused by the same check as in a visit.
    elsewhere = user_tokens(platform, DESERT, "dr.lindqvist@desert-clinic.example")["access"]
    # Hydroxyzine at bedtime, for the itch.
    for_itch = written(
        HYDROXYZINE_25, pharmacy, frequency="at bedtime", quantity=14, days_supply=14, refills=0
    )
    unlicensed = call(gateway, "POST", f"{prescriptions}/checks", elsewhere, for_itch).ok()
    assert "not-licensed" in [f["code"] for f in unlicensed["findings"]]

    checks = call(gateway, "POST", f"{prescriptions}/checks", provider, for_itch).ok()
    acknowledged = {**for_itch, "acknowledged": checks["to_acknowledge"]}
    assert not checks["refused"], checks
    once = key()
    sent = call(gateway, "POST", prescriptions, provider, acknowledged, **once)
    assert sent.status == 201, sent.body
    rx = sent.json()
    assert rx["case_id"] == case_id and rx["appointment_id"] is None and rx["status"] == "submitted"
    again = call(gateway, "POST", prescriptions, provider, acknowledged, **once)
    assert again.status == 201 and again.json()["prescription_id"] == rx["prescription_id"]  # sent once
    # The key is this send's: with another request it changes nothing.
    reused = call(gateway, "POST", prescriptions, provider, {**acknowledged, "quantity": 7}, **once)
    assert reused.status == 422 and reused.json()["type"] == "/problems/idempotency-key-reused", reused.body
    listed = call(gateway, "GET", prescriptions, provider).ok()["prescriptions"]
    assert [p["prescription_id"] for p in listed] == [rx["prescription_id"]]

    # Answered by dr-ramirez: another provider licensed there (dr-okafor) no longer prescribes from it.
    answer = {
        "assessment": "Likely ringworm (tinea corporis).",
        "advice": "Clotrimazole cream twice a day for two weeks; hydroxyzine at bedtime for the itch.",
        "outcome": "advice",
    }
    assert call(gateway, "POST", f"{BASE}/v1/triage/cases/{case_id}/answer", provider, answer).status == 200
    other = user_tokens(platform, DESERT, "dr.okafor@desert-clinic.example")["access"]
    late = call(gateway, "POST", f"{prescriptions}/checks", other, for_itch)
    assert late.status == 409 and late.json()["type"].endswith("/case-answered-by-another"), late.body
    assert call(gateway, "POST", f"{prescriptions}/checks", provider, for_itch).status == 200

    mine = call(gateway, "GET", f"{BASE}/v1/me/prescriptions", patient).ok()
    assert rx["prescription_id"] in [p["prescription_id"] for p in mine]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    record = HealthLakeFhirStore(platform.fhir_endpoints[DESERT], region="us-east-1")
    request = eventually(lambda: in_record(record, "MedicationRequest", rx["prescription_id"].lower()))
    assert request["supportingInformation"] == [
        {"reference": f"QuestionnaireResponse/case-{case_id.lower()}"}
    ]
    assert "encounter" not in request and request["requester"] == {"reference": "Practitioner/dr-ramirez"}


def test_route_by_route_each_role_that_is_not_the_routes_is_refused(
    platform: LocalPlatform, gateway: str
) -> None:
    """A patient reaches none of the care team's routes; staff, providers and machine clients none
    of a patient's (403, or the authorizer's 401 for a token of the wrong kind)."""
    from tests.e2e.test_monitoring import gateway_token
    from tests.e2e.test_prescriptions import written

    patient = user_tokens(platform, DESERT, "patient.one@desert-clinic.example")["access"]
    staff = user_tokens(platform, DESERT, "staff@desert-clinic.example")["access"]
    provider = user_tokens(platform, DESERT, "dr.ramirez@desert-clinic.example")["access"]
    machine = gateway_token(platform, gateway)
    some = "01JD8X3Q4W5E6R7T8Y9Z0ABCDE"
    care, photo = f"{BASE}/v1/triage", {"content_type": "image/jpeg", "size": 10, "sha256": "ab" * 32}
    for token, method, path, body in (
        (patient, "GET", f"{care}/rules", None),
        (patient, "POST", f"{care}/rules/{RULES}/sign-off", None),
        (patient, "GET", f"{care}/emergencies", None),
        (patient, "GET", f"{care}/patients/{subject(patient)}/intakes", None),
        (patient, "GET", f"{care}/cases", None),
        (patient, "GET", f"{care}/cases/{some}", None),
        (patient, "GET", f"{care}/cases/{some}/photos/{some}", None),
        (patient, "POST", f"{care}/cases/{some}/answer", {"assessment": "x", "outcome": "advice"}),
        (staff, "POST", f"{care}/rules/{RULES}/sign-off", None),
        (staff, "POST", f"{care}/cases/{some}/answer", {"assessment": "x", "outcome": "advice"}),
        (machine, "GET", f"{care}/cases", None),
        (staff, "GET", f"{ME}/availability", None),
        (provider, "POST", f"{ME}/intakes", {}),
        (staff, "GET", f"{ME}/intakes/{some}", None),
        (provider, "PUT", f"{ME}/intakes/{some}/answers", {"answers": {}}),
        (staff, "GET", f"{ME}/case-questions", None),
        (provider, "POST", f"{ME}/cases", {"answers": CASE_ANSWERS}),
        (staff, "GET", f"{ME}/cases", None),
        (provider, "GET", f"{ME}/cases/{some}", None),
        (staff, "POST", f"{ME}/cases/{some}/photos", photo),
        (provider, "POST", f"{ME}/cases/{some}/submit", None),
        (machine, "POST", f"{ME}/intakes", {}),
        # A case's prescriptions are a provider's to write (staff read the queue, never prescribe).
        (patient, "GET", f"{care}/cases/{some}/prescriptions", None),
        (patient, "POST", f"{care}/cases/{some}/prescriptions/checks", written(HYDROXYZINE_25, "phr_1")),
        (staff, "POST", f"{care}/cases/{some}/prescriptions/checks", written(HYDROXYZINE_25, "phr_1")),
    ):
        refused = call(gateway, method, path, token, body)
        assert refused.status in (401, 403), (method, path, refused.status, refused.body)
