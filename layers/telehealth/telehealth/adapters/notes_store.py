"""The clinical notes context's items in the clinic table: a visit's note in a partition of its own
(`NOTE#<appointment id>`), so the visit's file (`APPT#<id>`, read whole at every step of the
visit) never carries a note's drafts.

Key design (access patterns, and which module owns each, in docs/architecture.md):

| item | pk | sk |
|---|---|---|
| the note as it stands (draft or signed: each signed version, each addendum) | NOTE#<id> | NOTE |
| each revision as saved (autosave's history; never rewritten) | NOTE#<id> | REV#<8 digits> |

(`<id>`: the appointment's.)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from telehealth.adapters.dynamo import from_stamp, stamp
from telehealth.adapters.table_store import TableStore
from telehealth.domain.notes import Addendum, ClinicalNote, Diagnosis, FollowUp, NoteContent, SignedVersion
from telehealth.errors import StaleWriteError
from telehealth.ports import IdempotencyClaim, OutboxEntry


def content_json(content: NoteContent) -> dict[str, Any]:
    return {
        "sections": [[title, text] for title, text in content.sections],
        "diagnoses": [[d.code, d.display] for d in content.diagnoses],
        "instructions": content.instructions,
        "follow_up": [content.follow_up.within_days, content.follow_up.reason] if content.follow_up else None,
        "observation_ids": list(content.observation_ids),
    }


def content_from(raw: Mapping[str, Any]) -> NoteContent:
    follow = raw.get("follow_up")
    return NoteContent(
        sections=tuple((str(t), str(x)) for t, x in raw["sections"]),
        diagnoses=tuple(Diagnosis(str(c), str(d)) for c, d in raw["diagnoses"]),
        instructions=str(raw.get("instructions", "")),
        follow_up=FollowUp(int(follow[0]), str(follow[1])) if follow else None,
        observation_ids=tuple(str(o) for o in raw.get("observation_ids", ())),
    )


def note_from(p: Mapping[str, Any]) -> ClinicalNote:
    body = json.loads(p["note"])
    return ClinicalNote(
        appointment_id=str(p["pk"]).removeprefix("NOTE#"),
        visit_version=int(p["visit_version"]),
        patient_id=p["patient_id"],
        provider_id=p["provider_id"],
        template=tuple(body["template"]),
        content=content_from(body["content"]),
        revision=int(p["revision"]),
        saved_at=from_stamp(p["saved_at"]),
        signed=tuple(
            SignedVersion(
                int(s["number"]),
                int(s["revision"]),
                from_stamp(s["signed_at"]),
                content_from(s["content"]),
                s["reason"],
                s["rendered"],
            )
            for s in body["signed"]
        ),
        addenda=tuple(
            Addendum(int(a["number"]), a["text"], a["author_id"], from_stamp(a["added_at"]), a["rendered"])
            for a in body["addenda"]
        ),
    )


class DynamoNoteStore(TableStore):
    def note(self, appointment_id: str) -> ClinicalNote | None:
        item = self._client.get_item(
            TableName=self.table,
            Key={"pk": {"S": f"NOTE#{appointment_id}"}, "sk": {"S": "NOTE"}},
            ConsistentRead=True,
        ).get("Item")
        return note_from(self._plain(item)) if item else None

    def save_note(
        self, note: ClinicalNote, outbox: list[OutboxEntry], claim: IdempotencyClaim | None = None
    ) -> None:
        """The note at its new revision (on the one before it: a save made on a stale revision
        is refused whole) with that revision's copy and its outbox entries."""
        pk = f"NOTE#{note.appointment_id}"
        body = {
            "template": list(note.template),
            "content": content_json(note.content),
            "signed": [
                {
                    "number": s.number,
                    "revision": s.revision,
                    "signed_at": stamp(s.signed_at),
                    "content": content_json(s.content),
                    "reason": s.reason,
                    "rendered": s.rendered,
                }
                for s in note.signed
            ],
            "addenda": [
                {
                    "number": a.number,
                    "text": a.text,
                    "author_id": a.author_id,
                    "added_at": stamp(a.added_at),
                    "rendered": a.rendered,
                }
                for a in note.addenda
            ],
        }
        head = self._versioned_put(
            {
                "pk": pk,
                "sk": "NOTE",
                "visit_version": note.visit_version,
                "patient_id": note.patient_id,
                "provider_id": note.provider_id,
                "status": note.status,
                "saved_at": stamp(note.saved_at),
                "note": json.dumps(body, separators=(",", ":")),
                # A signed note asking for a follow-up is on the desk's worklist, by the day it is
                # wanted by (an amendment that takes it out takes it off).
                **(
                    {"gsi2pk": "FOLLOWUP", "gsi2sk": f"{due.isoformat()}#{note.appointment_id}"}
                    if (due := note.follow_up_due)
                    else {}
                ),
            },
            counter="revision",
            value=note.revision,
        )
        copy = {
            "Put": {
                "TableName": self.table,
                "Item": self._item(
                    {
                        "pk": pk,
                        "sk": f"REV#{note.revision:08d}",
                        "status": note.status,
                        "saved_at": stamp(note.saved_at),
                        "content": json.dumps(content_json(note.content), separators=(",", ":")),
                    }
                ),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
        self._commit([head, copy], outbox, claim, StaleWriteError("the note was saved elsewhere meanwhile"))

    def follow_ups(self, since: date, limit: int) -> list[ClinicalNote]:
        """Signed notes asking for a follow-up wanted by `since` or later, soonest first (at most
        `limit`)."""
        arguments: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": "gsi2",
            "KeyConditionExpression": "gsi2pk = :f AND gsi2sk >= :since",
            "ExpressionAttributeValues": {":f": {"S": "FOLLOWUP"}, ":since": {"S": since.isoformat()}},
        }
        found: list[ClinicalNote] = []
        while len(found) < limit:
            page = self._client.query(**arguments, Limit=limit - len(found))
            found += [note_from(self._plain(i)) for i in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                break
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return found

    def revisions(self, appointment_id: str, limit: int = 50) -> list[tuple[int, str, datetime]]:
        """The note's saved revisions, newest first: (revision, status, when)."""
        answer = self._client.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :rev)",
            ExpressionAttributeValues={":pk": {"S": f"NOTE#{appointment_id}"}, ":rev": {"S": "REV#"}},
            ProjectionExpression="sk, #s, saved_at",
            ExpressionAttributeNames={"#s": "status"},
            ScanIndexForward=False,
            Limit=limit,
        )
        return [
            (int(str(p["sk"]).removeprefix("REV#")), p["status"], from_stamp(p["saved_at"]))
            for p in (self._plain(i) for i in answer.get("Items", []))
        ]

    def revision(self, appointment_id: str, revision: int) -> NoteContent | None:
        item = self._client.get_item(
            TableName=self.table,
            Key={"pk": {"S": f"NOTE#{appointment_id}"}, "sk": {"S": f"REV#{revision:08d}"}},
        ).get("Item")
        return content_from(json.loads(self._plain(item)["content"])) if item else None
