// The after-visit summary on the visit's screen, once the clinician signed the note: what was
// found in plain words, what to do, and when to come back (with a way to book it). Until then the
// route answers 404 and there is no panel. Beside it, the visit's prescriptions and where each
// stands (where the clinic prescribes online: elsewhere that route answers 404 too).
import { html, nothing } from "lit";
import { customElement, property, state } from "lit/decorators.js";
import { ApiError } from "../shared/api.ts";
import { PortalScreen } from "./screen.ts";
import { formatDay } from "./time.ts";
import { type PatientPrescription, prescriptionList } from "./prescription-list.ts";

export interface VisitSummary {
  appointment_id: string;
  visit_start: string;
  provider_id: string;
  clinician: string;
  diagnoses: { words: string; code: string }[];
  instructions: string;
  follow_up: { within_days: number; reason: string; by: string } | null;
  signed_at: string;
  updated: boolean;
}

/** A calendar day (`2026-12-08`) in words, the same day wherever the patient is. */
export function calendarDate(day: string): string {
  return new Date(`${day}T12:00:00Z`).toLocaleDateString("en-US", {
    timeZone: "UTC",
    weekday: "long",
    month: "long",
    day: "numeric",
    year: "numeric",
  });
}

@customElement("portal-visit-summary")
export class SummaryPanel extends PortalScreen {
  @property() appointmentId = "";
  @state() private summary: VisitSummary | null = null;
  @state() private prescriptions: PatientPrescription[] = [];

  override connectedCallback(): void {
    super.connectedCallback();
    void this.load();
  }

  private async load(): Promise<void> {
    const absent = (error: unknown) => {
      if (!(error instanceof ApiError && error.status === 404)) void this.fail(error);
    };
    await Promise.all([
      this.ctx.api.get<VisitSummary>(`/v1/appointments/${this.appointmentId}/summary`).then((s) => (this.summary = s), absent),
      this.ctx.api
        .get<PatientPrescription[]>("/v1/me/prescriptions")
        .then((all) => (this.prescriptions = all.filter((p) => p.appointment_id === this.appointmentId)), absent),
    ]);
  }

  override render() {
    if (this.error) return html`<p role="alert">${this.error}</p>`;
    return html`${this.renderSummary()}${this.renderPrescriptions()}`;
  }

  private renderPrescriptions() {
    if (!this.prescriptions.length) return nothing;
    return html`<section class="card" aria-labelledby="prescriptions-title">
      <h2 id="prescriptions-title">Your prescriptions</h2>
      ${prescriptionList(this.prescriptions)}
    </section>`;
  }

  private renderSummary() {
    const s = this.summary;
    if (!s) return nothing;
    return html`<section class="card" aria-labelledby="summary-title">
      <h2 id="summary-title">Your visit summary</h2>
      <p>From your visit on ${formatDay(s.visit_start, this.ctx.zone)} with ${s.clinician}.</p>
      ${s.updated ? html`<p><strong>Your clinician updated this summary.</strong></p>` : nothing}
      <h3>What your clinician found</h3>
      <ul>${s.diagnoses.map((d) => html`<li>${d.words}</li>`)}</ul>
      ${s.instructions ? html`<h3>What to do</h3><p class="prewrap">${s.instructions}</p>` : nothing}
      ${s.follow_up
        ? html`<h3>Follow-up</h3>
            <p>${s.clinician} would like to see you again by <strong>${calendarDate(s.follow_up.by)}</strong>${s.follow_up.reason ? html` (${s.follow_up.reason})` : nothing}.</p>
            <div class="actions"><a class="button" href="#/visits/${s.appointment_id}/follow-up">Book your follow-up</a></div>`
        : nothing}
      <div class="actions"><button class="secondary" @click=${() => window.print()}>Print or save this summary</button></div>
    </section>`;
  }
}
