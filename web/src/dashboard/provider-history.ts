// The visit's patient's allergies and medicines, for the clinician to reconcile in the visit: each
// entry kept, stopped or struck as entered in error, new ones added (coded from the drug list, or
// in words), then saved at once: every entry the clinician went through is marked checked.
import { LitElement, css, html, nothing } from "lit";
import { customElement, property, state } from "lit/decorators.js";
import { ApiError, type Api } from "../shared/api.ts";
import {
  type AllergyEntry,
  type Code,
  type EntryStatus,
  type MedicalHistory,
  type MedicationEntry,
  type NewAllergy,
  type NewMedication,
  RXNORM,
  allergyBody,
  allergyWords,
  medicationBody,
  medicationWords,
} from "../shared/medical-history.ts";
import { viewStyles } from "./ui.ts";
import { saidOf } from "./words.ts";

const STATUS_WORDS: Record<EntryStatus, string> = {
  active: "Current",
  stopped: "No longer (stopped)",
  "entered-in-error": "Entered in error",
};

@customElement("provider-history")
export class ProviderHistory extends LitElement {
  static override styles = [viewStyles, css`select { max-width: 16rem; }`];

  @property({ attribute: false }) api!: Api;
  @property({ attribute: false }) appointmentId = "";
  @state() private history: MedicalHistory | null = null;
  @state() private statuses = new Map<string, EntryStatus>();
  @state() private newAllergies: NewAllergy[] = [];
  @state() private newMedications: NewMedication[] = [];
  @state() private choices: Code[] = [];
  @state() private choosingFor: "allergy" | "medication" | null = null;
  @state() private error = "";
  @state() private said = "";
  @state() private busy = false;

  private get path(): string {
    return `/v1/appointments/${this.appointmentId}/allergies-and-medications`;
  }

  override connectedCallback(): void {
    super.connectedCallback();
    void this.load();
  }

  private async load(): Promise<void> {
    try {
      this.history = await this.api.get<MedicalHistory>(this.path);
      this.statuses = new Map();
      this.newAllergies = [];
      this.newMedications = [];
      this.error = "";
    } catch (error) {
      this.error = saidOf(error);
    }
  }

  private status(entry: { entry_id: string; status: EntryStatus }): EntryStatus {
    return this.statuses.get(entry.entry_id) ?? entry.status;
  }

  private setStatus(entryId: string, status: EntryStatus): void {
    this.statuses = new Map(this.statuses).set(entryId, status);
  }

  private async find(kind: "allergy" | "medication", query: string): Promise<void> {
    if (query.trim().length < 2) return;
    try {
      if (kind === "allergy") {
        this.choices = (await this.api.get<{ allergens: Code[] }>("/v1/allergens", { q: query })).allergens;
      } else {
        const found = await this.api.get<{ drugs: { rxcui: string; name: string }[] }>("/v1/drugs", { q: query });
        this.choices = found.drugs.map((d) => ({ system: RXNORM, code: d.rxcui, display: d.name }));
      }
      this.choosingFor = kind;
      this.said = `${this.choices.length} matches found.`;
    } catch (error) {
      this.error = saidOf(error);
    }
  }

  private add(event: SubmitEvent, kind: "allergy" | "medication"): void {
    event.preventDefault();
    const form = event.target as HTMLFormElement;
    const data = new FormData(form);
    const chosen = this.choosingFor === kind ? this.choices.find((c) => c.code === data.get("code")) ?? null : null;
    const text = chosen?.display ?? String(data.get("text") ?? "").trim();
    if (!text) return;
    if (kind === "allergy") {
      const severity = (String(data.get("severity") ?? "") || null) as NewAllergy["severity"];
      this.newAllergies = [...this.newAllergies, { text, code: chosen, reaction: String(data.get("reaction") ?? "").trim(), severity }];
    } else {
      this.newMedications = [...this.newMedications, { text, code: chosen, dose: String(data.get("dose") ?? "").trim() }];
    }
    this.choices = [];
    this.choosingFor = null;
    form.reset();
    this.said = `${text} will be added when you save.`;
  }

