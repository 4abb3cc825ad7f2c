// A visit's payment on its screen: what it costs and where its money stands, and, while the
// visit is ahead, a card to pay with (Stripe's Card Element: the number goes to Stripe, never to
// the clinic). A clinic that takes no payments has no such panel (the route answers 404).
import { html, nothing } from "lit";
import { customElement, property, query, state } from "lit/decorators.js";
import { ActionKeys, ApiError } from "../shared/api.ts";
import { type VisitPayment, paymentWords } from "./money.ts";
import { PortalScreen } from "./screen.ts";
import { type CardElement, type StripeJs, loadStripe } from "./stripe.ts";

/** POST /v1/payments/card-setups */
interface CardSetup {
  setup_id: string;
  client_secret: string;
  publishable_key: string;
}

@customElement("portal-visit-payment")
export class VisitPaymentPanel extends PortalScreen {
  @property() appointmentId = "";
  /** The visit is booked and ahead: a card may be added. */
  @property({ type: Boolean }) upcoming = false;
  @state() private payment: VisitPayment | null = null;
  @state() private takesNoPayments = false;
  @state() private adding = false;
  @state() private saving = false;
  @state() private said = "";
  @query("#card-element") private cardHost!: HTMLElement | null;
  private setup: CardSetup | null = null;
  /** The setup Stripe confirmed, kept so a failed save is tried again without confirming twice. */
  private confirmed: string | null = null;
  private stripe: StripeJs | null = null;
  private card: CardElement | null = null;
  private readonly keys = new ActionKeys();

  override connectedCallback(): void {
    super.connectedCallback();
    void this.load();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.card?.unmount();
  }

  private async load(): Promise<void> {
    try {
      this.payment = await this.ctx.api.get<VisitPayment>(`/v1/appointments/${this.appointmentId}/payment`);
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) this.takesNoPayments = true;
      else void this.fail(error);
    }
  }

  override render() {
    if (this.takesNoPayments || (!this.payment && !this.error)) return nothing;
    const words = this.payment ? paymentWords(this.payment, this.ctx.zone) : null;
    const offerCard = Boolean(words?.needsCard && this.upcoming && this.ctx.stripeJs);
    return html`<section class="card" aria-labelledby="payment-title">
      <h2 id="payment-title">Payment</h2>
      ${words?.lines.map((line) => html`<p>${line}</p>`)}
      ${this.error ? html`<p role="alert">${this.error}</p>` : nothing}
      <p role="status" id="payment-said" tabindex="-1">${this.said}</p>
      ${offerCard && !this.adding
        ? html`<div class="actions"><button @click=${this.startAdding}>Add a card</button></div>`
        : nothing}
      ${this.adding ? this.form() : nothing}
    </section>`;
  }

  private form() {
    return html`<form @submit=${this.save} aria-labelledby="card-label">
      <p id="card-label"><strong>Your card</strong></p>
      <div id="card-element" class="card-field" role="group" aria-labelledby="card-label" aria-describedby="card-hint"></div>
      <span class="hint" id="card-hint">Your card number goes straight to our payment processor, Stripe: the clinic never sees it.</span>
      <div class="actions">
        <button type="submit" ?disabled=${this.saving || !this.card}>${this.saving ? "Saving…" : "Save card"}</button>
        <button type="button" class="secondary" ?disabled=${this.saving} @click=${this.stopAdding}>Cancel</button>
      </div>
    </form>`;
  }

  private async startAdding(): Promise<void> {
    this.error = "";
    this.said = "";
    this.adding = true;
    try {
      const setup = await this.ctx.api.post<CardSetup>("/v1/payments/card-setups", undefined, this.keys.for("setup"));
      this.keys.settle("setup", null);
      const Stripe = await loadStripe(this.ctx.stripeJs ?? "");
      this.setup = setup;
      this.stripe = Stripe(setup.publishable_key);
      await this.updateComplete;
      if (!this.cardHost) return;
      this.card = this.stripe.elements().create("card");
      this.card.mount(this.cardHost);
      this.requestUpdate();
      await this.updateComplete;
      this.cardHost.querySelector<HTMLElement>("input, iframe")?.focus();
    } catch (error) {
      this.keys.settle("setup", null, error);
      this.adding = false;
      void this.fail(error instanceof ApiError ? error : new ApiError(STRIPE_UNREACHABLE, STRIPE_UNREACHABLE.title));
    }
  }

  private stopAdding(): void {
    this.card?.unmount();
    this.card = null;
    this.confirmed = null;
    this.adding = false;
  }

  private async save(event: SubmitEvent): Promise<void> {
    event.preventDefault();
    const { setup, stripe, card } = this;
    if (!setup || !stripe || !card || this.saving) return;
    this.saving = true;
    this.error = "";
    try {
      if (!this.confirmed) {
        const confirmed = await stripe.confirmCardSetup(setup.client_secret, { payment_method: { card } });
        if (confirmed.error || !confirmed.setupIntent) {
          // Stripe's own message is written for the cardholder ("Your card number is incomplete.").
          this.error = confirmed.error?.message || "Your card was not saved. Please check it and try again.";
          return;
        }
        this.confirmed = confirmed.setupIntent.id;
      }
      const body = { setup_id: this.confirmed };
      const action = `card ${this.appointmentId}`;
      try {
        this.payment = await this.ctx.api.put<VisitPayment>(
          `/v1/appointments/${this.appointmentId}/payment/card`,
          body,
          this.keys.for(action, body),
        );
        this.keys.settle(action, body);
      } catch (error) {
        this.keys.settle(action, body, error);
        throw error;
      }
      this.stopAdding();
      this.said =
        this.payment.status === "failed"
          ? "Your card was saved, but it was not accepted for this visit."
          : "Your card is saved for this visit.";
      await this.updateComplete; // the form that held the focus is gone: it goes to what was said
      this.renderRoot.querySelector<HTMLElement>("#payment-said")?.focus();
    } catch (error) {
      void this.fail(error);
    } finally {
      this.saving = false;
    }
  }
}

const STRIPE_UNREACHABLE = {
  type: "/problems/payments-unavailable",
  title: "We could not reach the payment service. Please try again in a minute.",
  status: 0,
};
