// A provider's today: the waiting queue (polled every few seconds, changes announced politely),
// the visit in progress (join, end), and the day's schedule in the provider's zone.
import { LitElement, html, nothing } from "lit";
import { customElement, property, state } from "lit/decorators.js";
import { newActionKey, type Api } from "../shared/api.ts";
import { NOT_FOUND_SELF, providerSelf, type ProviderSelf } from "./provider-self.ts";
import { minutesWaited, minutesWords, queueAnnouncement, type Queue } from "./queue.ts";
import { rowsOn, type Appointment, type ScheduleRow } from "./schedule.ts";
import { viewStyles } from "./ui.ts";
import { keepAdmissionLink } from "./visit-links.ts";
import { saidOf } from "./words.ts";
import { clockTime, dayBounds, dayIn, longDay } from "./zone.ts";

const POLL_MS = 5_000;

@customElement("provider-today")
export class ProviderToday extends LitElement {
  static override styles = viewStyles;

  @property({ attribute: false }) api!: Api;
  @state() private self: ProviderSelf | null = null;
  @state() private selfMissing = false;
  @state() private rows: ScheduleRow[] = [];
  @state() private queue: Queue | null = null;
  @state() private fetchedAt = 0;
  @state() private now = Date.now();
  @state() private announcement = "";
  @state() private error = "";
  @state() private busy = "";
  @state() private confirmingEnd = false;
  @state() private admittedId = "";
  private timers: number[] = [];
  private keys = new Map<string, string>();

  override connectedCallback(): void {
    super.connectedCallback();
    void this.load();
    this.timers.push(window.setInterval(() => void this.poll(), POLL_MS));
    this.timers.push(window.setInterval(() => (this.now = Date.now()), 15_000));
  }

  override disconnectedCallback(): void {
    this.timers.forEach((t) => window.clearInterval(t));
    this.timers = [];
    super.disconnectedCallback();
  }

  private get zone(): string {
    return this.self?.zone ?? Intl.DateTimeFormat().resolvedOptions().timeZone;
  }

  private async load(): Promise<void> {
    await this.poll();
    try {
      this.self = await providerSelf(this.api);
      this.selfMissing = this.self === null;
      const today = dayIn(new Date(), this.zone);
      const { appointments } = await this.api.get<{ appointments: Appointment[] }>("/v1/appointments", dayBounds(today, this.zone));
      this.rows = rowsOn(appointments, this.zone, today);
    } catch (error) {
      this.error = saidOf(error);
    }
  }

  private async poll(): Promise<void> {
    try {
      const next = await this.api.get<Queue>("/v1/waiting-room");
      const said = queueAnnouncement(this.queue, next);
      if (said) this.announcement = said;
      this.queue = next;
      this.fetchedAt = this.now = Date.now();
    } catch (error) {
      this.error = saidOf(error);
    }
  }

  /** One key per action on one visit, so a retry of the same click is the same request. */
  private key(action: string): string {
    const existing = this.keys.get(action);
    if (existing) return existing;
    const key = newActionKey();
    this.keys.set(action, key);
    return key;
  }

  private async admit(appointmentId: string, guests: { role: string; user_id: string }[] = []): Promise<void> {
    // One visit at a time, as the API holds it; `aria-disabled`, not `disabled`, keeps the focus.
    if (this.busy || this.queue?.current_appointment_id) return;
    this.busy = appointmentId;
    this.error = "";
    try {
      const action = `admit:${appointmentId}`;
      const body = guests.length ? { guests } : undefined;
      const done = await this.api.post<{ link: { link: string } }>(`/v1/appointments/${appointmentId}/admit`, body, this.key(action));
      this.keys.delete(action);
      keepAdmissionLink(appointmentId, done.link.link);
      this.admittedId = appointmentId;
      this.announcement = "Patient admitted. Join the call when you are ready.";
      await this.poll();
      // The row (and its button) left the queue: the focus goes to the next step, not the page.
      await this.updateComplete;
      (this.shadowRoot?.getElementById("join") as HTMLElement | null)?.focus();
    } catch (error) {
      this.error = saidOf(error);
    } finally {
      this.busy = "";
    }
  }

  private async admitWithGuest(event: SubmitEvent): Promise<void> {
    event.preventDefault();
    const form = new FormData(event.target as HTMLFormElement);
    const appointmentId = String(form.get("appointment") ?? "");
    const userId = String(form.get("user_id") ?? "").trim();
    if (!appointmentId || !userId) {
      this.error = "Choose the patient and enter the guest's account id.";
      return;
    }
    await this.admit(appointmentId, [{ role: String(form.get("role")), user_id: userId }]);
  }

  /** The question replaces the button; the focus goes to its safe answer. */
  private async askToEnd(): Promise<void> {
    this.confirmingEnd = true;
    await this.updateComplete;
    (this.shadowRoot?.getElementById("keep") as HTMLElement | null)?.focus();
  }

  private async end(appointmentId: string): Promise<void> {
    if (this.busy) return;
    this.busy = appointmentId;
    this.error = "";
    try {
      const action = `end:${appointmentId}`;
      await this.api.post(`/v1/appointments/${appointmentId}/end`, undefined, this.key(action));
      this.keys.delete(action);
      this.confirmingEnd = false;
      this.announcement = "The visit has ended.";
      await this.load();
      await this.updateComplete;
      (this.shadowRoot?.getElementById("queue-h") as HTMLElement | null)?.focus();
    } catch (error) {
      this.error = saidOf(error);
    } finally {
      this.busy = "";
    }
  }

