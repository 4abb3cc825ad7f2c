// The visit note as the editor holds it: what the API sends and takes, the draft kept in the tab
// until the API has it (a dropped connection loses no words), and what the save status says.

export interface Diagnosis {
  code: string;
  display: string;
  plain?: string | null;
}

export interface Section {
  title: string;
  text: string;
}

export interface FollowUp {
  within_days: number;
  reason: string;
}

export interface Note {
  appointment_id: string;
  status: "draft" | "signed" | "amended";
  revision: number;
  saved_at?: string | null;
  access: "author" | "clinician" | "billing";
  diagnoses: Diagnosis[];
  template?: string[] | null;
  sections?: Section[] | null;
  instructions?: string | null;
  follow_up?: FollowUp | null;
  observation_ids?: string[] | null;
  signed: { number: number; signed_at: string; reason: string }[];
  addenda?: { number: number; text: string; added_at: string }[] | null;
}

/** What the clinician has typed: the body of a save, less the revision it is made on. */
export interface Draft {
  sections: Section[];
  diagnoses: Diagnosis[];
  instructions: string;
  followUpDays: string;
  followUpReason: string;
  observationIds: string[];
}

export function draftOf(note: Note): Draft {
  const sections = note.sections ?? (note.template ?? []).map((title) => ({ title, text: "" }));
  return {
    sections: sections.map((s) => ({ ...s })),
    diagnoses: [...note.diagnoses],
    instructions: note.instructions ?? "",
    followUpDays: note.follow_up ? String(note.follow_up.within_days) : "",
    followUpReason: note.follow_up?.reason ?? "",
    observationIds: [...(note.observation_ids ?? [])],
  };
}

/** The API's body for a draft, an amendment or a sign-off's content. */
export function contentBody(draft: Draft): Record<string, unknown> {
  const days = Number.parseInt(draft.followUpDays, 10);
  return {
    sections: draft.sections,
    diagnoses: draft.diagnoses.map((d) => d.code),
    instructions: draft.instructions,
    follow_up: Number.isFinite(days) && days > 0 ? { within_days: days, reason: draft.followUpReason.trim() } : null,
    observation_ids: draft.observationIds,
  };
}

/** The tab's copy of words the API does not have yet, with the revision they were typed on. */
export interface KeptDraft {
  revision: number;
  draft: Draft;
}

const KEY = (appointmentId: string) => `visit-note:${appointmentId}`;

/** Kept in this tab alone (sessionStorage): gone when the tab closes, never in another's hands. */
export function keepUnsaved(storage: Storage, appointmentId: string, kept: KeptDraft | null): void {
  if (kept === null) storage.removeItem(KEY(appointmentId));
  else storage.setItem(KEY(appointmentId), JSON.stringify(kept));
}

/** Words typed on the note's current revision and not saved (the connection dropped), if any. */
export function unsavedFor(storage: Storage, appointmentId: string, revision: number): Draft | null {
  try {
    const kept = JSON.parse(storage.getItem(KEY(appointmentId)) ?? "null") as KeptDraft | null;
    return kept && kept.revision === revision ? kept.draft : null;
  } catch {
    return null;
  }
}

export type SaveState = "saved" | "saving" | "waiting" | "offline" | "refused";

export function saveWords(state: SaveState, savedAt: string | null, zone: string): string {
  switch (state) {
    case "saving":
      return "Saving…";
    case "waiting":
      return "Changes not saved yet.";
    case "offline":
      return "Not saved: no connection. Your words are kept in this tab and saved when the connection returns.";
    case "refused":
      return "Not saved: see the message above.";
    case "saved":
      return savedAt
        ? `All changes saved at ${new Date(savedAt).toLocaleTimeString("en-US", { timeZone: zone, hour: "numeric", minute: "2-digit" })}.`
        : "Nothing written yet.";
  }
}

export function statusWords(note: Note): string {
  if (note.status === "draft") return "Draft: not yet in the patient's record.";
  const last = note.signed[note.signed.length - 1];
  const when = new Date(last.signed_at).toISOString().slice(0, 16).replace("T", " ");
  return note.status === "signed" ? `Signed ${when} UTC.` : `Amended ${note.signed.length - 1} time(s); last signed ${when} UTC.`;
}
