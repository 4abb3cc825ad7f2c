// Staff: a provider's day (and cancelling a visit on it), the referrals waiting for a visit, and
// booking on a patient's behalf (from a referral, or not); the
// provider chosen from the clinic's directory in a native select (keyboard and screen reader as
// the browser makes them).
import { LitElement, html, nothing } from "lit";
import { customElement, property, state } from "lit/decorators.js";
import { newActionKey, type Api } from "../shared/api.ts";
import { type FoundPatient, patientWords } from "./patients.ts";
import { askedFor, priorityWords, receivedWords, type Referral } from "./referrals.ts";
import { directoryOf, everyProvider, fullName, optionLabel, type ListedProvider } from "./directory.ts";
import { rowsOn, type Appointment, type ScheduleRow } from "./schedule.ts";
import { viewStyles } from "./ui.ts";
import "./patient-coverage.ts";
import "./visit-payment.ts";
import { saidOf } from "./words.ts";
import { clockTime, dayBounds, dayIn, longDay } from "./zone.ts";

const browserZone = (): string => Intl.DateTimeFormat().resolvedOptions().timeZone;

/** The clinic's providers for a view to choose from; null while they load (or if they did not). */
abstract class ChoosesProvider extends LitElement {
  @property({ attribute: false }) api!: Api;
  @state() protected providers: ListedProvider[] | null = null;
  @state() protected error = "";

  override connectedCallback(): void {
    super.connectedCallback();
    void this.loadProviders();
  }

  private async loadProviders(): Promise<void> {
    try {
      this.providers = await everyProvider(directoryOf(this.api));
    } catch (error) {
      this.error = saidOf(error);
    }
  }

  protected chosen(id: string): ListedProvider | undefined {
    return this.providers?.find((p) => p.provider_id === id);
  }

  /** A labelled select of every provider; `any` names a first choice of no one in particular. */
  protected providerSelect(label: string, value: string, pick: (id: string) => void, options: { any?: string; state?: string } = {}) {
    if (this.providers === null) return this.error ? nothing : html`<p>Loading the clinic's providers…</p>`;
    if (this.providers.length === 0) return html`<p>The clinic has no providers in its directory yet.</p>`;
    // Named by its label alone (a wrapping label's name would take in the chosen option's words).
    return html`<label>${label}
      <select name="provider" aria-label=${label} ?required=${!options.any} @change=${(e: Event) => pick((e.target as HTMLSelectElement).value)}>
        <option value="" ?selected=${value === ""} ?disabled=${!options.any}>${options.any ?? "Choose a provider"}</option>
        ${this.providers.map((p) => html`<option value=${p.provider_id} ?selected=${p.provider_id === value}>${optionLabel(p, options.state)}</option>`)}
      </select></label>`;
  }
}

@customElement("staff-day")
export class StaffDay extends ChoosesProvider {
  static override styles = viewStyles;

  @state() private providerId = "";
  @state() private day = dayIn(new Date(), browserZone());
  @state() private zone = "";
  @state() private rows: ScheduleRow[] | null = null;
  /** Whose day the rows are (the select may have moved on since). */
  @state() private shown: ListedProvider | null = null;
  @state() private said = "";
  @state() private confirming = "";
  /** The row whose payment is open below the day. */
  @state() private paying: ScheduleRow | null = null;
  /** Whether the clinic takes payments (its runtime configuration says). */
  @property({ type: Boolean }) payments = false;
  private cancelKeys = new Map<string, string>();

  private async show(event?: SubmitEvent): Promise<void> {
    event?.preventDefault();
    this.error = "";
    this.said = "";
    const provider = this.chosen(this.providerId);
    if (!provider) {
      this.error = "Choose a provider.";
      return;
    }
    try {
      // The provider's day is on their clock: the directory names their zone.
      this.zone = provider.zone;
      const { appointments } = await this.api.get<{ appointments: Appointment[] }>("/v1/appointments", {
        provider_id: provider.provider_id,
        ...dayBounds(this.day, this.zone),
      });
      this.rows = rowsOn(appointments, this.zone, this.day);
      this.shown = provider;
    } catch (error) {
      this.rows = null;
      this.error = saidOf(error);
    }
  }

  /** The visit's payment opens below the day, and the focus goes to its heading. */
  private async openPayment(row: ScheduleRow): Promise<void> {
    this.paying = row;
    await this.updateComplete;
    const panel = this.shadowRoot?.querySelector("staff-visit-payment");
    await (panel as LitElement | null)?.updateComplete;
    (panel?.shadowRoot?.getElementById("payment-h") as HTMLElement | null)?.focus();
  }

