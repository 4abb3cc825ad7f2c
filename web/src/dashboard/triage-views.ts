// The symptom check for the care team (tenants with triage on): the patients it sent to emergency
// care, newest first (what the on-call's page points to), each patient's checks with every answer
// beside its question and what they were shown, and the red-flag rules with their sources, which
// the clinic's medical director signs off before the check opens to patients.
import { LitElement, html, nothing } from "lit";
import { customElement, property, state } from "lit/decorators.js";
import type { Api } from "../shared/api.ts";
import { type FoundPatient, patientWords } from "./patients.ts";
import { viewStyles } from "./ui.ts";
import { answerWords, momentWords, saidOf } from "./words.ts";

interface Emergency {
  call: "911" | "988";
  instruction: string;
  shown_at: string;
}

interface EmergencyShown {
  intake_id: string;
  patient_id: string;
  patient: FoundPatient | null;
  flag: string;
  emergency: Emergency;
}

interface Rules {
  version: string;
  rules: { code: string; call: string; instruction: string; source: string }[];
  sign_offs: { version: string; signed_by: string; at: string }[];
  medical_director: string | null;
  enabled: boolean;
}

interface SymptomCheck {
  intake_id: string;
  status: "completed" | "stopped";
  started_at: string;
  finished_at: string | null;
  disposition: string | null;
  why: string;
  emergency: Emergency | null;
  answers: { link_id: string; question: string; answer: unknown }[];
  rule_set: string;
  questionnaire: string;
  findings: { text: string; category: string; negated: boolean; code: string | null; display: string | null; score: number }[] | null;
}

const DISPOSITIONS: Record<string, string> = {
  emergency: "Sent to emergency care",
  now: "See a clinician now",
  today: "See a clinician today",
  "within-days": "A visit within days",
  asynchronous: "Photos for review",
  "self-care": "Self-care",
};

function flagWords(code: string): string {
  return code.replace(/-/g, " ").replace(/^./, (c) => c.toUpperCase());
}

@customElement("care-triage")
export class CareTriage extends LitElement {
  static override styles = viewStyles;

  @property({ attribute: false }) api!: Api;
  @state() private emergencies: EmergencyShown[] | null = null;
  @state() private rules: Rules | null = null;
  @state() private error = "";
  @state() private said = "";
  @state() private busy = false;

  override connectedCallback(): void {
    super.connectedCallback();
    void this.load();
  }

  private async load(): Promise<void> {
    try {
      const [found, rules] = await Promise.all([
        this.api.get<{ emergencies: EmergencyShown[] }>("/v1/triage/emergencies"),
        this.api.get<Rules>("/v1/triage/rules"),
      ]);
      this.emergencies = found.emergencies;
      this.rules = rules;
    } catch (error) {
      this.error = saidOf(error);
    }
  }

  private async signOff(version: string): Promise<void> {
    this.busy = true;
    this.error = "";
    try {
      this.rules = await this.api.post<Rules>(`/v1/triage/rules/${version}/sign-off`, {});
      this.said = `Rule set ${version} is signed off: the symptom check is open to patients.`;
    } catch (error) {
      this.error = saidOf(error);
    } finally {
      this.busy = false;
    }
  }

