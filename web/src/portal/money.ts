// What the portal says about a visit's money, in the patient's words: its price before booking,
// and where its payment stands after. Kept free of the DOM so it is unit-tested as it is.
import { formatMoney } from "../shared/money.ts";
import { formatWhen } from "./time.ts";

/** GET /v1/appointments/{id}/payment */
export interface VisitPayment {
  appointment_id: string;
  amount_due_minor: number;
  currency: string;
  status: "none" | "card-saved" | "held" | "captured" | "released" | "failed";
  held_minor: number;
  captured_minor: number;
  refunded_minor: number;
  hold_at: string | null;
  capture_before: string | null;
  failure: string | null;
  settling: boolean;
}


/** Shown beside the open times, before the patient books one. */
export function priceWords(amountMinor: number, currency: string, locale?: string): string {
  return (
    `A visit costs ${formatMoney(amountMinor, currency, locale)}, which you pay yourself. ` +
    "After booking you add a card: the amount is held on it before the visit and charged only when the visit is done."
  );
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
