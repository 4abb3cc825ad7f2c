// A self-pay visit's Good Faith Estimate on its screen, as the clinic issued it at booking (the No
// Surprises Act's written estimate: who it is for, the service and its code, the expected charge,
// who bills and where, and the patient's rights), to read, print or save. A visit covered by the
// patient's insurance, or one that costs nothing, has none (the route answers 404): no panel.
import { html, nothing } from "lit";
import { customElement, property, state } from "lit/decorators.js";
import { ApiError } from "../shared/api.ts";
import { type GoodFaithEstimate, estimateDocument } from "./estimate-document.ts";
import { PortalScreen } from "./screen.ts";

@customElement("portal-estimate")
export class EstimatePanel extends PortalScreen {
  @property() appointmentId = "";
  @state() private estimate: GoodFaithEstimate | null = null;

  override connectedCallback(): void {
    super.connectedCallback();
    void this.load();
  }

  private async load(): Promise<void> {
    try {
      this.estimate = await this.ctx.api.get<GoodFaithEstimate>(`/v1/appointments/${this.appointmentId}/estimate`);
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 404)) void this.fail(error);
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
