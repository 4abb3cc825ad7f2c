// Your allergies and medicines: told before a visit, so the clinician starts from them (and the
// clinic's prescribing checks have them). The patient adds entries and marks one no longer true;
// the clinician confirms them in the visit ("Checked by your clinician").
import { html, nothing } from "lit";
import { customElement, state } from "lit/decorators.js";
import { ApiError } from "../shared/api.ts";
import {
  type AllergyEntry,
  type Code,
  type MedicalHistory,
  type MedicationEntry,
  allergyBody,
  allergyWords,
  medicationBody,
  medicationWords,
} from "../shared/medical-history.ts";
import { PortalScreen } from "./screen.ts";

const PATH = "/v1/me/allergies-and-medications";

@customElement("portal-health")
export class HealthScreen extends PortalScreen {
  @state() private history: MedicalHistory | null = null;
  @state() private said = "";
  @state() private sending = false;
  @state() private allergenChoices: Code[] = [];
  @state() private drugChoices: Code[] = [];

  override connectedCallback(): void {
    super.connectedCallback();
    void this.load();
  }

  private async load(): Promise<void> {
    try {
      this.history = await this.ctx.api.get<MedicalHistory>(PATH);
    } catch (error) {
      void this.fail(error);
    }
  }

  private async send(change: { allergies?: unknown[]; medications?: unknown[] }, words: string): Promise<boolean> {
    if (!this.history || this.sending) return false;
    this.sending = true;
    this.error = "";
    try {
      this.history = await this.ctx.api.put<MedicalHistory>(PATH, { allergies: [], medications: [], ...change, version: this.history.version });
      this.said = words;
      return true;
    } catch (error) {
      if (error instanceof ApiError && error.status === 409) {
        await this.load();
        this.error = "Your lists were changed elsewhere; here they are as they stand now. Please try again.";
      } else {
        void this.fail(error);
      }
      return false;
    } finally {
      this.sending = false;
    }
  }

  private async find(kind: "allergens" | "drugs", query: string): Promise<void> {
    if (query.trim().length < 2) return;
    try {
      if (kind === "allergens") {
        this.allergenChoices = (await this.ctx.api.get<{ allergens: Code[] }>("/v1/allergens", { q: query })).allergens;
        this.said = `${this.allergenChoices.length} matches found.`;
      } else {
        const found = await this.ctx.api.get<{ drugs: { rxcui: string; name: string }[] }>("/v1/drugs", { q: query });
        this.drugChoices = found.drugs.map((d) => ({ system: "http://www.nlm.nih.gov/research/umls/rxnorm", code: d.rxcui, display: d.name }));
        this.said = `${this.drugChoices.length} matches found.`;
      }
    } catch (error) {
      void this.fail(error);
    }
  }

  private async addAllergy(event: SubmitEvent): Promise<void> {
    event.preventDefault();
    const form = event.target as HTMLFormElement;
    const data = new FormData(form);
    const choice = this.allergenChoices.find((c) => c.code === data.get("allergen"));
    const text = choice?.display ?? String(data.get("allergy") ?? "").trim();
    if (!text) return;
    const severity = (String(data.get("severity") ?? "") || null) as AllergyEntry["severity"];
    const added = allergyBody({ text, code: choice ?? null, reaction: String(data.get("reaction") ?? "").trim(), severity });
    if (await this.send({ allergies: [added] }, `${text} added to your allergies.`)) {
      form.reset();
      this.allergenChoices = [];
    }
  }

  private async addMedication(event: SubmitEvent): Promise<void> {
    event.preventDefault();
    const form = event.target as HTMLFormElement;
    const data = new FormData(form);
    const choice = this.drugChoices.find((c) => c.code === data.get("drug"));
    const text = choice?.display ?? String(data.get("medicine") ?? "").trim();
    if (!text) return;
    const added = medicationBody({ text, code: choice ?? null, dose: String(data.get("dose") ?? "").trim() });
    if (await this.send({ medications: [added] }, `${text} added to your medicines.`)) {
      form.reset();
      this.drugChoices = [];
    }
  }

