// Clinic administration: providers (profile, licences, privileges), services and the clinic's
// settings, each guarded by the version read (a 409: someone else changed it; reload).
import "./admin-dea.ts";
import { css, html, nothing } from "lit";
import { customElement, property, state } from "lit/decorators.js";
import { keyed } from "lit/directives/keyed.js";
import { ApiError } from "../shared/api.ts";
import { directoryOf, everyProvider, fullName, specialtyWords, statesWords, type ListedProvider, type ProviderProfile } from "./directory.ts";
import { toMajor, toMinor } from "../shared/money.ts";
import { AdminView } from "./admin-view.ts";
import { viewStyles } from "./ui.ts";
import { saidOf } from "./words.ts";

function fieldValue(form: HTMLFormElement, name: string): string {
  return String(new FormData(form).get(name) ?? "").trim();
}

// --- providers ----------------------------------------------------------------------------------

interface Licence {
  state: string;
  number: string;
  valid_from: string;
  valid_until: string;
  status: "active" | "inactive" | "suspended" | "revoked";
  compact: string | null;
}

interface Provider extends ProviderProfile {
  user_sub: string;
  licenses: Licence[];
}

const blankLicence = (): Licence => ({ state: "", number: "", valid_from: "", valid_until: "", status: "active", compact: null });

@customElement("admin-providers")
export class AdminProviders extends AdminView {
  static override styles = [
    viewStyles,
    css`
      td input, td select { width: 100%; box-sizing: border-box; min-width: 5rem; }
      .wide { overflow-x: auto; }
    `,
  ];

  @state() private wanted = "";
  @state() private listed: ListedProvider[] | null = null;
  @state() private listError = "";
  @state() private provider: Provider | null = null;
  @state() private isNew = false;

  override connectedCallback(): void {
    super.connectedCallback();
    void this.list();
  }

  private async list(): Promise<void> {
    this.listError = "";
    try {
      this.listed = await everyProvider(directoryOf(this.api));
    } catch (error) {
      this.listError = saidOf(error);
    }
  }

  /** A provider from the list: the form below it, with the focus on its heading. */
  private async openListed(id: string): Promise<void> {
    this.wanted = id;
    await this.open();
    await this.updateComplete;
    (this.shadowRoot?.getElementById("provider-h") as HTMLElement | null)?.focus();
  }

