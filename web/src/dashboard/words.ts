// What the dashboard says for a failed request: the shared plain words, with the kinds a clinician
// or an administrator meets that a patient never does.
import { ApiError } from "../shared/api.ts";
import type { PrescriptionStatus } from "../shared/prescriptions.ts";

const CLINIC_WORDS: Record<string, string> = {
  conflict: "Someone else changed this since you opened it. Reload to see their change, then make yours again.",
  "already-reviewed": "This estimate has already been reviewed.",
  "not-waiting": "This patient is no longer waiting to be admitted.",
  "not-in-meeting": "This visit has no video call going on.",
  "no-estimate": "There are no vital sign estimates for this visit yet.",
  "other-provider": "That time belongs to another provider.",
  "not-a-guest": "That person is not invited to this visit.",
  "not-a-guest-role": "A guest is an interpreter or a caregiver.",
  forbidden: "Your account is not allowed to do that. Ask the clinic's administrator if you need to.",
  "over-refund": "That is more than was taken for this visit and not yet refunded.",
  "nothing-captured": "Nothing has been taken for this visit yet, so there is nothing to refund.",
  "payment-refused": "Stripe refused that. Check the payment in Stripe's dashboard.",
  "visit-not-seen": "The note opens once you have admitted the patient to the visit.",
  "prescribing-unavailable": "The e-prescribing network is not answering. Send again in a moment: it will not be sent twice.",
  "prescription-refused": "A check refused this prescription. Check it again to see why.",
  "acknowledge-alerts": "Read and tick each warning and alert, then send again.",
};

// Kinds whose detail the API writes for the clinician, in the clinic's rules' own words (never
// echoing what was sent): the dashboard says the detail itself.
const DETAILED = new Set([
  "prescription-dispensed",
  "prescription-cancelled",
  "prescription-not-sent",
  "prescription-refused-by-network",
  "unknown-pharmacy",
  "patient-phone-required",
  "sig-required",
  "refills-not-allowed",
  "too-many-refills",
  "dea-registrations",
  "no-such-renewal",
  "renewal-answered",
  // Triage and store-and-forward: what stops a sign-off or an answer.
  "triage-not-signed-off",
  "case-answered",
  "case-not-submitted",
  "photos-scanning",
  "answer-refused",
]);

export function saidOf(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.kind in CLINIC_WORDS) return CLINIC_WORDS[error.kind];
    if (DETAILED.has(error.kind) && typeof error.problem.detail === "string") return error.problem.detail;
    if (error.status === 403) return CLINIC_WORDS.forbidden;
    return error.plain;
  }
  return error instanceof Error ? error.message : String(error);
}

export function isConflict(error: unknown): boolean {
  return error instanceof ApiError && error.status === 409 && error.kind === "conflict";
}

/** Where a prescription stands, in the clinician's words. */
export function rxStatusWords(rx: { status: PrescriptionStatus; failure_reason: string; fills: unknown[] }): string {
  switch (rx.status) {
    case "sending":
      return "Being sent";
    case "submitted":
      return "Sent to the network";
    case "transmitted":
      return "At the pharmacy";
    case "failed":
      return `Not delivered: ${rx.failure_reason || "the network gave no reason"}`;
    case "dispensed":
      return rx.fills.length > 1 ? `Dispensed (${rx.fills.length} fills)` : "Dispensed";
    case "cancel-requested":
      return "Cancelling at the pharmacy";
    case "cancelled":
      return "Cancelled";
  }
}

/** A patient's answer to a question, as a clinician reads it. */
export function answerWords(answer: unknown): string {
  if (answer === true) return "Yes";
  if (answer === false) return "No";
  if (answer === null || answer === undefined) return "(left blank)";
  return String(answer);
}

/** An instant in the reader's own zone, short: "Dec 1, 2026, 9:30 AM". */
export function momentWords(instant: string): string {
  return new Date(instant).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}
