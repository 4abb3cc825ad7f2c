"""Virtual triage's rules (issue #21): red flags first, then where the answers send the patient.

The answers are a QuestionnaireResponse's, by linkId (`Answers`). Red flags are deterministic and
come before anything else looks at the answers: the first that holds stops the intake and shows its
emergency instruction in plain words (911, or 988 for a suicidal crisis). Each rule cites the
source it rests on; a rule set is versioned, and a clinic turns one on only once its medical
director's sign-off of that version is recorded (`SignOff`). The blood-pressure rule is remote
monitoring's (`blood_pressure.py`): one rule for both.

Otherwise the answers route (`route`): how soon and where, with the reason the patient reads. Free
text is never read here: what an NLP service finds in it is shown to the clinician, never used to
rule an emergency out. Licensed triage content (Schmitt-Thompson, NHS Pathways) is not used; the
rules are the platform's, written from the sources they cite. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from telehealth.domain.blood_pressure import CRISIS_DIASTOLIC, CRISIS_SYSTOLIC
from telehealth.domain.questionnaires import EnableWhen

Answers = Mapping[str, Any]  # linkId -> the answer (bool, number, text or a list of codes)


class Call(StrEnum):
    EMERGENCY = "911"
    CRISIS_LINE = "988"  # the 988 Suicide & Crisis Lifeline (US)


@dataclass(frozen=True)
class RedFlag:
    code: str
    call: Call
    instruction: str  # what the patient reads, in plain words, on the emergency screen
    source: str  # what the rule rests on
    holds: Callable[[Answers], bool]
    questions: frozenset[str]  # the linkIds it reads: a questionnaire must ask every one


def _yes(answers: Answers, *names: str) -> bool:
    return any(answers.get(name) is True for name in names)


def _number(answers: Answers, name: str) -> float | None:
    value = answers.get(name)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _stroke(a: Answers) -> bool:
    # BE-FAST: Balance, Eyes, Face, Arm, Speech, of sudden onset.
    return _yes(
        a, "sudden_balance_loss", "sudden_vision_loss", "face_droop", "arm_weakness", "speech_difficulty"
    )


CHEST_PAIN_MINUTES = 5  # "lasts more than a few minutes" (the AHA's warning signs)


def _chest_pain(a: Answers) -> bool:
    if not _yes(a, "chest_pain"):
        return False
    minutes = _number(a, "chest_pain_minutes")
    return _yes(
        a, "chest_pain_spreading", "chest_pain_sweating", "chest_pain_breathless", "chest_pain_nausea"
    ) or (minutes is not None and minutes >= CHEST_PAIN_MINUTES)


def _breathing(a: Answers) -> bool:
    return _yes(a, "cannot_speak_full_sentences", "lips_blue", "breathless_at_rest")


def _anaphylaxis(a: Answers) -> bool:
    # After a likely allergen: the airway or breathing, or fainting, or hives with either.
    if not _yes(a, "allergen_exposure"):
        return False
    return _yes(a, "throat_or_tongue_swelling", "wheeze_or_breathing_trouble", "faint_or_collapse")


def _blood_pressure(a: Answers) -> bool:
    systolic, diastolic = _number(a, "systolic"), _number(a, "diastolic")
    crisis = (systolic is not None and systolic >= CRISIS_SYSTOLIC) or (
        diastolic is not None and diastolic >= CRISIS_DIASTOLIC
    )
    return crisis and _yes(a, "blood_pressure_symptoms")


def _suicidal(a: Answers) -> bool:
    return _yes(a, "suicidal_thoughts")


RED_FLAGS: tuple[RedFlag, ...] = (
    RedFlag(
        "stroke",
        Call.EMERGENCY,
        "Call 911 now. Sudden loss of balance or sight, a drooping face, weakness of an arm or leg, "
        "or trouble speaking can be a stroke. Note the time it started. Do not drive yourself.",
        "Aroor S, et al. BE-FAST: a sensitive screening tool to identify in-hospital acute ischemic "
        "stroke. J Stroke Cerebrovasc Dis. 2017;26(12):2775-2778.",
        _stroke,
        frozenset(
            {"sudden_balance_loss", "sudden_vision_loss", "face_droop", "arm_weakness", "speech_difficulty"}
        ),
    ),
    RedFlag(
        "chest-pain",
        Call.EMERGENCY,
        "Call 911 now. Chest pain that spreads, comes with sweating, breathlessness or sickness, or "
        "lasts more than a few minutes can be a heart attack. Do not drive yourself.",
        "Gulati M, et al. 2021 AHA/ACC/ASE/CHEST/SAEM/SCCT/SCMR Guideline for the Evaluation and "
        "Diagnosis of Chest Pain. Circulation. 2021;144:e368-e454.",
        _chest_pain,
        frozenset(
            {"chest_pain", "chest_pain_minutes", "chest_pain_spreading", "chest_pain_sweating"}
            | {"chest_pain_breathless", "chest_pain_nausea"}
        ),
    ),
    RedFlag(
        "severe-breathing-difficulty",
        Call.EMERGENCY,
        "Call 911 now. Being too short of breath to speak in full sentences, at rest, or with blue "
        "lips needs emergency care.",
        "American Red Cross First Aid/CPR/AED Participant's Manual (breathing emergencies); "
        "NICE CKS, Breathlessness: red flags (2024).",
        _breathing,
        frozenset({"cannot_speak_full_sentences", "lips_blue", "breathless_at_rest"}),
    ),
    RedFlag(
        "anaphylaxis",
        Call.EMERGENCY,
        "Call 911 now. Use your epinephrine auto-injector if you have one. Swelling of the throat or "
        "tongue, trouble breathing or fainting after an allergen can be anaphylaxis.",
        "Sampson HA, et al. Second symposium on the definition and management of anaphylaxis. "
        "J Allergy Clin Immunol. 2006;117(2):391-397.",
        _anaphylaxis,
        frozenset(
            {
                "allergen_exposure",
                "throat_or_tongue_swelling",
                "wheeze_or_breathing_trouble",
                "faint_or_collapse",
            }
        ),
    ),
    RedFlag(
        "blood-pressure-crisis",
        Call.EMERGENCY,
        "Call 911 now. Your blood pressure is very high and you have symptoms that need emergency care.",
        "Whelton PK, et al. 2017 ACC/AHA Guideline for the Prevention, Detection, Evaluation, and "
        "Management of High Blood Pressure in Adults. Hypertension. 2018;71:e13-e115 (hypertensive "
        "emergency).",
        _blood_pressure,
        frozenset({"systolic", "diastolic", "blood_pressure_symptoms"}),
    ),
    RedFlag(
        "suicidal-thoughts",
        Call.CRISIS_LINE,
        "Call or text 988 now to talk with someone at the Suicide & Crisis Lifeline, any time. If "
        "you are in danger right now, call 911.",
        "988 Suicide & Crisis Lifeline (SAMHSA); Horowitz LM, et al. Ask Suicide-Screening "
        "Questions (ASQ). Arch Pediatr Adolesc Med. 2012;166(12):1170-1176.",
        _suicidal,
        frozenset({"suicidal_thoughts"}),
    ),
)


@dataclass(frozen=True)
class RuleSet:
    version: str
    red_flags: tuple[RedFlag, ...]


RULE_SET = RuleSet("2026.1", RED_FLAGS)


def clinic_red_flag(
    code: str, call: Call, instruction: str, source: str, when: tuple[EnableWhen, ...], *, any_of: bool
) -> RedFlag:
    """A red flag a clinic adds, written as data (the tenant file): conditions on the answers, in
    `enableWhen`'s terms, all of which (or, `any_of`, one of which) make it hold."""

    def holds(answers: Answers) -> bool:
        held = (condition.holds(answers) for condition in when)
        return any(held) if any_of else all(held)

    return RedFlag(code, call, instruction, source, holds, frozenset(c.question for c in when))


