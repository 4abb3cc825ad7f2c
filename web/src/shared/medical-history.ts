// A patient's allergies and medicines as the API has them (`/v1/me/allergies-and-medications`,
// and the visit's clinician's `/v1/appointments/<id>/allergies-and-medications`), and what a form
// sends back: only the entries it adds or changes, each by its id.

export const RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm";
export const MEDRT = "http://va.gov/terminology/medrt";

export type EntryStatus = "active" | "stopped" | "entered-in-error";

export interface Code {
  system: string;
  code: string;
  display: string;
}

export interface AllergyEntry {
  entry_id: string;
  text: string;
  code: Code | null;
  reaction: string;
  severity: "mild" | "moderate" | "severe" | null;
  status: EntryStatus;
  verified: boolean;
  recorded_by: "patient" | "clinician";
  recorded_at: string | null;
}

export interface MedicationEntry {
  entry_id: string;
  text: string;
  code: Code | null;
  dose: string;
  status: EntryStatus;
  verified: boolean;
  recorded_by: "patient" | "clinician";
  recorded_at: string | null;
}

export interface MedicalHistory {
  allergies: AllergyEntry[];
  medications: MedicationEntry[];
  version: number;
  reconciled_at: string | null;
}

export interface NewAllergy {
  text: string;
  code: Code | null;
  reaction: string;
  severity: "mild" | "moderate" | "severe" | null;
}

export interface NewMedication {
  text: string;
  code: Code | null;
  dose: string;
}

const codeIn = (code: Code | null) => (code ? { system: code.system, code: code.code } : null);

/** An allergy as a change sends it (a listed one by its id, with a new status). */
export function allergyBody(entry: AllergyEntry | NewAllergy, status: EntryStatus = "active"): Record<string, unknown> {
  return {
    ...("entry_id" in entry ? { entry_id: entry.entry_id } : {}),
    text: entry.text,
    code: codeIn(entry.code),
    reaction: entry.reaction,
    severity: entry.severity,
    status,
  };
}

export function medicationBody(entry: MedicationEntry | NewMedication, status: EntryStatus = "active"): Record<string, unknown> {
  return {
    ...("entry_id" in entry ? { entry_id: entry.entry_id } : {}),
    text: entry.text,
    code: codeIn(entry.code),
    dose: entry.dose,
    status,
  };
}

/** An allergy in a line: what, then the reaction and how bad. */
export function allergyWords(a: Pick<AllergyEntry, "text" | "reaction" | "severity">): string {
  const how = [a.reaction, a.severity].filter(Boolean).join(", ");
  return how ? `${a.text} (${how})` : a.text;
}

export function medicationWords(m: Pick<MedicationEntry, "text" | "dose">): string {
  return m.dose ? `${m.text}: ${m.dose}` : m.text;
}
