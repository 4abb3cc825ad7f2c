// The provider's waiting queue: minutes waited (counted on between polls, so the number moves
// every minute though the API is asked every few seconds), and what changed since the last poll,
// said once and politely to a screen reader.

export interface QueueEntry {
  appointment_id: string;
  patient_id: string;
  start: string;
  checked_in_at: string;
  waited_s: number;
  reason: string;
}

export interface Queue {
  waiting: QueueEntry[];
  current_appointment_id: string | null;
}

/** Whole minutes waited: `waitedS` as the API answered at `fetchedAt`, plus the time since. */
export function minutesWaited(waitedS: number, fetchedAt: number, now: number): number {
  return Math.max(0, Math.floor((waitedS + Math.max(0, now - fetchedAt) / 1000) / 60));
}

export function minutesWords(minutes: number): string {
  if (minutes < 1) return "under a minute";
  return minutes === 1 ? "1 minute" : `${minutes} minutes`;
}

/** The words for a change in the queue, or "" when nothing a provider cares about changed. */
export function queueAnnouncement(before: Queue | null, after: Queue): string {
  const waiting = after.waiting.length;
  const total = waiting === 0 ? "No one is waiting." : waiting === 1 ? "1 patient waiting." : `${waiting} patients waiting.`;
  if (before === null) return total;
  const had = new Set(before.waiting.map((e) => e.appointment_id));
  const has = new Set(after.waiting.map((e) => e.appointment_id));
  const joined = [...has].filter((id) => !had.has(id)).length;
  const left = [...had].filter((id) => !has.has(id)).length;
  const said: string[] = [];
  if (joined) said.push(joined === 1 ? "A patient checked in." : `${joined} patients checked in.`);
  if (left) said.push(left === 1 ? "A patient left the queue." : `${left} patients left the queue.`);
  return said.length ? `${said.join(" ")} ${total}` : "";
}