def with_clinic_flags(
    additions: tuple[RedFlag, ...], version: str | None, base: RuleSet = RULE_SET
) -> RuleSet:
    """The platform's rule set and a clinic's own red flags after it (the platform's are held
    first, and none of them can be replaced): a version of its own, which the medical director
    signs off as a whole."""
    if not additions:
        return base
    if version is None:
        raise ValueError("a clinic's red flags need a version of their own")
    taken = {flag.code for flag in base.red_flags}
    clashing = sorted(flag.code for flag in additions if flag.code in taken)
    if clashing:
        raise ValueError(f"the platform's red flags are not replaced: {', '.join(clashing)}")
    return RuleSet(f"{base.version}+{version}", (*base.red_flags, *additions))


def unasked(link_ids: set[str], rule_set: RuleSet) -> dict[str, list[str]]:
    """Each red flag's questions a questionnaire does not ask (a questionnaire that drops the
    stroke questions would let a stroke through): the flag's code, and those linkIds."""
    return {
        flag.code: sorted(flag.questions - link_ids)
        for flag in rule_set.red_flags
        if flag.questions - link_ids
    }


@dataclass(frozen=True)
class SignOff:
    """A clinic's medical director signing a rule set's version off: who, when, which version."""

    version: str
    signed_by: str
    at: datetime