  /** The question replaces the button; the focus goes to its safe answer. */
  private async askToCancel(appointmentId: string): Promise<void> {
    this.confirming = appointmentId;
    await this.updateComplete;
    (this.shadowRoot?.getElementById("keep") as HTMLElement | null)?.focus();
  }

  private async cancel(appointmentId: string): Promise<void> {
    const key = this.cancelKeys.get(appointmentId) ?? newActionKey();
    this.cancelKeys.set(appointmentId, key);
    try {
      await this.api.post(`/v1/appointments/${appointmentId}/cancel`, undefined, key);
      this.confirming = "";
      this.said = "The visit is cancelled and its time is free again.";
      await this.show();
      this.said = "The visit is cancelled and its time is free again.";
      await this.updateComplete; // its row's buttons are gone: the focus goes to what was said
      (this.shadowRoot?.getElementById("said") as HTMLElement | null)?.focus();
    } catch (error) {
      this.error = saidOf(error);
    }
  }

  override render() {
    return html`
      <h1>A provider's day</h1>
      <form class="card" @submit=${this.show}>
        ${this.providerSelect("Provider", this.providerId, (id) => (this.providerId = id))}
        <label>Day <input type="date" name="day" required .value=${this.day}
          @input=${(e: Event) => (this.day = (e.target as HTMLInputElement).value)}></label>
        <button type="submit">Show the day</button>
      </form>
      ${this.error ? html`<p role="alert" class="alert">${this.error}</p>` : nothing}
      <p role="status" id="said" tabindex="-1">${this.said}</p>
      ${this.rows === null
        ? nothing
        : html`<section aria-labelledby="day-h">
            <h2 id="day-h">${longDay(this.day)}${this.shown ? `, ${fullName(this.shown)}` : ""}</h2>
            <p class="muted">Times on the provider's clock, ${this.zone.replace(/_/g, " ")}.</p>
            ${this.rows.length === 0
              ? html`<p>No visits on this day.</p>`
              : html`<table>
                  <thead><tr><th scope="col">Time</th><th scope="col">Patient</th><th scope="col">Visit</th><th scope="col">Status</th><th scope="col"><span class="visually-hidden">Action</span></th></tr></thead>
                  <tbody>
                    ${this.rows.map(
                      (r) => html`<tr>
                        <th scope="row">${r.time}–${r.until}</th>
                        <td>${r.patientId}</td>
                        <td>${r.service}</td>
                        <td>${r.status}</td>
                        <td>${this.payments
                          ? html`<button class="secondary" aria-label=${`Payment for the visit at ${r.time} (${r.status})`} @click=${() => this.openPayment(r)}>Payment</button>`
                          : nothing}
                          ${!r.open
                          ? nothing
                          : this.confirming === r.appointmentId
                            ? html`<div class="actions" role="group" aria-label="Confirm the cancellation">
                                <button class="danger" @click=${() => this.cancel(r.appointmentId)}>Yes, cancel it</button>
                                <button class="secondary" id="keep" @click=${() => (this.confirming = "")}>Keep it</button>
                              </div>`
                            : html`<button class="secondary" aria-label=${`Cancel visit at ${r.time}`} @click=${() => this.askToCancel(r.appointmentId)}>Cancel visit</button>`}</td>
                      </tr>`,
                    )}
                  </tbody>
                </table>`}
          </section>`}
      ${this.paying
        ? html`<staff-visit-payment .api=${this.api} .appointmentId=${this.paying.appointmentId}
            .label=${`${this.paying.time}–${this.paying.until}, patient ${this.paying.patientId}`}></staff-visit-payment>`
        : nothing}
    `;
  }
}

interface Slot {
  slot_id: string;
  start: string;
  end: string;
  provider: { provider_id: string; name: string; specialty: string; languages: string[] };
}

@customElement("staff-referrals")
export class StaffReferrals extends LitElement {
  static override styles = viewStyles;

  @property({ attribute: false }) api!: Api;
  @state() private referrals: Referral[] | null = null;
  @state() private followUps: FollowUpToBook[] | null = null;
  @state() private error = "";

  override connectedCallback(): void {
    super.connectedCallback();
    void this.load();
  }

