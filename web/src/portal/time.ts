// Times as the patient lives them: in their own zone (the browser's), whatever zone the provider
// sits in. The API answers slots in the zone it is asked for; searching by a calendar day needs
// that day's first and last instant in the patient's zone, which the platform has no library for:
// Intl gives a zone's offset at an instant, and two passes settle a day that starts on a DST change.

import { wallClock } from "../shared/zone.ts";

export function browserZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}

/** The zone's offset from UTC at an instant, in minutes (New York in winter: -300). */
export function zoneOffsetMinutes(instant: Date, zone: string): number {
  const clock = wallClock(instant, zone);
  const part = (type: string): number => clock[type] ?? 0;
  const wall = Date.UTC(part("year"), part("month") - 1, part("day"), part("hour"), part("minute"), part("second"));
  const whole = Math.floor(instant.getTime() / 1000) * 1000;
  return Math.round((wall - whole) / 60000);
}

/** The instant a calendar day (`YYYY-MM-DD`) begins in a zone. */
export function startOfDay(day: string, zone: string): Date {
  const [year, month, date] = day.split("-").map(Number);
  const wallMidnight = Date.UTC(year, month - 1, date);
  let instant = wallMidnight - zoneOffsetMinutes(new Date(wallMidnight), zone) * 60000;
  instant = wallMidnight - zoneOffsetMinutes(new Date(instant), zone) * 60000;
  return new Date(instant);
}

/** Today's date (`YYYY-MM-DD`) in a zone. */
export function dayIn(zone: string, now: Date = new Date()): string {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone: zone,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
  }).formatToParts(now);
  const part = (type: string): string => parts.find((p) => p.type === type)?.value ?? "";
  return `${part("year")}-${part("month")}-${part("day")}`;
}

/** The day after `YYYY-MM-DD` (calendar arithmetic, no zone). */
export function nextDay(day: string): string {
  const [year, month, date] = day.split("-").map(Number);
  return new Date(Date.UTC(year, month - 1, date + 1)).toISOString().slice(0, 10);
}

/**
 * The slot search's window for one day in the patient's zone: from its start (or from now, on
 * today: the past has nothing to book) to the next day's start, as RFC 3339 instants.
 */
export function searchWindow(day: string, zone: string, now: Date = new Date()): { from: string; to: string } {
  const start = startOfDay(day, zone);
  const end = startOfDay(nextDay(day), zone);
  const from = start < now && now < end ? now : start;
  return { from: isoSeconds(from), to: isoSeconds(end) };
}

function isoSeconds(instant: Date): string {
  return instant.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** "Monday, December 7" */
export function formatDay(instant: string | Date, zone: string, locale?: string): string {
  return new Intl.DateTimeFormat(locale, { timeZone: zone, weekday: "long", month: "long", day: "numeric" }).format(
    new Date(instant),
  );
}

/** "9:30 AM" */
export function formatTime(instant: string | Date, zone: string, locale?: string): string {
  return new Intl.DateTimeFormat(locale, { timeZone: zone, hour: "numeric", minute: "2-digit" }).format(
    new Date(instant),
  );
}

/** "9:30 – 10:00 AM EST": a slot's times with the zone's short name, so nobody misreads whose clock. */
export function formatSlotTime(start: string, end: string, zone: string, locale?: string): string {
  const format = new Intl.DateTimeFormat(locale, {
    timeZone: zone,
    hour: "numeric",
    minute: "2-digit",
    timeZoneName: "short",
  });
  return format.formatRange(new Date(start), new Date(end));
}

/** "Monday, December 7 at 9:30 AM EST" */
export function formatWhen(instant: string | Date, zone: string, locale?: string): string {
  return new Intl.DateTimeFormat(locale, {
    timeZone: zone,
    weekday: "long",
    month: "long",
    day: "numeric",
    hour: "numeric",
    minute: "2-digit",
    timeZoneName: "short",
  }).format(new Date(instant));
}

/** "in 2 hours", "in 5 minutes": how far ahead, rounded as a person says it. */
export function formatUntil(instant: string | Date, now: Date, locale?: string): string {
  const minutes = Math.max(1, Math.ceil((new Date(instant).getTime() - now.getTime()) / 60000));
  const words = new Intl.RelativeTimeFormat(locale, { numeric: "auto" });
  if (minutes < 90) return words.format(minutes, "minute");
  const hours = Math.round(minutes / 60);
  if (hours < 36) return words.format(hours, "hour");
  return words.format(Math.round(hours / 24), "day");
}

/** Slots in start order, grouped by the day they start on in the zone. */
export function groupByDay<T extends { start: string }>(
  slots: readonly T[],
  zone: string,
  locale?: string,
): Array<{ day: string; slots: T[] }> {
  const groups = new Map<string, T[]>();
  const ordered = [...slots].sort((a, b) => Date.parse(a.start) - Date.parse(b.start));
  for (const slot of ordered) {
    const day = formatDay(slot.start, zone, locale);
    const group = groups.get(day) ?? [];
    group.push(slot);
    groups.set(day, group);
  }
  return [...groups].map(([day, grouped]) => ({ day, slots: grouped }));
}

// The zones a patient of a US clinic lives in, by the names people call them; the browser's own
// zone is offered too when it is not one of these.
const US_ZONES: ReadonlyArray<readonly [zone: string, words: string]> = [
  ["America/New_York", "Eastern time (New York)"],
  ["America/Chicago", "Central time (Chicago)"],
  ["America/Denver", "Mountain time (Denver)"],
  ["America/Phoenix", "Mountain time without daylight saving (Phoenix)"],
  ["America/Los_Angeles", "Pacific time (Los Angeles)"],
  ["America/Anchorage", "Alaska time (Anchorage)"],
  ["Pacific/Honolulu", "Hawaii time (Honolulu)"],
  ["America/Puerto_Rico", "Atlantic time (Puerto Rico, U.S. Virgin Islands)"],
  ["Pacific/Guam", "Chamorro time (Guam, Northern Mariana Islands)"],
  ["Pacific/Pago_Pago", "Samoa time (American Samoa)"],
];

/** The time zones to choose from, `current` among them. */
export function zoneChoices(current: string): ReadonlyArray<readonly [zone: string, words: string]> {
  if (US_ZONES.some(([zone]) => zone === current)) return US_ZONES;
  return [[current, current.replace(/_/g, " ")], ...US_ZONES];
}
