// The rPPG estimates of one visit: preliminary until the provider confirms or rejects each.
import { LitElement, html, nothing } from "lit";
import { customElement, property, state } from "lit/decorators.js";
import { newActionKey, type Api } from "../shared/api.ts";
import { providerSelf } from "./provider-self.ts";
import { viewStyles } from "./ui.ts";
import { NOT_YET_WORDS, notYet, readingRow, refusalWords, reviewSummary, signName, type Reading, type Vitals } from "./vitals.ts";
import { saidOf } from "./words.ts";

@customElement("provider-vitals")
export class ProviderVitals extends LitElement {
  static override styles = viewStyles;

  @property({ attribute: false }) api!: Api;
  @property({ attribute: false }) appointmentId = "";
  @state() private vitals: Vitals | null = null;
  @state() private error = "";
  @state() private said = "";
  @state() private busy = "";
  @state() private notYet = false;
  @state() private checking = false;
  // The provider's own zone, for when they reviewed (the browser's until `GET /v1/me` answers).
  @state() private zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  private keys = new Map<string, string>();

  override connectedCallback(): void {
    super.connectedCallback();
    void this.load();
    providerSelf(this.api).then(
      (self) => {
        if (self) this.zone = self.zone;
      },
      () => undefined, // the browser's zone stands in; the estimates do not depend on it
    );
  }

  private async load(): Promise<void> {
    this.error = "";
    this.notYet = false;
    try {
      this.vitals = await this.api.get<Vitals>(`/v1/appointments/${this.appointmentId}/vitals`);
    } catch (error) {
      this.notYet = notYet(error);
      this.error = this.notYet ? NOT_YET_WORDS : saidOf(error);
    }
  }

  private checkAgain = async (): Promise<void> => {
    if (this.checking) return;
    this.checking = true;
    try {
      await this.load();
    } finally {
      this.checking = false;
    }
    // What it found is said where the focus lands: the estimates' heading, or the words again.
    await this.updateComplete;
    const found = this.vitals ? "estimates-h" : "not-yet";
    (this.shadowRoot?.getElementById(found) as HTMLElement | null)?.focus();
  };

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
      this.said = `${signName(sign)} ${decision === "confirm" ? "confirmed" : "rejected"}. ${reviewSummary(this.vitals?.readings ?? [])}`;
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
      ${this.notYet
        ? html`<p id="not-yet" tabindex="-1">${this.error}</p>
            <p><button aria-disabled=${this.checking ? "true" : "false"} @click=${this.checkAgain}>Check again</button></p>`
        : this.error
          ? html`<p role="alert" class="alert">${this.error}</p>`
          : nothing}
      <p role="status" tabindex="-1" id="said">${this.said}</p>
      ${v === null
        ? this.error ? nothing : html`<p>Loading the estimates…</p>`
        : html`<section aria-labelledby="estimates-h">
            <h2 id="estimates-h" tabindex="-1">Estimates</h2>
            <p>${v.note}</p>
            <p class="muted">Method: ${v.method}</p>
            ${v.readings.length === 0
              ? html`<p>No estimate could be made from this visit's video.</p>`
              : html`<p id="to-review">${reviewSummary(v.readings)}</p>
                <table>
                  <thead><tr><th scope="col">Sign</th><th scope="col">Estimate</th><th scope="col">Signal quality</th><th scope="col">Review</th><th scope="col"><span class="visually-hidden">Action</span></th></tr></thead>
                  <tbody>
                    ${v.readings.map((r) => {
                      const row = readingRow(r, this.zone);
                      return html`<tr>
                        <th scope="row">${row.name}</th>
                        <td>${row.estimate}</td>
                        <td>${row.quality}</td>
                        <td>${row.open ? html`<span class="badge">${row.review}</span>` : row.review}</td>
                        <td>${row.open
                          ? html`<div class="actions" role="group" aria-label=${`Review the ${row.name.toLowerCase()}`}>
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
                  <ul>${Object.entries(v.refused).map(([sign, why]) => html`<li>${signName(sign)}: ${refusalWords(why)}</li>`)}</ul>`
              : nothing}
          </section>`}
    `;
  }
}
