import { describe, expect, it } from "vitest";
import {
  addInterval,
  availabilityRequest,
  copyDay,
  problemsOf,
  removeInterval,
  setInterval,
  weekFrom,
  weeklyHours,
  type AvailabilityDoc,
} from "./availability.ts";

const read: AvailabilityDoc = {
  provider_id: "dr-a",
  zone: "America/Denver",
  weekly: { "1": [{ start: "13:00:00", end: "17:00:00" }, { start: "09:00:00", end: "12:00:00" }], "3": [{ start: "09:00", end: "12:00" }] },
  visit_minutes: { general: 30 },
  days_off: ["2026-12-25"],
  extra: [{ day: "2026-12-19", start: "09:00", end: "12:00" }],
  version: 4,
};

describe("the week grid", () => {
  it("reads the API's weekly hours into seven days in order, Monday first", () => {
    const week = weekFrom(read);
    expect(week.days).toHaveLength(7);
    expect(week.days[0]).toEqual([
      { start: "09:00", end: "12:00" },
      { start: "13:00", end: "17:00" },
    ]);
    expect(week.days[1]).toEqual([]);
    expect(weeklyHours(week)).toBe(10);
  });

  it("adds an hour after the last interval, or a working day to an empty one", () => {
    const week = weekFrom(read);
    expect(addInterval(week, 0).days[0][2]).toEqual({ start: "17:00", end: "18:00" });
    expect(addInterval(week, 1).days[1]).toEqual([{ start: "09:00", end: "17:00" }]);
    expect(week.days[1]).toEqual([]); // edits make a new model
  });

  it("edits, removes and copies intervals", () => {
    let week = setInterval(weekFrom(read), 2, 0, { end: "11:30" });
    expect(week.days[2]).toEqual([{ start: "09:00", end: "11:30" }]);
    week = copyDay(week, 2, [3, 4]);
    expect(week.days[4]).toEqual([{ start: "09:00", end: "11:30" }]);
    week = removeInterval(week, 0, 0);
    expect(week.days[0]).toEqual([{ start: "13:00", end: "17:00" }]);
  });

  it("names overlaps, backwards intervals and blanks by weekday", () => {
    let week = setInterval(weekFrom(read), 0, 1, { start: "11:00" });
    week = setInterval(week, 2, 0, { end: "08:00" });
    week = addInterval(week, 4);
    week = setInterval(week, 4, 0, { start: "" });
    expect(problemsOf(week).map((p) => p.message)).toEqual([
      "Monday: 11:00 to 17:00 overlaps 09:00 to 12:00.",
      "Wednesday: 09:00 to 08:00 ends before it starts.",
      "Friday: enter both times as hours and minutes.",
    ]);
    expect(problemsOf(weekFrom(read))).toEqual([]);
  });

  it("sends the week with everything else as read, the version included", () => {
    const body = availabilityRequest(read, removeInterval(weekFrom(read), 2, 0));
    expect(body).toEqual({
      weekly: {
        "1": [
          { start: "09:00", end: "12:00" },
          { start: "13:00", end: "17:00" },
        ],
      },
      visit_minutes: { general: 30 },
      days_off: ["2026-12-25"],
      extra: [{ day: "2026-12-19", start: "09:00", end: "12:00" }],
      version: 4,
    });
  });
});
