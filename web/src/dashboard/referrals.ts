// The front desk's worklist: referrals health systems sent (GET /v1/referrals), and how each is
// put in words on screen.
import type { FoundPatient } from "./patients.ts";

/** GET /v1/referrals, GET /v1/referrals/<id> */
export interface Referral {
  referral_id: string;
  reason: string;
  requester: string;
  priority: "routine" | "urgent" | "asap" | "stat";
  service: string | null;
  authored_at: string;
  status: "open" | "booked";
  appointment_id: string | null;
  patient: FoundPatient | null;
}

const PRIORITY_WORDS: Record<Referral["priority"], string> = {
  stat: "Immediately",
  asap: "As soon as possible",
  urgent: "Urgent",
  routine: "Routine",
};

/** "Urgent", "Routine": FHIR's priority codes as the front desk says them. */
export function priorityWords(priority: Referral["priority"]): string {
  return PRIORITY_WORDS[priority] ?? "Routine";
}

/** "Telehealth follow-up: Follow-up of palpitations": what is asked for, and why. */
export function askedFor(r: Referral): string {
  return r.service ? `${r.service}: ${r.reason}` : r.reason;
}

/** "Received November 30, 2026" in the viewer's zone. */
export function receivedWords(iso: string, zone: string): string {
  const day = new Intl.DateTimeFormat("en-US", { timeZone: zone, year: "numeric", month: "long", day: "numeric" }).format(
    new Date(iso),
  );
  return `Received ${day}`;
}