def enabled(rule_set: RuleSet, sign_offs: tuple[SignOff, ...]) -> bool:
    """A clinic uses a rule set only once that version is signed off."""
    return any(s.version == rule_set.version for s in sign_offs)


def red_flag(answers: Answers, rule_set: RuleSet = RULE_SET) -> RedFlag | None:
    """The first red flag the answers raise, in the rule set's order; None when there is none."""
    return next((flag for flag in rule_set.red_flags if flag.holds(answers)), None)


# --- routing: how soon and where, when no red flag holds -----------------------------------------


class Disposition(StrEnum):
    EMERGENCY = "emergency"  # a red flag: 911 or 988
    NOW = "now"  # the soonest urgent-care slot, within hours
    TODAY = "today"
    WITHIN_DAYS = "within-days"
    ASYNC = "asynchronous"  # photos and history, answered without a call (store-and-forward)
    SELF_CARE = "self-care"


@dataclass(frozen=True)
class Routing:
    disposition: Disposition
    why: str  # what the patient reads


def route(answers: Answers) -> Routing:
    """Where answers without a red flag go, first rule first."""
    fever = _number(answers, "temperature_f")
    days = _number(answers, "days") or 0
    severity = _number(answers, "severity") or 0  # 0 to 10, the patient's
    complaint = str(answers.get("complaint", ""))
    if _yes(answers, "cannot_keep_fluids", "confused_or_very_drowsy") or severity >= 8:
        return Routing(
            Disposition.NOW, "Severe symptoms, or not keeping fluids down, need a clinician within hours."
        )
    if fever is not None and fever >= 103:
        return Routing(Disposition.NOW, "A fever of 103°F or more needs a clinician within hours.")
    if complaint == "urinary" and (_yes(answers, "flank_pain") or (fever is not None and fever >= 100.4)):
        return Routing(Disposition.NOW, "Urinary symptoms with fever or side pain can be a kidney infection.")
    if complaint == "rash" and not _yes(answers, "rash_spreading_fast") and (fever is None or fever < 100.4):
        return Routing(Disposition.ASYNC, "A skin problem without fever can be seen from photos: send them.")
    if fever is not None and fever >= 100.4:
        return Routing(Disposition.TODAY, "A fever with these symptoms is worth a visit today.")
    if _yes(answers, "worsening") or severity >= 5 or days >= 10:
        return Routing(
            Disposition.WITHIN_DAYS, "Symptoms that are moderate, worsening or long-lasting need a visit."
        )
    if complaint == "urinary":
        return Routing(
            Disposition.WITHIN_DAYS, "Urinary symptoms need a clinician's look, usually with a test."
        )
    return Routing(Disposition.SELF_CARE, "This usually gets better with care at home; here is what helps.")


def triage(answers: Answers, rule_set: RuleSet = RULE_SET) -> tuple[RedFlag | None, Routing]:
    """The red flag first; only without one, the routing."""
    flag = red_flag(answers, rule_set)
    if flag is not None:
        return flag, Routing(Disposition.EMERGENCY, flag.instruction)
    return None, route(answers)


# --- where a routing books: the kind of care and how soon -----------------------------------------

URGENT_CARE, PRIMARY_CARE, BEHAVIORAL, PEDIATRICS = (
    "urgent-care",
    "family-medicine",
    "behavioral-health",
    "pediatrics",
)
MINDS = frozenset({"mood", "sleep"})
ADULT = 18


@dataclass(frozen=True)
class CareOffer:
    """What a routing offers to book: the providers' specialty and the window a slot must start
    in (from now). `specialty` None: nothing to book (an emergency, or self-care)."""

    specialty: str | None
    within: timedelta