  private async load(): Promise<void> {
    try {
      const [referrals, followUps] = await Promise.all([
        this.api.get<{ referrals: Referral[] }>("/v1/referrals"),
        this.api.get<FollowUpToBook[]>("/v1/follow-ups"),
      ]);
      this.referrals = referrals.referrals;
      this.followUps = followUps;
    } catch (error) {
      this.error = saidOf(error);
    }
  }

  private renderFollowUps() {
    const f = this.followUps;
    if (f === null) return nothing;
    return html`<section aria-labelledby="follow-ups-h">
      <h2 id="follow-ups-h">Follow-ups to book</h2>
      <p class="muted">Asked for in signed visit notes; each leaves this list once a later visit with the same clinician is booked. Soonest wanted first.</p>
      ${f.length === 0
        ? html`<p>No follow-ups are waiting to be booked.</p>`
        : html`<table>
            <thead><tr><th scope="col">Patient</th><th scope="col">With</th><th scope="col">Wanted by</th><th scope="col">Why</th><th scope="col"><span class="visually-hidden">Action</span></th></tr></thead>
            <tbody>
              ${f.map(
                (w) => html`<tr>
                  <th scope="row">${w.patient ? patientWords(w.patient) : "A patient no longer on file"}</th>
                  <td>${w.clinician}</td>
                  <td>${longDay(w.due)}</td>
                  <td>${w.reason || html`<span class="muted">Not said</span>`}</td>
                  <td>${w.patient
                    ? html`<a href=${`#/book/follow-up/${encodeURIComponent(w.appointment_id)}`} aria-label=${`Book the follow-up for ${patientWords(w.patient)}`}>Book the follow-up</a>`
                    : nothing}</td>
                </tr>`,
              )}
            </tbody>
          </table>`}
    </section>`;
  }

  override render() {
    const zone = browserZone();
    return html`
      <h1>Referrals</h1>
      <p class="muted">Sent by health systems; each leaves this list once a visit is booked for it. Most pressing first.</p>
      ${this.error ? html`<p role="alert" class="alert">${this.error}</p>` : nothing}
      ${this.referrals === null
        ? html`<p role="status">Loading referrals…</p>`
        : this.referrals.length === 0
          ? html`<p role="status">No referrals are waiting for a visit.</p>`
          : html`<table>
              <thead><tr><th scope="col">Patient</th><th scope="col">Asked for</th><th scope="col">Priority</th><th scope="col">From</th><th scope="col"><span class="visually-hidden">Action</span></th></tr></thead>
              <tbody>
                ${this.referrals.map(
                  (r) => html`<tr>
                    <th scope="row">${r.patient ? patientWords(r.patient) : "A patient no longer on file"}</th>
                    <td>${askedFor(r)}</td>
                    <td>${priorityWords(r.priority)}</td>
                    <td>${r.requester}<br /><span class="muted">${receivedWords(r.authored_at, zone)}</span></td>
                    <td>${r.patient
                      ? html`<a href=${`#/book/${encodeURIComponent(r.referral_id)}`} aria-label=${`Book a visit for ${patientWords(r.patient)}`}>Book a visit</a>`
                      : nothing}</td>
                  </tr>`,
                )}
              </tbody>
            </table>`}
      ${this.renderFollowUps()}
    `;
  }
}

/** A follow-up a signed note asks for, on the desk's worklist (`GET /v1/follow-ups`). */
export interface FollowUpToBook {
  appointment_id: string;
  patient: FoundPatient | null;
  provider_id: string;
  clinician: string;
  due: string;
  reason: string;
}

@customElement("staff-book")
export class StaffBook extends ChoosesProvider {
  static override styles = viewStyles;

  /** Booking for a referral from the worklist (`#/book/<referral id>`): its patient is chosen. */
  @property({ attribute: false }) referralId = "";
  /** Booking a follow-up a note asks for (`#/book/follow-up/<visit id>`): its patient and clinician. */
  @property({ attribute: false }) followUpOf = "";
  @state() private followUp: FollowUpToBook | null = null;
  /** Whether the clinic takes payments (its runtime configuration says): insurance is shown. */
  @property({ type: Boolean }) payments = false;
  @state() private referral: Referral | null = null;

  @state() private slots: Slot[] | null = null;
  @state() private said = "";
  @state() private query = { state: "", day: dayIn(new Date(), browserZone()), specialty: "", provider: "" };
  @state() private lookup = { family: "", born: "", given: "" };
  /** The patients the last search found (null: none asked yet), and the one chosen. */
  @state() private found: FoundPatient[] | null = null;
  @state() private patient: FoundPatient | null = null;
  /** The provider the times shown were asked for ("": any). */
  private askedFor = "";
  private bookKey = newActionKey();

