"""The symptom check in the browser (desert-clinic has triage on): the administrator names the
medical director and the on-call in the clinic's settings; the medical director reads the red-flag
rules with their sources and signs them off; a patient on their phone answers one question at a
time and, at chest pain that spreads, is shown the emergency screen alone, with the number to call;
another check, with a step back and a question skipped, ends in self-care advice; the on-call
provider finds the patient in the dashboard and reads what they were shown, word for word. Each
screen passes axe. Every answer is synthetic."""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.sync_api import Page, expect

from local.platform import LocalPlatform
from tests.conftest import user_tokens
from tests.e2e.browser.conftest import SIGNED_IN_WAIT_MS, write_prescription
from tests.e2e.test_scheduling import call
from tests.e2e.test_triage import BASE, DESERT, ME, RULES, settled_photos, submitted_case
from tools.browser import Screenshots

PATIENT = "patient.one@desert-clinic.example"
DIRECTOR = "dr.okafor@desert-clinic.example"
ON_CALL = "dr.lindqvist@desert-clinic.example"


def _unsigned(platform: LocalPlatform) -> None:
    """The rules as a fresh clinic has them, not yet signed off (another test may have signed them
    through the API): the sign-off's item is taken out of the table."""
    platform.client("dynamodb").delete_item(
        TableName="telehealth-desert-clinic",
        Key={"pk": {"S": "TRIAGE_RULES"}, "sk": {"S": f"SIGNOFF#{RULES}"}},
    )


def answer(page: Page, *, choose: str | None = None, fill: str | None = None, skip: bool = False) -> None:
    """Answer the question on screen (a radio by its name, or the field), then go on."""
    if skip:
        page.get_by_role("button", name="Skip").click()
        return
    if choose is not None:
        page.get_by_role("radio", name=choose, exact=True).check()
    if fill is not None:
        page.locator("#answer").fill(fill)
    page.get_by_role("button", name="Next").click()


def question(page: Page, text: str) -> None:
    expect(page.get_by_text(re.compile(re.escape(text))).first).to_be_visible(timeout=10_000)


def test_the_director_signs_off_and_a_patient_with_chest_pain_is_told_to_call_911(
    platform: LocalPlatform,
    signed_in_page: Callable[..., Page],
    axe_check: Callable[[Page], None],
    screenshot: Screenshots,
) -> None:
    gateway = platform.urls["gateway"]
    admin_token = user_tokens(platform, DESERT, "admin@desert-clinic.example")["access"]
    _unsigned(platform)

    # The administrator names the medical director and who is on call.
    admin = signed_in_page(
        "admin@desert-clinic.example", "Clinic settings", route="#/settings", tenant=DESERT
    )
    group = admin.get_by_role("group", name="Symptom check (triage)")
    expect(group).to_be_visible(timeout=SIGNED_IN_WAIT_MS)
    axe_check(admin)
    group.get_by_label(re.compile("^Medical director")).select_option(label="Ngozi Okafor")
    group.get_by_label("On call").first.select_option(label="Erik Lindqvist")
    admin.get_by_role("button", name="Save settings").click()
    expect(admin.get_by_role("status").filter(has_text="Settings saved.")).to_be_visible(timeout=10_000)
    triage = call(gateway, "GET", f"{BASE}/v1/admin/settings", admin_token).json()["triage"]
    assert triage["medical_director"] == "dr-okafor" and triage["on_call"] == ["dr-lindqvist"]

    # Until the medical director signs the rules off, patients cannot use the check.
    phone = signed_in_page(PATIENT, "Your visits", tenant=DESERT)
    phone.get_by_role("link", name="Check your symptoms").click()
    expect(phone.get_by_text("The symptom check is not available yet")).to_be_visible(timeout=10_000)

    director = signed_in_page(DIRECTOR, "Today", tenant=DESERT)
    director.get_by_role("link", name="Symptom checks").click()
    rules = director.get_by_role("table", name=re.compile("Held to every answer"))
    expect(rules).to_contain_text("BE-FAST")  # each rule with its source
    axe_check(director)
    director.get_by_role("button", name=f"Sign off rule set {RULES}").click()
    expect(director.get_by_text(re.compile("Signed off by dr-okafor"))).to_be_visible(timeout=10_000)

    # The patient, on their phone, one question at a time.
    phone.reload()
    expect(phone.get_by_role("heading", level=1, name="Check your symptoms")).to_be_visible(timeout=20_000)
    phone.get_by_role("button", name="Start").click()
    question(phone, "How old are you?")
    axe_check(phone)
    answer(phone, fill="58")
    question(phone, "What is bothering you most?")
    answer(phone, choose="Chest pain or pressure")
    question(phone, "Right now, do you have any of these")
    answer(phone, choose="No")
    question(phone, "Do you have pain, pressure or tightness in your chest now?")
    # A new question starts unanswered: the "No" just given is not carried over to it.
    expect(phone.get_by_role("radio", name="No", exact=True)).not_to_be_checked()
    answer(phone, choose="Yes")
    question(phone, "How many minutes has the chest pain lasted this time?")
    answer(phone, fill="2")
    question(phone, "Does the pain spread to your arm, jaw, neck or back?")
    screenshot(phone, "a-question")
    answer(phone, choose="Yes")
    # The red flag holds: the emergency screen, alone, with the number to call.
    expect(phone.get_by_role("heading", level=1, name="Call 911 now")).to_be_visible(timeout=10_000)
    expect(phone.get_by_role("alert")).to_contain_text("can be a heart attack")
    assert phone.get_by_role("link", name="Call 911").get_attribute("href") == "tel:911"
    expect(phone.get_by_role("button", name="Next")).to_have_count(0)
    screenshot(phone, "emergency")
    axe_check(phone)

    # The on-call finds the patient and reads what they were shown.
    on_call = signed_in_page(ON_CALL, "Today", tenant=DESERT)
    on_call.get_by_role("link", name="Symptom checks").click()
    on_call.get_by_role("link", name=re.compile("^Open Jordan Testpatient.*'s checks$")).first.click()
    expect(on_call.get_by_role("heading", level=1, name="A patient's symptom checks")).to_be_visible()
    shown = on_call.get_by_text(re.compile("Shown, word for word")).first
    expect(shown).to_contain_text("can be a heart attack")
    axe_check(on_call)


