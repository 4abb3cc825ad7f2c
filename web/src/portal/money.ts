// What the portal says about a visit's money, in the patient's words: its price before booking,
// and where its payment stands after. Kept free of the DOM so it is unit-tested as it is.
import type { PatientCoverage } from "../shared/coverage.ts";
import { type VisitPayment, formatMoney } from "../shared/money.ts";

export type { PatientCoverage, VisitPayment };
import { formatWhen } from "./time.ts";



/** Shown beside the open times, before the patient books one. */
export function priceWords(amountMinor: number, currency: string, insured = false, locale?: string): string {
  const money = formatMoney(amountMinor, currency, locale);
  return (
    (insured
      ? `With your insurance, a visit costs you ${money}. `
      : `A visit costs ${money}, which you pay yourself: that is the clinic's good faith estimate of ` +
        "its cost, which you get in writing, with your rights, when you book. ") +
    "After booking you add a card: the amount is held on it before the visit and charged only when the visit is done."
  );
}


/** What the patient's insurance means for a visit, in their words (the payer's figures in USD). */
export function coverageWords(c: PatientCoverage, locale?: string): string[] {
  const lines = [c.status_words];
  const check = c.check;
  if (check?.status !== "active") return lines;
  if (check.copay_minor !== null) {
    lines.push(`Your co-payment for a visit: ${formatMoney(check.copay_minor, "USD", locale)}.`);
  } else if (check.coinsurance_percent !== null) {
    const left = check.deductible_remaining_minor;
    lines.push(
      (left ? `${formatMoney(left, "USD", locale)} of your deductible is left; after it, ` : "You pay ") +
        `${check.coinsurance_percent}% of a visit's cost.`,
    );
  }
  return lines;
}

// Stripe's reasons a card refused, as the patient can act on them (never the card's details).
const REFUSALS: Record<string, string> = {
  card_declined: "your bank declined it",
  insufficient_funds: "your bank declined it",
  expired_card: "the card has expired",
  authentication_required: "your bank wanted you to confirm the payment, and you were not there to",
  charge_expired_for_capture: "the hold on it expired",
};

export interface PaymentWords {
  lines: string[];
  /** The card form is offered: nothing is saved yet, or the card was refused. */
  needsCard: boolean;
}

export function paymentWords(p: VisitPayment, zone: string, locale?: string): PaymentWords {
  const money = (minor: number) => formatMoney(minor, p.currency, locale);
  if (p.settling) return { lines: ["Your payment is being processed. Check back in a moment."], needsCard: false };
  switch (p.status) {
    case "none":
      if (!p.amount_due_minor) return { lines: ["There is nothing to pay for this visit."], needsCard: false };
      return {
        lines: [
          `This visit costs ${money(p.amount_due_minor)}.`,
          "Add a card to pay for it. Nothing is charged until the visit is done.",
        ],
        needsCard: true,
      };
    case "card-saved":
      return {
        lines: [
          `This visit costs ${money(p.amount_due_minor)}. Your card is saved.`,
          p.hold_at
            ? `The amount will be held on it on ${formatWhen(p.hold_at, zone, locale)}, and charged when the visit is done.`
            : "The amount will be held on it before the visit, and charged when the visit is done.",
        ],
        needsCard: false,
      };
    case "held":
      return {
        lines: [
          `${money(p.held_minor)} is held on your card.`,
          "You are charged when the visit is done; anything not charged is released.",
        ],
        needsCard: false,
      };
    case "captured":
      return {
        lines: [
          `You paid ${money(p.captured_minor)} for this visit.`,
          ...(p.refunded_minor ? [`${money(p.refunded_minor)} was refunded to your card.`] : []),
        ],
        needsCard: false,
      };
    case "released":
      return { lines: ["Nothing is held on your card for this visit now."], needsCard: false };
    case "failed":
      return {
        lines: [
          `Your card was not accepted: ${REFUSALS[p.failure ?? ""] ?? "it was refused"}.`,
          `Please add another card for the ${money(p.amount_due_minor)} this visit costs.`,
        ],
        needsCard: true,
      };
  }
}
