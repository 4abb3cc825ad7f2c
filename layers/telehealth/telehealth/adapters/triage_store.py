"""Virtual triage's items in the clinic table: patients' intakes and the rule sets' sign-offs.

| item | pk | sk |
|---|---|---|
| a symptom intake (versioned: answers, end, NLP's findings) | PATIENT#<patient id> | TRIAGE#<intake id> |
| (the same intake, once a red flag ended it) | gsi1: TRIAGE_EMERGENCIES | gsi1: <shown at>#<intake id> |
| a case of photos for review (store-and-forward; versioned) | PATIENT#<patient id> | CASE#<case id> |
| (the same case, submitted and not yet answered) | gsi1: PHOTO_QUEUE | gsi1: <due at>#<case id> |
| (the same case, by its id: a photo's scan names the case only) | gsi2: CASE#<case id> | gsi2: CASE |
| a medical director's sign-off of a rule set's version | TRIAGE_RULES | SIGNOFF#<version> |

An intake sits in its patient's partition: the patient reads their own by id, the care team lists
a patient's newest first with one query (intake ids sort by time). An intake a red flag ended joins
the sparse emergencies index, which the on-call's view reads newest first.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from telehealth.adapters.dynamo import from_stamp, stamp
from telehealth.adapters.scheduling_store import DynamoSchedulingStore
from telehealth.domain.photo_cases import (
    AnswerOutcome,
    CaseAnswer,
    CaseEscalation,
    CasePhoto,
    CaseStatus,
    Escalation,
    PhotoCase,
    PhotoStatus,
)
from telehealth.domain.triage import Call, Disposition, EmergencyShown, Finding, Intake, IntakeStatus, SignOff
from telehealth.errors import StaleWriteError
from telehealth.ports import IdempotencyClaim, OutboxEntry

RULES_PK = "TRIAGE_RULES"
PHOTO_QUEUE = "PHOTO_QUEUE"
EMERGENCIES = "TRIAGE_EMERGENCIES"


def _intake_body(intake: Intake) -> dict[str, Any]:
    shown = intake.emergency
    return {
        "questionnaire": intake.questionnaire,
        "rule_set": intake.rule_set,
        "started_at": stamp(intake.started_at),
        "answers": intake.answers,
        "status": intake.status.value,
        "emergency": {
            "flag": shown.flag,
            "call": shown.call.value,
            "instruction": shown.instruction,
            "rule_set": shown.rule_set,
            "at": stamp(shown.at),
        }
        if shown
        else None,
        "disposition": intake.disposition.value if intake.disposition else None,
        "why": intake.why,
        "finished_at": stamp(intake.finished_at) if intake.finished_at else None,
        "findings": [
            {
                "text": f.text,
                "category": f.category,
                "negated": f.negated,
                "code": f.code,
                "display": f.display,
                "score": f.score,
            }
            for f in intake.findings
        ]
        if intake.findings is not None
        else None,
    }


def intake_from(p: Mapping[str, Any]) -> Intake:
    body = json.loads(p["intake"])
    shown = body["emergency"]
    return Intake(
        intake_id=str(p["sk"]).removeprefix("TRIAGE#"),
        patient_id=str(p["pk"]).removeprefix("PATIENT#"),
        questionnaire=body["questionnaire"],
        rule_set=body["rule_set"],
        started_at=from_stamp(body["started_at"]),
        answers=body["answers"],
        status=IntakeStatus(body["status"]),
        emergency=EmergencyShown(
            shown["flag"],
            Call(shown["call"]),
            shown["instruction"],
            shown["rule_set"],
            from_stamp(shown["at"]),
        )
        if shown
        else None,
        disposition=Disposition(body["disposition"]) if body["disposition"] else None,
        why=body["why"],
        finished_at=from_stamp(body["finished_at"]) if body["finished_at"] else None,
        findings=tuple(Finding(**f) for f in body["findings"]) if body["findings"] is not None else None,
        version=int(p["version"]),
    )


def _case_body(case: PhotoCase) -> dict[str, Any]:
    return {
        "questionnaire": case.questionnaire,
        "answers": case.answers,
        "opened_at": stamp(case.opened_at),
        "photos": [
            {
                "photo_id": p.photo_id,
                "content_type": p.content_type,
                "size": p.size,
                "sha256": p.sha256,
                "added_at": stamp(p.added_at),
                "status": p.status.value,
                "reason": p.reason,
            }
            for p in case.photos
        ],
        "status": case.status.value,
        "submitted_at": stamp(case.submitted_at) if case.submitted_at else None,
        "due_at": stamp(case.due_at) if case.due_at else None,
        "answer": {
            "provider_id": case.answer.provider_id,
            "assessment": case.answer.assessment,
            "advice": case.answer.advice,
            "outcome": case.answer.outcome.value,
            "answered_at": stamp(case.answer.answered_at),
        }
        if case.answer
        else None,
        "escalations": [{"level": e.level.value, "at": stamp(e.at)} for e in case.escalations],
        "patient_state": case.patient_state,
        "patient_told_at": stamp(case.patient_told_at) if case.patient_told_at else None,
    }


def case_from(p: Mapping[str, Any]) -> PhotoCase:
    body = json.loads(p["case"])
    return PhotoCase(
        case_id=str(p["sk"]).removeprefix("CASE#"),
        patient_id=str(p["pk"]).removeprefix("PATIENT#"),
        questionnaire=body["questionnaire"],
        answers=body["answers"],
        opened_at=from_stamp(body["opened_at"]),
        photos=tuple(
            CasePhoto(
                ph["photo_id"],
                ph["content_type"],
                int(ph["size"]),
                ph["sha256"],
                from_stamp(ph["added_at"]),
                PhotoStatus(ph["status"]),
                ph["reason"],
            )
            for ph in body["photos"]
        ),
        status=CaseStatus(body["status"]),
        submitted_at=from_stamp(body["submitted_at"]) if body["submitted_at"] else None,
        due_at=from_stamp(body["due_at"]) if body["due_at"] else None,
        answer=_answer_from(body.get("answer")),
        escalations=tuple(
            CaseEscalation(Escalation(e["level"]), from_stamp(e["at"])) for e in body.get("escalations", ())
        ),
        version=int(p["version"]),
        patient_state=body.get("patient_state"),
        patient_told_at=from_stamp(body["patient_told_at"]) if body.get("patient_told_at") else None,
    )


def _answer_from(raw: Mapping[str, Any] | None) -> CaseAnswer | None:
    if not raw:
        return None
    return CaseAnswer(
        raw["provider_id"],
        raw["assessment"],
        raw["advice"],
        AnswerOutcome(raw["outcome"]),
        from_stamp(raw["answered_at"]),
    )


class DynamoTriageStore(DynamoSchedulingStore):
    """The scheduling store's reads of profiles and providers, and triage's own items."""

    def intake(self, patient_id: str, intake_id: str) -> Intake | None:
        found = self._get(f"PATIENT#{patient_id}", f"TRIAGE#{intake_id}")
        return intake_from(found) if found else None

    def intakes(self, patient_id: str, limit: int) -> list[Intake]:
        items = self._client.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={":pk": {"S": f"PATIENT#{patient_id}"}, ":prefix": {"S": "TRIAGE#"}},
            ScanIndexForward=False,
            Limit=limit,
            ConsistentRead=True,
        )["Items"]
        return [intake_from(self._plain(i)) for i in items]

    def save_intake(
        self, intake: Intake, outbox: list[OutboxEntry], claim: IdempotencyClaim | None = None
    ) -> None:
        item = {
            "pk": f"PATIENT#{intake.patient_id}",
            "sk": f"TRIAGE#{intake.intake_id}",
            "intake": json.dumps(_intake_body(intake), separators=(",", ":")),
        }
        if intake.emergency is not None:
            item |= {"gsi1pk": EMERGENCIES, "gsi1sk": f"{stamp(intake.emergency.at)}#{intake.intake_id}"}
        put = self._versioned_put(
            item,
            counter="version",
            value=intake.version,
        )
        self._commit([put], outbox, claim, StaleWriteError("the intake changed meanwhile"))

    def emergencies(self, limit: int) -> list[Intake]:
        """Intakes a red flag ended, newest first."""
        items = self._client.query(
            TableName=self.table,
            IndexName="gsi1",
            KeyConditionExpression="gsi1pk = :pk",
            ExpressionAttributeValues={":pk": {"S": EMERGENCIES}},
            ScanIndexForward=False,
            Limit=limit,
        )["Items"]
        return [intake_from(self._plain(i)) for i in items]

    # --- store-and-forward's cases ---------------------------------------------------------------

    def case(self, patient_id: str, case_id: str) -> PhotoCase | None:
        found = self._get(f"PATIENT#{patient_id}", f"CASE#{case_id}")
        return case_from(found) if found else None

    def cases(self, patient_id: str, limit: int) -> list[PhotoCase]:
        items = self._client.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={":pk": {"S": f"PATIENT#{patient_id}"}, ":prefix": {"S": "CASE#"}},
            ScanIndexForward=False,
            Limit=limit,
            ConsistentRead=True,
        )["Items"]
        return [case_from(self._plain(i)) for i in items]

    def save_case(
        self, case: PhotoCase, outbox: list[OutboxEntry], claim: IdempotencyClaim | None = None
    ) -> None:
        item: dict[str, Any] = {
            "pk": f"PATIENT#{case.patient_id}",
            "sk": f"CASE#{case.case_id}",
            "case": json.dumps(_case_body(case), separators=(",", ":")),
            "gsi2pk": f"CASE#{case.case_id}",
            "gsi2sk": "CASE",
        }
        if case.status is CaseStatus.SUBMITTED and case.due_at is not None:
            item |= {"gsi1pk": PHOTO_QUEUE, "gsi1sk": f"{stamp(case.due_at)}#{case.case_id}"}
        put = self._versioned_put(item, counter="version", value=case.version)
        self._commit([put], outbox, claim, StaleWriteError("the case changed meanwhile"))

    def queue(self, limit: int) -> list[PhotoCase]:
        """Submitted cases not yet answered, the soonest due first."""
        return [
            found
            for item in self._client.query(
                TableName=self.table,
                IndexName="gsi1",
                KeyConditionExpression="gsi1pk = :pk",
                ExpressionAttributeValues={":pk": {"S": PHOTO_QUEUE}},
                Limit=limit,
            )["Items"]
            if (found := case_from(self._plain(item))).status is CaseStatus.SUBMITTED
        ]

    def case_by_id(self, case_id: str) -> PhotoCase | None:
        """A case found by its id alone (the index is eventually consistent: the item itself is
        read again, consistently)."""
        for found in self._query(
            IndexName="gsi2",
            KeyConditionExpression="gsi2pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"CASE#{case_id}"}},
        ):
            return self.case(str(found["pk"]).removeprefix("PATIENT#"), case_id)
        return None

    def sign_offs(self) -> tuple[SignOff, ...]:
        items = self._client.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": RULES_PK}},
            ConsistentRead=True,
        )["Items"]
        return tuple(
            SignOff(str(p["version"]), str(p["signed_by"]), from_stamp(str(p["at"])))
            for p in map(self._plain, items)
        )

    def save_sign_off(self, sign_off: SignOff) -> None:
        try:
            self._client.put_item(
                TableName=self.table,
                Item=self._item(
                    {
                        "pk": RULES_PK,
                        "sk": f"SIGNOFF#{sign_off.version}",
                        "version": sign_off.version,
                        "signed_by": sign_off.signed_by,
                        "at": stamp(sign_off.at),
                    }
                ),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return  # signed off already: the first sign-off stands
