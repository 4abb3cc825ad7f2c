// Finding a time: by where the patient will be, the kind of care, the language and the day, in
// the patient's own time zone; then booking it, or moving a visit to it (same provider).
import { html, nothing } from "lit";
import { customElement, property, state } from "lit/decorators.js";
import { ActionKeys, ApiError } from "../shared/api.ts";
import { US_STATES, stateName } from "../shared/states.ts";
import { type GoodFaithEstimate, estimateDocument } from "./estimate-document.ts";
import { priceWords } from "./money.ts";
import { type Appointment, PortalScreen, type Price, type Slot, type SlotPage } from "./screen.ts";
import { type VisitSummary, calendarDate } from "./summary-panel.ts";
import { dayIn, formatSlotTime, formatWhen, groupByDay, searchWindow } from "./time.ts";
import { codeWords, languageName } from "./words.ts";

// The clinic's API lists no specialties or languages to patients; these are the ones a US clinic
// commonly offers (a search for one nobody offers says so plainly).
const SPECIALTIES = [
  "family-medicine",
  "internal-medicine",
  "urgent-care",
  "pediatrics",
  "behavioral-health",
  "dermatology",
  "womens-health",
];
const LANGUAGES = ["en", "es", "zh", "vi", "tl", "ar", "fr", "ht", "ko", "ru", "pt", "sv", "yo"];
// Reschedule searches one provider's times among everyone's: a few pages at most.
const RESCHEDULE_PAGES = 5;

interface Query {
  state: string;
  specialty: string;
  language: string;
  day: string;
}

@customElement("portal-find-time")
export class FindTime extends PortalScreen {
  /** Set for a reschedule: the visit to move (then only its provider's times are shown). */
  @property() appointmentId = "";
  /** Set for a follow-up: the visit whose summary asks for one (its clinician's times, by its date). */
  @property() followUpOf = "";
  /** The kind of care to search for first (the symptom check's routing names one). */
  @property() specialty = "";

  @state() private moving: Appointment | null = null;
  @state() private followUp: VisitSummary | null = null;
  /** A search waits for the visit being moved or followed up (a quick click would search everyone). */
  private ready: Promise<void> = Promise.resolve();
  @state() private slots: Slot[] | null = null;
  @state() private cursor: string | null = null;
  @state() private searching = false;
  @state() private busySlot = "";
  @state() private found = "";
  @state() private price: Price | null = null;
  /** Paying themselves, the patient's Good Faith Estimate for the visit, before they book. */
  @state() private estimate: GoodFaithEstimate | null = null;
  private query: Query | null = null;
  private readonly keys = new ActionKeys();

  override connectedCallback(): void {
    super.connectedCallback();
    if (this.appointmentId) this.ready = this.loadVisit();
    if (this.followUpOf) this.ready = this.loadFollowUp();
  }

  private async loadFollowUp(): Promise<void> {
    try {
      this.followUp = await this.ctx.api.get<VisitSummary>(`/v1/appointments/${this.followUpOf}/summary`);
    } catch (error) {
      void this.fail(error);
    }
  }

  /** Only one clinician's times: the visit's being moved, or the one who asked for a follow-up. */
  private get onlyProvider(): string | null {
    return this.moving?.provider_id ?? this.followUp?.provider_id ?? null;
  }

  private async loadVisit(): Promise<void> {
    try {
      this.moving = await this.ctx.api.get<Appointment>(`/v1/appointments/${this.appointmentId}`);
    } catch (error) {
      void this.fail(error);
    }
  }

  override render() {
    const today = dayIn(this.ctx.zone);
    const rescheduling = Boolean(this.appointmentId);
    return html`
      <h1 tabindex="-1">${rescheduling ? "Reschedule your visit" : this.followUpOf ? "Book your follow-up" : "Book a visit"}</h1>
      ${rescheduling && this.moving
        ? html`<p>Your visit is now on <strong>${formatWhen(this.moving.start, this.ctx.zone)}</strong>.
            Choose another time with the same clinician.</p>`
        : nothing}
      ${this.followUp?.follow_up
        ? html`<p>${this.followUp.clinician} would like to see you again by
            <strong>${calendarDate(this.followUp.follow_up.by)}</strong>. Choose a time with them.</p>`
        : nothing}
      <form @submit=${this.onSearch}>
        ${rescheduling
          ? nothing
          : html`
              <label for="state">Where will you be during the visit?</label>
              <span class="hint" id="state-hint">Clinicians can only see you in a state where they are licensed.</span>
              <select id="state" name="state" required aria-describedby="state-hint">
                <option value="">Choose a state</option>
                ${US_STATES.map(([code, name]) => html`<option value=${code}>${name}</option>`)}
              </select>
              ${this.followUpOf ? nothing : html`<label for="specialty">Kind of care</label>
              <select id="specialty" name="specialty">
                <option value="">Any</option>
                ${SPECIALTIES.map((code) => html`<option value=${code} ?selected=${code === this.specialty}>${codeWords(code)}</option>`)}
              </select>
              <label for="language">Language you want to speak</label>
              <select id="language" name="language">
                <option value="">Any</option>
                ${LANGUAGES.map((code) => html`<option value=${code}>${languageName(code)}</option>`)}
              </select>`}
            `}
        <label for="day">Date</label>
        <input id="day" name="day" type="date" required min=${today} max=${this.followUp?.follow_up?.by ?? nothing}
          .value=${this.query?.day ?? today}
          aria-describedby="zone-hint" />
        <span class="hint" id="zone-hint">Times are shown in your time zone (${this.ctx.zone}).</span>
        <div class="actions">
          <button type="submit" ?disabled=${this.searching}>Find a time</button>
        </div>
      </form>
      ${this.error ? html`<p role="alert">${this.error}</p>` : nothing}
      <p role="status">${this.found}</p>
      ${this.slots?.length ? this.results(this.slots) : nothing}
    `;
  }