def care_offer(disposition: Disposition, answers: Answers, urgent_within: timedelta) -> CareOffer:
    """NOW books urgent care within the clinic's limit; TODAY urgent care before the day is out;
    WITHIN_DAYS the patient's usual kind of care (a child's, a mind's, or primary) within a week."""
    if disposition is Disposition.NOW:
        return CareOffer(URGENT_CARE, urgent_within)
    if disposition is Disposition.TODAY:
        return CareOffer(URGENT_CARE, timedelta(hours=24))
    if disposition in (Disposition.WITHIN_DAYS, Disposition.ASYNC):
        age = _number(answers, "age")
        if str(answers.get("complaint", "")) in MINDS:
            return CareOffer(BEHAVIORAL, timedelta(days=7))
        if age is not None and age < ADULT:
            return CareOffer(PEDIATRICS, timedelta(days=7))
        return CareOffer(PRIMARY_CARE, timedelta(days=7))
    return CareOffer(None, timedelta(0))


# What helps at home, by complaint: general advice of the kind public health bodies publish (the
# CDC's and the NHS's self-care pages), always with when to seek care after all.
SELF_CARE_ADVICE: dict[str, str] = {
    "cold": "Rest, drink plenty of fluids, and use saline drops or honey (not for under-ones) for a cough.",
    "cough": "Rest, drink warm fluids; honey soothes a cough (not for children under one).",
    "sore-throat": "Gargle with warm salt water, drink fluids, and take paracetamol or ibuprofen if you can.",
    "heartburn": "Eat smaller meals, avoid lying down for three hours after eating, and try an antacid.",
    "constipation": "Drink more water, add fibre (fruit, vegetables, whole grains) and keep active.",
    "sleep": "Keep regular hours, avoid screens and caffeine late, and keep the bedroom dark and cool.",
    "allergy": "Antihistamines from the pharmacy help; keep windows shut when pollen is high.",
    "back-pain": "Keep moving gently, use heat, and take ibuprofen or paracetamol if you can.",
    "joint-pain": "Rest the joint, use ice for 20 minutes at a time, and take ibuprofen if you can.",
    "burn": "Cool it under running water for 20 minutes, then cover loosely with cling film.",
    "injury": "Rest, ice, compress and raise it; see a clinician if you cannot put weight on it.",
    "headache": "Rest, drink water, and take paracetamol or ibuprofen if you can.",
    "nausea": "Take small sips of clear fluids often, and eat plain food when you can.",
    "diarrhea": "Drink plenty of fluids (oral rehydration salts help) and eat when you feel like it.",
}
SEEK_CARE = (
    "Book a visit if it is not better in a few days or gets worse; call 911 if you develop any "
    "emergency sign (chest pain, severe trouble breathing, sudden weakness or trouble speaking)."
)


def self_care_advice(answers: Answers) -> str:
    general = "Rest and drink plenty of fluids."
    return f"{SELF_CARE_ADVICE.get(str(answers.get('complaint', '')), general)} {SEEK_CARE}"


# --- an intake, as the clinic keeps it ------------------------------------------------------------


class IntakeStatus(StrEnum):
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"  # routed
    STOPPED = "stopped"  # a red flag held: the emergency instruction was shown


@dataclass(frozen=True)
class EmergencyShown:
    """What the patient was shown when a red flag held, word for word, and when."""

    flag: str
    call: Call
    instruction: str
    rule_set: str
    at: datetime


@dataclass(frozen=True)
class Finding:
    """What an NLP service found in the free text, for the clinician to read: never a decider."""

    text: str
    category: str
    negated: bool
    code: str | None  # SNOMED CT, where the service inferred one
    display: str | None
    score: float


@dataclass(frozen=True)
class Intake:
    intake_id: str
    patient_id: str
    questionnaire: str  # canonical url|version
    rule_set: str  # the signed-off version it was held to
    started_at: datetime
    answers: dict[str, Any]
    status: IntakeStatus = IntakeStatus.IN_PROGRESS
    emergency: EmergencyShown | None = None
    disposition: Disposition | None = None
    why: str = ""
    finished_at: datetime | None = None
    findings: tuple[Finding, ...] | None = None  # None: not looked for (yet), or no free text
    version: int = 1

    @property
    def open(self) -> bool:
        return self.status is IntakeStatus.IN_PROGRESS
