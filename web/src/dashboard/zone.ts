// Days and times in a named zone (the provider's), with the platform's Intl only: a provider's
// "today" is their wall clock's, whatever zone the browser is in.
import { wallClock } from "../shared/zone.ts";

/** Milliseconds the zone's wall clock is ahead of UTC at `instant`. */
export function offsetMs(instant: Date, zone: string): number {
  const p = wallClock(instant, zone);
  const wall = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
  return wall - (instant.getTime() - instant.getMilliseconds());
}

/** The calendar day (`YYYY-MM-DD`) of `instant` on the zone's wall clock. */
export function dayIn(instant: Date, zone: string): string {
  const p = wallClock(instant, zone);
  return `${p.year}-${String(p.month).padStart(2, "0")}-${String(p.day).padStart(2, "0")}`;
}

/** The instant a wall-clock time happens in the zone (the later reading where DST repeats an hour). */
export function wallClockInstant(day: string, time: string, zone: string): Date {
  const [y, m, d] = day.split("-").map(Number);
  const [hh, mm] = time.split(":").map(Number);
  const guess = Date.UTC(y, m - 1, d, hh, mm);
  let instant = guess - offsetMs(new Date(guess), zone);
  // Near a DST change the offset at the first answer differs from the guess's; once more settles it.
  instant = guess - offsetMs(new Date(instant), zone);
  return new Date(instant);
}

/** `[from, to)` of a whole day in the zone, as the API's query wants them (RFC 3339, UTC). */
export function dayBounds(day: string, zone: string): { from: string; to: string } {
  const [y, m, d] = day.split("-").map(Number);
  const next = new Date(Date.UTC(y, m - 1, d + 1)).toISOString().slice(0, 10);
  return { from: iso(wallClockInstant(day, "00:00", zone)), to: iso(wallClockInstant(next, "00:00", zone)) };
}

function iso(instant: Date): string {
  return instant.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** "9:30 AM" on the zone's wall clock. */
export function clockTime(instant: Date | string, zone: string): string {
  return new Intl.DateTimeFormat("en-US", { timeZone: zone, hour: "numeric", minute: "2-digit" }).format(
    new Date(instant),
  );
}

/** "Monday, December 7" for a `YYYY-MM-DD` day. */
export function longDay(day: string): string {
  const [y, m, d] = day.split("-").map(Number);
  return new Intl.DateTimeFormat("en-US", { timeZone: "UTC", weekday: "long", month: "long", day: "numeric" }).format(
    new Date(Date.UTC(y, m - 1, d)),
  );
}