def test_a_check_with_a_step_back_and_a_question_skipped_ends_in_self_care(
    platform: LocalPlatform, signed_in_page: Callable[..., Page], axe_check: Callable[[Page], None]
) -> None:
    from tests.e2e.test_triage import on_call_and_signed_off

    on_call_and_signed_off(platform, platform.urls["gateway"], ["dr-lindqvist"])
    phone = signed_in_page(PATIENT, "Check your symptoms", route="#/symptoms", tenant=DESERT)
    phone.get_by_role("button", name="Start").click()
    answer(phone, fill="30")
    question(phone, "What is bothering you most?")
    answer(phone, choose="Cold or flu symptoms")
    question(phone, "Right now, do you have any of these")
    answer(phone, choose="No")
    question(phone, "What is your temperature")
    answer(phone, skip=True)
    question(phone, "How many days have you had it?")
    answer(phone, fill="3")
    question(phone, "How bad is it now")
    phone.get_by_role("button", name="Back").click()
    # Back: the question again, with what was said.
    expect(phone.locator("#answer")).to_have_value("3")
    answer(phone, fill="2")
    question(phone, "How bad is it now")
    answer(phone, fill="2")
    question(phone, "Is it getting worse?")
    answer(phone, choose="No")
    question(phone, "Anything else you want the clinician to know?")
    answer(phone, skip=True)
    expect(phone.get_by_role("heading", level=2, name="You can care for this at home")).to_be_visible(
        timeout=10_000
    )
    expect(phone.get_by_text(re.compile("Rest, drink plenty of fluids"))).to_be_visible()
    axe_check(phone)


def test_a_provider_reviews_a_case_of_photos_and_answers_it(
    platform: LocalPlatform,
    signed_in_page: Callable[..., Page],
    axe_check: Callable[[Page], None],
    screenshot: Screenshots,
) -> None:
    from tools.synthetic_photos import phone_photo

    gateway = platform.urls["gateway"]
    patient = user_tokens(platform, DESERT, "patient.two@desert-clinic.example")["access"]
    case_id = submitted_case(gateway, patient, [phone_photo(1200, 900, seed=3)])
    assert [p["status"] for p in settled_photos(gateway, patient, case_id)] == ["ready"]
    provider = signed_in_page("dr.okafor@desert-clinic.example", "Today", tenant=DESERT)
    provider.get_by_role("link", name="Photo reviews").click()
    expect(provider.get_by_role("heading", level=1, name="Photo reviews")).to_be_visible()
    axe_check(provider)
    provider.get_by_role("link", name=re.compile("^Review Riley Samplecase")).first.click()
    photo = provider.get_by_role("img", name="Photo 1 of the case: arm")
    expect(photo).to_be_visible(timeout=15_000)
    assert str(photo.get_attribute("src")).startswith("blob:")  # from memory, never a link to storage
    # Upright: the phone stored it on its side (EXIF orientation 6), the review copy turned it.
    assert provider.evaluate("(img) => [img.naturalWidth, img.naturalHeight]", photo.element_handle()) == [
        900,
        1200,
    ]
    screenshot(provider, "case")
    axe_check(provider)
    # Desert-clinic has e-prescribing on: the visit's prescription form, on the case, sends one
    # (hydroxyzine at bedtime, for the itch) to a pharmacy where the patient lives (New Mexico).
    rx = provider.get_by_role("region", name="Prescriptions")
    expect(rx.get_by_text("No prescriptions from this case yet.")).to_be_visible(timeout=15_000)
    expect(rx.get_by_text(re.compile("never from photos"))).to_be_visible()
    write_prescription(
        rx,
        search="hydroxyzine 25",
        rxcui="995258",
        dose="1 tablet",
        how_often="at bedtime",
        quantity=14,
        days=14,
        directions="Take one tablet at bedtime for the itch.",
        pharmacy=("NM", "rio grande", "phr_riogrande00009"),
    )
    rx.get_by_role("button", name="Check the prescription").click()
    expect(rx.get_by_text("Every check passed.")).to_be_visible(timeout=15_000)
    rx.get_by_role("button", name="Send to the pharmacy").click()
    expect(rx.get_by_role("status")).to_contain_text("sent to Rio Grande Pharmacy", timeout=15_000)
    expect(rx.get_by_role("row", name=re.compile("hydroxyzine"))).to_be_visible()
    screenshot(provider, "prescribed")
    axe_check(provider)

    provider.get_by_label("Assessment").fill("Looks like ringworm (tinea corporis).")
    provider.get_by_label("Advice for the patient").fill(
        "An antifungal cream twice a day for two weeks; hydroxyzine at bedtime for the itch."
    )
    provider.get_by_role("button", name="Send the answer").click()
    expect(provider.get_by_role("status").filter(has_text="The answer is sent")).to_be_visible(timeout=10_000)
    answered = call(gateway, "GET", f"{ME}/cases/{case_id}", patient).json()["answer"]
    assert answered["outcome"] == "advice" and "antifungal" in answered["advice"]

    # On their phone, the patient reads the answer and what was prescribed, and where to collect it.
    phone = signed_in_page("patient.two@desert-clinic.example", "Your visits", tenant=DESERT)
    phone.get_by_role("link", name="Send photos").click()
    expect(phone.get_by_role("heading", level=1, name="Send photos to a clinician")).to_be_visible()
    card = phone.get_by_role("region").filter(has_text="Take one tablet at bedtime for the itch.")
    expect(card).to_contain_text("Looks like ringworm", timeout=15_000)
    expect(card.get_by_role("heading", name="Your prescriptions")).to_be_visible()
    expect(card).to_contain_text("Rio Grande Pharmacy")
    screenshot(phone, "answered")
    axe_check(phone)