  private async save(): Promise<void> {
    if (!this.history || this.busy) return;
    this.busy = true;
    try {
      const h = this.history;
      this.history = await this.api.put<MedicalHistory>(this.path, {
        allergies: [...h.allergies.filter((a) => a.status !== "entered-in-error").map((a) => allergyBody(a, this.status(a))), ...this.newAllergies.map((a) => allergyBody(a))],
        medications: [...h.medications.filter((m) => m.status !== "entered-in-error").map((m) => medicationBody(m, this.status(m))), ...this.newMedications.map((m) => medicationBody(m))],
        version: h.version,
      });
      this.statuses = new Map();
      this.newAllergies = [];
      this.newMedications = [];
      this.error = "";
      this.said = "Allergies and medications reconciled.";
      await this.updateComplete;
      (this.shadowRoot?.getElementById("history-said") as HTMLElement | null)?.focus();
    } catch (error) {
      this.error = error instanceof ApiError && error.status === 409 ? "The patient changed their lists meanwhile: reload them." : saidOf(error);
    } finally {
      this.busy = false;
    }
  }

  override render() {
    const h = this.history;
    return html`<section aria-labelledby="history-h">
      <h2 id="history-h">Allergies and medications</h2>
      ${this.error ? html`<p role="alert" class="alert">${this.error}</p>` : nothing}
      <p role="status" tabindex="-1" id="history-said">${this.said}</p>
      ${h === null
        ? this.error ? nothing : html`<p>Loading…</p>`
        : html`
            ${h.reconciled_at ? html`<p class="muted">Last reconciled ${new Date(h.reconciled_at).toISOString().slice(0, 16).replace("T", " ")} UTC.</p>` : nothing}
            ${this.table("Allergies", h.allergies.filter((a) => a.status !== "entered-in-error"), (a) => allergyWords(a as AllergyEntry))}
            ${this.newAllergies.length ? html`<p>To add: ${this.newAllergies.map((a) => allergyWords(a)).join("; ")}</p>` : nothing}
            ${this.addForm("allergy")}
            ${this.table("Medications", h.medications.filter((m) => m.status !== "entered-in-error"), (m) => medicationWords(m as MedicationEntry))}
            ${this.newMedications.length ? html`<p>To add: ${this.newMedications.map((m) => medicationWords(m)).join("; ")}</p>` : nothing}
            ${this.addForm("medication")}
            <div class="actions"><button aria-disabled=${this.busy ? "true" : "false"} @click=${() => this.save()}>Save the reconciled lists</button></div>
          `}
    </section>`;
  }

  private table(caption: string, entries: (AllergyEntry | MedicationEntry)[], words: (e: AllergyEntry | MedicationEntry) => string) {
    if (!entries.length) return html`<p>No ${caption.toLowerCase()} on file.</p>`;
    return html`<table>
      <caption>${caption}</caption>
      <thead><tr><th scope="col">Entry</th><th scope="col">Told by</th><th scope="col">Status</th></tr></thead>
      <tbody>
        ${entries.map(
          (e) => html`<tr>
            <th scope="row">${words(e)}${e.verified ? html` <span class="badge">checked</span>` : nothing}</th>
            <td>${e.recorded_by === "patient" ? "Patient" : "Clinician"}</td>
            <td><label class="visually-hidden" for=${`status-${e.entry_id}`}>Status of ${e.text}</label>
              <select id=${`status-${e.entry_id}`} @change=${(ev: Event) => this.setStatus(e.entry_id, (ev.target as HTMLSelectElement).value as EntryStatus)}>
                ${(Object.keys(STATUS_WORDS) as EntryStatus[]).map((s) => html`<option value=${s} ?selected=${this.status(e) === s}>${STATUS_WORDS[s]}</option>`)}
              </select></td>
          </tr>`,
        )}
      </tbody>
    </table>`;
  }

  private addForm(kind: "allergy" | "medication") {
    const noun = kind === "allergy" ? "allergy" : "medication";
    return html`<form @submit=${(e: SubmitEvent) => this.add(e, kind)} aria-label=${`Add an ${noun}`} class="actions">
      <label>New ${noun}
        <input name="text" maxlength="200" autocomplete="off" @change=${(e: Event) => this.find(kind, (e.target as HTMLInputElement).value)}>
      </label>
      ${this.choosingFor === kind && this.choices.length
        ? html`<label>Coded as
            <select name="code">${this.choices.map((c, i) => html`<option value=${c.code} ?selected=${i === 0}>${c.display}</option>`)}<option value="">In words only</option></select>
          </label>`
        : nothing}
      ${kind === "allergy"
        ? html`<label>Reaction <input name="reaction" maxlength="200" autocomplete="off"></label>
            <label>Severity <select name="severity"><option value="">Unknown</option><option value="mild">Mild</option><option value="moderate">Moderate</option><option value="severe">Severe</option></select></label>`
        : html`<label>Dose <input name="dose" maxlength="200" autocomplete="off"></label>`}
      <button type="submit" class="secondary">Add ${noun}</button>
    </form>`;
  }
}
