// What the portal says about a visit, in the patient's words, from the API's states and codes.
// Kept free of the DOM so it is unit-tested as it is.
import { formatTime, formatUntil, formatWhen } from "./time.ts";
import type { PrescriptionStatus } from "../shared/prescriptions.ts";

export type VisitState = "booked" | "checked-in" | "admitted" | "in-call" | "completed" | "no-show" | "cancelled";

/** GET /v1/appointments/{id}/waiting-room */
export interface WaitingRoom {
  appointment_id: string;
  state: VisitState;
  check_in_opens_at: string;
  position: number | null;
  estimated_wait_s: number | null;
  outcome: string | null;
  recording: "none" | "recording" | "processing" | "available";
  next_step: string;
}

export const OVER: ReadonlySet<VisitState> = new Set(["completed", "no-show", "cancelled"]);

/** "About 5 minutes"; minutes only, so a live region speaks when the wait really changes. */
export function waitWords(seconds: number | null): string {
  if (seconds === null) return "";
  if (seconds < 60) return "Less than a minute";
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `About ${minutes} minute${minutes === 1 ? "" : "s"}`;
  const hours = Math.floor(minutes / 60);
  const rest = Math.round((minutes % 60) / 5) * 5;
  const hourWords = `${hours} hour${hours === 1 ? "" : "s"}`;
  return rest ? `About ${hourWords} ${rest} minutes` : `About ${hourWords}`;
}

export function positionWords(position: number | null): string {
  if (position === null) return "";
  if (position <= 1) return "You are next in line.";
  return `You are number ${position} in line.`;
}

/**
 * The waiting room's one-line status (spoken by a polite live region whenever it changes) and its
 * estimated wait.
 */
export function waitingStatus(room: WaitingRoom): { status: string; wait: string } {
  switch (room.state) {
    case "booked":
      return { status: "You have not checked in yet.", wait: "" };
    case "checked-in": {
      const wait = waitWords(room.estimated_wait_s);
      return { status: positionWords(room.position) || "You are checked in.", wait: wait ? `Estimated wait: ${wait.toLowerCase()}.` : "" };
    }
    case "admitted":
      return { status: "Your clinician is ready for you. Join your visit now.", wait: "" };
    case "in-call":
      return { status: "Your visit is in progress. You can join again.", wait: "" };
    case "completed":
      return { status: "Your visit has ended.", wait: "" };
    case "no-show":
      return { status: "This visit did not take place.", wait: "" };
    case "cancelled":
      return { status: "This visit was cancelled.", wait: "" };
  }
}

/**
 * How the visit ended, said to the patient. The API's `outcome` reads with its state: on a no-show
 * it names who did not come (`patient`, `provider`); on a completed visit what closed it.
 */
export function outcomeWords(outcome: string | null, state: VisitState): string {
  if (state === "completed") {
    if (outcome === "provider") return "Your clinician ended the visit.";
    if (outcome === "meeting-ended") return "The video call has ended.";
    if (outcome === "overrun") return "The visit ran past its time and was closed.";
    return "Your visit is over.";
  }
  if (state === "no-show") {
    if (outcome === "patient" || outcome === "patient-no-show") {
      return "We did not see you join the call, so the visit was closed.";
    }
    if (outcome === "provider" || outcome === "provider-no-show") {
      return "Your clinician could not join the call. We are sorry; the clinic will be in touch.";
    }
    return "The visit did not take place.";
  }
  if (state === "cancelled") {
    if (outcome === "not-admitted") return "The clinic could not see you in time, so the visit was cancelled. We are sorry.";
    return "This visit was cancelled.";
  }
  return "";
}

/** What comes after the visit: the API's next step, and the recording when there is one. */
export function afterVisitWords(room: WaitingRoom): string[] {
  const words = [room.next_step];
  if (OVER.has(room.state) && !/book/i.test(room.next_step)) words.push("If you need another visit, you can book one below.");
  if (room.recording === "processing") words.push("The recording of your visit is being prepared.");
  if (room.recording === "available") words.push("The recording of your visit is ready; the clinic can share it with you.");
  return words.filter(Boolean);
}

/** Whether check-in is open yet and, if not, when it opens, in the patient's zone. */
export function checkInOpening(
  opensAt: string,
  now: Date,
  zone: string,
  locale?: string,
): { open: boolean; words: string } {
  const opens = new Date(opensAt);
  if (opens <= now) return { open: true, words: "Check-in is open." };
  const sameDay = opens.getTime() - now.getTime() < 12 * 3600 * 1000;
  const at = sameDay ? formatTime(opens, zone, locale) : formatWhen(opens, zone, locale);
  return { open: false, words: `Check-in opens at ${at} (${formatUntil(opens, now, locale)}), 15 minutes before your visit.` };
}

export type AppointmentStatus = "booked" | "cancelled" | "noshow" | "fulfilled";

export function appointmentStatusWords(status: AppointmentStatus): string {
  return { booked: "Booked", cancelled: "Cancelled", noshow: "Did not take place", fulfilled: "Completed" }[status];
}

/** "family-medicine" -> "Family medicine": the API's codes as words. */
export function codeWords(code: string): string {
  const words = code.replace(/[-_]+/g, " ").trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** A language code ("yo") by its name in the reader's language ("Yoruba"). */
export function languageName(code: string, locale?: string): string {
  try {
    return new Intl.DisplayNames(locale ? [locale] : undefined, { type: "language" }).of(code) ?? code;
  } catch {
    return code;
  }
}

/** Where a prescription stands, in a patient's words. */
export function prescriptionWords(status: PrescriptionStatus): string {
  switch (status) {
    case "sending":
    case "submitted":
      return "On its way to your pharmacy";
    case "transmitted":
      return "Your pharmacy has it";
    case "failed":
      return "It did not reach your pharmacy: the clinic will contact you";
    case "dispensed":
      return "Picked up or delivered";
    case "cancel-requested":
    case "cancelled":
      return "Cancelled by your clinician";
  }
}