def test_a_patient_sends_photos_from_their_phone_and_sees_them_checked(
    platform: LocalPlatform,
    signed_in_page: Callable[..., Page],
    axe_check: Callable[[Page], None],
    screenshot: Screenshots,
) -> None:
    from tools.synthetic_photos import phone_photo

    phone = signed_in_page("patient.two@desert-clinic.example", "Your visits", tenant=DESERT)
    phone.get_by_role("link", name="Send photos").click()
    expect(phone.get_by_role("heading", level=1, name="Send photos to a clinician")).to_be_visible()
    expect(phone.get_by_label("Where on your body is it?")).to_be_visible(timeout=10_000)
    axe_check(phone)
    # Without a photo, nothing is sent.
    phone.get_by_role("button", name="Send to a clinician").click()
    expect(phone.get_by_role("alert")).to_have_text("Choose 1 to 6 photos.")
    phone.get_by_label("Where on your body is it?").select_option(label="Arm")
    phone.get_by_label("How many days have you had it?").fill("12")
    phone.get_by_label(re.compile("^What does it look like")).fill("A ring-shaped patch that grew.")
    for question, said in (
        ("Does it itch?", "Yes"),
        ("Does it hurt?", "No"),
        ("Is it spreading fast?", "No"),
        ("Do you have a fever?", "No"),
    ):
        phone.get_by_role("group", name=question).get_by_label(said).check()
    photo = phone_photo(1600, 1200, seed=11)
    phone.locator("#photos").set_input_files({"name": "arm.jpg", "mimeType": "image/jpeg", "buffer": photo})
    phone.get_by_role("button", name="Send to a clinician").click()
    expect(phone.get_by_role("status")).to_have_text(
        re.compile("^Sent. A clinician will answer by"), timeout=20_000
    )
    # Checked for malware and made safe to show, the page updates itself.
    expect(phone.get_by_text("Photo 1: Ready for the clinician").first).to_be_visible(timeout=30_000)
    screenshot(phone, "photos-sent")
    axe_check(phone)

    # A clinician asks to see the patient: the same screen offers the soonest time, booked in a tap.
    gateway = platform.urls["gateway"]
    patient = user_tokens(platform, DESERT, "patient.two@desert-clinic.example")["access"]
    case_id = call(gateway, "GET", f"{BASE}/v1/me/triage/cases", patient).json()["cases"][0]["case_id"]
    assert [p["status"] for p in settled_photos(gateway, patient, case_id)] == ["ready"]
    provider = user_tokens(platform, DESERT, "dr.okafor@desert-clinic.example")["access"]
    ask = {"assessment": "I would like to look at this with you.", "advice": "", "outcome": "live-visit"}
    assert call(gateway, "POST", f"{BASE}/v1/triage/cases/{case_id}/answer", provider, ask).status == 200
    phone.reload()
    expect(
        phone.get_by_text(re.compile("The clinician would like to see you. The soonest time"))
    ).to_be_visible(timeout=10_000)
    axe_check(phone)
    phone.get_by_role("button", name="Book this time").first.click()
    expect(phone.get_by_text(re.compile("Your visit is booked for"))).to_be_visible(timeout=10_000)
