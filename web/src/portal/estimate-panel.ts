// A self-pay visit's Good Faith Estimate on its screen, as the clinic issued it at booking (the No
// Surprises Act's written estimate: who it is for, the service and its code, the expected charge,
// who bills and where, and the patient's rights), to read, print or save. A visit covered by the
// patient's insurance, or one that costs nothing, has none (the route answers 404): no panel.
import { html, nothing } from "lit";
import { customElement, property, state } from "lit/decorators.js";
import { ApiError } from "../shared/api.ts";
import { type GoodFaithEstimate, estimateDocument } from "./estimate-document.ts";
import { PortalScreen } from "./screen.ts";

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
    return html`<section class="card" aria-labelledby="estimate-title">
      <h2 id="estimate-title">Good Faith Estimate</h2>
      <p>You are paying for this visit yourself, so the clinic gives you an estimate of what it is expected to cost.</p>
      ${estimateDocument(e, this.ctx.zone)}
      <div class="actions"><button class="secondary" @click=${() => window.print()}>Print or save this estimate</button></div>
    </section>`;
  }
}