  override render() {
    return html`
      <h1>Symptom checks</h1>
      ${this.error ? html`<p role="alert" class="alert">${this.error}</p>` : nothing}
      <p role="status">${this.said}</p>
      <section>
        <h2>Sent to emergency care</h2>
        ${this.emergencies === null
          ? this.error ? nothing : html`<p>Loading…</p>`
          : this.emergencies.length === 0
            ? html`<p class="muted">No patient has been sent to emergency care by the symptom check.</p>`
            : html`<table>
                <caption>The newest first</caption>
                <thead><tr><th scope="col">Patient</th><th scope="col">When</th><th scope="col">Red flag</th><th scope="col">Told to</th></tr></thead>
                <tbody>
                  ${this.emergencies.map((e) => {
                    const name = e.patient ? patientWords(e.patient) : `Patient ${e.patient_id}`;
                    return html`<tr>
                      <td><a href=${`#/triage/${encodeURIComponent(e.patient_id)}`} aria-label=${`Open ${name}'s checks`}>${name}</a></td>
                      <td>${momentWords(e.emergency.shown_at)}</td>
                      <td>${flagWords(e.flag)}</td>
                      <td>Call ${e.emergency.call}</td>
                    </tr>`;
                  })}
                </tbody>
              </table>`}
      </section>
      ${this.rules ? this.renderRules(this.rules) : nothing}
    `;
  }

  private renderRules(rules: Rules) {
    const signed = rules.sign_offs.find((s) => s.version === rules.version);
    return html`<section>
      <h2>Red-flag rules, version ${rules.version}</h2>
      ${signed
        ? html`<p class="ok">Signed off by ${signed.signed_by} on ${momentWords(signed.at)}: the symptom check is open to patients.</p>`
        : html`<p class="alert">Not signed off: patients cannot use the symptom check until the clinic's medical
              director${rules.medical_director ? ` (${rules.medical_director})` : ""} signs this version off.</p>
            <button ?disabled=${this.busy} @click=${() => void this.signOff(rules.version)}>Sign off rule set ${rules.version}</button>`}
      <table>
        <caption>Held to every answer, in this order, before anything else reads it</caption>
        <thead><tr><th scope="col">Rule</th><th scope="col">Call</th><th scope="col">What the patient is shown</th><th scope="col">Source</th></tr></thead>
        <tbody>
          ${rules.rules.map(
            (r) => html`<tr><td>${flagWords(r.code)}</td><td>${r.call}</td><td>${r.instruction}</td><td>${r.source}</td></tr>`,
          )}
        </tbody>
      </table>
    </section>`;
  }
}

@customElement("care-symptom-checks")
export class CareSymptomChecks extends LitElement {
  static override styles = viewStyles;

  @property({ attribute: false }) api!: Api;
  @property() patientId = "";
  @state() private checks: SymptomCheck[] | null = null;
  @state() private error = "";

  override connectedCallback(): void {
    super.connectedCallback();
    void this.load();
  }

  private async load(): Promise<void> {
    try {
      const path = `/v1/triage/patients/${encodeURIComponent(this.patientId)}/intakes`;
      this.checks = (await this.api.get<{ intakes: SymptomCheck[] }>(path)).intakes;
    } catch (error) {
      this.error = saidOf(error);
    }
  }

  override render() {
    return html`
      <h1>A patient's symptom checks</h1>
      <p><a href="#/triage">Back to symptom checks</a></p>
      ${this.error ? html`<p role="alert" class="alert">${this.error}</p>` : nothing}
      ${this.checks === null
        ? this.error ? nothing : html`<p>Loading…</p>`
        : this.checks.length === 0
          ? html`<p class="muted">No symptom checks.</p>`
          : this.checks.map((c) => this.renderCheck(c))}
    `;
  }

  private renderCheck(c: SymptomCheck) {
    return html`<section>
      <h2>${DISPOSITIONS[c.disposition ?? ""] ?? "Ended"}, ${momentWords(c.finished_at ?? c.started_at)}</h2>
      ${c.emergency
        ? html`<p class="alert">Shown, word for word: “${c.emergency.instruction}”</p>`
        : html`<p>Why: ${c.why}</p>`}
      <table>
        <caption>The answers (rules ${c.rule_set})</caption>
        <thead><tr><th scope="col">Question</th><th scope="col">Answer</th></tr></thead>
        <tbody>${c.answers.map((a) => html`<tr><td>${a.question}</td><td>${answerWords(a.answer)}</td></tr>`)}</tbody>
      </table>
      ${c.findings?.length
        ? html`<h3>Read in the patient's own words (for you to weigh; never used to rule anything out)</h3>
            <ul>${c.findings.map(
              (f) => html`<li>${f.negated ? "Not: " : ""}${f.text}${f.display ? ` (${f.display}, SNOMED CT ${f.code})` : ""}</li>`,
            )}</ul>`
        : nothing}
    </section>`;
  }
}
