// The front desk's view of one visit's payment: what it costs, where its money stands, what the
// completed visit was billed as (its invoice too), and a refund of part or all of what was taken
// (each refund its own step: two partial refunds are two).
import { LitElement, html, nothing } from "lit";
import { customElement, property, state } from "lit/decorators.js";
import { ActionKeys, ApiError, type Api } from "../shared/api.ts";
import { type VisitPayment, formatMoney, toMajor, toMinor } from "../shared/money.ts";
import { viewStyles } from "./ui.ts";
import { saidOf } from "./words.ts";


const STATUS_WORDS: Record<VisitPayment["status"], string> = {
  none: "No card yet",
  "card-saved": "Card saved, not held yet",
  held: "Held on the card",
  captured: "Taken",
  released: "Hold released, nothing taken",
  failed: "The card refused the hold",
};

// The claim's place of service, in the desk's words.
const PLACES: Record<"02" | "10", string> = {
  "10": "place of service 10 (the patient's home)",
  "02": "place of service 02 (not the patient's home, or not said)",
};

@customElement("staff-visit-payment")
export class StaffVisitPayment extends LitElement {
  static override styles = viewStyles;

  @property({ attribute: false }) api!: Api;
  @property() appointmentId = "";
  /** How the visit is named in the heading ("10:00–10:30, patient p-1"). */
  @property() label = "";
  @state() private payment: VisitPayment | null = null;
  @state() private takesNoPayments = false;
  @state() private error = "";
  @state() private said = "";
  @state() private refunding = false;
  private readonly keys = new ActionKeys();

  override connectedCallback(): void {
    super.connectedCallback();
    void this.load();
  }

  override updated(changed: Map<string, unknown>): void {
    if (changed.has("appointmentId") && changed.get("appointmentId") !== undefined) void this.load();
  }

  private async load(): Promise<void> {
    const asked = this.appointmentId;
    this.error = "";
    this.said = "";
    this.payment = null; // never another visit's payment (and its refund form) while this one loads
    try {
      const found = await this.api.get<VisitPayment>(`/v1/appointments/${asked}/payment`);
      if (asked === this.appointmentId) this.payment = found; // a late answer for another visit is dropped
    } catch (error) {
      if (error instanceof ApiError && error.status === 404 && error.kind !== "not-found") this.takesNoPayments = true;
      else this.error = saidOf(error);
    }
  }

  private async refund(event: SubmitEvent): Promise<void> {
    event.preventDefault();
    const p = this.payment;
    if (!p || this.refunding) return;
    const typed = String(new FormData(event.target as HTMLFormElement).get("amount") ?? "");
    const amount = toMinor(typed, p.currency);
    if (amount === null || amount <= 0) {
      this.error = `Enter an amount in ${p.currency}, such as 25.00.`;
      return;
    }
    const body = { amount_minor: amount };
    const action = `refund ${this.appointmentId}`;
    this.refunding = true;
    this.error = "";
    try {
      this.payment = await this.api.post<VisitPayment>(
        `/v1/appointments/${this.appointmentId}/payment/refunds`,
        body,
        this.keys.for(action, body),
      );
      this.keys.settle(action, body);
      this.said = `Refunded ${formatMoney(amount, p.currency)}.`;
    } catch (error) {
      this.keys.settle(action, body, error);
      this.error = saidOf(error);
    } finally {
      this.refunding = false;
    }
  }

  override render() {
    const p = this.payment;
    const money = (minor: number) => (p ? formatMoney(minor, p.currency) : "");
    const refundable = p && p.status === "captured" ? p.captured_minor - p.refunded_minor : 0;
    return html`<section class="card" aria-labelledby="payment-h">
      <h2 id="payment-h" tabindex="-1">Payment${this.label ? `: ${this.label}` : ""}</h2>
      ${this.error ? html`<p role="alert" class="alert">${this.error}</p>` : nothing}
      <p role="status">${this.said}</p>
      ${this.takesNoPayments ? html`<p>This clinic takes no payments.</p>` : nothing}
      ${p
        ? html`<dl>
              <dt>Costs</dt><dd>${money(p.amount_due_minor)}</dd>
              <dt>Status</dt><dd>${STATUS_WORDS[p.status]}${p.settling ? " (a step is on its way to Stripe)" : ""}${p.failure ? ` (${p.failure.replace(/_/g, " ")})` : ""}</dd>
              <dt>Held</dt><dd>${money(p.held_minor)}</dd>
              <dt>Taken</dt><dd>${money(p.captured_minor)}</dd>
              <dt>Refunded</dt><dd>${money(p.refunded_minor)}</dd>
              ${p.charge
                ? html`<dt>Billed as</dt><dd>${p.charge.billing_code ?? "No billing code"}, modifier ${p.charge.modifier},
                      ${PLACES[p.charge.place_of_service]}</dd>
                    <dt>Invoice</dt><dd>${p.charge.invoice_status === "balanced"
                      ? `Paid (${money(p.charge.paid_minor)} of ${money(p.charge.owed_minor)} owed)`
                      : `Owed: ${money(p.charge.owed_minor - p.charge.paid_minor)}`}</dd>`
                : nothing}
            </dl>
            ${refundable > 0
              ? html`<form @submit=${this.refund}>
                  <label>Refund, in ${p.currency} (at most ${money(refundable)})
                    <input name="amount" inputmode="decimal" required autocomplete="off" placeholder=${toMajor(refundable, p.currency)}></label>
                  <button type="submit" ?disabled=${this.refunding}>${this.refunding ? "Refunding…" : "Refund"}</button>
                </form>`
              : nothing}`
        : nothing}
    </section>`;
  }
}
