// A join link that came in the address (`#/join/<link>`, from a message): redeemed once, straight
// into the call. A link that was used or has expired says so and offers a fresh one.
import { html, nothing } from "lit";
import { customElement, state } from "lit/decorators.js";
import { ActionKeys, ApiError } from "../shared/api.ts";
import { freshLink, redeem } from "./join.ts";
import { linkAppointment } from "./router.ts";
import { PortalScreen } from "./screen.ts";

@customElement("portal-join")
export class JoinScreen extends PortalScreen {
  @state() private appointmentId: string | null = null;
  @state() private gone = false;
  @state() private busy = false;
  @state() private missing = false;
  private readonly keys = new ActionKeys();

  override connectedCallback(): void {
    super.connectedCallback();
    const link = this.ctx.takeJoinLink();
    this.appointmentId = link ? linkAppointment(link) : null;
    if (!link || !this.appointmentId) {
      this.missing = true;
      return;
    }
    void this.enter(link);
  }

  private async enter(link: string | null): Promise<void> {
    const id = this.appointmentId;
    if (!id || this.busy) return;
    this.busy = true;
    this.error = "";
    try {
      const info = await redeem(this.ctx.api, this.keys, link ?? (await freshLink(this.ctx.api, this.keys, id)));
      this.ctx.startCall(id, info);
      this.ctx.navigate(`#/visits/${id}/call`, { replace: true });
    } catch (error) {
      this.gone = error instanceof ApiError && error.kind === "link-gone";
      void this.fail(error);
    } finally {
      this.busy = false;
    }
  }

  override render() {
    const id = this.appointmentId;
    return html`
      <h1 tabindex="-1">Joining your visit</h1>
      ${this.missing
        ? html`<p role="alert">This address has no visit link in it, or not one from the clinic.</p>`
        : nothing}
      ${this.error ? html`<p role="alert">${this.error}</p>` : nothing}
      ${this.busy ? html`<p role="status">Opening your visit…</p>` : nothing}
      ${this.gone && id
        ? html`<div class="actions"><button ?disabled=${this.busy} @click=${() => this.enter(null)}>Get a new link</button></div>`
        : nothing}
      <p>
        ${id ? html`<a class="target" href="#/visits/${id}/waiting">Go to the waiting room</a> · ` : nothing}
        <a class="target" href="#/">Your visits</a>
      </p>
    `;
  }
}
