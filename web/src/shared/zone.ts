// A wall clock in a named zone with the platform's Intl only (no time-zone library): the portal
// shows a patient's own day, the dashboard a provider's, whatever zone the browser is in.

/** The year, month (1-12), day, hour (0-23), minute and second an instant shows in a zone. */
export function wallClock(instant: Date, zone: string): Record<string, number> {
  const format = new Intl.DateTimeFormat("en-US", {
    timeZone: zone,
    hourCycle: "h23",
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  });
  const out: Record<string, number> = {};
  for (const p of format.formatToParts(instant)) {
    if (p.type !== "literal") out[p.type] = Number(p.value);
  }
  return out;
}
