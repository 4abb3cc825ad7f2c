// A prescriber's DEA registrations, for the clinic's admins, below the provider's form: one per
// state, the schedules it covers and when it expires. The controlled-substance checks read them;
// a provider with none in the patient's state cannot prescribe a controlled substance there.
// Where the clinic has e-prescribing off the route answers 404 and nothing is shown.
import { html, nothing } from "lit";
import { customElement, property, state } from "lit/decorators.js";
import { ApiError } from "../shared/api.ts";
import { AdminView } from "./admin-view.ts";
import { viewStyles } from "./ui.ts";
import { saidOf } from "./words.ts";

const SCHEDULES = ["II", "III", "IV", "V"] as const;
type Schedule = (typeof SCHEDULES)[number];

interface Registration {
  number: string;
  state: string;
  schedules: Schedule[];
  expires: string;
}

interface Registrations {
  registrations: Registration[];
  version: number;
}

@customElement("admin-dea-registrations")
export class AdminDeaRegistrations extends AdminView {
  static override styles = [viewStyles];

  @property({ attribute: false }) providerId = "";
  @state() private found: Registrations | null = null;
  @state() private rows: Registration[] = [];
  @state() private switchedOff = false;

  private get path(): string {
    return `/v1/admin/providers/${this.providerId}/dea-registrations`;
  }

  override connectedCallback(): void {
    super.connectedCallback();
    void this.load();
  }

  private async load(): Promise<void> {
    this.error = "";
    this.conflict = false;
    try {
      this.found = await this.api.get<Registrations>(this.path);
      this.rows = this.found.registrations.map((r) => ({ ...r, schedules: [...r.schedules] }));
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) this.switchedOff = true;
      else this.error = saidOf(error);
    }
  }

  private edit(index: number, change: Partial<Registration>): void {
    this.rows = this.rows.map((r, i) => (i === index ? { ...r, ...change } : r));
  }

  private toggle(index: number, schedule: Schedule, on: boolean): void {
    const row = this.rows[index];
    const schedules = on ? [...new Set([...row.schedules, schedule])] : row.schedules.filter((s) => s !== schedule);
    this.edit(index, { schedules: SCHEDULES.filter((s) => schedules.includes(s)) });
  }

  private async save(event: SubmitEvent): Promise<void> {
    event.preventDefault();
    const found = this.found;
    if (!found) return;
    await this.change(async () => {
      this.found = await this.api.put<Registrations>(this.path, { registrations: this.rows, version: found.version });
      this.rows = this.found.registrations.map((r) => ({ ...r, schedules: [...r.schedules] }));
      this.said = "DEA registrations saved.";
    });
  }

  override render() {
    if (this.switchedOff) return nothing;
    return html`<form class="card" aria-labelledby="dea-h" @submit=${this.save}>
      <h2 id="dea-h">DEA registrations</h2>
      <p class="muted">One per state. A controlled substance is prescribed only under a registration in the patient's state that covers its schedule and has not expired.</p>
      ${this.errors(() => void this.load())}
      <p role="status">${this.said}</p>
      ${this.found === null
        ? this.error ? nothing : html`<p>Loading…</p>`
        : html`${this.rows.length === 0 ? html`<p>No registrations: this provider cannot prescribe controlled substances.</p>` : nothing}
            ${this.rows.map(
              (r, i) => html`<fieldset>
                <legend>Registration ${i + 1}</legend>
                <label>State <input required maxlength="2" pattern="[A-Z]{2}" .value=${r.state} @change=${(e: Event) => this.edit(i, { state: (e.target as HTMLInputElement).value.toUpperCase() })}></label>
                <label>Number <input required pattern="[A-Z]{2}[0-9]{7}" .value=${r.number} @change=${(e: Event) => this.edit(i, { number: (e.target as HTMLInputElement).value.toUpperCase() })}></label>
                <label>Expires <input required type="date" .value=${r.expires} @change=${(e: Event) => this.edit(i, { expires: (e.target as HTMLInputElement).value })}></label>
                <div class="actions" role="group" aria-label=${`Registration ${i + 1} schedules`}>
                  ${SCHEDULES.map(
                    (s) => html`<label class="inline"><input type="checkbox" .checked=${r.schedules.includes(s)} @change=${(e: Event) => this.toggle(i, s, (e.target as HTMLInputElement).checked)}> Schedule ${s}</label>`,
                  )}
                </div>
                <button type="button" class="secondary" @click=${() => (this.rows = this.rows.filter((_, j) => j !== i))}>Remove registration ${i + 1}</button>
              </fieldset>`,
            )}
            <div class="actions">
              <button type="button" class="secondary" @click=${() => (this.rows = [...this.rows, { number: "", state: "", schedules: [...SCHEDULES], expires: "" }])}>Add a registration</button>
              <button type="submit">Save DEA registrations</button>
            </div>`}
    </form>`;
  }
}
