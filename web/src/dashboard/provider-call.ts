// The provider in the call: the link redeemed for the join information, the shared call view
// (video/call-view.ts, loaded only here), and ending the visit for everyone.
import { LitElement, css, html, nothing } from "lit";
import { customElement, property, state } from "lit/decorators.js";
import { newActionKey, type Api } from "../shared/api.ts";
import type { VideoImplementation } from "../shared/config.ts";
import type { CallEnded } from "../video/call-view.ts";
import type { JoinInfo } from "../video/index.ts";
import { viewStyles } from "./ui.ts";
import { joinInfoFor } from "./visit-links.ts";
import { saidOf } from "./words.ts";

@customElement("provider-call")
export class ProviderCall extends LitElement {
  static override styles = [
    viewStyles,
    css`
      .call { margin: 0 0 1rem; max-width: 48rem; }
    `,
  ];

  @property({ attribute: false }) api!: Api;
  @property({ attribute: false }) appointmentId = "";
  @property({ attribute: false }) implementation: VideoImplementation = "loopback";
  @state() private joinInfo: JoinInfo | null = null;
  @state() private error = "";
  @state() private confirmingEnd = false;
  @state() private said = "";
  /** The visit is over (ended here, or the meeting ended): no joining again. */
  @state() private over = false;
  @state() private busy = false;
  private endKey = newActionKey();

  override connectedCallback(): void {
    super.connectedCallback();
    void this.join();
  }

  private async join(): Promise<void> {
    this.error = "";
    try {
      // Loaded on demand, so the dashboard's first screen ships no video code.
      const [info] = await Promise.all([joinInfoFor(this.api, this.appointmentId), import("../video/call-view.ts")]);
      this.joinInfo = info;
    } catch (error) {
      this.error = saidOf(error);
    }
  }

  /** The question replaces the button; the focus goes to its safe answer. */
  private async askToEnd(): Promise<void> {
    this.confirmingEnd = true;
    await this.updateComplete;
    (this.shadowRoot?.getElementById("keep") as HTMLElement | null)?.focus();
  }

  private async end(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      await this.api.post(`/v1/appointments/${this.appointmentId}/end`, undefined, this.endKey);
      this.over = true;
      this.said = "The visit has ended for everyone.";
      this.joinInfo = null; // the call view hangs up as it goes; its "left" changes nothing now
      this.confirmingEnd = false;
      await this.updateComplete; // the buttons went with the visit: the focus goes to what it said
      (this.shadowRoot?.getElementById("said") as HTMLElement | null)?.focus();
    } catch (error) {
      this.error = saidOf(error);
    } finally {
      this.busy = false;
    }
  }

  private onCallEnded(event: CallEnded): void {
    this.joinInfo = null;
    if (this.over) return;
    const reason = event.detail?.reason;
    this.over = reason === "meeting-ended";
    this.said =
      reason === "meeting-ended"
        ? "The visit has ended for everyone."
        : reason === "removed"
          ? "You were removed from the call."
          : "You left the call. The visit is still open: join again or end it.";
  }

  override render() {
    return html`
      <h1>Video visit</h1>
      <p><a href="#/today">Back to today</a></p>
      ${this.error ? html`<p role="alert" class="alert">${this.error}</p>` : nothing}
      <p role="status" id="said" tabindex="-1">${this.said}</p>
      ${this.joinInfo
        ? html`<div class="call">
            <telehealth-call
              .joinInfo=${this.joinInfo}
              .implementation=${this.implementation}
              @call-ended=${this.onCallEnded}
            ></telehealth-call>
          </div>`
        : nothing}
      ${this.over
        ? html`<p><a href="#/today/vitals/${this.appointmentId}">Read the vital sign estimates</a> once the video is processed.</p>`
        : html`<div class="actions">
            ${this.said && !this.joinInfo ? html`<button @click=${() => void this.join()}>Join the call</button>` : nothing}
            ${this.confirmingEnd
              ? html`<span role="group" aria-label="Confirm ending the visit" class="actions">
                  <span>End the visit for everyone?</span>
                  <button class="danger" aria-disabled=${this.busy ? "true" : "false"} @click=${() => this.end()}>Yes, end the visit</button>
                  <button class="secondary" id="keep" @click=${() => (this.confirmingEnd = false)}>Keep the visit going</button>
                </span>`
              : html`<button class="danger" @click=${() => this.askToEnd()}>End visit</button>`}
          </div>`}
    `;
  }
}
