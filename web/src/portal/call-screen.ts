// The call, in `<telehealth-call>` with the join information redeemed a moment ago (held in memory
// only: after a reload the screen goes back to the waiting room, which asks for a fresh link).
import { html, nothing } from "lit";
import { customElement, property, state } from "lit/decorators.js";
import type { JoinInfo } from "../video/index.ts";
import { PortalScreen } from "./screen.ts";
import { loadCallView } from "./video-parts.ts";

type Ended = CustomEvent<{ reason: "left" | "meeting-ended" | "removed" }>;

@customElement("portal-call")
export class CallScreen extends PortalScreen {
  @property() appointmentId = "";
  @state() private info: JoinInfo | null = null;
  @state() private available: boolean | null = null;

  override connectedCallback(): void {
    super.connectedCallback();
    this.info = this.ctx.joinInfo(this.appointmentId);
    if (!this.info) {
      this.ctx.navigate(`#/visits/${this.appointmentId}/waiting`, { replace: true });
      return;
    }
    void loadCallView().then((loaded) => (this.available = loaded));
  }

  override render() {
    return html`
      <h1 tabindex="-1">Your video visit</h1>
      ${this.available === false ? html`<p role="alert">The video did not load. Check your connection and reload the page.</p>` : nothing}
      ${this.info && this.available
        ? html`<telehealth-call
            .joinInfo=${this.info}
            .implementation=${this.ctx.video}
            @call-ended=${this.ended}
          ></telehealth-call>`
        : nothing}
    `;
  }

  private ended(event: Ended): void {
    const id = this.appointmentId;
    switch (event.detail?.reason) {
      case "meeting-ended":
        this.ctx.navigate(`#/visits/${id}/ended`, { replace: true });
        break;
      case "removed":
        this.ctx.navigate(`#/visits/${id}/waiting`, { replace: true, notice: "You were removed from the call." });
        break;
      default:
        this.ctx.navigate(`#/visits/${id}/waiting`, {
          replace: true,
          notice: "You left the call. You can join again while the visit lasts.",
        });
    }
  }
}