  override render() {
    const today = dayIn(new Date(this.now), this.zone);
    return html`
      <h1>Today</h1>
      <p class="muted">${longDay(today)} · times in ${this.zone.replace(/_/g, " ")}</p>
      <div role="status" aria-live="polite" class="visually-hidden">${this.announcement}</div>
      ${this.error ? html`<p role="alert" class="alert">${this.error}</p>` : nothing}
      ${this.selfMissing ? html`<p class="muted">${NOT_FOUND_SELF}</p>` : nothing}
      ${this.renderCurrent()} ${this.renderQueue()} ${this.renderSchedule()}
    `;
  }

  private renderCurrent() {
    const current = this.queue?.current_appointment_id;
    if (!current) return nothing;
    return html`<section aria-labelledby="current-h">
      <h2 id="current-h">Visit in progress</h2>
      <p>${this.admittedId === current ? "You admitted this patient." : "A visit of yours is open."}</p>
      <div class="actions">
        <button id="join" @click=${() => (window.location.hash = `#/today/call/${current}`)}>Join the call</button>
        ${this.confirmingEnd
          ? html`<span role="group" aria-label="Confirm ending the visit" class="actions">
              <span>End the visit for everyone?</span>
              <button class="danger" aria-disabled=${this.busy === current ? "true" : "false"} @click=${() => this.end(current)}>Yes, end the visit</button>
              <button class="secondary" id="keep" @click=${() => (this.confirmingEnd = false)}>Keep the visit going</button>
            </span>`
          : html`<button class="danger" @click=${() => this.askToEnd()}>End visit</button>`}
        <button class="secondary" @click=${() => (window.location.hash = `#/today/vitals/${current}`)}>Vitals</button>
        <button class="secondary" @click=${() => (window.location.hash = `#/today/note/${current}`)}>Note</button>
      </div>
    </section>`;
  }

  private renderQueue() {
    const waiting = this.queue?.waiting ?? [];
    return html`<section aria-labelledby="queue-h">
      <h2 id="queue-h" tabindex="-1">Waiting room</h2>
      ${this.queue === null
        ? html`<p>Loading the queue…</p>`
        : waiting.length === 0
          ? html`<p>No one is waiting.</p>`
          : html`<table>
                <caption class="visually-hidden">Patients waiting to be admitted, next first</caption>
                <thead>
                  <tr><th scope="col">Patient</th><th scope="col">Booked for</th><th scope="col">Waited</th><th scope="col">Reason</th><th scope="col"><span class="visually-hidden">Action</span></th></tr>
                </thead>
                <tbody>
                  ${waiting.map(
                    (e) => html`<tr>
                      <th scope="row">${e.patient_id}</th>
                      <td>${clockTime(e.start, this.zone)}</td>
                      <td>${minutesWords(minutesWaited(e.waited_s, this.fetchedAt, this.now))}</td>
                      <td>${e.reason || html`<span class="muted">Not given</span>`}</td>
                      <td><button aria-disabled=${this.busy || this.queue?.current_appointment_id ? "true" : "false"} @click=${() => this.admit(e.appointment_id)}>Admit</button></td>
                    </tr>`,
                  )}
                </tbody>
              </table>
              <details>
                <summary>Admit with an interpreter or a caregiver</summary>
                <form @submit=${this.admitWithGuest}>
                  <label>Patient
                    <select name="appointment">${waiting.map((e) => html`<option value=${e.appointment_id}>${e.patient_id}</option>`)}</select>
                  </label>
                  <label>Guest's role
                    <select name="role"><option value="interpreter">Interpreter</option><option value="caregiver">Caregiver</option></select>
                  </label>
                  <label>Guest's account id <input name="user_id" autocomplete="off" pattern="[A-Za-z0-9-]{2,64}" required></label>
                  <button type="submit">Admit with guest</button>
                </form>
              </details>`}
    </section>`;
  }

  private renderSchedule() {
    return html`<section aria-labelledby="schedule-h">
      <h2 id="schedule-h">Schedule</h2>
      ${this.rows.length === 0
        ? html`<p>No visits booked today.</p>`
        : html`<table>
            <caption class="visually-hidden">Today's visits in order</caption>
            <thead>
              <tr><th scope="col">Time</th><th scope="col">Patient</th><th scope="col">Visit</th><th scope="col">Patient's state</th><th scope="col">Status</th><th scope="col"><span class="visually-hidden">Action</span></th></tr>
            </thead>
            <tbody>
              ${this.rows.map(
                (r) => html`<tr>
                  <th scope="row">${r.time}–${r.until}</th>
                  <td>${r.patientId}</td>
                  <td>${r.service}</td>
                  <td>${r.state}</td>
                  <td>${r.status}</td>
                  <td>${r.status === "Seen"
                    ? html`<a href="#/today/note/${r.appointmentId}">Note<span class="visually-hidden"> of the ${r.time} visit</span></a>
                        · <a href="#/today/vitals/${r.appointmentId}">Vitals<span class="visually-hidden"> for the ${r.time} visit</span></a>`
                    : nothing}</td>
                </tr>`,
              )}
            </tbody>
          </table>`}
    </section>`;
  }
}
