// The front desk's view of a patient's insurance, once the patient is chosen for booking: what the
// insurer said, and the policyholder's own coverage recorded for them (a dependent's coverage,
// which names the policyholder, the patient records in the portal).
import { LitElement, html, nothing } from "lit";
import { customElement, property, state } from "lit/decorators.js";
import { ActionKeys, ApiError, type Api } from "../shared/api.ts";
import type { PatientCoverage as Coverage, Payer } from "../shared/coverage.ts";
import { viewStyles } from "./ui.ts";
import { saidOf } from "./words.ts";

@customElement("staff-patient-coverage")
export class StaffPatientCoverage extends LitElement {
  static override styles = viewStyles;

  @property({ attribute: false }) api!: Api;
  @property() patientId = "";
  @state() private payers: Payer[] | null = null;
  @state() private coverage: Coverage | null = null;
  @state() private error = "";
  @state() private said = "";
  @state() private sending = false;
  private readonly keys = new ActionKeys();
  private loaded = "";

  override updated(): void {
    if (this.patientId && this.patientId !== this.loaded) void this.load(this.patientId);
  }

  private async load(patientId: string): Promise<void> {
    this.loaded = patientId;
    this.coverage = null;
    this.error = "";
    this.said = "";
    try {
      const [payers, coverage] = await Promise.all([
        this.payers ? Promise.resolve({ payers: this.payers }) : this.api.get<{ payers: Payer[] }>("/v1/payers"),
        this.api.get<Coverage>(`/v1/patients/${patientId}/coverage`).catch((error: unknown) => {
          if (error instanceof ApiError && error.kind === "not-found") return null;
          throw error;
        }),
      ]);
      if (patientId !== this.patientId) return; // another patient was chosen meanwhile
      this.payers = payers.payers;
      this.coverage = coverage;
    } catch (error) {
      this.error = saidOf(error);
    }
  }

  private async save(event: SubmitEvent): Promise<void> {
    event.preventDefault();
    const form = new FormData(event.target as HTMLFormElement);
    const body = {
      payer_id: String(form.get("payer_id") ?? ""),
      member_id: String(form.get("member_id") ?? "").trim(),
      relationship: "self",
    };
    const action = `coverage ${this.patientId}`;
    this.sending = true;
    this.error = "";
    try {
      this.coverage = await this.api.put<Coverage>(`/v1/patients/${this.patientId}/coverage`, body, this.keys.for(action, body));
      this.keys.settle(action, body);
      this.said = "Saved. The insurer is being asked; reload the patient to see its answer.";
    } catch (error) {
      this.keys.settle(action, body, error);
      this.error = saidOf(error);
    } finally {
      this.sending = false;
    }
  }

  override render() {
    const c = this.coverage;
    return html`<section class="card" aria-labelledby="coverage-h">
      <h2 id="coverage-h">The patient's insurance</h2>
      ${this.error ? html`<p role="alert" class="alert">${this.error}</p>` : nothing}
      <p role="status">${this.said}</p>
      <p>${c ? `${c.member_id}: ${c.status_words}` : "No insurance on file: the patient pays for visits themselves."}</p>
      ${this.payers
        ? html`<form @submit=${this.save}>
            <label>Insurer <select name="payer_id" required>
              <option value="">Choose the insurer</option>
              ${this.payers.map((p) => html`<option value=${p.payer_id} ?selected=${p.payer_id === c?.payer_id}>${p.name}</option>`)}
            </select></label>
            <label>Member ID (the policyholder's own) <input name="member_id" required maxlength="40" autocomplete="off" .value=${c?.member_id ?? ""}></label>
            <button type="submit" ?disabled=${this.sending}>Save the insurance</button>
          </form>`
        : nothing}
    </section>`;
  }
}
