// Money as the API carries it (integer minor units with an ISO 4217 currency) and as people read
// and type it (major units, in their locale).

/** GET /v1/appointments/{id}/payment: a visit's payment, as the patient and the front desk read it. */
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
  /** What the completed visit was billed as, and its invoice; null until it is entered. */
  charge?: {
    billing_code: string | null;
    modifier: string;
    place_of_service: "02" | "10";
    invoice_status: "issued" | "balanced";
    owed_minor: number;
    paid_minor: number;
  } | null;
}

function minorDigits(currency: string): number {
  return new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits ?? 2;
}

/** An amount in minor units as money in the reader's locale ("$75.00"; "¥7,500" has no cents). */
export function formatMoney(minor: number, currency: string, locale?: string): string {
  const format = new Intl.NumberFormat(locale, { style: "currency", currency });
  return format.format(minor / 10 ** minorDigits(currency));
}

/** What a person typed ("25", "25.5", "25.50") as minor units; null for anything that is not an
 *  amount of this currency (more decimals than it has, negative, not a number). */
export function toMinor(typed: string, currency: string): number | null {
  const digits = minorDigits(currency);
  const found = new RegExp(`^(\\d{1,9})(?:\\.(\\d{0,${digits}}))?$`).exec(typed.trim());
  if (!found || (digits === 0 && typed.includes("."))) return null;
  const [, whole, part = ""] = found;
  return Number(whole) * 10 ** digits + Number(part.padEnd(digits, "0") || "0");
}

/** Minor units as a person types the amount back ("25.00"), for a form's first value. */
export function toMajor(minor: number, currency: string): string {
  const digits = minorDigits(currency);
  return (minor / 10 ** digits).toFixed(digits);
}