  private async open(event?: SubmitEvent): Promise<void> {
    event?.preventDefault();
    this.error = "";
    this.said = "";
    this.conflict = false;
    const id = this.wanted.trim();
    if (!/^[a-z0-9-]{2,64}$/.test(id)) {
      this.error = "A provider id is 2 to 64 lower-case letters, digits and dashes.";
      return;
    }
    try {
      this.provider = await this.api.get<Provider>(`/v1/admin/providers/${id}`);
      this.isNew = false;
      this.generation += 1;
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) {
        this.provider = { provider_id: id, given_name: "", family_name: "", specialty: "", languages: ["en"], zone: "", user_sub: "", licenses: [], version: 0 };
        this.isNew = true;
        this.said = `There is no provider ${id} yet: fill in the form to add them.`;
      } else {
        this.provider = null;
        this.error = saidOf(error);
      }
    }
  }

  private editLicence(index: number, edit: Partial<Licence>): void {
    if (!this.provider) return;
    this.provider = { ...this.provider, licenses: this.provider.licenses.map((l, i) => (i === index ? { ...l, ...edit } : l)) };
  }

  private async save(event: SubmitEvent): Promise<void> {
    event.preventDefault();
    if (!this.provider) return;
    const form = event.target as HTMLFormElement;
    const p = this.provider;
    const body = {
      given_name: fieldValue(form, "given_name"),
      family_name: fieldValue(form, "family_name"),
      specialty: fieldValue(form, "specialty"),
      languages: fieldValue(form, "languages").split(/[\s,]+/).filter(Boolean),
      zone: fieldValue(form, "zone"),
      user_sub: fieldValue(form, "user_sub"),
      page_email: fieldValue(form, "page_email").trim() || null,
      licenses: p.licenses.map((l) => ({ ...l, compact: l.compact || null })),
      version: p.version,
    };
    await this.change(async () => {
      this.provider = await this.api.put<Provider>(`/v1/admin/providers/${p.provider_id}`, body);
      this.said = this.isNew ? "Provider added." : "Provider saved.";
      this.isNew = false;
      await this.list(); // a new name, specialty or licence shows in the list
    });
  }

  override render() {
    const p = this.provider;
    return html`
      <h1>Providers</h1>
      ${this.listError ? html`<p role="alert" class="alert">${this.listError}</p>` : nothing}
      ${this.listed === null
        ? this.listError ? nothing : html`<p>Loading the clinic's providers…</p>`
        : html`<section aria-labelledby="directory-h">
            <h2 id="directory-h">The clinic's providers</h2>
            ${this.listed.length === 0
              ? html`<p>No providers yet: add one below.</p>`
              : html`<div class="wide"><table>
                  <thead><tr><th scope="col">Name</th><th scope="col">Specialty</th><th scope="col">May see patients today in</th><th scope="col"><span class="visually-hidden">Action</span></th></tr></thead>
                  <tbody>
                    ${this.listed.map(
                      (l) => html`<tr>
                        <th scope="row">${fullName(l)}</th>
                        <td>${specialtyWords(l.specialty)}</td>
                        <td>${statesWords(l)}</td>
                        <td><button class="secondary" aria-label=${`Open ${fullName(l)}`} @click=${() => this.openListed(l.provider_id)}>Open</button></td>
                      </tr>`,
                    )}
                  </tbody>
                </table></div>`}
          </section>`}
      <form class="card" @submit=${this.open}>
        <h2>Add a provider, or open one by id</h2>
        <p class="muted">A new id adds a provider; one saved before the list existed opens here too.</p>
        <label>Provider id <input required autocomplete="off" .value=${this.wanted}
          @input=${(e: Event) => (this.wanted = (e.target as HTMLInputElement).value)}></label>
        <button type="submit">Open provider</button>
      </form>
      ${this.errors(() => {
        this.wanted = p?.provider_id ?? this.wanted;
        void this.open();
      })}
      <p role="status">${this.said}</p>
      ${p ? keyed(this.generation, this.renderProvider(p)) : nothing}
      ${p && !this.isNew
        ? keyed(p.provider_id, html`<admin-dea-registrations .api=${this.api} .providerId=${p.provider_id}></admin-dea-registrations>`)
        : nothing}
    `;
  }

  private renderProvider(p: Provider) {
    return html`<form class="card" @submit=${this.save}>
      <h2 id="provider-h" tabindex="-1">${this.isNew ? `New provider ${p.provider_id}` : `${p.given_name} ${p.family_name}`}</h2>
      <p class="muted">${this.isNew ? "Not yet saved." : `Version ${p.version}.`}</p>
      <label>Given name <input name="given_name" required maxlength="60" .value=${p.given_name}></label>
      <label>Family name <input name="family_name" required maxlength="60" .value=${p.family_name}></label>
      <label>Specialty <input name="specialty" required .value=${p.specialty}></label>
      <label>Languages (codes, comma separated) <input name="languages" .value=${p.languages.join(", ")}></label>
      <label>Time zone <input name="zone" required placeholder="America/Denver" .value=${p.zone}></label>
      <label>Workforce user id (sub) <input name="user_sub" required .value=${p.user_sub}></label>
      <label>Work e-mail for urgent pages <input name="page_email" type="email" .value=${p.page_email ?? ""}></label>
      <fieldset>
        <legend>Licences and compact privileges</legend>
        ${p.licenses.length === 0 ? html`<p>No licences: the provider cannot see patients anywhere.</p>` : nothing}
        <div class="wide">
          ${p.licenses.length
            ? html`<table>
                <thead><tr><th scope="col">State</th><th scope="col">Number</th><th scope="col">Valid from</th><th scope="col">Valid until</th><th scope="col">Status</th><th scope="col">Compact</th><th scope="col"><span class="visually-hidden">Action</span></th></tr></thead>
                <tbody>
                  ${p.licenses.map(
                    (l, i) => html`<tr>
                      <td><input aria-label=${`Licence ${i + 1} state`} maxlength="2" .value=${l.state} @change=${(e: Event) => this.editLicence(i, { state: (e.target as HTMLInputElement).value.toUpperCase() })}></td>
                      <td><input aria-label=${`Licence ${i + 1} number`} .value=${l.number} @change=${(e: Event) => this.editLicence(i, { number: (e.target as HTMLInputElement).value })}></td>
                      <td><input type="date" aria-label=${`Licence ${i + 1} valid from`} .value=${l.valid_from} @change=${(e: Event) => this.editLicence(i, { valid_from: (e.target as HTMLInputElement).value })}></td>
                      <td><input type="date" aria-label=${`Licence ${i + 1} valid until`} .value=${l.valid_until} @change=${(e: Event) => this.editLicence(i, { valid_until: (e.target as HTMLInputElement).value })}></td>
                      <td><select aria-label=${`Licence ${i + 1} status`} @change=${(e: Event) => this.editLicence(i, { status: (e.target as HTMLSelectElement).value as Licence["status"] })}>
                        ${(["active", "inactive", "suspended", "revoked"] as const).map((s) => html`<option value=${s} ?selected=${l.status === s}>${s}</option>`)}
                      </select></td>
                      <td><input aria-label=${`Licence ${i + 1} compact (blank for a state licence)`} .value=${l.compact ?? ""} @change=${(e: Event) => this.editLicence(i, { compact: (e.target as HTMLInputElement).value || null })}></td>
                      <td><button type="button" class="secondary" aria-label=${`Remove licence ${i + 1}`} @click=${() => this.provider && (this.provider = { ...this.provider, licenses: this.provider.licenses.filter((_, j) => j !== i) })}>Remove</button></td>
                    </tr>`,
                  )}
                </tbody>
              </table>`
            : nothing}
        </div>
        <button type="button" class="secondary" @click=${() => this.provider && (this.provider = { ...this.provider, licenses: [...this.provider.licenses, blankLicence()] })}>Add a licence</button>
      </fieldset>
      <button type="submit">Save provider</button>
    </form>`;
  }
}

// --- services -----------------------------------------------------------------------------------

interface Service {
  code: string;
  display: string;
  minutes: number;
  price_minor: number;
  currency: string;
  active: boolean;
  coding: { system: string; code: string; display?: string | null } | null;
  billing_code: string | null;
  version: number;
}

@customElement("admin-services")
export class AdminServices extends AdminView {
  static override styles = viewStyles;

  @state() private services: Service[] | null = null;
  @state() private editing: Service | null = null;

  override connectedCallback(): void {
    super.connectedCallback();
    void this.load();
  }

  private async load(): Promise<void> {
    this.error = "";
    this.conflict = false;
    try {
      this.services = (await this.api.get<{ services: Service[] }>("/v1/admin/services")).services;
      if (this.editing) this.editing = this.services.find((s) => s.code === this.editing?.code) ?? null;
      this.generation += 1;
    } catch (error) {
      this.error = saidOf(error);
    }
  }

  private async save(event: SubmitEvent): Promise<void> {
    event.preventDefault();
    if (!this.editing) return;
    const form = event.target as HTMLFormElement;
    const code = this.editing.version === 0 ? fieldValue(form, "code") : this.editing.code;
    if (!/^[a-z][a-z0-9-]{1,30}$/.test(code)) {
      this.error = "A service code is 2 to 31 lower-case letters, digits and dashes, starting with a letter.";
      return;
    }
    const price = Number(fieldValue(form, "price"));
    const billing = fieldValue(form, "billing").toUpperCase();
    if (billing && !/^(\d{4}[0-9FT]|[A-V]\d{4})$/.test(billing)) {
      this.error = "A billing code is a CPT code (five digits, or four and F or T) or a HCPCS code (a letter and four digits).";
      return;
    }
    // The whole service goes back, its coding too (a PUT without it would take the code off).
    const body = {
      display: fieldValue(form, "display"),
      minutes: Number(fieldValue(form, "minutes")),
      price_minor: Math.round(price * 100),
      currency: fieldValue(form, "currency") || "USD",
      active: new FormData(form).get("active") === "on",
      coding: this.editing.coding,
      billing_code: billing || null,
      version: this.editing.version,
    };
    await this.change(async () => {
      const saved = await this.api.put<Service>(`/v1/admin/services/${code}`, body);
      this.said = `${saved.display} saved.`;
      this.editing = null;
      await this.load();
    });
  }

  override render() {
    return html`
      <h1>Services</h1>
      ${this.errors(() => void this.load())}
      <p role="status">${this.said}</p>
      ${this.services === null
        ? this.error ? nothing : html`<p>Loading the services…</p>`
        : html`<section aria-labelledby="services-h">
            <h2 id="services-h">The clinic's services</h2>
            <table>
              <thead><tr><th scope="col">Service</th><th scope="col">Code</th><th scope="col">Length</th><th scope="col">Price</th><th scope="col">Billed as</th><th scope="col">Offered</th><th scope="col"><span class="visually-hidden">Action</span></th></tr></thead>
              <tbody>
                ${this.services.map(
                  (s) => html`<tr>
                    <th scope="row">${s.display}</th>
                    <td>${s.code}</td>
                    <td>${s.minutes} minutes</td>
                    <td>${(s.price_minor / 100).toFixed(2)} ${s.currency}</td>
                    <td>${s.billing_code ?? "Not coded"}</td>
                    <td>${s.active ? "Yes" : "No"}</td>
                    <td><button class="secondary" aria-label=${`Change ${s.display}`} @click=${() => (this.editing = s)}>Change</button></td>
                  </tr>`,
                )}
              </tbody>
            </table>
            <p><button class="secondary" @click=${() => (this.editing = { code: "", display: "", minutes: 30, price_minor: 0, currency: "USD", active: true, coding: null, billing_code: null, version: 0 })}>Add a service</button></p>
          </section>`}
      ${this.editing ? keyed(`${this.generation}:${this.editing.code}`, this.renderForm(this.editing)) : nothing}
    `;
  }

  private renderForm(s: Service) {
    return html`<form class="card" @submit=${this.save}>
      <h2>${s.version === 0 ? "New service" : `Change ${s.display}`}</h2>
      ${s.version === 0 ? html`<label>Code <input name="code" required autocomplete="off"></label>` : nothing}
      <label>Name <input name="display" required maxlength="80" .value=${s.display}></label>
      <label>Length in minutes <input name="minutes" type="number" min="5" max="240" step="5" required .value=${String(s.minutes)}></label>
      <label>Price <input name="price" type="number" min="0" step="0.01" required .value=${(s.price_minor / 100).toFixed(2)}></label>
      <label>Currency <input name="currency" maxlength="3" .value=${s.currency}></label>
      <label>Billing code (CPT or HCPCS, optional) <input name="billing" maxlength="5" autocomplete="off" .value=${s.billing_code ?? ""}></label>
      <label class="inline"><input name="active" type="checkbox" ?checked=${s.active}> Offered to patients</label>
      <div class="actions">
        <button type="submit">Save service</button>
        <button type="button" class="secondary" @click=${() => (this.editing = null)}>Cancel</button>
      </div>
    </form>`;
  }
}

// --- settings -----------------------------------------------------------------------------------

interface Settings {
  cancellation_window_hours: number;
  booking_horizon_days: number;
  max_open_bookings: number;
  visit_timings: Record<string, number | number[]>;
  currency: string;
  no_show_fee_minor: number;
  late_cancellation_fee_minor: number;
  proceed_unpaid: boolean;
  note_template: string[];
  controlled_substances: { flexibilities_until: string; after_flexibilities: string; buprenorphine_max_days: number; pdmp_max_age_days: number };
  alert_escalation: { after_minutes: number; to: string[] };
  triage: {
    medical_director: string | null;
    on_call: string[];
    urgent_within_minutes: number;
    self_care: boolean;
    photo_turnaround_hours: number;
    photo_warning_hours: number;
  };
  version: number;
}

// Who is paged when the symptom check shows a patient an emergency instruction: up to five.
const ON_CALL = ["On call", "Also on call", "Also on call", "Also on call", "Also on call"];

// Whom an urgent alert goes to, in turn: as many turns as the API takes (five), so that saving the
// form never drops a turn set another way.
const ESCALATION_TURNS = ["First, to", "Then to", "Then to", "Then to", "Then to"];

// Visit timings as an administrator thinks of them (minutes); the API keeps seconds.
const TIMINGS: [string, string][] = [
  ["check_in_opens", "Check-in opens, minutes before the start"],
  ["no_show_grace", "A no-show after, minutes past the start"],
  ["join_window", "Join window, minutes"],
  ["admit_by_after_end", "Admit by, minutes after the booked end"],
  ["overrun", "A visit may overrun by, minutes"],
  ["link_lifetime", "A join link lasts, minutes (10 at most)"],
];

@customElement("admin-settings")
export class AdminSettings extends AdminView {
  static override styles = viewStyles;

  @state() private settings: Settings | null = null;
  /** Whether the clinic takes payments: its fees are set here. */
  @property({ type: Boolean }) payments = false;
  /** Whether the clinic has remote monitoring: whom its urgent alerts go to is set here. */
  @property({ type: Boolean }) monitoring = false;
  /** Whether the clinic has the symptom check: its medical director and on-call are set here. */
  @property({ type: Boolean }) triage = false;
  @state() private providers: ListedProvider[] = [];

  override connectedCallback(): void {
    super.connectedCallback();
    void this.load();
  }

  private async load(): Promise<void> {
    this.error = "";
    this.conflict = false;
    try {
      // Both before the form shows: a form drawn before the providers came would be drawn again
      // when they did, and what was typed meanwhile lost.
      const settings = await this.api.get<Settings>("/v1/admin/settings");
      const providers = this.monitoring || this.triage ? await everyProvider(directoryOf(this.api)) : [];
      this.settings = settings;
      this.providers = providers;
      this.generation += 1;
    } catch (error) {
      this.error = saidOf(error);
    }
  }

  private async save(event: SubmitEvent): Promise<void> {
    event.preventDefault();
    if (!this.settings) return;
    const form = event.target as HTMLFormElement;
    const timings: Record<string, number> = {};
    // Minutes back to seconds, to the millisecond (0.1 × 60 is 6.000000000000001 in floating point).
    for (const [name] of TIMINGS) timings[name] = Math.round(Number(fieldValue(form, name)) * 60_000) / 1000;
    const fees: Record<string, unknown> = {};
    if (this.payments) {
      const currency = fieldValue(form, "currency").toUpperCase();
      const noShow = toMinor(fieldValue(form, "no_show_fee"), currency);
      const late = toMinor(fieldValue(form, "late_cancellation_fee"), currency);
      if (noShow === null || late === null) {
        this.error = `Enter each fee in ${currency}, such as 25.00.`;
        return;
      }
      Object.assign(fees, {
        currency,
        no_show_fee_minor: noShow,
        late_cancellation_fee_minor: late,
        proceed_unpaid: (form.elements.namedItem("proceed_unpaid") as HTMLInputElement).checked,
      });
    }
    const escalation: Record<string, unknown> = {};
    if (this.monitoring) {
      const to = ESCALATION_TURNS.map((_, i) => fieldValue(form, `escalate_${i}`)).filter(Boolean);
      if (new Set(to).size !== to.length) {
        this.error = "Name each provider once in the escalation order.";
        return;
      }
      escalation.alert_escalation = { after_minutes: Number(fieldValue(form, "escalate_after")), to };
    }
    if (this.triage) {
      const onCall = ON_CALL.map((_, i) => fieldValue(form, `on_call_${i}`)).filter(Boolean);
      if (new Set(onCall).size !== onCall.length) {
        this.error = "Name each provider on call once.";
        return;
      }
      const director = fieldValue(form, "medical_director");
      escalation.triage = {
        ...(director ? { medical_director: director } : {}),
        on_call: onCall,
        urgent_within_minutes: Number(fieldValue(form, "urgent_within_minutes")),
        self_care: (form.elements.namedItem("self_care") as HTMLInputElement).checked,
        photo_turnaround_hours: Number(fieldValue(form, "photo_turnaround_hours")),
        photo_warning_hours: Number(fieldValue(form, "photo_warning_hours")),
      };
    }
    const body = {
      ...fees,
      ...escalation,
      cancellation_window_hours: Number(fieldValue(form, "cancellation_window_hours")),
      booking_horizon_days: Number(fieldValue(form, "booking_horizon_days")),
      max_open_bookings: Number(fieldValue(form, "max_open_bookings")),
      visit_timings: timings,
      note_template: fieldValue(form, "note_template").split("\n").map((t) => t.trim()).filter(Boolean),
      controlled_substances: {
        flexibilities_until: fieldValue(form, "flexibilities_until"),
        buprenorphine_max_days: Number(fieldValue(form, "buprenorphine_max_days")),
        pdmp_max_age_days: Number(fieldValue(form, "pdmp_max_age_days")),
      },
      version: this.settings.version,
    };
    await this.change(async () => {
      this.settings = await this.api.put<Settings>("/v1/admin/settings", body);
      this.said = "Settings saved.";
    });
  }

  private renderEscalation(s: Settings) {
    const chosen = (i: number): string => s.alert_escalation.to[i] ?? "";
    return html`<fieldset>
      <legend>Remote monitoring: urgent alerts nobody acknowledges</legend>
      <label>Hand an urgent alert on after, minutes without acknowledgement <input name="escalate_after" type="number" min="1" max="240" required .value=${String(s.alert_escalation.after_minutes)}></label>
      ${ESCALATION_TURNS.map(
        (words, i) => html`<label>${words}
          <select name=${`escalate_${i}`}>
            <option value="" ?selected=${!chosen(i)}>Nobody</option>
            ${this.providers.map((p) => html`<option value=${p.provider_id} ?selected=${chosen(i) === p.provider_id}>${fullName(p)}</option>`)}
          </select></label>`,
      )}
      <p class="muted">Each provider named is e-mailed, in turn, that an urgent alert waits for them (the e-mail says nothing of whose or why).</p>
    </fieldset>`;
  }

  private renderTriage(s: Settings) {
    const t = s.triage;
    const choose = (name: string, chosen: string, none: string) => html`<select name=${name}>
      <option value="" ?selected=${!chosen}>${none}</option>
      ${this.providers.map((p) => html`<option value=${p.provider_id} ?selected=${chosen === p.provider_id}>${fullName(p)}</option>`)}
    </select>`;
    return html`<fieldset>
      <legend>Symptom check (triage)</legend>
      <label>Medical director, who signs the triage rules off ${choose("medical_director", t.medical_director ?? "", "Not named yet")}</label>
      ${ON_CALL.map((words, i) => html`<label>${words} ${choose(`on_call_${i}`, t.on_call[i] ?? "", "Nobody")}</label>`)}
      <p class="muted">Those on call are e-mailed when the symptom check sends a patient to emergency care (the e-mail says nothing of whose or why).</p>
      <label>"See a clinician now" offers urgent-care times within, minutes <input name="urgent_within_minutes" type="number" min="30" max="1440" required .value=${String(t.urgent_within_minutes)}></label>
      <label class="check"><input type="checkbox" name="self_care" ?checked=${t.self_care}> The symptom check may advise self-care (otherwise a visit within days)</label>
      <label>A case of photos is answered within, hours <input name="photo_turnaround_hours" type="number" min="1" max="168" required .value=${String(t.photo_turnaround_hours)}></label>
      <label>Page those on call when an unanswered case has this many hours left <input name="photo_warning_hours" type="number" min="0" max="168" required .value=${String(t.photo_warning_hours)}></label>
      <p class="muted">Once a case is overdue, the medical director is paged too.</p>
    </fieldset>`;
  }

  override render() {
    const s = this.settings;
    return html`
      <h1>Clinic settings</h1>
      ${this.errors(() => void this.load())}
      <p role="status">${this.said}</p>
      ${s === null
        ? this.error ? nothing : html`<p>Loading the settings…</p>`
        : keyed(this.generation, html`<form class="card" @submit=${this.save}>
            <fieldset>
              <legend>Booking</legend>
              <label>Patients may cancel online until, hours before <input name="cancellation_window_hours" type="number" min="0" max="168" required .value=${String(s.cancellation_window_hours)}></label>
              <label>Booking opens, days ahead <input name="booking_horizon_days" type="number" min="1" max="366" required .value=${String(s.booking_horizon_days)}></label>
              <label>Upcoming visits one patient may hold <input name="max_open_bookings" type="number" min="1" required .value=${String(s.max_open_bookings)}></label>
            </fieldset>
            <fieldset>
              <legend>Visit timings</legend>
              ${TIMINGS.map(
                ([name, words]) => html`<label>${words} <input name=${name} type="number" min="0.1" step="any" required .value=${String(Number(s.visit_timings[name]) / 60)}></label>`,
              )}
            </fieldset>
            <fieldset>
              <legend>Clinical notes</legend>
              <label>Sections of a visit note, one a line (a note already started keeps its own)
                <textarea name="note_template" rows="5" required .value=${s.note_template.join("\n")}></textarea></label>
            </fieldset>
            <fieldset>
              <legend>Controlled substances by telemedicine</legend>
              <label>DEA's telemedicine flexibilities end after <input name="flexibilities_until" type="date" required .value=${s.controlled_substances.flexibilities_until}></label>
              <label>Then, without an in-person evaluation, at most this many days' supply of buprenorphine <input name="buprenorphine_max_days" type="number" min="1" max="365" required .value=${String(s.controlled_substances.buprenorphine_max_days)}></label>
              <label>The state's PDMP checked within, days <input name="pdmp_max_age_days" type="number" min="0" max="90" required .value=${String(s.controlled_substances.pdmp_max_age_days)}></label>
            </fieldset>
            ${this.monitoring ? this.renderEscalation(s) : nothing}
            ${this.triage ? this.renderTriage(s) : nothing}
            ${this.payments
              ? html`<fieldset>
                  <legend>Payments</legend>
                  <label>Currency (ISO code) <input name="currency" required pattern="[A-Za-z]{3}" maxlength="3" .value=${s.currency}></label>
                  <label>No-show fee, taken when the patient does not come <input name="no_show_fee" inputmode="decimal" required .value=${toMajor(s.no_show_fee_minor, s.currency)}></label>
                  <label>Late cancellation fee, when staff charge it <input name="late_cancellation_fee" inputmode="decimal" required .value=${toMajor(s.late_cancellation_fee_minor, s.currency)}></label>
                  <label class="check"><input type="checkbox" name="proceed_unpaid" ?checked=${s.proceed_unpaid}> A visit goes ahead when the patient's card refused its hold</label>
                </fieldset>`
              : nothing}
            <p class="muted">Version ${s.version}.</p>
            <button type="submit">Save settings</button>
          </form>`)}
    `;
  }
}
