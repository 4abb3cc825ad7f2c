// A self-pay visit's Good Faith Estimate on its screen, as the clinic issued it at booking (the No
// Surprises Act's written estimate: who it is for, the service and its code, the expected charge,
// who bills and where, and the patient's rights), to read, print or save. A visit covered by the
// patient's insurance, or one that costs nothing, has none (the route answers 404): no panel.
import { html, nothing } from "lit";
import { customElement, property, state } from "lit/decorators.js";
import { ApiError } from "../shared/api.ts";
import { formatMoney } from "../shared/money.ts";
import { stateName } from "../shared/states.ts";
import { PortalScreen } from "./screen.ts";
import { formatWhen } from "./time.ts";

/** GET /v1/appointments/{id}/estimate */
interface GoodFaithEstimate {
  patient_name: string;
  patient_birth_date: string;
  primary_service: string;
  scheduled_start: string;
  clinician: string;
  billing_provider: { name: string; npi: string; tin: string };
  location_state: string;
  items: { description: string; billing_code: string | null; expected_minor: number; currency: string }[];
  total_minor: number;
  currency: string;
  issued_at: string;
  disclaimers: string[];
}

// It is issued a moment after booking (off the booking's path): asked again while the API says it
// is on its way (`estimate-pending`); a plain 404 means none is owed (insured, or free).
const TRIES = 20;
const PAUSE_MS = 1500;

@customElement("portal-estimate")
export class EstimatePanel extends PortalScreen {
  @property() appointmentId = "";
  @state() private estimate: GoodFaithEstimate | null = null;
  private stopped = false;

  override connectedCallback(): void {
    super.connectedCallback();
    this.stopped = false;
    void this.load();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.stopped = true;
  }

  private async load(): Promise<void> {
    for (let attempt = 1; attempt <= TRIES && !this.stopped; attempt++) {
      try {
        this.estimate = await this.ctx.api.get<GoodFaithEstimate>(`/v1/appointments/${this.appointmentId}/estimate`);
        return;
      } catch (error) {
        if (!(error instanceof ApiError && error.status === 404)) {
          void this.fail(error);
          return;
        }
        if (error.kind !== "estimate-pending") return;
      }
      await new Promise((resolve) => setTimeout(resolve, PAUSE_MS));
    }
  }

  override render() {
    const e = this.estimate;
    if (!e) return this.error ? html`<p role="alert">${this.error}</p>` : nothing;
    const zone = this.ctx.zone;
    const born = new Intl.DateTimeFormat(undefined, { dateStyle: "long", timeZone: "UTC" }).format(
      new Date(`${e.patient_birth_date}T00:00:00Z`),
    );
    const issued = new Intl.DateTimeFormat(undefined, { dateStyle: "long", timeZone: zone }).format(new Date(e.issued_at));
    const provider = e.billing_provider;
    return html`<section class="card" aria-labelledby="estimate-title">
      <h2 id="estimate-title">Good Faith Estimate</h2>
      <p>You are paying for this visit yourself, so the clinic gives you an estimate of what it is expected to cost.</p>
      <dl>
        <dt>For</dt><dd>${e.patient_name}, born ${born}</dd>
        <dt>Service</dt><dd>${e.primary_service}, ${formatWhen(e.scheduled_start, zone)}</dd>
        <dt>Clinician</dt><dd>${e.clinician}</dd>
        <dt>Billed by</dt><dd>${provider.name} (NPI ${provider.npi}, TIN ${provider.tin})</dd>
        <dt>Where</dt><dd>By video, while you are in ${stateName(e.location_state)}</dd>
        <dt>Issued</dt><dd>${issued}</dd>
      </dl>
      <table>
        <caption>Expected charges</caption>
        <thead><tr><th scope="col">Item</th><th scope="col">Service code</th><th scope="col">Expected charge</th></tr></thead>
        <tbody>
          ${e.items.map(
            (i) => html`<tr><th scope="row">${i.description}</th><td>${i.billing_code ?? "None"}</td>
              <td>${formatMoney(i.expected_minor, i.currency)}</td></tr>`,
          )}
        </tbody>
        <tfoot><tr><th scope="row" colspan="2">Total estimate</th><td>${formatMoney(e.total_minor, e.currency)}</td></tr></tfoot>
      </table>
      <h3>What you should know</h3>
      <ul>${e.disclaimers.map((line) => html`<li>${line}</li>`)}</ul>
      <div class="actions"><button class="secondary" @click=${() => window.print()}>Print or save this estimate</button></div>
    </section>`;
  }
}
