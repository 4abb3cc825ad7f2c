import { describe, expect, it } from "vitest";
import { askedFor, priorityWords, receivedWords, type Referral } from "./referrals.ts";

const referral: Referral = {
  referral_id: "r1",
  reason: "Follow-up of palpitations",
  requester: "Dr. Example",
  priority: "urgent",
  service: "Telehealth follow-up",
  authored_at: "2026-11-30T03:30:00Z",
  status: "open",
  appointment_id: null,
  patient: null,
};

describe("a referral in words", () => {
  it("says what is asked for and why, or only why", () => {
    expect(askedFor(referral)).toBe("Telehealth follow-up: Follow-up of palpitations");
    expect(askedFor({ ...referral, service: null })).toBe("Follow-up of palpitations");
  });
  it("says the priority as the front desk does", () => {
    expect(priorityWords("stat")).toBe("Immediately");
    expect(priorityWords("routine")).toBe("Routine");
  });
  it("dates it in the viewer's zone", () => {
    expect(receivedWords(referral.authored_at, "America/New_York")).toBe("Received November 29, 2026");
    expect(receivedWords(referral.authored_at, "UTC")).toBe("Received November 30, 2026");
  });
});
