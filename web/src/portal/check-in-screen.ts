// Check-in: where the patient is (licensure is checked against it; whether at home is the
// claim's place of service), an emergency contact, the reason for the visit, consent to a video
// visit and, separately and optionally, to recording.
// It opens 15 minutes before the start; earlier, the screen says when and opens by itself then.
import { html, nothing } from "lit";
import { customElement, property, state } from "lit/decorators.js";
import { ActionKeys, ApiError } from "../shared/api.ts";
import { US_STATES } from "../shared/states.ts";
import { type Appointment, PortalScreen, WAITING_STATES } from "./screen.ts";
import { formatWhen } from "./time.ts";
import { type WaitingRoom, checkInOpening } from "./words.ts";

const READY_TRIES = 15;
const READY_EVERY_MS = 2000;

@customElement("portal-check-in")
export class CheckInScreen extends PortalScreen {
  @property() appointmentId = "";
  @state() private appointment: Appointment | null = null;
  @state() private room: WaitingRoom | null = null;
  @state() private sending = false;
  @state() private tick = 0;
  @state() private preparing = false;
  private timer: number | undefined;
  private readonly keys = new ActionKeys();

  override connectedCallback(): void {
    super.connectedCallback();
    void this.load();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    window.clearTimeout(this.timer);
  }

  private async load(): Promise<void> {
    try {
      const base = `/v1/appointments/${this.appointmentId}`;
      [this.appointment, this.room] = await Promise.all([
        this.ctx.api.get<Appointment>(base),
        this.ctx.api.get<WaitingRoom>(`${base}/waiting-room`),
      ]);
      const wait = Date.parse(this.room.check_in_opens_at) - Date.now();
      // The form appears when check-in opens (a timer longer than a day is not worth keeping).
      if (wait > 0 && wait < 86_400_000) this.timer = window.setTimeout(() => this.tick++, wait + 500);
    } catch (error) {
      void this.fail(error);
    }
  }

  override render() {
    return html`
      <h1 tabindex="-1">Check in</h1>
      ${this.error ? html`<p role="alert">${this.error}</p>` : nothing}
      <p>Your clinician starts from your allergies and the medicines you take:
        <a href="#/health">check your allergies and medicines</a> before your visit.</p>
      ${this.appointment && this.room ? this.body(this.appointment, this.room) : this.error ? nothing : html`<p>Loading…</p>`}
    `;
  }

  private body(a: Appointment, room: WaitingRoom) {
    void this.tick;
    const zone = this.ctx.zone;
    if (WAITING_STATES.has(room.state)) {
      return html`<p>You are already checked in.</p>
        <div class="actions"><a class="button" href="#/visits/${a.appointment_id}/waiting">Go to the waiting room</a></div>`;
    }
    if (room.state !== "booked") {
      return html`<p>${room.next_step}</p><p><a class="target" href="#/visits/${a.appointment_id}">Back to your visit</a></p>`;
    }
    const opening = checkInOpening(room.check_in_opens_at, new Date(), zone);
    return html`
      <p>Your visit: <strong>${formatWhen(a.start, zone)}</strong>.</p>
      ${opening.open
        ? this.form(a)
        : html`<p role="status">${opening.words}</p>
            <p>You can keep this page open; the check-in form appears when it opens.</p>
            <p><a class="target" href="#/visits/${a.appointment_id}">Back to your visit</a></p>`}
    `;
  }

  private form(a: Appointment) {
    return html`<form @submit=${this.submit}>
      <label for="state">Where are you now?</label>
      <span class="hint" id="state-hint">The state you are in during the visit.</span>
      <select id="state" name="state" required aria-describedby="state-hint">
        ${US_STATES.map(([code, name]) => html`<option value=${code} ?selected=${code === a.patient_state}>${name}</option>`)}
      </select>
      <fieldset aria-describedby="home-hint">
        <legend>Are you at home for this visit?</legend>
        <span class="hint" id="home-hint">Your insurer asks where a video visit takes place.</span>
        <label class="check"><input type="radio" name="home" value="yes" required aria-describedby="home-hint" />
          <span>Yes, at home</span></label>
        <label class="check"><input type="radio" name="home" value="no" aria-describedby="home-hint" />
          <span>No, somewhere else</span></label>
      </fieldset>
      <label for="contact">Emergency contact</label>
      <span class="hint" id="contact-hint">A phone number or an address where help can be sent during the visit.</span>
      <input id="contact" name="contact" type="text" required minlength="5" maxlength="200" autocomplete="off"
        aria-describedby="contact-hint" />
      <label for="reason">Reason for your visit (optional)</label>
      <span class="hint" id="reason-hint">In your own words; your clinician reads it before the visit.</span>
      <textarea id="reason" name="reason" maxlength="500" aria-describedby="reason-hint"></textarea>
      <fieldset>
        <legend>Consent</legend>
        <label class="check"><input type="checkbox" name="telehealth" required />
          <span>I agree to have this visit by video (telehealth).</span></label>
        <label class="check"><input type="checkbox" name="recording" />
          <span>I agree to this visit being recorded (optional).</span></label>
      </fieldset>
      ${this.preparing ? html`<p role="status">Getting your visit ready for check-in…</p>` : nothing}
      <div class="actions"><button type="submit" ?disabled=${this.sending}>Check in</button></div>
    </form>`;
  }

  private async submit(event: SubmitEvent): Promise<void> {
    event.preventDefault();
    const form = new FormData(event.target as HTMLFormElement);
    const body = {
      state: String(form.get("state")),
      emergency_contact: String(form.get("contact") ?? "").trim(),
      consent_to_telehealth: form.get("telehealth") === "on",
      consent_to_recording: form.get("recording") === "on",
      reason: String(form.get("reason") ?? "").trim(),
      at_home: form.get("home") === "yes",
    };
    const action = `check-in ${this.appointmentId}`;
    this.sending = true;
    this.error = "";
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          await this.ctx.api.post(`/v1/appointments/${this.appointmentId}/check-in`, body, this.keys.for(action, body));
          this.keys.settle(action, body);
          break;
        } catch (error) {
          this.keys.settle(action, body, error);
          if (!this.stillOpening(error) || attempt >= READY_TRIES) throw error;
          this.preparing = true;
          await new Promise((resolve) => window.setTimeout(resolve, READY_EVERY_MS));
        }
      }
      this.ctx.navigate(`#/visits/${this.appointmentId}/waiting`, { notice: "You are checked in." });
    } catch (error) {
      void this.fail(error);
    } finally {
      this.sending = false;
      this.preparing = false;
    }
  }

  // The window is open by the clock, but the visit's workflow opens check-in a moment after (it
  // runs on its own timer): the API says "not open yet, try shortly", so the screen does.
  private stillOpening(error: unknown): boolean {
    return (
      error instanceof ApiError &&
      error.kind === "check-in-not-open" &&
      this.room !== null &&
      Date.parse(this.room.check_in_opens_at) <= Date.now()
    );
  }
}