  override connectedCallback(): void {
    super.connectedCallback();
    if (this.referralId) void this.loadReferral();
    if (this.followUpOf) void this.loadFollowUp();
  }

  private async loadFollowUp(): Promise<void> {
    try {
      const wanted = (await this.api.get<FollowUpToBook[]>("/v1/follow-ups")).find((f) => f.appointment_id === this.followUpOf);
      if (!wanted) {
        this.said = "That follow-up is booked already, or no longer asked for.";
        return;
      }
      this.followUp = wanted;
      this.set("provider", wanted.provider_id);
      if (wanted.patient) {
        this.found = [wanted.patient];
        this.choose(wanted.patient);
      }
    } catch (error) {
      this.error = saidOf(error);
    }
  }

  private async loadReferral(): Promise<void> {
    try {
      const referral = await this.api.get<Referral>(`/v1/referrals/${encodeURIComponent(this.referralId)}`);
      this.referral = referral;
      if (referral.patient) {
        this.found = [referral.patient];
        this.choose(referral.patient);
      }
    } catch (error) {
      this.error = saidOf(error);
    }
  }

  private async find(event: SubmitEvent): Promise<void> {
    event.preventDefault();
    this.error = "";
    this.said = "";
    const zone = browserZone();
    if (!/^[A-Z]{2}$/.test(this.query.state)) {
      this.error = "Enter the state the patient will be in, as its two-letter code (for example CO).";
      return;
    }
    try {
      const page = await this.api.get<{ slots: Slot[] }>("/v1/slots", {
        state: this.query.state,
        zone,
        specialty: this.query.specialty || undefined,
        provider_id: this.query.provider || undefined,
        ...dayBounds(this.query.day, zone),
        limit: 50,
      });
      this.slots = page.slots;
      this.askedFor = this.query.provider;
    } catch (error) {
      this.slots = null;
      this.error = saidOf(error);
    }
  }

  /** The front desk finds the patient by last name and date of birth (in the body: PHI is never in a URL). */
  private async findPatient(event: SubmitEvent): Promise<void> {
    event.preventDefault();
    this.error = "";
    this.said = "";
    try {
      const answer = await this.api.post<{ patients: FoundPatient[] }>("/v1/patients/search", {
        family_name: this.lookup.family.trim(),
        birth_date: this.lookup.born,
        given_name: this.lookup.given.trim() || null,
      });
      this.found = answer.patients;
      this.patient = answer.patients.length === 1 ? answer.patients[0] : null;
      if (this.patient) this.choose(this.patient);
    } catch (error) {
      this.found = null;
      this.error = saidOf(error);
    }
  }

  private choose(patient: FoundPatient): void {
    this.patient = patient;
    // Where they live is where they most often are: a starting point staff can change.
    if (patient.home_state && !this.query.state) this.set("state", patient.home_state);
  }

  private async book(slot: Slot): Promise<void> {
    this.error = "";
    const patient = this.patient;
    if (!patient) {
      this.error = "Find the patient first, by their last name and date of birth.";
      return;
    }
    try {
      const booked = await this.api.post<Appointment>(
        "/v1/appointments",
        {
          slot_id: slot.slot_id,
          state: this.query.state,
          patient_id: patient.patient_id,
          ...(this.referral ? { referral_id: this.referral.referral_id } : {}),
        },
        this.bookKey,
      );
      this.bookKey = newActionKey();
      this.slots = null;
      const forReferral = this.referral ? " The referral is off the worklist." : "";
      this.referral = null;
      this.said = `Booked: ${longDay(this.query.day)} at ${clockTime(booked.start, browserZone())} with ${slot.provider.name}, for ${patientWords(patient)}.${forReferral}`;
      await this.updateComplete; // the list of times is gone: the focus goes to what was booked
      (this.shadowRoot?.getElementById("said") as HTMLElement | null)?.focus();
    } catch (error) {
      this.error = saidOf(error);
    }
  }

  private patients(found: FoundPatient[]) {
    if (found.length === 0) {
      return html`<p role="status">No patient with that last name and date of birth. Check the spelling and the date, or ask the patient to create an account.</p>`;
    }
    return html`<fieldset class="card">
      <legend>Which patient?</legend>
      ${found.map(
        (p) => html`<div><label class="inline"><input type="radio" name="patient" .checked=${this.patient?.patient_id === p.patient_id}
            @change=${() => this.choose(p)} /> <span>${patientWords(p)}</span></label></div>`,
      )}
    </fieldset>`;
  }

