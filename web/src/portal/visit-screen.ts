// One visit: when, where it stands, and what the patient can do next (check in, reschedule,
// cancel with a confirmation, go to the waiting room, or book again once it is over).
import { html, nothing } from "lit";
import { customElement, property, query, state } from "lit/decorators.js";
import { ActionKeys } from "../shared/api.ts";
import { stateName } from "../shared/states.ts";
import { type Appointment, PortalScreen, WAITING_STATES } from "./screen.ts";
import "./estimate-panel.ts";
import "./payment-panel.ts";
import "./summary-panel.ts";
import { formatWhen } from "./time.ts";
import {
  OVER,
  type WaitingRoom,
  afterVisitWords,
  appointmentStatusWords,
  checkInOpening,
  codeWords,
  outcomeWords,
} from "./words.ts";

@customElement("portal-visit")
export class VisitScreen extends PortalScreen {
  @property() appointmentId = "";
  @state() private appointment: Appointment | null = null;
  @state() private room: WaitingRoom | null = null;
  @state() private cancelling = false;
  @state() private said = "";
  @query("dialog") private dialog!: HTMLDialogElement | null;
  private readonly keys = new ActionKeys();

  override connectedCallback(): void {
    super.connectedCallback();
    void this.load();
  }

  private async load(): Promise<void> {
    try {
      const base = `/v1/appointments/${this.appointmentId}`;
      [this.appointment, this.room] = await Promise.all([
        this.ctx.api.get<Appointment>(base),
        this.ctx.api.get<WaitingRoom>(`${base}/waiting-room`),
      ]);
    } catch (error) {
      void this.fail(error);
    }
  }

  override render() {
    const a = this.appointment;
    return html`
      <h1 tabindex="-1">Your visit</h1>
      ${this.error ? html`<p role="alert">${this.error}</p>` : nothing}
      <p role="status">${this.said}</p>
      ${a && this.room ? this.details(a, this.room) : this.error ? nothing : html`<p>Loading your visit…</p>`}
      <p><a class="target" href="#/">All your visits</a></p>
    `;
  }

  private details(a: Appointment, room: WaitingRoom) {
    const zone = this.ctx.zone;
    const booked = a.status === "booked" && room.state === "booked";
    const opening = checkInOpening(room.check_in_opens_at, new Date(), zone);
    return html`
      <div class="card">
        <p><strong>${formatWhen(a.start, zone)}</strong></p>
        <p>${codeWords(a.service_type)} video visit, while you are in ${stateName(a.patient_state)}.</p>
        <p>Status: ${appointmentStatusWords(a.status)}</p>
      </div>
      <portal-visit-payment .ctx=${this.ctx} .appointmentId=${a.appointment_id} ?upcoming=${booked}></portal-visit-payment>
      <portal-visit-summary .ctx=${this.ctx} .appointmentId=${a.appointment_id}></portal-visit-summary>
      <portal-estimate .ctx=${this.ctx} .appointmentId=${a.appointment_id}></portal-estimate>
      ${booked
        ? html`
            <p>${opening.words}</p>
            <div class="actions">
              <a class="button" href="#/visits/${a.appointment_id}/check-in">Check in</a>
              <a class="button secondary" href="#/visits/${a.appointment_id}/reschedule">Reschedule</a>
              <button class="secondary" @click=${this.askCancel}>Cancel visit</button>
            </div>
            ${this.confirmation(a)}
          `
        : nothing}
      ${WAITING_STATES.has(room.state)
        ? html`<div class="actions"><a class="button" href="#/visits/${a.appointment_id}/waiting">Go to the waiting room</a></div>`
        : nothing}
      ${OVER.has(room.state) || a.status !== "booked"
        ? html`
            <p>${outcomeWords(room.outcome, room.state)}</p>
            ${afterVisitWords(room).map((line) => html`<p>${line}</p>`)}
            <div class="actions"><a class="button" href="#/book">Book a visit</a></div>
          `
        : nothing}
    `;
  }

  // A native modal dialog: focus moves into it and is held there, Escape closes it, and focus goes
  // back to the button that opened it.
  private confirmation(a: Appointment) {
    return html`<dialog aria-labelledby="cancel-title" @close=${() => (this.cancelling = false)}>
      <h2 id="cancel-title">Cancel this visit?</h2>
      <p>${formatWhen(a.start, this.ctx.zone)}. The time will be free for someone else.</p>
      <div class="actions">
        <button class="danger" ?disabled=${this.cancelling} @click=${this.cancel}>Yes, cancel it</button>
        <button class="secondary" @click=${() => this.dialog?.close()}>Keep my visit</button>
      </div>
    </dialog>`;
  }

  private askCancel(): void {
    this.error = "";
    this.dialog?.showModal();
  }

  private async cancel(): Promise<void> {
    const action = `cancel ${this.appointmentId}`;
    this.cancelling = true;
    try {
      const cancelled = await this.ctx.api.post<Appointment>(
        `/v1/appointments/${this.appointmentId}/cancel`,
        undefined,
        this.keys.for(action),
      );
      this.keys.settle(action, null);
      this.dialog?.close();
      this.said = "Your visit is cancelled.";
      this.appointment = cancelled;
      this.room = await this.ctx.api.get<WaitingRoom>(`/v1/appointments/${this.appointmentId}/waiting-room`);
      // The button that opened the dialog is gone: the heading holds focus instead.
      await this.focusHeading();
    } catch (error) {
      this.keys.settle(action, null, error);
      this.dialog?.close();
      void this.fail(error);
    } finally {
      this.cancelling = false;
    }
  }
}
