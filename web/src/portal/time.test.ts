import { describe, expect, it } from "vitest";
import {
  dayIn,
  formatSlotTime,
  formatUntil,
  formatWhen,
  groupByDay,
  nextDay,
  searchWindow,
  startOfDay,
  zoneChoices,
  zoneOffsetMinutes,
} from "./time.ts";

describe("a day in the patient's zone", () => {
  it("begins at local midnight, as an instant", () => {
    expect(startOfDay("2026-12-07", "America/New_York").toISOString()).toBe("2026-12-07T05:00:00.000Z");
    expect(startOfDay("2026-07-07", "America/Los_Angeles").toISOString()).toBe("2026-07-07T07:00:00.000Z");
    expect(startOfDay("2026-12-07", "Asia/Kolkata").toISOString()).toBe("2026-12-06T18:30:00.000Z");
    expect(startOfDay("2026-12-07", "UTC").toISOString()).toBe("2026-12-07T00:00:00.000Z");
  });

  it("is 23 or 25 hours long on a daylight-saving change", () => {
    const spring = searchWindow("2026-03-08", "America/Chicago", new Date("2026-01-01T00:00:00Z"));
    expect(spring).toEqual({ from: "2026-03-08T06:00:00Z", to: "2026-03-09T05:00:00Z" });
    const autumn = searchWindow("2026-11-01", "America/Chicago", new Date("2026-01-01T00:00:00Z"));
    expect(autumn).toEqual({ from: "2026-11-01T05:00:00Z", to: "2026-11-02T06:00:00Z" });
  });

  it("starts a search of today from now, not from a past midnight", () => {
    const now = new Date("2026-12-07T15:04:05.678Z");
    expect(searchWindow("2026-12-07", "America/New_York", now)).toEqual({
      from: "2026-12-07T15:04:05Z",
      to: "2026-12-08T05:00:00Z",
    });
  });

  it("knows today's date where the patient is, not in UTC", () => {
    const lateEvening = new Date("2026-12-08T03:30:00Z"); // 10:30 PM on the 7th in New York
    expect(dayIn("America/New_York", lateEvening)).toBe("2026-12-07");
    expect(dayIn("UTC", lateEvening)).toBe("2026-12-08");
    expect(nextDay("2026-12-31")).toBe("2027-01-01");
    expect(zoneOffsetMinutes(lateEvening, "America/New_York")).toBe(-300);
  });
});

describe("slot times as the patient reads them", () => {
  it("shows a slot in the patient's zone with the zone's name, whatever offset the API wrote", () => {
    // The same slot written in UTC and in Chicago's offset reads the same to a patient in New York.
    const inUtc = formatSlotTime("2026-12-07T14:00:00Z", "2026-12-07T14:30:00Z", "America/New_York", "en-US");
    const inChicago = formatSlotTime("2026-12-07T08:00:00-06:00", "2026-12-07T08:30:00-06:00", "America/New_York", "en-US");
    expect(inUtc).toBe(inChicago);
    expect(inUtc).toMatch(/^9:00\s*–\s*9:30\sAM EST$/);
    expect(formatWhen("2026-12-07T14:00:00Z", "America/Los_Angeles", "en-US")).toMatch(
      /^Monday, December 7 at 6:00\sAM PST$/,
    );
  });

  it("groups slots by the patient's day, in time order", () => {
    const slots = [
      { start: "2026-12-08T04:30:00Z", id: "late" }, // 11:30 PM on the 7th in New York
      { start: "2026-12-07T14:00:00Z", id: "morning" },
      { start: "2026-12-08T14:00:00Z", id: "next" },
    ];
    const groups = groupByDay(slots, "America/New_York", "en-US");
    expect(groups.map((g) => [g.day, g.slots.map((s) => s.id)])).toEqual([
      ["Monday, December 7", ["morning", "late"]],
      ["Tuesday, December 8", ["next"]],
    ]);
  });

  it("says how far ahead as a person would", () => {
    const now = new Date("2026-12-07T14:00:00Z");
    expect(formatUntil("2026-12-07T14:05:00Z", now, "en-US")).toBe("in 5 minutes");
    expect(formatUntil("2026-12-07T16:00:00Z", now, "en-US")).toBe("in 2 hours");
    expect(formatUntil("2026-12-10T14:00:00Z", now, "en-US")).toBe("in 3 days");
  });
});

describe("the time zones a patient chooses from", () => {
  it("offers the US zones by the names people call them, the browser's own first when it is not one", () => {
    const us = zoneChoices("America/Chicago");
    expect(us.map(([zone]) => zone)).toContain("America/Chicago");
    expect(us.find(([zone]) => zone === "Pacific/Honolulu")?.[1]).toMatch(/^Hawaii time/);
    const abroad = zoneChoices("Europe/Lisbon");
    expect(abroad[0]).toEqual(["Europe/Lisbon", "Europe/Lisbon"]);
    expect(abroad.length).toBe(us.length + 1);
    expect(zoneChoices("America/Argentina/Buenos_Aires")[0][1]).toBe("America/Argentina/Buenos Aires");
  });
});