  override render() {
    const h = this.history;
    const allergies = h?.allergies.filter((a) => a.status === "active") ?? [];
    const medications = h?.medications.filter((m) => m.status === "active") ?? [];
    return html`
      <h1 tabindex="-1">Your allergies and medicines</h1>
      <p>Your clinician goes through these with you at your visit. Tell us about any medicine, including ones you buy without a prescription.</p>
      ${this.error ? html`<p role="alert">${this.error}</p>` : nothing}
      <p role="status">${this.said}</p>
      ${h === null
        ? this.error ? nothing : html`<p>Loading…</p>`
        : html`
            <section class="card" aria-labelledby="allergies-title">
              <h2 id="allergies-title">Allergies</h2>
              ${allergies.length
                ? html`<ul class="plain">${allergies.map((a) => this.allergyRow(a))}</ul>`
                : html`<p>No allergies told yet.</p>`}
              <form @submit=${this.addAllergy}>
                <h3>Add an allergy</h3>
                <label for="allergy">Allergic to</label>
                <input id="allergy" name="allergy" maxlength="200" autocomplete="off"
                  @change=${(e: Event) => this.find("allergens", (e.target as HTMLInputElement).value)}>
                ${this.allergenChoices.length
                  ? html`<fieldset><legend>Which one?</legend>
                      ${this.allergenChoices.map((c, i) => html`<label class="choice"><input type="radio" name="allergen" value=${c.code} ?checked=${i === 0}> ${c.display}</label>`)}
                      <label class="choice"><input type="radio" name="allergen" value=""> None of these: keep my words</label>
                    </fieldset>`
                  : nothing}
                <label for="reaction">What happens (optional)</label>
                <input id="reaction" name="reaction" maxlength="200" autocomplete="off">
                <label for="severity">How bad (optional)</label>
                <select id="severity" name="severity">
                  <option value="">Not sure</option><option value="mild">Mild</option><option value="moderate">Moderate</option><option value="severe">Severe</option>
                </select>
                <div class="actions"><button type="submit" ?disabled=${this.sending}>Add allergy</button></div>
              </form>
            </section>
            <section class="card" aria-labelledby="medicines-title">
              <h2 id="medicines-title">Medicines you take</h2>
              ${medications.length
                ? html`<ul class="plain">${medications.map((m) => this.medicationRow(m))}</ul>`
                : html`<p>No medicines told yet.</p>`}
              <form @submit=${this.addMedication}>
                <h3>Add a medicine</h3>
                <label for="medicine">Medicine</label>
                <input id="medicine" name="medicine" maxlength="200" autocomplete="off"
                  @change=${(e: Event) => this.find("drugs", (e.target as HTMLInputElement).value)}>
                ${this.drugChoices.length
                  ? html`<fieldset><legend>Which one?</legend>
                      ${this.drugChoices.map((c, i) => html`<label class="choice"><input type="radio" name="drug" value=${c.code} ?checked=${i === 0}> ${c.display}</label>`)}
                      <label class="choice"><input type="radio" name="drug" value=""> None of these: keep my words</label>
                    </fieldset>`
                  : nothing}
                <label for="dose">How you take it (optional)</label>
                <input id="dose" name="dose" maxlength="200" autocomplete="off">
                <div class="actions"><button type="submit" ?disabled=${this.sending}>Add medicine</button></div>
              </form>
            </section>
          `}
      <p><a class="target" href="#/">All your visits</a></p>
    `;
  }

  private allergyRow(a: AllergyEntry) {
    return html`<li class="card">
      <p>${allergyWords(a)}${a.verified ? html` <span class="muted">· Checked by your clinician</span>` : nothing}</p>
      <button class="secondary" ?disabled=${this.sending} aria-label=${`No longer allergic to ${a.text}`}
        @click=${() => this.send({ allergies: [allergyBody(a, "stopped")] }, `${a.text} is no longer on your allergies.`)}>No longer allergic</button>
    </li>`;
  }

  private medicationRow(m: MedicationEntry) {
    return html`<li class="card">
      <p>${medicationWords(m)}${m.verified ? html` <span class="muted">· Checked by your clinician</span>` : nothing}</p>
      <button class="secondary" ?disabled=${this.sending} aria-label=${`No longer taking ${m.text}`}
        @click=${() => this.send({ medications: [medicationBody(m, "stopped")] }, `${m.text} is no longer on your medicines.`)}>No longer taking</button>
    </li>`;
  }
}
