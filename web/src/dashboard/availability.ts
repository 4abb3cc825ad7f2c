// The provider's weekly hours as the week grid edits them: intervals per ISO weekday on the
// provider's wall clock. Checked here so a person sees a mistake beside the field; the API checks
// again (a 422) and guards concurrent edits (the version: a 409).

export interface Interval {
  start: string;
  end: string;
}

export interface AvailabilityDoc {
  provider_id: string;
  zone: string;
  weekly: Record<string, Interval[]>;
  visit_minutes: Record<string, number>;
  days_off: string[];
  extra: { day: string; start: string; end: string }[];
  version: number;
}

export const WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"] as const;

export interface WeekModel {
  /** Index 0 is Monday (ISO weekday 1). */
  days: Interval[][];
}

const HH_MM = /^([01]\d|2[0-3]):[0-5]\d$/;

/** The API's `HH:MM:SS` (or `HH:MM`) as the time input shows it. */
function hhmm(time: string): string {
  return time.slice(0, 5);
}

export function weekFrom(doc: Pick<AvailabilityDoc, "weekly">): WeekModel {
  return {
    days: WEEKDAYS.map((_, i) =>
      (doc.weekly[String(i + 1)] ?? [])
        .map((v) => ({ start: hhmm(v.start), end: hhmm(v.end) }))
        .sort((a, b) => a.start.localeCompare(b.start)),
    ),
  };
}

export function addInterval(week: WeekModel, day: number): WeekModel {
  const last = week.days[day].at(-1);
  const fresh = last && last.end < "23:00" ? { start: last.end, end: later(last.end, 60) } : { start: "09:00", end: "17:00" };
  return replaceDay(week, day, [...week.days[day], fresh]);
}

export function removeInterval(week: WeekModel, day: number, index: number): WeekModel {
  return replaceDay(week, day, week.days[day].filter((_, i) => i !== index));
}

export function setInterval(week: WeekModel, day: number, index: number, edit: Partial<Interval>): WeekModel {
  return replaceDay(week, day, week.days[day].map((v, i) => (i === index ? { ...v, ...edit } : v)));
}

export function copyDay(week: WeekModel, from: number, to: number[]): WeekModel {
  return { days: week.days.map((v, i) => (to.includes(i) ? week.days[from].map((x) => ({ ...x })) : v)) };
}

function replaceDay(week: WeekModel, day: number, intervals: Interval[]): WeekModel {
  return { days: week.days.map((v, i) => (i === day ? intervals : v)) };
}

function later(time: string, minutes: number): string {
  const [h, m] = time.split(":").map(Number);
  const total = Math.min(h * 60 + m + minutes, 23 * 60 + 59);
  return `${String(Math.floor(total / 60)).padStart(2, "0")}:${String(total % 60).padStart(2, "0")}`;
}

export interface Problem {
  day: number;
  index: number;
  message: string;
}

/** What is wrong with the week, one message per interval at most, in the order of the grid. */
export function problemsOf(week: WeekModel): Problem[] {
  const found: Problem[] = [];
  week.days.forEach((intervals, day) => {
    const order = intervals.map((v, index) => ({ ...v, index })).sort((a, b) => a.start.localeCompare(b.start));
    let previous: (Interval & { index: number }) | null = null;
    for (const v of order) {
      const name = WEEKDAYS[day];
      if (!HH_MM.test(v.start) || !HH_MM.test(v.end)) {
        found.push({ day, index: v.index, message: `${name}: enter both times as hours and minutes.` });
      } else if (v.end <= v.start) {
        found.push({ day, index: v.index, message: `${name}: ${v.start} to ${v.end} ends before it starts.` });
      } else if (previous && v.start < previous.end) {
        found.push({
          day,
          index: v.index,
          message: `${name}: ${v.start} to ${v.end} overlaps ${previous.start} to ${previous.end}.`,
        });
      }
      if (HH_MM.test(v.start) && HH_MM.test(v.end) && v.end > v.start) previous = v;
    }
  });
  return found.sort((a, b) => a.day - b.day || a.index - b.index);
}

/** The PUT body: the new week with everything else as it was read (the version included). */
export function availabilityRequest(read: AvailabilityDoc, week: WeekModel): Omit<AvailabilityDoc, "provider_id" | "zone"> {
  const weekly: Record<string, Interval[]> = {};
  week.days.forEach((intervals, i) => {
    if (intervals.length) {
      weekly[String(i + 1)] = [...intervals].sort((a, b) => a.start.localeCompare(b.start)).map((v) => ({ ...v }));
    }
  });
  return {
    weekly,
    visit_minutes: read.visit_minutes,
    days_off: read.days_off,
    extra: read.extra,
    version: read.version,
  };
}

/** Hours a week, for the summary line ("37.5 hours a week"). */
export function weeklyHours(week: WeekModel): number {
  let minutes = 0;
  for (const day of week.days) {
    for (const v of day) {
      if (HH_MM.test(v.start) && HH_MM.test(v.end) && v.end > v.start) {
        const [sh, sm] = v.start.split(":").map(Number);
        const [eh, em] = v.end.split(":").map(Number);
        minutes += eh * 60 + em - (sh * 60 + sm);
      }
    }
  }
  return minutes / 60;
}
