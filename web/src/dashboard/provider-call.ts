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
      .call { margin: 0 0 1rem; }
    `,
  ];

  @property({ attribute: false }) api!: Api;
  @property({ attribute: false }) appointmentId = "";
  @property({ attribute: false }) implementation: VideoImplementation = "loopback";
  @state() private joinInfo: JoinInfo | null = null;
  @state() private error = "";
  @state() private confirmingEnd = false;
  @state() private ended = "";
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

  private async end(): Promise<void> {
    this.busy = true;
    try {
      await this.api.post(`/v1/appointments/${this.appointmentId}/end`, undefined, this.endKey);
      this.ended = "The visit has ended for everyone.";
      this.joinInfo = null;
      this.confirmingEnd = false;
    } catch (error) {
      this.error = saidOf(error);
    } finally {
      this.busy = false;
    }
  }

  private onCallEnded(event: CallEnded): void {
    this.joinInfo = null;
    this.ended =
      event.detail?.reason === "meeting-ended"
        ? "The visit has ended for everyone."
        : event.detail?.reason === "removed"
          ? "You were removed from the call."
          : "You left the call. The visit is still open: join again or end it.";
  }

  override render() {
    return html`
      <h1>Video visit</h1>
      <p><a href="#/today">Back to today</a></p>
      ${this.error ? html`<p role="alert" class="alert">${this.error}</p>` : nothing}
      ${this.ended ? html`<p role="status">${this.ended}</p>` : nothing}
      ${this.joinInfo
        ? html`<div class="call">
            <telehealth-call
              .joinInfo=${this.joinInfo}
              .implementation=${this.implementation}
              @call-ended=${this.onCallEnded}
            ></telehealth-call>
          </div>`
        : this.ended && !this.ended.startsWith("The visit has ended")
          ? html`<button @click=${() => void this.join()}>Join the call</button>`
          : nothing}
      ${this.ended.startsWith("The visit has ended")
        ? html`<p><a href="#/today/vitals/${this.appointmentId}">Read the vital sign estimates</a> once the video is processed.</p>`
        : html`<div class="actions">
            ${this.confirmingEnd
              ? html`<span role="group" aria-label="Confirm ending the visit">
                  <span>End the visit for everyone?</span>
                  <button class="danger" ?disabled=${this.busy} @click=${() => this.end()}>Yes, end the visit</button>
                  <button class="secondary" @click=${() => (this.confirmingEnd = false)}>Keep the visit going</button>
                </span>`
              : html`<button class="danger" @click=${() => (this.confirmingEnd = true)}>End visit</button>`}
          </div>`}
    `;
  }
}
