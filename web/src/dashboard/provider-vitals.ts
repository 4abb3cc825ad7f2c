// The rPPG estimates of one visit: preliminary until the provider confirms or rejects each.
import { LitElement, html, nothing } from "lit";
import { customElement, property, state } from "lit/decorators.js";
import { ApiError, newActionKey, type Api } from "../shared/api.ts";
import { viewStyles } from "./ui.ts";
import { saidOf } from "./words.ts";

interface Reading {
  sign: "heart-rate" | "respiratory-rate";
  per_minute: number;
  quality: number;
  status: "preliminary" | "final" | "entered-in-error";
  observation_id: string;
}

interface Vitals {
  appointment_id: string;
  method: string;
  readings: Reading[];
  refused: Record<string, string>;
  note: string;
}

const SIGN_WORDS: Record<string, { name: string; unit: string }> = {
  "heart-rate": { name: "Heart rate", unit: "beats a minute" },
  "respiratory-rate": { name: "Breathing rate", unit: "breaths a minute" },
};

const STATUS_WORDS: Record<Reading["status"], string> = {
  preliminary: "Preliminary: not reviewed",
  final: "Confirmed",
  "entered-in-error": "Rejected",
};

@customElement("provider-vitals")
export class ProviderVitals extends LitElement {
  static override styles = viewStyles;

  @property({ attribute: false }) api!: Api;
  @property({ attribute: false }) appointmentId = "";
  @state() private vitals: Vitals | null = null;
  @state() private error = "";
  @state() private said = "";
  @state() private busy = "";
  private keys = new Map<string, string>();

  override connectedCallback(): void {
    super.connectedCallback();
    void this.load();
  }

  private async load(): Promise<void> {
    try {
      this.vitals = await this.api.get<Vitals>(`/v1/appointments/${this.appointmentId}/vitals`);
    } catch (error) {
      // The API answers a visit without estimates as not found, whichever the reason.
      this.error =
        error instanceof ApiError && error.status === 404
          ? "There are no vital sign estimates for this visit: its video was not recorded, or it is still being processed. Try again in a few minutes."
          : saidOf(error);
    }
  }

  private async review(sign: Reading["sign"], decision: "confirm" | "reject"): Promise<void> {
    if (this.busy) return;
    const action = `${sign}:${decision}`;
    const key = this.keys.get(action) ?? newActionKey();
    this.keys.set(action, key);
    this.busy = sign;
    this.error = "";
    try {
      const reviewed = await this.api.post<Reading>(`/v1/appointments/${this.appointmentId}/vitals/review`, { sign, decision }, key);
      if (this.vitals) {
        this.vitals = { ...this.vitals, readings: this.vitals.readings.map((r) => (r.sign === sign ? reviewed : r)) };
      }
      this.said = `${SIGN_WORDS[sign].name} ${decision === "confirm" ? "confirmed" : "rejected"}.`;
      // The buttons go with the review: the focus goes to what it said, not to the page.
      await this.updateComplete;
      (this.shadowRoot?.getElementById("said") as HTMLElement | null)?.focus();
    } catch (error) {
      this.error = saidOf(error);
    } finally {
      this.busy = "";
    }
  }

  override render() {
    const v = this.vitals;
    return html`
      <h1>Vital signs from the video</h1>
      <p><a href="#/today">Back to today</a></p>
      ${this.error ? html`<p role="alert" class="alert">${this.error}</p>` : nothing}
      <p role="status" tabindex="-1" id="said">${this.said}</p>
      ${v === null
        ? this.error ? nothing : html`<p>Loading the estimates…</p>`
        : html`<section aria-labelledby="estimates-h">
            <h2 id="estimates-h">Estimates</h2>
            <p>${v.note}</p>
            <p class="muted">Method: ${v.method}</p>
            ${v.readings.length === 0
              ? html`<p>No estimate could be made from this visit's video.</p>`
              : html`<table>
                  <thead><tr><th scope="col">Sign</th><th scope="col">Estimate</th><th scope="col">Signal quality</th><th scope="col">Review</th><th scope="col"><span class="visually-hidden">Action</span></th></tr></thead>
                  <tbody>
                    ${v.readings.map((r) => {
                      const words = SIGN_WORDS[r.sign] ?? { name: r.sign, unit: "a minute" };
                      return html`<tr>
                        <th scope="row">${words.name}</th>
                        <td>${r.per_minute} ${words.unit}</td>
                        <td>${Math.round(r.quality * 100)}%</td>
                        <td>${r.status === "preliminary" ? html`<span class="badge">${STATUS_WORDS[r.status]}</span>` : STATUS_WORDS[r.status]}</td>
                        <td>${r.status === "preliminary"
                          ? html`<div class="actions" role="group" aria-label=${`Review the ${words.name.toLowerCase()}`}>
                              <button aria-disabled=${this.busy === r.sign ? "true" : "false"} @click=${() => this.review(r.sign, "confirm")}>Confirm</button>
                              <button class="secondary" aria-disabled=${this.busy === r.sign ? "true" : "false"} @click=${() => this.review(r.sign, "reject")}>Reject</button>
                            </div>`
                          : nothing}</td>
                      </tr>`;
                    })}
                  </tbody>
                </table>`}
            ${Object.keys(v.refused).length
              ? html`<h2>Not estimated</h2>
                  <ul>${Object.entries(v.refused).map(([sign, why]) => html`<li>${SIGN_WORDS[sign]?.name ?? sign}: ${why}</li>`)}</ul>`
              : nothing}
          </section>`}
    `;
  }
}
