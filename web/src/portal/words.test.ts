import { describe, expect, it } from "vitest";
import {
  afterVisitWords,
  checkInOpening,
  codeWords,
  languageName,
  outcomeWords,
  waitingStatus,
  waitWords,
  type WaitingRoom,
} from "./words.ts";

const room = (over: Partial<WaitingRoom>): WaitingRoom => ({
  appointment_id: "01JD8X3Q4W5E6R7T8Y9Z0ABCDE",
  state: "checked-in",
  check_in_opens_at: "2026-12-07T13:45:00Z",
  position: 2,
  estimated_wait_s: 420,
  outcome: null,
  recording: "none",
  next_step: "Wait to be admitted; this page updates.",
  ...over,
});

describe("the waiting room in words", () => {
  it("tells the patient their place in line and the wait", () => {
    expect(waitingStatus(room({}))).toEqual({ status: "You are number 2 in line.", wait: "Estimated wait: about 7 minutes." });
    expect(waitingStatus(room({ position: 1, estimated_wait_s: 30 }))).toEqual({
      status: "You are next in line.",
      wait: "Estimated wait: less than a minute.",
    });
  });

  it("changes its words only when the minute changes, so the live region is not chatty", () => {
    expect(waitWords(400)).toBe(waitWords(420));
    expect(waitWords(3900)).toBe("About 1 hour 5 minutes");
    expect(waitWords(7200)).toBe("About 2 hours");
    expect(waitWords(null)).toBe("");
  });

  it("says when the clinician is ready and when the visit is over", () => {
    expect(waitingStatus(room({ state: "admitted", position: null })).status).toContain("Join your visit");
    expect(waitingStatus(room({ state: "completed" })).status).toBe("Your visit has ended.");
    expect(waitingStatus(room({ state: "checked-in", position: null, estimated_wait_s: null }))).toEqual({
      status: "You are checked in.",
      wait: "",
    });
  });

  it("says how the visit ended, reading the outcome with the state", () => {
    // The same outcome names who ended a completed visit, and who did not come to a no-show.
    expect(outcomeWords("provider", "completed")).toBe("Your clinician ended the visit.");
    expect(outcomeWords("provider", "no-show")).toContain("clinician could not join");
    expect(outcomeWords("patient", "no-show")).toContain("did not see you join");
    expect(outcomeWords("not-admitted", "cancelled")).toContain("could not see you in time");
    expect(outcomeWords(null, "cancelled")).toBe("This visit was cancelled.");
    expect(outcomeWords("something-new", "completed")).toBe("Your visit is over.");
  });

  it("says what happens next, and of the recording when there is one", () => {
    const after = afterVisitWords(room({ state: "completed", next_step: "The visit is over.", recording: "processing" }));
    expect(after).toEqual([
      "The visit is over.",
      "If you need another visit, you can book one below.",
      "The recording of your visit is being prepared.",
    ]);
    // The API's own step already says to book again: not said twice.
    expect(afterVisitWords(room({ state: "cancelled", next_step: "Book again." }))).toEqual(["Book again."]);
  });
});

describe("check-in's opening", () => {
  const now = new Date("2026-12-07T13:00:00Z");

  it("says when check-in opens, in the patient's zone, when it is early", () => {
    const early = checkInOpening("2026-12-07T13:45:00Z", now, "America/New_York", "en-US");
    expect(early.open).toBe(false);
    expect(early.words).toMatch(/^Check-in opens at 8:45\sAM \(in 45 minutes\), 15 minutes before your visit\.$/);
  });

  it("names the day when check-in opens on another one", () => {
    const later = checkInOpening("2026-12-09T13:45:00Z", now, "America/New_York", "en-US");
    expect(later.words).toContain("Wednesday, December 9");
  });

  it("is open from the opening on", () => {
    expect(checkInOpening("2026-12-07T13:00:00Z", now, "UTC").open).toBe(true);
  });
});

describe("codes as words", () => {
  it("names specialties and languages", () => {
    expect(codeWords("family-medicine")).toBe("Family medicine");
    expect(languageName("yo", "en")).toBe("Yoruba");
    expect(languageName("es", "en")).toBe("Spanish");
  });
});