  private results(slots: Slot[]) {
    const action = this.appointmentId ? "Move to this time" : "Book this time";
    return html`
      <h2>Open times</h2>
      ${this.price && !this.appointmentId
        ? html`<p class="card" id="price">${priceWords(this.price.amount_minor, this.price.currency, this.price.insured)}</p>`
        : nothing}
      ${this.estimate && !this.appointmentId
        ? html`<details class="card" id="estimate">
            <summary>Your Good Faith Estimate</summary>
            ${estimateDocument(this.estimate, this.ctx.zone)}
          </details>`
        : nothing}
      ${groupByDay(slots, this.ctx.zone).map(
        (group) => html`
          <h3>${group.day}</h3>
          <ul class="plain">
            ${group.slots.map(
              (slot) => html`<li class="card">
                <p id=${`slot-${slot.slot_id}`}>
                  <strong>${formatSlotTime(slot.start, slot.end, this.ctx.zone)}</strong>
                  with ${slot.provider.name}
                  <span class="muted">· ${codeWords(slot.provider.specialty)} ·
                    ${slot.provider.languages.map((code) => languageName(code)).join(", ")}</span>
                </p>
                <button
                  aria-describedby=${`slot-${slot.slot_id}`}
                  ?disabled=${this.busySlot !== ""}
                  @click=${() => this.choose(slot)}
                >${this.busySlot === slot.slot_id ? "Booking…" : action}</button>
              </li>`,
            )}
          </ul>
        `,
      )}
      ${this.cursor
        ? html`<div class="actions">
            <button class="secondary" ?disabled=${this.searching} @click=${() => this.search(true)}>Show more times</button>
          </div>`
        : nothing}
    `;
  }

  private onSearch(event: SubmitEvent): void {
    event.preventDefault();
    const form = new FormData(event.target as HTMLFormElement);
    const text = (name: string) => String(form.get(name) ?? "");
    this.query = {
      state: this.moving?.patient_state ?? text("state"),
      specialty: text("specialty"),
      language: text("language"),
      day: text("day"),
    };
    void this.search(false);
  }

  private async search(more: boolean, keepError = false): Promise<void> {
    const query = this.query;
    if (!query || !query.state || !query.day) return;
    this.searching = true;
    if (!keepError) this.error = "";
    this.found = "Looking for open times…";
    const { from, to } = searchWindow(query.day, this.ctx.zone);
    let cursor = more ? this.cursor : null;
    const found: Slot[] = more ? [...(this.slots ?? [])] : [];
    try {
      await this.ready;
      const only = this.onlyProvider;
      if (!only && (this.appointmentId || this.followUpOf)) return; // its clinician could not be read: said above
      for (let page = 0; page < (only ? RESCHEDULE_PAGES : 1); page++) {
        const answer = await this.ctx.api.get<SlotPage>("/v1/slots", {
          state: query.state,
          from,
          to,
          zone: this.ctx.zone,
          specialty: query.specialty || undefined,
          language: query.language || undefined,
          service_type: this.moving?.service_type,
          limit: only ? 100 : 20,
          cursor: cursor ?? undefined,
        });
        const mine = only
          ? answer.slots.filter((s) => s.provider.provider_id === only && s.start !== this.moving?.start)
          : answer.slots;
        found.push(...mine);
        this.price = answer.price ?? null;
        cursor = answer.next_cursor;
        if (!cursor) break;
      }
      this.slots = found;
      this.cursor = cursor;
      if (!more) void this.loadEstimate(query.state);
      this.found = found.length
        ? `${found.length} open time${found.length === 1 ? "" : "s"} found.`
        : `No open times on that day in ${stateName(query.state)}. Try another date${only ? "" : " or kind of care"}.`;
    } catch (error) {
      this.found = "";
      void this.fail(error);
    } finally {
      this.searching = false;
    }
  }

  private async loadEstimate(state: string): Promise<void> {
    this.estimate = null;
    if (!this.price || this.price.insured || this.moving) return;
    try {
      // The kind of visit the search priced (and booking books): the general visit.
      this.estimate = await this.ctx.api.get<GoodFaithEstimate>("/v1/estimates/preview", {
        state,
        service_type: "general",
      });
    } catch {
      this.estimate = null; // none owed, or not to be had now: the price above still stands
    }
  }

  private async choose(slot: Slot): Promise<void> {
    if (this.busySlot || !this.query) return;
    this.busySlot = slot.slot_id;
    this.error = "";
    const [action, path, body] = this.moving
      ? ["reschedule", `/v1/appointments/${this.moving.appointment_id}/reschedule`, { slot_id: slot.slot_id }]
      : ["book", "/v1/appointments", { slot_id: slot.slot_id, state: this.query.state }];
    try {
      const booked = await this.ctx.api.post<Appointment>(path, body, this.keys.for(action, body));
      this.keys.settle(action, body);
      this.ctx.navigate(`#/visits/${booked.appointment_id}`, {
        notice: this.moving
          ? `Your visit is moved to ${formatWhen(booked.start, this.ctx.zone)}.`
          : `Your visit is booked for ${formatWhen(booked.start, this.ctx.zone)}.`,
      });
    } catch (error) {
      this.keys.settle(action, body, error);
      void this.fail(error);
      if (error instanceof ApiError && error.kind === "slot-taken") void this.search(false, true);
    } finally {
      this.busySlot = "";
    }
  }
}
