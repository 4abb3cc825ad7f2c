// The waiting room: the patient's place in line and the estimated wait, polled every few seconds
// and spoken by a polite live region when they change; a camera and microphone check meanwhile;
// and, once the clinician admits them, "Join your visit". Reloading keeps the patient in line:
// the line is the API's, this screen only reads it.
import { html, nothing } from "lit";
import { customElement, property, state } from "lit/decorators.js";
import { ActionKeys } from "../shared/api.ts";
import { joinVisit } from "./join.ts";
import { PortalScreen } from "./screen.ts";
import { loadDeviceCheck } from "./video-parts.ts";
import { OVER, type WaitingRoom, waitingStatus } from "./words.ts";

export const POLL_MS = 4000;

@customElement("portal-waiting")
export class WaitingScreen extends PortalScreen {
  @property() appointmentId = "";
  @state() private room: WaitingRoom | null = null;
  @state() private joining = false;
  @state() private lostTouch = false;
  @state() private deviceCheck: boolean | null = null;
  private timer: number | undefined;
  private stopped = false;
  private readonly keys = new ActionKeys();

  override connectedCallback(): void {
    super.connectedCallback();
    this.stopped = false;
    void this.poll();
    void loadDeviceCheck().then((loaded) => (this.deviceCheck = loaded));
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.stopped = true;
    window.clearTimeout(this.timer);
  }

  private async poll(): Promise<void> {
    try {
      this.room = await this.ctx.api.get<WaitingRoom>(`/v1/appointments/${this.appointmentId}/waiting-room`);
      this.lostTouch = false;
      if (OVER.has(this.room.state)) {
        this.ctx.navigate(`#/visits/${this.appointmentId}/ended`, { replace: true });
        return;
      }
    } catch {
      this.lostTouch = true;
    }
    if (!this.stopped) this.timer = window.setTimeout(() => void this.poll(), POLL_MS);
  }

  override render() {
    const room = this.room;
    const words = room ? waitingStatus(room) : { status: "Finding your place in line…", wait: "" };
    const canJoin = room?.state === "admitted" || room?.state === "in-call";
    return html`
      <h1 tabindex="-1">Waiting room</h1>
      <div role="status" class="card">
        <p><strong>${words.status}</strong></p>
        ${words.wait ? html`<p>${words.wait}</p>` : nothing}
      </div>
      ${this.lostTouch ? html`<p role="alert">We cannot reach the clinic just now. This page keeps trying.</p>` : nothing}
      ${this.error ? html`<p role="alert">${this.error}</p>` : nothing}
      ${canJoin
        ? html`<div class="actions">
            <button ?disabled=${this.joining} @click=${this.join}>${this.joining ? "Joining…" : "Join your visit"}</button>
          </div>`
        : nothing}
      ${room?.state === "booked"
        ? html`<div class="actions"><a class="button" href="#/visits/${this.appointmentId}/check-in">Check in</a></div>`
        : nothing}
      <p class="muted">Keep this page open: it updates by itself, and you will be asked to join when your
        clinician is ready.</p>
      <section aria-labelledby="devices-title">
        <h2 id="devices-title">Test your camera and microphone</h2>
        ${this.deviceCheck === false
          ? html`<p role="alert">The camera check did not load. Check your connection and reload the page.</p>`
          : html`<telehealth-device-check></telehealth-device-check>`}
      </section>
    `;
  }

  private async join(): Promise<void> {
    if (this.joining) return;
    this.joining = true;
    this.error = "";
    try {
      const info = await joinVisit(this.ctx.api, this.keys, this.appointmentId);
      this.ctx.startCall(this.appointmentId, info);
      this.ctx.navigate(`#/visits/${this.appointmentId}/call`);
    } catch (error) {
      void this.fail(error);
    } finally {
      this.joining = false;
    }
  }
}
