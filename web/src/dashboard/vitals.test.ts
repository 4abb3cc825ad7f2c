import { describe, expect, it } from "vitest";
import { ApiError } from "../shared/api.ts";
import { notYet, readingRow, refusalWords, reviewSummary, signName, type Reading } from "./vitals.ts";

const reading = (sign: Reading["sign"], status: Reading["status"] = "preliminary", quality = 0.87): Reading => ({
  sign,
  per_minute: 77.1,
  quality,
  status,
  observation_id: `a-v1-${sign}`,
});

const ZONE = "America/New_York";
const NOW = new Date("2026-12-07T19:00:00Z"); // 2 PM in New York

describe("a reading in the clinic's words", () => {
  it("names the sign, the estimate with its unit and the signal quality as a percentage", () => {
    expect(readingRow(reading("heart-rate"), ZONE, NOW)).toEqual({
      name: "Heart rate",
      estimate: "77.1 beats a minute",
      quality: "87%",
      review: "Preliminary: not reviewed",
      open: true,
    });
    expect(readingRow(reading("respiratory-rate", "preliminary", 0.5), ZONE).estimate).toBe("77.1 breaths a minute");
  });

  it("says how and when the provider reviewed it, on their clock, and leaves nothing open once reviewed", () => {
    const reviewed = (status: Reading["status"], at: string) => ({ ...reading("heart-rate", status), reviewed_at: at });
    expect(readingRow(reviewed("final", "2026-12-07T18:42:00Z"), ZONE, NOW)).toMatchObject({
      review: "Confirmed by you at 1:42 PM",
      open: false,
    });
    expect(readingRow(reviewed("entered-in-error", "2026-12-07T18:42:00Z"), "America/Los_Angeles", NOW).review).toBe(
      "Rejected by you at 10:42 AM",
    );
    // Reviewed on another day of the provider's (late on Sunday in New York, though Monday in UTC).
    expect(readingRow(reviewed("final", "2026-12-07T03:30:00Z"), ZONE, NOW).review).toBe(
      "Confirmed by you on Sunday, December 6 at 10:30 PM",
    );
  });

  it("says only how it was reviewed when the time was not kept, and nothing of a time while open", () => {
    expect(readingRow(reading("heart-rate", "final"), ZONE, NOW)).toMatchObject({ review: "Confirmed", open: false });
    expect(readingRow({ ...reading("heart-rate"), reviewed_at: null }, ZONE, NOW).review).toBe("Preliminary: not reviewed");
  });

  it("keeps a quality outside 0 to 1 within 0% and 100%", () => {
    expect(readingRow(reading("heart-rate", "final", 1.4), ZONE).quality).toBe("100%");
    expect(readingRow(reading("heart-rate", "final", -0.2), ZONE).quality).toBe("0%");
  });
});

describe("what is left to review", () => {
  it("counts the preliminary estimates", () => {
    expect(reviewSummary([reading("heart-rate"), reading("respiratory-rate")])).toBe("2 estimates wait for your review.");
    expect(reviewSummary([reading("heart-rate", "final"), reading("respiratory-rate")])).toBe("1 estimate waits for your review.");
  });

  it("says when every estimate is reviewed, and nothing when there are none", () => {
    expect(reviewSummary([reading("heart-rate", "final"), reading("respiratory-rate", "entered-in-error")])).toBe(
      "You have reviewed every estimate of this visit.",
    );
    expect(reviewSummary([])).toBe("");
  });
});

describe("estimates not there yet", () => {
  const problem = (status: number) => new ApiError({ type: "/problems/x", title: "x", status }, "x");

  it("is the API's not found, which the provider may check again", () => {
    expect(notYet(problem(404))).toBe(true);
  });

  it("is not any other refusal or failure", () => {
    expect(notYet(problem(403))).toBe(false);
    expect(notYet(problem(500))).toBe(false);
    expect(notYet(new Error("network"))).toBe(false);
  });
});

describe("a sign not read", () => {
  it("says why in words, and that oxygen saturation is never read from video", () => {
    expect(refusalWords("weak_pulse")).toBe("no pulse strong and steady enough to read");
    expect(refusalWords("flickering_light")).toBe("the light flickers at the rate the skin changes");
    expect(signName("oxygen-saturation")).toBe("Oxygen saturation");
    expect(refusalWords("not_estimated")).toMatch(/^not estimated from video: no camera method is cleared/);
    expect(refusalWords("not measured")).toBe("not measured"); // a reason it does not know, as given
  });
});
