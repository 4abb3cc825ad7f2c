// What the vitals view says about one visit's estimates: each reading in the clinic's words, with
// the estimator's signal quality (its confidence) and where the provider's review stands.
import { ApiError } from "../shared/api.ts";
import { clockTime, dayIn, longDay } from "./zone.ts";

export interface Reading {
  sign: "heart-rate" | "respiratory-rate";
  per_minute: number;
  quality: number;
  status: "preliminary" | "final" | "entered-in-error";
  observation_id: string;
  /** When the visit's provider reviewed it (RFC 3339); null while preliminary. */
  reviewed_at?: string | null;
}

export interface Vitals {
  appointment_id: string;
  method: string;
  readings: Reading[];
  refused: Record<string, string>;
  note: string;
}

const SIGN_WORDS: Record<string, { name: string; unit: string }> = {
  "heart-rate": { name: "Heart rate", unit: "beats a minute" },
  "respiratory-rate": { name: "Breathing rate", unit: "breaths a minute" },
  "oxygen-saturation": { name: "Oxygen saturation", unit: "%" },
};

// Why a sign was not read, as the worker says it (its codes), in the provider's words.
const REFUSAL_WORDS: Record<string, string> = {
  too_short: "the video is too short to measure",
  no_face: "no face was found in enough of the video",
  too_dark: "the face is too dark to read",
  too_much_motion: "the face moves too much",
  flickering_light: "the light flickers at the rate the skin changes",
  weak_pulse: "no pulse strong and steady enough to read",
  weak_breathing: "no breathing movement clear enough to read",
  unreadable_video: "the video could not be read",
  not_estimated:
    "not estimated from video: no camera method is cleared for it, and its error with darker skin is unresolved. Use a pulse oximeter.",
};

export function refusalWords(reason: string): string {
  return REFUSAL_WORDS[reason] ?? reason;
}

const STATUS_WORDS: Record<Reading["status"], string> = {
  preliminary: "Preliminary: not reviewed",
  final: "Confirmed",
  "entered-in-error": "Rejected",
};

export function signName(sign: string): string {
  return SIGN_WORDS[sign]?.name ?? sign;
}

export interface ReadingRow {
  name: string;
  estimate: string;
  quality: string;
  review: string;
  /** Whether the provider still has to confirm or reject it. */
  open: boolean;
}

/** The reading as its row says it; a review's time on the provider's wall clock (`zone`), with its
 * day unless it is `now`'s. Only the visit's own provider may read or review its estimates, so a
 * review shown is theirs. */
export function readingRow(reading: Reading, zone: string, now: Date = new Date()): ReadingRow {
  const words = SIGN_WORDS[reading.sign] ?? { name: reading.sign, unit: "a minute" };
  return {
    name: words.name,
    estimate: `${reading.per_minute} ${words.unit}`,
    quality: `${Math.round(Math.min(Math.max(reading.quality, 0), 1) * 100)}%`,
    review: reviewWords(reading, zone, now),
    open: reading.status === "preliminary",
  };
}

function reviewWords(reading: Reading, zone: string, now: Date): string {
  const status = STATUS_WORDS[reading.status] ?? reading.status;
  if (reading.status === "preliminary" || !reading.reviewed_at) return status;
  const at = new Date(reading.reviewed_at);
  const day = dayIn(at, zone);
  const when = day === dayIn(now, zone) ? "" : ` on ${longDay(day)}`;
  return `${status} by you${when} at ${clockTime(at, zone)}`;
}

/** What is left to review, said once the estimates are read and after each review. */
export function reviewSummary(readings: Reading[]): string {
  if (readings.length === 0) return "";
  const open = readings.filter((r) => r.status === "preliminary").length;
  if (open === 0) return "You have reviewed every estimate of this visit.";
  return open === 1 ? "1 estimate waits for your review." : `${open} estimates wait for your review.`;
}

/** The API answers a visit without estimates as not found, whichever the reason: the worker may
 * still be reading the recording, so the provider is offered to look again. */
export function notYet(error: unknown): boolean {
  return error instanceof ApiError && error.problem.status === 404;
}

export const NOT_YET_WORDS =
  "There are no vital sign estimates for this visit yet: its video may still be being processed (a few minutes after the visit ends), or it was not recorded.";
