// Staff: the merges of two patients' records a health system made (its ADT A40), to review and,
// where the hospital merged two different people, to undo. Undoing asks first; the answer that
// keeps the merge has the focus.
import { LitElement, html, nothing } from "lit";
import { customElement, property, state } from "lit/decorators.js";
import type { Api } from "../shared/api.ts";
import { type FoundPatient, patientWords } from "./patients.ts";
import { viewStyles } from "./ui.ts";
import { saidOf } from "./words.ts";

export interface MergedRecord extends FoundPatient {
  mrn: string | null;
}

export interface PatientMerge {
  retired: MergedRecord;
  survivor: MergedRecord;
  merged_at: string;
  appointments_moved: number;
}

/** A record as staff tell it apart from another: who, and the hospital's number for it. */
export function recordWords(r: MergedRecord): string {
  return `${patientWords(r)}${r.mrn ? ` (MRN ${r.mrn})` : ""}`;
}

export function movedWords(count: number): string {
  if (count === 0) return "No appointments moved";
  return count === 1 ? "1 appointment moved" : `${count} appointments moved`;
}

@customElement("staff-merges")
export class StaffMerges extends LitElement {
  static override styles = viewStyles;

  @property({ attribute: false }) api!: Api;
  @state() private merges: PatientMerge[] | null = null;
  @state() private confirming = "";
  @state() private error = "";
  @state() private said = "";

  override connectedCallback(): void {
    super.connectedCallback();
    void this.load();
  }

  private async load(): Promise<void> {
    try {
      this.merges = (await this.api.get<{ merges: PatientMerge[] }>("/v1/patients/merges")).merges;
    } catch (error) {
      this.error = saidOf(error);
    }
  }

  private async askToUndo(retiredId: string): Promise<void> {
    this.confirming = retiredId;
    await this.updateComplete;
    (this.shadowRoot?.getElementById("keep") as HTMLElement | null)?.focus();
  }

  private async undo(merge: PatientMerge): Promise<void> {
    this.error = "";
    try {
      await this.api.delete(`/v1/patients/merges/${encodeURIComponent(merge.retired.patient_id)}`);
      this.confirming = "";
      await this.load();
      this.said = `The records are parted: ${patientWords(merge.retired)} has their own record again, and the appointments the merge moved are back with it.`;
      await this.updateComplete;
      (this.shadowRoot?.getElementById("said") as HTMLElement | null)?.focus();
    } catch (error) {
      this.error = saidOf(error);
    }
  }

  override render() {
    return html`
      <h1>Merged records</h1>
      <p class="muted">A health system's interface engine merges two records of one person (ADT A40): the retired record's appointments and portal sign-in move to the record kept. If the two were different people, undo the merge. Newest first.</p>
      ${this.error ? html`<p role="alert" class="alert">${this.error}</p>` : nothing}
      ${this.said ? html`<p id="said" role="status" tabindex="-1">${this.said}</p>` : nothing}
      ${this.merges === null
        ? html`<p role="status">Loading merges…</p>`
        : this.merges.length === 0
          ? html`<p>No merges are in force.</p>`
          : html`<table>
              <thead><tr><th scope="col">Retired record</th><th scope="col">Kept record</th><th scope="col">Merged</th><th scope="col"><span class="visually-hidden">Action</span></th></tr></thead>
              <tbody>
                ${this.merges.map(
                  (m) => html`<tr>
                    <th scope="row">${recordWords(m.retired)}</th>
                    <td>${recordWords(m.survivor)}</td>
                    <td>${new Date(m.merged_at).toLocaleString()}<br /><span class="muted">${movedWords(m.appointments_moved)}</span></td>
                    <td>${this.confirming === m.retired.patient_id
                      ? html`<div class="actions" role="group" aria-label="Confirm undoing the merge">
                          <button class="danger" @click=${() => this.undo(m)}>Yes, undo the merge</button>
                          <button class="secondary" id="keep" @click=${() => (this.confirming = "")}>Keep it</button>
                        </div>`
                      : html`<button class="secondary" aria-label=${`Undo merge of ${patientWords(m.retired)}`} @click=${() => this.askToUndo(m.retired.patient_id)}>Undo merge</button>`}</td>
                  </tr>`,
                )}
              </tbody>
            </table>`}
    `;
  }
}
