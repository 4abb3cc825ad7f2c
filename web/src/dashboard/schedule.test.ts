import { describe, expect, it } from "vitest";
import { rowsOn, scheduleDays, type Appointment } from "./schedule.ts";
import { dayBounds, dayIn, wallClockInstant } from "./zone.ts";

function visit(id: string, start: string, status: Appointment["status"] = "booked"): Appointment {
  const end = new Date(Date.parse(start) + 30 * 60_000).toISOString();
  return {
    appointment_id: id,
    provider_id: "dr-a",
    patient_id: `p-${id}`,
    service_type: "general",
    start,
    end,
    patient_state: "CO",
    status,
    version: 1,
  };
}

describe("the schedule by the provider's day", () => {
  it("puts a late-evening visit on the provider's day, not UTC's", () => {
    // 03:30 UTC on the 8th is 20:30 on the 7th in Denver (UTC-7 in December).
    const days = scheduleDays([visit("late", "2026-12-08T03:30:00Z"), visit("early", "2026-12-07T16:00:00Z")], "America/Denver");
    expect(days.map((d) => d.day)).toEqual(["2026-12-07"]);
    expect(days[0].rows.map((r) => [r.appointmentId, r.time])).toEqual([
      ["early", "9:00 AM"],
      ["late", "8:30 PM"],
    ]);
  });

  it("splits days in order and words the status", () => {
    const days = scheduleDays(
      [visit("b", "2026-12-09T15:00:00Z", "cancelled"), visit("a", "2026-12-08T15:00:00Z", "fulfilled")],
      "America/New_York",
    );
    expect(days.map((d) => [d.day, d.rows[0].status, d.rows[0].open])).toEqual([
      ["2026-12-08", "Seen", false],
      ["2026-12-09", "Cancelled", false],
    ]);
  });

  it("answers an empty day with no rows", () => {
    expect(rowsOn([visit("a", "2026-12-08T15:00:00Z")], "UTC", "2026-12-09")).toEqual([]);
  });
});

describe("the provider's day as the API's query", () => {
  it("is midnight to midnight on their wall clock", () => {
    expect(dayBounds("2026-12-07", "America/Chicago")).toEqual({ from: "2026-12-07T06:00:00Z", to: "2026-12-08T06:00:00Z" });
  });

  it("is 23 hours long on the day clocks go forward", () => {
    const { from, to } = dayBounds("2026-03-08", "America/Chicago");
    expect((Date.parse(to) - Date.parse(from)) / 3_600_000).toBe(23);
  });

  it("reads an instant's day in the zone", () => {
    expect(dayIn(new Date("2026-12-08T03:30:00Z"), "America/Los_Angeles")).toBe("2026-12-07");
    expect(wallClockInstant("2026-07-01", "09:00", "Europe/Berlin").toISOString()).toBe("2026-07-01T07:00:00.000Z");
  });
});
