import { describe, expect, it } from "vitest";
import { formatMoney, toMinor } from "../shared/money.ts";
import { coverageWords, paymentWords, priceWords, type PatientCoverage, type VisitPayment } from "./money.ts";

const payment = (over: Partial<VisitPayment>): VisitPayment => ({
  appointment_id: "01JD8X3Q4W5E6R7T8Y9Z0ABCDE",
  amount_due_minor: 7500,
  currency: "USD",
  status: "none",
  held_minor: 0,
  captured_minor: 0,
  refunded_minor: 0,
  hold_at: null,
  capture_before: null,
  failure: null,
  settling: false,
  ...over,
});

describe("money", () => {
  it("is shown in the currency's own minor units", () => {
    expect(formatMoney(7500, "USD", "en-US")).toBe("$75.00");
    expect(formatMoney(7500, "JPY", "en-US")).toBe("¥7,500");
    expect(toMinor("25", "USD")).toBe(2500);
    expect(toMinor(" 25.5 ", "USD")).toBe(2550);
    expect(toMinor("0.07", "USD")).toBe(7);
    expect(toMinor("7500", "JPY")).toBe(7500);
    for (const bad of ["25.555", "-1", "abc", "", "7.5"]) expect(toMinor(bad, bad === "7.5" ? "JPY" : "USD")).toBeNull();
    expect(priceWords(7500, "USD", false, "en-US")).toMatch(/^A visit costs \$75\.00, which you pay yourself: /);
    expect(priceWords(7500, "USD", false, "en-US")).toContain("good faith estimate");
    expect(priceWords(2500, "USD", true, "en-US")).not.toContain("estimate");
    expect(priceWords(2500, "USD", true, "en-US")).toMatch(/^With your insurance, a visit costs you \$25\.00\./);
  });

  it("asks for a card until one is saved, and again when the card was refused", () => {
    expect(paymentWords(payment({}), "UTC", "en-US")).toEqual({
      lines: ["This visit costs $75.00.", "Add a card to pay for it. Nothing is charged until the visit is done."],
      needsCard: true,
    });
    const refused = paymentWords(payment({ status: "failed", failure: "card_declined" }), "UTC", "en-US");
    expect(refused.needsCard).toBe(true);
    expect(refused.lines[0]).toBe("Your card was not accepted: your bank declined it.");
    const unknown = paymentWords(payment({ status: "failed", failure: "something_new" }), "UTC", "en-US");
    expect(unknown.lines[0]).toBe("Your card was not accepted: it was refused.");
    expect(paymentWords(payment({ amount_due_minor: 0 }), "UTC").needsCard).toBe(false);
  });

  it("says what is held, taken and given back, and when a later visit is held", () => {
    const saved = paymentWords(payment({ status: "card-saved", hold_at: "2026-12-07T14:00:00Z" }), "UTC", "en-US");
    expect(saved.lines[1]).toMatch(/^The amount will be held on it on .*Dec.*7/);
    expect(paymentWords(payment({ status: "held", held_minor: 7500 }), "UTC", "en-US").lines[0]).toBe(
      "$75.00 is held on your card.",
    );
    expect(
      paymentWords(payment({ status: "captured", captured_minor: 7500, refunded_minor: 2500 }), "UTC", "en-US").lines,
    ).toEqual(["You paid $75.00 for this visit.", "$25.00 was refunded to your card."]);
    expect(paymentWords(payment({ status: "held", settling: true }), "UTC").lines[0]).toMatch(/being processed/);
  });
});

describe("insurance", () => {
  const coverage = (check: PatientCoverage["check"]): PatientCoverage => ({
    payer_id: "RHP01",
    payer_name: "Riverside Health Plan",
    member_id: "ACT1001",
    group_number: null,
    relationship: "self",
    status_words: "Your insurance with Riverside Health Plan is active.",
    check,
    version: 3,
  });

  it("says the co-payment, or the deductible left and the co-insurance", () => {
    const copay = { status: "active" as const, copay_minor: 2500, coinsurance_percent: null, deductible_remaining_minor: 25000 };
    expect(coverageWords(coverage(copay), "en-US")[1]).toBe("Your co-payment for a visit: $25.00.");
    const split = { ...copay, copay_minor: null, coinsurance_percent: 20, deductible_remaining_minor: 1000 };
    expect(coverageWords(coverage(split), "en-US")[1]).toBe("$10.00 of your deductible is left; after it, 20% of a visit's cost.");
    expect(coverageWords(coverage(null), "en-US")).toHaveLength(1);
  });
});