  private set(field: keyof StaffBook["query"], value: string): void {
    this.query = { ...this.query, [field]: field === "state" ? value.toUpperCase() : value };
  }

  override render() {
    return html`
      <h1>Book for a patient</h1>
      ${this.followUp
        ? html`<section class="card" aria-labelledby="follow-up-h">
            <h2 id="follow-up-h">For a follow-up</h2>
            <p>${this.followUp.clinician} would like to see the patient again by ${longDay(this.followUp.due)}${this.followUp.reason ? ` (${this.followUp.reason})` : ""}.</p>
          </section>`
        : nothing}
      ${this.referral
        ? html`<section class="card" aria-labelledby="referral-h">
            <h2 id="referral-h">For a referral</h2>
            <p>${askedFor(this.referral)} (${priorityWords(this.referral.priority).toLowerCase()}), from ${this.referral.requester}.</p>
          </section>`
        : nothing}
      <form class="card" @submit=${this.findPatient} aria-labelledby="who-h">
        <h2 id="who-h">Find the patient</h2>
        <label>Patient's last name <input required maxlength="60" autocomplete="off" .value=${this.lookup.family}
          @input=${(e: Event) => (this.lookup = { ...this.lookup, family: (e.target as HTMLInputElement).value })}></label>
        <label>Date of birth <input type="date" required .value=${this.lookup.born}
          @input=${(e: Event) => (this.lookup = { ...this.lookup, born: (e.target as HTMLInputElement).value })}></label>
        <label>First name (optional) <input maxlength="60" autocomplete="off" .value=${this.lookup.given}
          @input=${(e: Event) => (this.lookup = { ...this.lookup, given: (e.target as HTMLInputElement).value })}></label>
        <button type="submit">Find patient</button>
      </form>
      ${this.found === null ? nothing : this.patients(this.found)}
      ${this.patient && this.payments
        ? html`<staff-patient-coverage .api=${this.api} .patientId=${this.patient.patient_id}></staff-patient-coverage>`
        : nothing}
      <form class="card" @submit=${this.find} aria-labelledby="when-h">
        <h2 id="when-h">Find a time</h2>
        <label>Patient's state (two letters) <input required maxlength="2" autocomplete="off" .value=${this.query.state}
          @input=${(e: Event) => this.set("state", (e.target as HTMLInputElement).value)}></label>
        <label>Day <input type="date" required .value=${this.query.day}
          @input=${(e: Event) => this.set("day", (e.target as HTMLInputElement).value)}></label>
        <label>Specialty (optional) <input autocomplete="off" .value=${this.query.specialty}
          @input=${(e: Event) => this.set("specialty", (e.target as HTMLInputElement).value)}></label>
        ${this.providerSelect("Provider (optional)", this.query.provider, (id) => this.set("provider", id), { any: "Any provider", state: this.query.state })}
        <button type="submit">Find slots</button>
      </form>
      ${this.error ? html`<p role="alert" class="alert">${this.error}</p>` : nothing}
      <p role="status" id="said" tabindex="-1">${this.said}</p>
      ${this.slots === null
        ? nothing
        : html`<section aria-labelledby="slots-h">
            <h2 id="slots-h">Open times on ${longDay(this.query.day)}</h2>
            <p class="muted">Times in your zone, ${browserZone().replace(/_/g, " ")}.</p>
            ${this.slots.length === 0
              ? html`<p>No open times that day with ${this.chosen(this.askedFor) ? fullName(this.chosen(this.askedFor)!) : "a provider"} licensed in ${this.query.state}.</p>`
              : html`<table>
                  <thead><tr><th scope="col">Time</th><th scope="col">Provider</th><th scope="col">Specialty</th><th scope="col">Languages</th><th scope="col"><span class="visually-hidden">Action</span></th></tr></thead>
                  <tbody>
                    ${this.slots.map(
                      (s) => html`<tr>
                        <th scope="row">${clockTime(s.start, browserZone())}</th>
                        <td>${s.provider.name}</td>
                        <td>${s.provider.specialty}</td>
                        <td>${s.provider.languages.join(", ")}</td>
                        <td><button aria-label=${`Book ${clockTime(s.start, browserZone())} with ${s.provider.name}`} @click=${() => this.book(s)}>Book</button></td>
                      </tr>`,
                    )}
                  </tbody>
                </table>`}
          </section>`}
    `;
  }
}

